//! Directory operations as an administrator performs them (the CLI's `user`, `app-password`,
//! `tenant` and `sync` commands): validation, the reference's refusals, and hashing of new
//! secrets. Front doors never come here; they go through the verifier.

use std::sync::Arc;

use super::import::{ImportRow, Parsed};
use super::model::{AppPassword, MfaState, Time, User};
use super::names::Candidates;
use super::store::{ManualSync, Store, StoreError};
use super::tenant::Tenant;
use crate::clock::Clock;
use crate::directory::domain::DirectoryConfig;
use crate::verify::hashing::{generate_app_password, HashError, Hasher, Secret};

/// What an import did.
#[derive(Debug, Default, serde::Serialize)]
pub struct ImportSummary {
    pub imported: usize,
    /// Rows whose plaintext password was hashed here.
    pub hashed: usize,
    /// Rows that came with an Argon2id hash.
    pub prehashed: usize,
    /// Rows with neither (LDIF: AD exports no passwords).
    pub without_password: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Hash(#[from] HashError),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Refused(m) => ServiceError::Refused(m),
            StoreError::NotFound(m) => ServiceError::NotFound(m),
            other => ServiceError::Store(other),
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

pub struct NewUser {
    pub sam: String,
    pub upn: Option<String>,
    pub password: Secret,
    pub display_name: Option<String>,
    pub mail: Option<String>,
    pub groups: Vec<String>,
    pub mfa: MfaState,
    pub admin: bool,
    pub modern_auth_only: bool,
}

/// Changes for `user set`; `None` leaves a field as it is.
#[derive(Default)]
pub struct UserChanges {
    pub upn: Option<String>,
    pub display_name: Option<String>,
    pub mail: Option<Option<String>>,
    pub groups: Option<Vec<String>>,
    pub mfa: Option<MfaState>,
    pub admin: Option<bool>,
    pub modern_auth_only: Option<bool>,
    pub expires: Option<Option<Time>>,
    pub must_change: Option<bool>,
    pub password_expired: Option<bool>,
}

pub struct Directory {
    pub(super) store: Arc<dyn Store>,
    pub(super) clock: Clock,
    dir: DirectoryConfig,
    hasher: Arc<Hasher>,
}

const SAM_FORBIDDEN: &[char] = &[
    '"', '/', '\\', '[', ']', ':', ';', '|', '=', ',', '+', '*', '?', '<', '>', '@',
];

fn validate_sam(sam: &str) -> ServiceResult<()> {
    let ok = !sam.is_empty()
        && sam.chars().count() <= 20
        && !sam
            .chars()
            .any(|c| SAM_FORBIDDEN.contains(&c) || c.is_control())
        && !sam.chars().all(|c| c == '.' || c == ' ');
    if ok {
        Ok(())
    } else {
        Err(ServiceError::Invalid(format!(
            "invalid sAMAccountName {sam:?}: 1 to 20 characters, none of \" / \\ [ ] : ; | = , + * ? < > @"
        )))
    }
}

fn validate_upn(upn: &str) -> ServiceResult<()> {
    let ok = upn.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !domain.contains('@')
    }) && upn.len() <= 256
        && !upn.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(ServiceError::Invalid(format!(
            "invalid UPN {upn:?}: expected name@domain such as alice@contoso.com"
        )))
    }
}

/// AD's `rangeUpper` for displayName and mail, and for a group's cn; more groups than a
/// Kerberos token holds (1015) make no sense for an account either. Every read-back of a user
/// is an LDAP reply, so a value is never larger than AD would keep.
pub const MAX_DISPLAY_NAME: usize = 256;
pub const MAX_MAIL: usize = 256;
pub const MAX_GROUP_NAME: usize = 64;
pub const MAX_GROUPS: usize = 1015;

/// displayName, mail and group names within AD's limits, without control characters.
fn validate_attributes(
    display_name: Option<&str>,
    mail: Option<&str>,
    groups: &[String],
) -> ServiceResult<()> {
    let bad = |what: &str, max: usize, v: &str| {
        let n = v.chars().count();
        if n > max {
            Some(format!(
                "{what} is {n} characters long; AD keeps at most {max}"
            ))
        } else if v.chars().any(char::is_control) {
            Some(format!("{what} holds a control character"))
        } else {
            None
        }
    };
    let problem = display_name
        .and_then(|d| bad("displayName", MAX_DISPLAY_NAME, d))
        .or_else(|| mail.and_then(|m| bad("mail", MAX_MAIL, m)))
        .or_else(|| {
            (groups.len() > MAX_GROUPS).then(|| {
                format!(
                    "{} groups; an account can be in at most {MAX_GROUPS}",
                    groups.len()
                )
            })
        })
        .or_else(|| {
            groups
                .iter()
                .find_map(|g| bad("a group name", MAX_GROUP_NAME, g))
        });
    match problem {
        Some(p) => Err(ServiceError::Invalid(p)),
        None => Ok(()),
    }
}

fn validate_password(p: &Secret) -> ServiceResult<()> {
    if p.is_empty() {
        return Err(ServiceError::Invalid(
            "the password must not be empty".into(),
        ));
    }
    if p.expose().len() > 256 {
        return Err(ServiceError::Invalid(
            "the password must be at most 256 bytes".into(),
        ));
    }
    Ok(())
}

fn validate_app_password_name(name: &str) -> ServiceResult<()> {
    if name.trim().is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(ServiceError::Invalid(format!(
            "invalid app password name {name:?}: 1 to 64 printable characters, e.g. \"Laptop\""
        )));
    }
    Ok(())
}

impl Directory {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Clock,
        dir: DirectoryConfig,
        hasher: Arc<Hasher>,
    ) -> Directory {
        Directory {
            store,
            clock,
            dir,
            hasher,
        }
    }

    pub fn now(&self) -> ServiceResult<Time> {
        Ok(self.clock.now()?)
    }

    pub fn config(&self) -> &DirectoryConfig {
        &self.dir
    }

    pub fn get(&self, sam: &str) -> ServiceResult<User> {
        self.store
            .user_by_sam(sam)?
            .ok_or_else(|| ServiceError::NotFound(format!("no user with sAMAccountName {sam:?}")))
    }

    pub fn list(&self) -> ServiceResult<Vec<User>> {
        Ok(self.store.users()?)
    }

    pub fn add_user(&self, new: NewUser) -> ServiceResult<User> {
        validate_sam(&new.sam)?;
        let upn = new
            .upn
            .clone()
            .unwrap_or_else(|| format!("{}@{}", new.sam.to_lowercase(), self.dir.upn_suffix));
        validate_upn(&upn)?;
        validate_password(&new.password)?;
        validate_attributes(
            new.display_name.as_deref(),
            new.mail.as_deref(),
            &new.groups,
        )?;
        let now = self.now()?;
        let hash = self.hasher.hash(new.password.expose())?;
        let nt_hash = self.hasher.nt_hash_for(new.password.expose());
        let user = User {
            id: 0,
            sam: new.sam.clone(),
            upn,
            display_name: new.display_name.unwrap_or_else(|| new.sam.clone()),
            mail: new.mail,
            groups: new.groups,
            enabled: true,
            account_expires: None,
            password_hash: hash.clone(),
            syncable_hash: Some(hash),
            nt_hash,
            password_set_at: now,
            password_expired: false,
            must_change: false,
            admin: new.admin,
            mfa: new.mfa,
            modern_auth_only: new.modern_auth_only,
            created_at: now,
            enabled_changed_at: now,
            ever_had_app_password: false,
            deleted_at: None,
        };
        Ok(self.store.insert_user(&user, now)?)
    }

    /// Imports users all or none: every row is checked first (names, duplicates in the file
    /// and against the directory, password hashes), every problem reported as
    /// `SOURCE:LINE: message`; then plaintext passwords are hashed on every core and all rows
    /// are inserted in one transaction. Each enters the history like any creation, so the
    /// cloud sees them at the next object-sync cycle. `progress(done, total)` follows the
    /// hashing.
    pub fn import_users(
        &self,
        source: &str,
        parsed: Parsed,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> ServiceResult<ImportSummary> {
        let rows = parsed.rows;
        let mut problems: Vec<(usize, String)> = parsed
            .errors
            .into_iter()
            .map(|e| (e.line, e.message))
            .collect();
        let mut seen_sam = std::collections::HashMap::new();
        let mut seen_upn = std::collections::HashMap::new();
        let upn_of = |r: &ImportRow| {
            r.upn
                .clone()
                .unwrap_or_else(|| format!("{}@{}", r.sam.to_lowercase(), self.dir.upn_suffix))
        };
        for r in &rows {
            if let Err(e) = validate_sam(&r.sam) {
                problems.push((r.line, e.to_string()));
            }
            let upn = upn_of(r);
            if let Err(e) = validate_upn(&upn) {
                problems.push((r.line, e.to_string()));
            }
            if let Some(p) = &r.password {
                if let Err(e) = validate_password(p) {
                    problems.push((r.line, e.to_string()));
                }
            }
            if let Err(e) =
                validate_attributes(r.display_name.as_deref(), r.mail.as_deref(), &r.groups)
            {
                problems.push((r.line, e.to_string()));
            }
            if let Some(h) = &r.password_hash {
                let argon2id = argon2::password_hash::PasswordHash::new(h)
                    .is_ok_and(|p| p.algorithm.as_str() == "argon2id");
                let range = self.hasher.cost_range();
                match crate::verify::hashing::cost_of(h) {
                    Some(cost) if argon2id => {
                        if let Some(why) = range.outside(&cost) {
                            problems.push((
                                r.line,
                                format!(
                                    "password_hash refused: {why} (accepted: {}); give the password instead, or hashes made with parameters near [hashing]",
                                    range.describe()
                                ),
                            ));
                        }
                    }
                    _ => problems.push((
                        r.line,
                        "password_hash is not an Argon2id PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash)".into(),
                    )),
                }
            }
            if let Some(first) = seen_sam.insert(r.sam.to_lowercase(), r.line) {
                problems.push((r.line, format!("sam {:?} is also on line {first}", r.sam)));
            }
            if let Some(first) = seen_upn.insert(upn.to_lowercase(), r.line) {
                problems.push((r.line, format!("upn {upn:?} is also on line {first}")));
            }
        }
        for chunk in rows.chunks(400) {
            let names = Candidates {
                sams: chunk.iter().map(|r| r.sam.to_lowercase()).collect(),
                upns: chunk.iter().map(|r| upn_of(r).to_lowercase()).collect(),
                mails: vec![],
            };
            for u in self.store.users_named(&names)? {
                for r in chunk {
                    if r.sam.eq_ignore_ascii_case(&u.sam) || upn_of(r).eq_ignore_ascii_case(&u.upn)
                    {
                        problems.push((
                            r.line,
                            format!("a user {:?} ({}) already exists", u.sam, u.upn),
                        ));
                    }
                }
            }
        }
        if !problems.is_empty() {
            problems.sort();
            // The first hundred say what is wrong; a file wrong on every line says it once.
            const SHOWN: usize = 100;
            let mut text: Vec<String> = problems
                .iter()
                .take(SHOWN)
                .map(|(line, m)| format!("{source}:{line}: {m}"))
                .collect();
            if problems.len() > SHOWN {
                text.push(format!(
                    "{source}: and {} more problems",
                    problems.len() - SHOWN
                ));
            }
            return Err(ServiceError::Invalid(format!(
                "{}\nnothing was imported",
                text.join("\n")
            )));
        }
        let now = self.now()?;
        let to_hash = rows.iter().filter(|r| r.password.is_some()).count();
        let hashes = self.hash_all(&rows, to_hash, progress)?;
        let mut summary = ImportSummary::default();
        let users: Vec<User> = rows
            .iter()
            .zip(hashes)
            .map(|(r, hashed)| {
                let hash = hashed.or_else(|| r.password_hash.clone());
                match (&r.password, &hash) {
                    (Some(_), _) => summary.hashed += 1,
                    (None, Some(_)) => summary.prehashed += 1,
                    (None, None) => summary.without_password += 1,
                }
                User {
                    id: 0,
                    sam: r.sam.clone(),
                    upn: upn_of(r),
                    display_name: r.display_name.clone().unwrap_or_else(|| r.sam.clone()),
                    mail: r.mail.clone(),
                    groups: r.groups.clone(),
                    enabled: r.enabled,
                    account_expires: None,
                    // An account without a password has no hash any secret can match.
                    password_hash: hash.clone().unwrap_or_default(),
                    syncable_hash: hash,
                    // Only a plaintext password gives an NT hash; an imported hash cannot.
                    nt_hash: r
                        .password
                        .as_ref()
                        .and_then(|p| self.hasher.nt_hash_for(p.expose())),
                    password_set_at: now,
                    password_expired: false,
                    must_change: false,
                    admin: r.admin,
                    mfa: r.mfa,
                    modern_auth_only: false,
                    created_at: now,
                    enabled_changed_at: now,
                    ever_had_app_password: false,
                    deleted_at: None,
                }
            })
            .collect();
        summary.imported = self.store.insert_users(&users, now)?;
        Ok(summary)
    }

    /// Argon2 for every row with a plaintext password, spread over the machine's cores.
    fn hash_all(
        &self,
        rows: &[ImportRow],
        total: usize,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> ServiceResult<Vec<Option<String>>> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let done = std::sync::atomic::AtomicUsize::new(0);
        let per = rows.len().div_ceil(threads).max(1);
        let parts: Vec<Result<Vec<Option<String>>, HashError>> = std::thread::scope(|s| {
            let handles: Vec<_> = rows
                .chunks(per)
                .map(|chunk| {
                    let done = &done;
                    s.spawn(move || {
                        chunk
                            .iter()
                            .map(|r| {
                                r.password
                                    .as_ref()
                                    .map(|p| {
                                        let h = self.hasher.hash(p.expose());
                                        let n =
                                            done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                        progress(n + 1, total);
                                        h
                                    })
                                    .transpose()
                            })
                            .collect()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(HashError("a hashing thread panicked".into())))
                })
                .collect()
        });
        let mut out = Vec::with_capacity(rows.len());
        for p in parts {
            out.extend(p?);
        }
        Ok(out)
    }

    pub fn set_user(&self, sam: &str, c: UserChanges) -> ServiceResult<User> {
        let mut u = self.get(sam)?;
        validate_attributes(
            c.display_name.as_deref(),
            c.mail.as_ref().and_then(|m| m.as_deref()),
            c.groups.as_deref().unwrap_or_default(),
        )?;
        if let Some(upn) = c.upn {
            validate_upn(&upn)?;
            u.upn = upn;
        }
        if let Some(d) = c.display_name {
            u.display_name = d;
        }
        if let Some(m) = c.mail {
            u.mail = m;
        }
        if let Some(g) = c.groups {
            u.groups = g;
        }
        if let Some(m) = c.mfa {
            u.mfa = m;
        }
        if let Some(a) = c.admin {
            u.admin = a;
        }
        if let Some(m) = c.modern_auth_only {
            u.modern_auth_only = m;
        }
        if let Some(e) = c.expires {
            u.account_expires = e;
        }
        if let Some(p) = c.password_expired {
            u.password_expired = p;
        }
        if let Some(mc) = c.must_change {
            if u.must_change && !mc {
                // Clearing the flag makes the current password an ordinary one, which password
                // hash sync then carries (a documented modelling choice).
                u.syncable_hash = Some(u.password_hash.clone());
            }
            u.must_change = mc;
        }
        let now = self.now()?;
        self.store.update_user(&u, now)?;
        Ok(u)
    }

    pub fn set_enabled(&self, sam: &str, enabled: bool) -> ServiceResult<User> {
        let mut u = self.get(sam)?;
        if u.enabled != enabled {
            let now = self.now()?;
            u.enabled = enabled;
            u.enabled_changed_at = now;
            self.store.update_user(&u, now)?;
        }
        Ok(u)
    }

    pub fn delete(&self, sam: &str) -> ServiceResult<()> {
        let u = self.get(sam)?;
        let now = self.now()?;
        Ok(self.store.delete_user(u.id, now)?)
    }

    /// Clears the AD lockout; with `smart_lockout`, Entra's smart lockout too (an AD unlock
    /// alone does not touch the cloud's).
    pub fn unlock(&self, sam: &str, smart_lockout: bool) -> ServiceResult<()> {
        let u = self.get(sam)?;
        crate::verify::lockout::ad_reset(self.store.as_ref(), u.id)?;
        if smart_lockout {
            crate::verify::lockout::smart_reset(self.store.as_ref(), u.id)?;
        }
        Ok(self.store.flush_durable()?)
    }

    pub fn reset_password(
        &self,
        sam: &str,
        password: &Secret,
        must_change: bool,
    ) -> ServiceResult<User> {
        validate_password(password)?;
        let mut u = self.get(sam)?;
        let now = self.now()?;
        let hash = self.hasher.hash(password.expose())?;
        u.password_hash = hash.clone();
        // A new password replaces the NT hash too, or clears it: an old one must never
        // keep the old password working over MS-CHAP.
        u.nt_hash = self.hasher.nt_hash_for(password.expose());
        if !must_change {
            u.syncable_hash = Some(hash);
        }
        u.must_change = must_change;
        u.password_expired = false;
        u.password_set_at = now;
        self.store.update_user(&u, now)?;
        // App passwords are deliberately left alone: a reset does not revoke them (§7).
        Ok(u)
    }

    /// Creates an app password and returns its secret, which is never stored or shown again.
    pub fn create_app_password(
        &self,
        sam: &str,
        name: &str,
    ) -> ServiceResult<(AppPassword, String)> {
        validate_app_password_name(name)?;
        let u = self.get(sam)?;
        let tenant = self.store.tenant()?;
        if !tenant.allow_app_passwords {
            return Err(ServiceError::Refused(
                "the tenant setting allow-app-passwords is off (the default): users cannot create app passwords; turn it on with `hybridauth tenant set allow-app-passwords on`".into(),
            ));
        }
        if u.admin {
            return Err(ServiceError::Refused(format!(
                "{} holds an administrator role: for security reasons app passwords are not available to admins",
                u.sam
            )));
        }
        if u.mfa != MfaState::Enforced {
            // The seed's symptom ("the drop-down doesn't offer an app password") and its cure.
            let source = if tenant.security_defaults {
                Some("Security Defaults".to_string())
            } else {
                tenant
                    .ca_require_mfa
                    .covers(&u.groups, None, &[])
                    .map(|c| format!("the Conditional Access policy 'require MFA' ({})", c.scope))
            };
            let why = match source {
                Some(src) => format!(
                    "{}'s MFA requirement comes from {src}, not from per-user MFA (per-user state: {}); app passwords can be created only by users with per-user MFA enforced, which overrides Conditional Access and Security Defaults: `user set {} --mfa enforced`",
                    u.sam,
                    u.mfa.as_str(),
                    u.sam
                ),
                None => format!(
                    "{}'s per-user MFA state is {}: app passwords can be created only by MFA-enforced users (`user set {} --mfa enforced`)",
                    u.sam,
                    u.mfa.as_str(),
                    u.sam
                ),
            };
            return Err(ServiceError::Refused(why));
        }
        let secret = generate_app_password();
        let ap = AppPassword {
            user_id: u.id,
            name: name.to_string(),
            created_at: self.now()?,
            last_used: None,
            hash: self.hasher.hash(secret.as_bytes())?,
            tag: self.hasher.app_password_tag(&secret),
        };
        self.store.insert_app_password(&ap)?;
        Ok((ap, secret))
    }

    pub fn app_passwords(&self, sam: &str) -> ServiceResult<Vec<AppPassword>> {
        let u = self.get(sam)?;
        Ok(self.store.app_passwords(u.id)?)
    }

    pub fn delete_app_password(&self, sam: &str, name: &str, as_admin: bool) -> ServiceResult<()> {
        let u = self.get(sam)?;
        let tenant = self.store.tenant()?;
        if !tenant.allow_app_passwords && !as_admin {
            return Err(ServiceError::Refused(
                "the tenant setting allow-app-passwords is off: users can no longer manage or delete their app passwords (they keep working); an administrator still can, with --as-admin".into(),
            ));
        }
        if self.store.delete_app_password(u.id, name)? {
            Ok(())
        } else {
            Err(ServiceError::NotFound(format!(
                "{} has no app password named {name:?}",
                u.sam
            )))
        }
    }

    pub fn tenant(&self) -> ServiceResult<Tenant> {
        Ok(self.store.tenant()?)
    }

    pub fn set_tenant(&self, key: &str, value: &str) -> ServiceResult<Tenant> {
        let mut t = self.store.tenant()?;
        t.set(key, value).map_err(ServiceError::Invalid)?;
        let now = self.now()?;
        self.store.set_tenant(&t, now)?;
        Ok(t)
    }

    pub fn sync_now(&self) -> ServiceResult<ManualSync> {
        let now = self.now()?;
        Ok(self.store.record_manual_sync(now)?)
    }

    pub fn sync_state(&self) -> ServiceResult<crate::sync::SyncState> {
        let now = self.now()?;
        let tenant = self.store.tenant()?;
        Ok(crate::sync::state_at(self.store.as_ref(), &tenant, now)?)
    }
}
