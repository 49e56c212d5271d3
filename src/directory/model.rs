//! The on-premises directory as hybridauth models it: users, their app passwords (which live in
//! the cloud but are kept here beside the user), and the tenant's settings.
//!
//! Secrets never appear here in clear: only Argon2id PHC strings.

use serde::Serialize;

pub use crate::time::{add_saturating, horizon, Time};

/// Per-user MFA state as Entra's legacy per-user MFA page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MfaState {
    Disabled,
    Enabled,
    Enforced,
}

impl MfaState {
    pub fn parse(s: &str) -> Option<MfaState> {
        match s.to_ascii_lowercase().as_str() {
            "disabled" => Some(MfaState::Disabled),
            "enabled" => Some(MfaState::Enabled),
            "enforced" => Some(MfaState::Enforced),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            MfaState::Disabled => "disabled",
            MfaState::Enabled => "enabled",
            MfaState::Enforced => "enforced",
        }
    }
}

/// A user as it lives on-premises (the live view) plus its cloud-only settings (MFA state,
/// administrator role, modern-auth policy), which are not synced because the cloud owns them.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: i64,
    pub sam: String,
    pub upn: String,
    pub display_name: String,
    pub mail: Option<String>,
    pub groups: Vec<String>,
    pub enabled: bool,
    pub account_expires: Option<Time>,
    #[serde(skip)]
    pub password_hash: String,
    /// The hash password hash sync may carry: equal to `password_hash` unless the password
    /// was set with "must change at next logon", which is never synced (§5).
    #[serde(skip)]
    pub syncable_hash: Option<String>,
    /// The NT hash of the current password (hex), kept only with `hashing.store_nt_hash`:
    /// what MS-CHAP checks. Never synced: the cloud verifies cleartext secrets only.
    #[serde(skip)]
    pub nt_hash: Option<String>,
    pub password_set_at: Time,
    pub password_expired: bool,
    pub must_change: bool,
    pub admin: bool,
    pub mfa: MfaState,
    pub modern_auth_only: bool,
    pub created_at: Time,
    pub enabled_changed_at: Time,
    /// Once a user has created an app password, trusted IPs no longer exempt them from MFA.
    pub ever_had_app_password: bool,
    pub deleted_at: Option<Time>,
}

/// The fields object sync and password hash sync carry to the cloud, captured after every
/// on-prem change. The cloud view at time T is built only from these (see `sync`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, Serialize)]
pub struct SyncedSnapshot {
    pub exists: bool,
    pub sam: String,
    pub upn: String,
    /// Synced by object sync; signs in to the cloud only with the tenant's `email-sign-in`.
    #[serde(default)]
    pub mail: Option<String>,
    /// Group membership as synced (Conditional Access scopes policies by group).
    #[serde(default)]
    pub groups: Vec<String>,
    pub enabled: bool,
    pub syncable_hash: Option<String>,
}

#[cfg(test)]
impl User {
    /// An enabled account with no password or hash of interest, for rule tests that need
    /// facts rather than a store.
    pub fn fixture(id: i64, sam: &str, at: Time) -> User {
        User {
            id,
            sam: sam.into(),
            upn: format!("{sam}@contoso.com"),
            display_name: sam.into(),
            mail: None,
            groups: vec![],
            enabled: true,
            account_expires: None,
            password_hash: String::new(),
            syncable_hash: None,
            nt_hash: None,
            password_set_at: at,
            password_expired: false,
            must_change: false,
            admin: false,
            mfa: MfaState::Disabled,
            modern_auth_only: false,
            created_at: at,
            enabled_changed_at: at,
            ever_had_app_password: false,
            deleted_at: None,
        }
    }
}

impl User {
    pub fn snapshot(&self) -> SyncedSnapshot {
        SyncedSnapshot {
            exists: true,
            sam: self.sam.clone(),
            upn: self.upn.clone(),
            mail: self.mail.clone(),
            groups: self.groups.clone(),
            enabled: self.enabled,
            syncable_hash: self.syncable_hash.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AppPassword {
    pub user_id: i64,
    pub name: String,
    pub created_at: Time,
    pub last_used: Option<Time>,
    #[serde(skip)]
    pub hash: String,
    /// A short keyed tag of the secret so that a presented secret is checked against one
    /// candidate rather than all 40 (see `verify::hashing`).
    #[serde(skip)]
    pub tag: String,
}

pub const MAX_APP_PASSWORDS: usize = 40;
pub const MAX_TRUSTED_IPS: usize = 50;
