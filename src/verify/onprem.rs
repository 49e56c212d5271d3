//! The on-premises path: Active Directory semantics against the live directory
//! (docs/model.md §3). The first rule that fires decides; account state (rules 4 to 7) is
//! only revealed behind a correct password, lockout (rule 2) regardless.

use super::context::{
    find_by_login, match_secret, might_be_app_password, stop_if_probe_needs_argon2, Ctx,
    SecretMatch, Trace, VerifyError, NOBODY,
};
use super::explain::{ago, when};
use super::lockout;
use super::lockout::AdLocked;
use super::mschap::{MsChap, MsChapSuccess};
use crate::decision::{Attempt, Codes, Credential, Decision, Outcome, Side};
use crate::directory::store::AdLockout;
use crate::directory::{user_dn, Resolution, Tenant, User};
use crate::time::Time;

fn reject(rule: &'static str, ad: &'static str, nps: u32, explanation: String) -> Decision {
    let codes = Codes {
        ad: Some(ad),
        nps: Some(nps),
        aadsts: None,
    };
    Decision::new(Side::OnPrem, Outcome::Reject, rule, codes, explanation)
}

pub(crate) fn decide(ctx: &Ctx<'_>, attempt: &Attempt) -> Result<Decision, VerifyError> {
    let mut trace = Trace::new(attempt.trace);
    let mut d = decide_traced(ctx, attempt, &mut trace)?;
    trace.finish(&mut d);
    Ok(d)
}

/// What the secret turned out to be, for the trace (names an app password, never a secret).
pub(crate) fn secret_note(m: &SecretMatch, side: &str) -> String {
    match (&m.app, m.domain) {
        (Some(name), _) => format!("the secret is app password {name:?}"),
        (None, true) => format!("the secret is the {side} domain password"),
        (None, false) => {
            format!("the secret is not the {side} domain password nor an app password")
        }
    }
}

/// What the on-prem rules read, gathered before any of them runs: the reads and the secret's
/// match are done, nothing is decided yet.
pub(crate) struct Facts<'a> {
    pub login: &'a str,
    pub resolution: Resolution,
    pub user: Option<&'a User>,
    pub secret: &'a SecretMatch,
    /// The MS-CHAP proof presented instead of a cleartext secret, if any.
    pub mschap: Option<&'a MsChap>,
    /// Whether the user has app passwords (an MS-CHAP failure's explanation mentions them).
    pub has_app_passwords: bool,
    /// The user's AD lockout state (a stand-in's for an unknown user).
    pub lock: AdLockout,
    pub tenant: &'a Tenant,
    pub now: Time,
}

/// The rule that decided (docs/model.md §3, in its order), with what its answer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Rule 1.
    UnknownUser {
        ambiguous: bool,
    },
    /// Rule 2, even with the right password.
    LockedOut(AdLocked),
    /// MS-CHAP without an NT hash: nothing can be proved either way (NPS 66, nothing counted).
    NoNtHash,
    /// Rule 3: not the current domain password (every app password included).
    BadPassword,
    /// Rules 4 to 7, revealed only behind the right password.
    Disabled,
    AccountExpired(Time),
    PasswordExpired,
    MustChange,
    /// Rule 8.
    Accept,
}

/// The on-prem rules: a pure function of the facts, in the reference's order, noting in
/// `trace` every rule that passed.
pub(crate) fn rules(f: &Facts<'_>, trace: &mut Trace) -> Verdict {
    let Some(user) = f.user else {
        return Verdict::UnknownUser {
            ambiguous: f.resolution == Resolution::Ambiguous,
        };
    };
    trace.pass("onprem.unknown-user", || {
        format!(
            "{:?} is the on-prem account {}; {}",
            crate::runtime::logging::cap(f.login, 64),
            user.sam,
            secret_note(f.secret, "current")
        )
    });
    if let Some(locked) = lockout::ad_locked(&f.lock, f.tenant, f.now) {
        return Verdict::LockedOut(locked);
    }
    trace.pass("onprem.locked-out", || {
        if f.tenant.ad_lockout_threshold == 0 {
            "not locked out (AD lockout is off: ad-lockout-threshold 0)".into()
        } else {
            format!(
                "not locked out ({} bad password(s) counted, threshold {})",
                f.lock.bad_count, f.tenant.ad_lockout_threshold
            )
        }
    });
    if f.mschap.is_some() && stored_nt_hash(user).is_none() {
        return Verdict::NoNtHash;
    }
    if !f.secret.domain {
        return Verdict::BadPassword;
    }
    trace.pass("onprem.bad-password", || {
        "the secret is the current domain password".into()
    });
    if !user.enabled {
        return Verdict::Disabled;
    }
    trace.pass("onprem.disabled", || "the account is enabled".into());
    if let Some(exp) = user.account_expires.filter(|e| *e <= f.now) {
        return Verdict::AccountExpired(exp);
    }
    trace.pass("onprem.account-expired", || match user.account_expires {
        Some(e) => format!("the account expires at {}", when(e, f.now)),
        None => "the account never expires".into(),
    });
    if user.password_expired {
        return Verdict::PasswordExpired;
    }
    trace.pass("onprem.password-expired", || {
        "the domain password has not expired".into()
    });
    if user.must_change {
        return Verdict::MustChange;
    }
    trace.pass("onprem.must-change", || {
        "no change required at next logon".into()
    });
    Verdict::Accept
}

/// What the reads gave (owned; `Facts` borrows from it).
struct Gathered {
    users: Vec<User>,
    resolution: Resolution,
    user_id: Option<i64>,
    app_passwords: usize,
    secret: SecretMatch,
    /// An MS-CHAP accept's proof (authenticator response, keys).
    proved: Option<MsChapSuccess>,
    lock: AdLockout,
}

/// The reads and the secret match. An unknown user costs the same reads (a stand-in's
/// lockout state, app passwords of nobody) as a known one, so timing reveals nothing.
fn gather(ctx: &Ctx<'_>, attempt: &Attempt) -> Result<Gathered, VerifyError> {
    let (users, resolution) = find_by_login(ctx, &attempt.login)?;
    let user: Option<&User> = match resolution {
        Resolution::Found(id) => users.iter().find(|u| u.id == id),
        _ => None,
    };
    // App passwords matter only for a secret shaped like one (the other shapes never match
    // one) and for an MS-CHAP failure's explanation: a plain password does not read them. The
    // choice depends on the secret's shape alone, never on the account.
    let app_passwords = if attempt.mschap.is_some() || might_be_app_password(&attempt.secret) {
        ctx.store.app_passwords(user.map_or(NOBODY, |u| u.id))?
    } else {
        Vec::new()
    };
    // MS-CHAP proves the password by challenge-response against the NT hash (no Argon2); an
    // app password can never match it, as the cloud alone knows app passwords.
    let mut proved = None;
    let secret = match &attempt.mschap {
        Some(proof) => {
            proved = user
                .and_then(stored_nt_hash)
                .and_then(|h| super::mschap::verify(proof, &h));
            SecretMatch {
                domain: proved.is_some(),
                app: None,
                refused: None,
            }
        }
        None => match_secret(
            ctx,
            user.map(|u| u.password_hash.as_str()),
            &app_passwords,
            &attempt.secret,
        ),
    };
    stop_if_probe_needs_argon2()?;
    let user_id = user.map(|u| u.id);
    let lock = ctx.store.ad_lockout(user_id.unwrap_or(NOBODY))?;
    Ok(Gathered {
        app_passwords: app_passwords.len(),
        users,
        resolution,
        user_id,
        secret,
        proved,
        lock,
    })
}

/// The writes a verdict calls for; for a wrong password, the lockout state it left.
fn apply(
    ctx: &Ctx<'_>,
    f: &Facts<'_>,
    verdict: &Verdict,
) -> Result<Option<AdLockout>, VerifyError> {
    match (verdict, f.user) {
        // The same write an unknown user's wrong password would cost, on a stand-in.
        (Verdict::UnknownUser { .. }, _) => {
            ctx.store.modify_ad_lockout(NOBODY, &mut |_| {})?;
            Ok(None)
        }
        (Verdict::BadPassword, Some(user)) => Ok(Some(lockout::ad_bad_attempt(
            ctx.store, user.id, f.tenant, f.now,
        )?)),
        (Verdict::Accept, Some(user)) => {
            lockout::ad_reset(ctx.store, user.id)?;
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// The decision a verdict stands for: codes and the explanation (with what `apply` counted).
fn explain(f: &Facts<'_>, verdict: Verdict, counted: Option<AdLockout>) -> Decision {
    let now = f.now;
    match verdict {
        Verdict::UnknownUser { ambiguous: true } => reject(
            "onprem.unknown-user",
            "525",
            8,
            format!(
                "{:?} matches more than one on-prem account; AD refuses an ambiguous name",
                f.login
            ),
        ),
        Verdict::UnknownUser { ambiguous: false } => reject(
            "onprem.unknown-user",
            "525",
            8,
            format!("no on-prem account answers to {:?}", f.login),
        ),
        Verdict::LockedOut(locked) => locked_out(f, locked),
        Verdict::NoNtHash => no_nt_hash(f),
        Verdict::BadPassword => reject(
            "onprem.bad-password",
            "52e",
            16,
            bad_password_why(f, counted),
        ),
        Verdict::Disabled => disabled(f),
        Verdict::AccountExpired(exp) => reject(
            "onprem.account-expired",
            "701",
            35,
            format!(
                "account expired on-prem at {} (accountExpires)",
                when(exp, now)
            ),
        ),
        Verdict::PasswordExpired => reject(
            "onprem.password-expired",
            "532",
            33,
            "the domain password has expired; the user must set a new one".into(),
        ),
        Verdict::MustChange => reject(
            "onprem.must-change",
            "773",
            33,
            "the user must change the password at next logon; a legacy protocol cannot do that"
                .into(),
        ),
        Verdict::Accept => accepted(f),
    }
}

/// Rule: MS-CHAP without the NT hash it needs (NPS reason 66).
fn no_nt_hash(f: &Facts<'_>) -> Decision {
    let codes = Codes {
        ad: None,
        nps: Some(66),
        aadsts: None,
    };
    Decision::new(
        Side::OnPrem,
        Outcome::Reject,
        "onprem.mschap.no-nt-hash",
        codes,
        format!(
            "{} needs the account's NT hash, which hybridauth keeps only with hashing.store_nt_hash = true, from the next time the password is set; this account has none: use PAP (or EAP-TTLS/PAP)",
            f.mschap.map_or("MS-CHAP", |p| p.name())
        ),
    )
}

/// Rule: the account is disabled on-prem (533), since when.
fn disabled(f: &Facts<'_>) -> Decision {
    let now = f.now;
    let at = f.user.map_or(now, |u| u.enabled_changed_at);
    reject(
        "onprem.disabled",
        "533",
        34,
        format!(
            "account disabled on-prem at {} ({})",
            when(at, now),
            ago(at, now)
        ),
    )
}

/// The accept, saying how the password was proved.
fn accepted(f: &Facts<'_>) -> Decision {
    let how = match f.mschap {
        Some(proof) => format!(
            "domain password proved by {} against the live on-prem account's NT hash",
            proof.name()
        ),
        None => "domain password checked against the live on-prem account".into(),
    };
    Decision::new(
        Side::OnPrem,
        Outcome::Accept,
        "onprem.accept",
        Codes::default(),
        how,
    )
}

/// Why the secret is wrong, with the bad attempt `apply` counted (and what an app password or
/// an MS-CHAP response shows AD).
fn bad_password_why(f: &Facts<'_>, counted: Option<AdLockout>) -> String {
    let now = f.now;
    let state = counted.unwrap_or_default();
    let threshold = f.tenant.ad_lockout_threshold;
    let counted = if threshold == 0 {
        format!("bad attempt {}, AD lockout disabled", state.bad_count)
    } else if state.locked_at == Some(now) {
        format!(
            "bad attempt {} of {threshold}: the account is now locked out",
            state.bad_count
        )
    } else {
        format!("bad attempt {} of {threshold}", state.bad_count)
    };
    let why = match (&f.secret.app, f.mschap) {
                (Some(name), _) => format!(
                    "app password {name:?} presented to an on-prem endpoint; app passwords are known only to the cloud, so AD sees a wrong password ({counted})"
                ),
                (None, Some(proof)) => {
                    let apps = if f.has_app_passwords {
                        "; an app password never works here: the cloud alone knows app passwords, and it verifies only cleartext secrets"
                    } else {
                        ""
                    };
                    format!(
                        "the {} response does not prove the current domain password ({counted}){apps}",
                        proof.name()
                    )
                }
                (None, None) => match &f.secret.refused {
                    Some(r) => format!("the secret was not checked ({counted}): {r}"),
                    None => format!("the secret is not the current domain password ({counted})"),
                },
            };
    why
}

/// Rule 2's answer: since when, after how many, and until when.
fn locked_out(f: &Facts<'_>, locked: AdLocked) -> Decision {
    let now = f.now;

    let until = match locked.until {
        Some(u) => format!("it unlocks at {}", when(u, now)),
        None => "it stays locked until an administrator unlocks it (ad-lockout-duration 0)".into(),
    };
    reject(
        "onprem.locked-out",
        "775",
        36,
        format!(
            "account locked out on-prem at {} after {} bad passwords (threshold {}); {until}",
            when(locked.since, now),
            f.lock.bad_count,
            f.tenant.ad_lockout_threshold
        ),
    )
}

/// Gather, rules, apply, then the decision with the user it names.
fn decide_traced(
    ctx: &Ctx<'_>,
    attempt: &Attempt,
    trace: &mut Trace,
) -> Result<Decision, VerifyError> {
    let g = gather(ctx, attempt)?;
    let user = g.user_id.and_then(|id| g.users.iter().find(|u| u.id == id));
    let facts = Facts {
        login: &attempt.login,
        resolution: g.resolution,
        user,
        secret: &g.secret,
        mschap: attempt.mschap.as_ref(),
        has_app_passwords: g.app_passwords > 0,
        lock: g.lock.clone(),
        tenant: ctx.tenant,
        now: ctx.now,
    };
    let verdict = rules(&facts, trace);
    let counted = apply(ctx, &facts, &verdict)?;
    let mut d = explain(&facts, verdict, counted);
    let Some(user) = user else {
        return Ok(d);
    };
    if d.accepted() {
        d.mschap = g.proved.clone();
    }
    if ctx.wants_groups {
        d.groups = user.groups.clone();
    }
    d.user = Some(user.sam.clone());
    d.user_dn = Some(user_dn(ctx.dir, &user.sam));
    if let Some(name) = &g.secret.app {
        d.credential = Credential::AppPassword;
        d.app_password = Some(name.clone());
    } else if g.secret.domain {
        d.credential = Credential::DomainPassword;
    }
    Ok(d)
}

/// The user's NT hash as stored (hex), if one is kept and well formed.
fn stored_nt_hash(user: &User) -> Option<[u8; 16]> {
    let hex_hash = user.nt_hash.as_deref()?;
    hex::decode(hex_hash).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    //! The on-prem rules from facts alone: no store, no Argon2.
    use super::*;

    fn at(s: &str) -> Time {
        crate::time::parse_time(s).unwrap()
    }

    fn alice() -> User {
        User::fixture(7, "alice", at("2026-01-05T09:00:00Z"))
    }

    fn right() -> SecretMatch {
        SecretMatch {
            domain: true,
            app: None,
            refused: None,
        }
    }

    fn wrong() -> SecretMatch {
        SecretMatch {
            domain: false,
            app: None,
            refused: None,
        }
    }

    fn verdict(
        user: Option<&User>,
        secret: &SecretMatch,
        lock: AdLockout,
        tenant: &Tenant,
    ) -> Verdict {
        let f = Facts {
            login: "alice",
            resolution: user.map_or(Resolution::Unknown, |u| Resolution::Found(u.id)),
            user,
            secret,
            mschap: None,
            has_app_passwords: false,
            lock,
            tenant,
            now: at("2026-01-05T10:00:00Z"),
        };
        let mut trace = Trace::new(true);
        rules(&f, &mut trace)
    }

    #[test]
    fn the_rules_fire_in_the_reference_order() {
        let t = Tenant::default();
        let a = alice();
        assert_eq!(
            verdict(None, &right(), AdLockout::default(), &t),
            Verdict::UnknownUser { ambiguous: false }
        );
        assert_eq!(
            verdict(Some(&a), &right(), AdLockout::default(), &t),
            Verdict::Accept
        );
        assert_eq!(
            verdict(Some(&a), &wrong(), AdLockout::default(), &t),
            Verdict::BadPassword
        );
        // Account state only behind the right password: a wrong one is just wrong.
        let mut off = alice();
        off.enabled = false;
        off.password_expired = true;
        assert_eq!(
            verdict(Some(&off), &wrong(), AdLockout::default(), &t),
            Verdict::BadPassword
        );
        assert_eq!(
            verdict(Some(&off), &right(), AdLockout::default(), &t),
            Verdict::Disabled
        );
        let mut exp = alice();
        exp.account_expires = Some(at("2026-01-05T09:30:00Z"));
        exp.must_change = true;
        assert_eq!(
            verdict(Some(&exp), &right(), AdLockout::default(), &t),
            Verdict::AccountExpired(at("2026-01-05T09:30:00Z"))
        );
        let mut pw = alice();
        pw.password_expired = true;
        pw.must_change = true;
        assert_eq!(
            verdict(Some(&pw), &right(), AdLockout::default(), &t),
            Verdict::PasswordExpired
        );
        pw.password_expired = false;
        assert_eq!(
            verdict(Some(&pw), &right(), AdLockout::default(), &t),
            Verdict::MustChange
        );
    }

    #[test]
    fn lockout_fires_before_the_password_is_looked_at() {
        let t = Tenant {
            ad_lockout_threshold: 3,
            ..Tenant::default()
        };
        let locked = AdLockout {
            bad_count: 3,
            last_bad_at: Some(at("2026-01-05T09:55:00Z")),
            locked_at: Some(at("2026-01-05T09:55:00Z")),
        };
        for secret in [right(), wrong()] {
            assert!(matches!(
                verdict(Some(&alice()), &secret, locked.clone(), &t),
                Verdict::LockedOut(_)
            ));
        }
    }
}
