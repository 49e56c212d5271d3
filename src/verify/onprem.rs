//! The on-premises path: Active Directory semantics against the live directory
//! (docs/model.md §3). The first rule that fires decides; account state (rules 4 to 7) is
//! only revealed behind a correct password, lockout (rule 2) regardless.

use super::context::{
    match_secret, might_be_app_password, stop_if_probe_needs_argon2, Ctx, SecretMatch, Trace,
    VerifyError, NOBODY,
};
use super::explain::{ago, when};
use super::lockout;
use crate::decision::{Attempt, Codes, Credential, Decision, Outcome, Side};
use crate::directory::{candidates, resolve, user_dn, Names, Resolution, User};

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

fn decide_traced(
    ctx: &Ctx<'_>,
    attempt: &Attempt,
    trace: &mut Trace,
) -> Result<Decision, VerifyError> {
    let users = ctx
        .store
        .users_named(&candidates(&attempt.login, ctx.dir))?;
    let resolution = resolve(
        &attempt.login,
        ctx.dir,
        users.iter().map(|u| Names {
            id: u.id,
            sam: &u.sam,
            upn: &u.upn,
        }),
    );
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
    let m = match &attempt.mschap {
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

    // Rule 1: unknown (or ambiguous) user.
    let Some(user) = user else {
        ctx.store.ad_lockout(NOBODY)?;
        ctx.store.modify_ad_lockout(NOBODY, &mut |_| {})?;
        let why = if resolution == Resolution::Ambiguous {
            format!(
                "{:?} matches more than one on-prem account; AD refuses an ambiguous name",
                attempt.login
            )
        } else {
            format!("no on-prem account answers to {:?}", attempt.login)
        };
        return Ok(reject("onprem.unknown-user", "525", 8, why));
    };
    trace.pass("onprem.unknown-user", || {
        format!(
            "{:?} is the on-prem account {}; {}",
            crate::logging::cap(&attempt.login, 64),
            user.sam,
            secret_note(&m, "current")
        )
    });
    let now = ctx.now;
    let with_user = |mut d: Decision| {
        if d.accepted() {
            d.mschap = proved.clone();
        }
        if ctx.wants_groups {
            d.groups = user.groups.clone();
        }
        d.user = Some(user.sam.clone());
        d.user_dn = Some(user_dn(ctx.dir, &user.sam));
        if let Some(name) = &m.app {
            d.credential = Credential::AppPassword;
            d.app_password = Some(name.clone());
        } else if m.domain {
            d.credential = Credential::DomainPassword;
        }
        d
    };

    // Rule 2: locked out, even with the right password.
    let lock = ctx.store.ad_lockout(user.id)?;
    if let Some(locked) = lockout::ad_locked(&lock, ctx.tenant, now) {
        let until = match locked.until {
            Some(u) => format!("it unlocks at {}", when(u, now)),
            None => {
                "it stays locked until an administrator unlocks it (ad-lockout-duration 0)".into()
            }
        };
        return Ok(with_user(reject(
            "onprem.locked-out",
            "775",
            36,
            format!(
                "account locked out on-prem at {} after {} bad passwords (threshold {}); {until}",
                when(locked.since, now),
                lock.bad_count,
                ctx.tenant.ad_lockout_threshold
            ),
        )));
    }

    trace.pass("onprem.locked-out", || {
        if ctx.tenant.ad_lockout_threshold == 0 {
            "not locked out (AD lockout is off: ad-lockout-threshold 0)".into()
        } else {
            format!(
                "not locked out ({} bad password(s) counted, threshold {})",
                lock.bad_count, ctx.tenant.ad_lockout_threshold
            )
        }
    });

    // MS-CHAP needs the NT hash; without one nothing can be proved either way, so no bad
    // attempt is counted (NPS reason 66: the method is not available for this account).
    if let (Some(proof), None) = (&attempt.mschap, stored_nt_hash(user)) {
        let codes = Codes {
            ad: None,
            nps: Some(66),
            aadsts: None,
        };
        return Ok(with_user(Decision::new(
            Side::OnPrem,
            Outcome::Reject,
            "onprem.mschap.no-nt-hash",
            codes,
            format!(
                "{} needs the account's NT hash, which hybridauth keeps only with hashing.store_nt_hash = true, from the next time the password is set; this account has none: use PAP (or EAP-TTLS/PAP)",
                proof.name()
            ),
        )));
    }

    // Rule 3: not the current domain password (every app password included).
    if !m.domain {
        let state = lockout::ad_bad_attempt(ctx.store, user.id, ctx.tenant, now)?;
        let counted = if ctx.tenant.ad_lockout_threshold == 0 {
            format!("bad attempt {}, AD lockout disabled", state.bad_count)
        } else if state.locked_at == Some(now) {
            format!(
                "bad attempt {} of {}: the account is now locked out",
                state.bad_count, ctx.tenant.ad_lockout_threshold
            )
        } else {
            format!(
                "bad attempt {} of {}",
                state.bad_count, ctx.tenant.ad_lockout_threshold
            )
        };
        let why = match (&m.app, &attempt.mschap) {
            (Some(name), _) => format!(
                "app password {name:?} presented to an on-prem endpoint; app passwords are known only to the cloud, so AD sees a wrong password ({counted})"
            ),
            (None, Some(proof)) => {
                let apps = if app_passwords.is_empty() {
                    ""
                } else {
                    "; an app password never works here: the cloud alone knows app passwords, and it verifies only cleartext secrets"
                };
                format!(
                    "the {} response does not prove the current domain password ({counted}){apps}",
                    proof.name()
                )
            }
            (None, None) => match &m.refused {
                Some(r) => format!("the secret was not checked ({counted}): {r}"),
                None => format!("the secret is not the current domain password ({counted})"),
            },
        };
        return Ok(with_user(reject("onprem.bad-password", "52e", 16, why)));
    }

    trace.pass("onprem.bad-password", || {
        "the secret is the current domain password".into()
    });

    // Rules 4 to 7: account state, revealed only behind the right password.
    if !user.enabled {
        return Ok(with_user(reject(
            "onprem.disabled",
            "533",
            34,
            format!(
                "account disabled on-prem at {} ({})",
                when(user.enabled_changed_at, now),
                ago(user.enabled_changed_at, now)
            ),
        )));
    }
    trace.pass("onprem.disabled", || "the account is enabled".into());
    if let Some(exp) = user.account_expires.filter(|e| *e <= now) {
        return Ok(with_user(reject(
            "onprem.account-expired",
            "701",
            35,
            format!(
                "account expired on-prem at {} (accountExpires)",
                when(exp, now)
            ),
        )));
    }
    trace.pass("onprem.account-expired", || match user.account_expires {
        Some(e) => format!("the account expires at {}", when(e, now)),
        None => "the account never expires".into(),
    });
    if user.password_expired {
        return Ok(with_user(reject(
            "onprem.password-expired",
            "532",
            33,
            "the domain password has expired; the user must set a new one".into(),
        )));
    }
    trace.pass("onprem.password-expired", || {
        "the domain password has not expired".into()
    });
    if user.must_change {
        return Ok(with_user(reject(
            "onprem.must-change",
            "773",
            33,
            "the user must change the password at next logon; a legacy protocol cannot do that"
                .into(),
        )));
    }

    trace.pass("onprem.must-change", || {
        "no change required at next logon".into()
    });

    // Rule 8: accept.
    lockout::ad_reset(ctx.store, user.id)?;
    let how = match &attempt.mschap {
        Some(proof) => format!(
            "domain password proved by {} against the live on-prem account's NT hash",
            proof.name()
        ),
        None => "domain password checked against the live on-prem account".into(),
    };
    Ok(with_user(Decision::new(
        Side::OnPrem,
        Outcome::Accept,
        "onprem.accept",
        Codes::default(),
        how,
    )))
}

/// The user's NT hash as stored (hex), if one is kept and well formed.
fn stored_nt_hash(user: &User) -> Option<[u8; 16]> {
    let hex_hash = user.nt_hash.as_deref()?;
    hex::decode(hex_hash).ok()?.try_into().ok()
}
