//! A user's MFA registration as the cloud holds it (methods registered in Entra, not synced
//! from on-prem), and the push notifications the simulated authenticator answers.

use serde::Serialize;

use super::model::Time;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MfaKind {
    /// An authenticator app's six-digit code (TOTP).
    Totp,
    /// An authenticator app's notification, approved or denied on the phone.
    Push,
}

impl MfaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MfaKind::Totp => "totp",
            MfaKind::Push => "push",
        }
    }

    pub fn parse(s: &str) -> Option<MfaKind> {
        match s {
            "totp" => Some(MfaKind::Totp),
            "push" => Some(MfaKind::Push),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MfaMethod {
    pub user_id: i64,
    pub kind: MfaKind,
    /// The TOTP secret (raw bytes, hex in the store); never shown after it was created.
    #[serde(skip)]
    pub secret: Option<Vec<u8>>,
    /// The method the extension uses first.
    pub default: bool,
    pub created_at: Time,
}

/// A push notification's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PushAnswer {
    Approved,
    Denied,
    /// Nobody answered within `radius.mfa.timeout`: the request was rejected, and the push
    /// can no longer be answered.
    Expired,
}

impl PushAnswer {
    pub fn as_str(self) -> &'static str {
        match self {
            PushAnswer::Approved => "approved",
            PushAnswer::Denied => "denied",
            PushAnswer::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<PushAnswer> {
        match s {
            "approved" => Some(PushAnswer::Approved),
            "denied" => Some(PushAnswer::Denied),
            "expired" => Some(PushAnswer::Expired),
            _ => None,
        }
    }
}

/// A push waiting on the phone.
#[derive(Debug, Clone, Serialize)]
pub struct PendingPush {
    pub id: i64,
    pub user_id: i64,
    pub opened_at: Time,
}
