//! The cloud path: Entra semantics against the synced copy of the account
//! (docs/model.md §4). The cloud never reads live on-prem state to decide; it reads the live
//! directory only to explain how far the copy lags behind.

use super::context::{
    match_secret, might_be_app_password, stop_if_probe_needs_argon2, Ctx, SecretMatch, Trace,
    VerifyError, NOBODY,
};
use super::explain::{ago, when};
use super::lockout;
use crate::decision::{Attempt, Codes, Credential, Decision, Door, Outcome, Side};
use crate::directory::cloud_names::{ad_only_form, cloud_candidates, resolve_cloud, CloudNames};
use crate::directory::store::CloudUser;
use crate::directory::{candidates, resolve, user_dn, MfaState, Names, Resolution, User};
use crate::endpoint::EndpointKind;
use crate::sync::{self, SyncState};

/// NPS reason codes a RADIUS front door reports for cloud answers.
fn nps_for(aadsts: &str) -> u32 {
    match aadsts {
        "AADSTS50034" => 8,
        "AADSTS50057" => 34,
        "AADSTS50053" => 36,
        "AADSTS53003" => 65,
        _ => 16,
    }
}

fn decision(
    outcome: Outcome,
    rule: &'static str,
    aadsts: Option<&'static str>,
    explanation: String,
) -> Decision {
    let codes = Codes {
        ad: None,
        nps: aadsts.map(nps_for),
        aadsts,
    };
    Decision::new(Side::Cloud, outcome, rule, codes, explanation)
}

fn reject(rule: &'static str, aadsts: &'static str, explanation: String) -> Decision {
    decision(Outcome::Reject, rule, Some(aadsts), explanation)
}

fn accept(rule: &'static str, explanation: String) -> Decision {
    decision(Outcome::Accept, rule, None, explanation)
}

/// How the live account differs from the cloud copy, said in sync terms; empty when it does not.
fn object_lag(live: Option<&User>, copy: &CloudUser, sync: &SyncState) -> Option<String> {
    let next = when(sync.object.next, sync.at);
    let live = live?;
    if let Some(deleted) = live.deleted_at {
        return Some(format!(
            "account deleted on-prem at {}; the cloud keeps it until the object-sync cycle at {next}",
            when(deleted, sync.at)
        ));
    }
    if !live.enabled && copy.snapshot.enabled {
        return Some(format!(
            "account disabled on-prem at {} ({}); the cloud still sees it enabled until the object-sync cycle at {next}",
            when(live.enabled_changed_at, sync.at),
            ago(live.enabled_changed_at, sync.at)
        ));
    }
    if live.enabled && !copy.snapshot.enabled {
        return Some(format!(
            "account enabled on-prem at {}; the cloud still sees it disabled until the object-sync cycle at {next}",
            when(live.enabled_changed_at, sync.at)
        ));
    }
    None
}

pub(crate) fn decide(ctx: &Ctx<'_>, attempt: &Attempt) -> Result<Decision, VerifyError> {
    let mut trace = Trace::new(attempt.trace);
    if let Some(proof) = &attempt.mschap {
        if attempt.endpoint.kind == EndpointKind::Cloud {
            let codes = Codes {
                ad: None,
                nps: Some(66),
                aadsts: None,
            };
            let mut d = Decision::new(
                Side::Cloud,
                Outcome::Reject,
                "cloud.mschap-unsupported",
                codes,
                format!(
                    "a cloud endpoint cannot verify {}: Entra ID checks only cleartext secrets (it holds no NT hash), so it refuses MS-CHAP; use PAP or EAP-TTLS/PAP",
                    proof.name()
                ),
            );
            trace.finish(&mut d);
            return Ok(d);
        }
    }
    let mut d = decide_traced(ctx, attempt, &mut trace)?;
    if let (Some(proof), true) = (&attempt.mschap, d.accepted()) {
        d.explanation = format!(
            "{}; {} was verified on-prem (the cloud cannot verify it): the cloud applied only its rules that need no secret",
            d.explanation,
            proof.name()
        );
    }
    trace.finish(&mut d);
    Ok(d)
}

fn decide_traced(
    ctx: &Ctx<'_>,
    attempt: &Attempt,
    trace: &mut Trace,
) -> Result<Decision, VerifyError> {
    let now = ctx.now;
    let sync = sync::state_at(ctx.store, ctx.tenant, now)?;
    // §4d: on a cloud LDAP listener, a bind DN naming an entry of the listener's own (cloud)
    // view stands for that entry's UPN: search-then-bind applications bind with the DN the
    // search gave them. Anywhere else a DN is an AD form, unknown to the cloud.
    let dn_stands_for = if attempt.door == Door::Ldap
        && attempt.endpoint.kind == EndpointKind::Cloud
        && attempt.login.contains('=')
    {
        upn_of_cloud_entry(ctx, &attempt.login, &sync)?
    } else {
        None
    };
    if let Some(upn) = &dn_stands_for {
        trace.pass("cloud.ldap-bind-dn", || {
            format!(
                "the bind DN names the cloud entry of {upn}: signed in as that UPN (docs/model.md §4d)"
            )
        });
    }
    let login = dn_stands_for.as_deref().unwrap_or(&attempt.login);
    // The cloud signs users in by UPN (or mail, with email-sign-in), never by AD's forms.
    let email = ctx.tenant.email_sign_in;
    let names = cloud_candidates(login, email);
    let copies: Vec<CloudUser> = ctx
        .store
        .cloud_users_named(sync.object.cutoff, &names)?
        .into_iter()
        .filter(|c| c.snapshot.exists)
        .collect();
    let resolution = resolve_cloud(
        login,
        email,
        copies.iter().map(|c| CloudNames {
            id: c.user_id,
            upn: &c.snapshot.upn,
            mail: c.snapshot.mail.as_deref(),
        }),
    );
    let copy = match resolution {
        Resolution::Found(id) => copies.iter().find(|c| c.user_id == id),
        _ => None,
    };
    // Cloud-owned settings (MFA, roles, policies) and app passwords live with the cloud object.
    let live = match copy {
        Some(c) => ctx.store.user_by_id(c.user_id)?,
        None => None,
    };
    let synced_hash = match copy {
        Some(c) => ctx
            .store
            .cloud_snapshot(c.user_id, sync.password_hash.cutoff)?
            .filter(|s| s.snapshot.exists)
            .and_then(|s| s.snapshot.syncable_hash),
        None => None,
    };
    // Read only for a secret shaped like an app password (see `might_be_app_password`).
    let app_passwords = if might_be_app_password(&attempt.secret) {
        ctx.store
            .app_passwords(copy.map_or(NOBODY, |c| c.user_id))?
    } else {
        Vec::new()
    };
    // A hybrid endpoint's MS-CHAP proof was verified on-prem before the cloud is asked (see
    // `Verifier::decide_committed`): the cloud takes it as the domain password.
    let m = if attempt.mschap.is_some() {
        SecretMatch {
            domain: true,
            app: None,
            refused: None,
        }
    } else {
        match_secret(ctx, synced_hash.as_deref(), &app_passwords, &attempt.secret)
    };
    stop_if_probe_needs_argon2()?;

    // Rule 1: not in the cloud copy.
    let (Some(copy), Some(live)) = (copy, live.as_ref()) else {
        ctx.store.smart_lockout(NOBODY)?;
        ctx.store.modify_smart_lockout(NOBODY, &mut |_| {})?;
        return Ok(reject(
            "cloud.unknown-user",
            "AADSTS50034",
            unknown_why(ctx, attempt, &sync, resolution, &copies)?,
        ));
    };
    trace.pass("cloud.unknown-user", || {
        format!(
            "{:?} is the cloud account {} (as of the object-sync cycle at {}); {}",
            crate::logging::cap(&attempt.login, 64),
            copy.snapshot.upn,
            sync.object
                .last
                .map(|t| when(t, now))
                .unwrap_or_else(|| "an earlier cycle".into()),
            super::onprem::secret_note(&m, "synced")
        )
    });
    let lag = object_lag(Some(live), copy, &sync);
    let with_user = |mut d: Decision| {
        if ctx.wants_groups {
            d.groups = copy.snapshot.groups.clone();
        }
        d.user = Some(copy.snapshot.sam.clone());
        d.user_dn = Some(user_dn(ctx.dir, &copy.snapshot.sam));
        if let Some(upn) = &dn_stands_for {
            d.explanation = format!(
                "bind DN {} stands for {upn} on this cloud LDAP listener; {}",
                crate::logging::cap(attempt.login.trim(), 256),
                d.explanation
            );
            d.dn_stands_for = Some(upn.clone());
        }
        if let Some(name) = &m.app {
            d.credential = Credential::AppPassword;
            d.app_password = Some(name.clone());
        } else if m.domain {
            d.credential = Credential::DomainPassword;
        }
        if let Some(lag) = &lag {
            d.explanation = format!("{}; {lag}", d.explanation);
        }
        d
    };

    // Rule 2: disabled in the cloud copy (only once the disable has synced).
    if !copy.snapshot.enabled {
        return Ok(with_user(reject(
            "cloud.disabled",
            "AADSTS50057",
            format!(
                "the cloud copy of the account is disabled (synced by the object-sync cycle at {})",
                sync.object
                    .last
                    .map(|t| when(t, now))
                    .unwrap_or_else(|| "an earlier cycle".into())
            ),
        )));
    }

    trace.pass("cloud.disabled", || "the cloud copy is enabled".into());

    // Rule 3: smart lockout.
    let smart = ctx.store.smart_lockout(copy.user_id)?;
    if let Some(until) = lockout::smart_locked_until(&smart, now) {
        return Ok(with_user(reject(
            "cloud.smart-lockout",
            "AADSTS50053",
            format!("Entra smart lockout is active until {}", when(until, now)),
        )));
    }

    trace.pass("cloud.smart-lockout", || {
        format!(
            "smart lockout is not active ({} failure(s) counted, threshold {})",
            smart.failures, ctx.tenant.smart_lockout_threshold
        )
    });

    // Rule 4: legacy authentication blocked.
    if ctx.tenant.security_defaults {
        return Ok(with_user(reject(
            "cloud.legacy-auth-blocked",
            "AADSTS53003",
            "Security Defaults are on: legacy authentication is blocked for every user, app passwords included".into(),
        )));
    }
    if live.modern_auth_only {
        return Ok(with_user(reject(
            "cloud.legacy-auth-blocked",
            "AADSTS53003",
            "the user is required to use modern authentication; legacy protocols and app passwords do not work for them".into(),
        )));
    }
    trace.pass("cloud.legacy-auth-blocked", || {
        "Security Defaults are off and the user is not required to use modern authentication".into()
    });
    // Conditional Access scopes by the groups the cloud holds for the user (as synced).
    let groups = &copy.snapshot.groups;
    let from = || {
        attempt
            .client
            .map(|c| format!(" from {c}"))
            .unwrap_or_default()
    };
    if let Some(cov) =
        ctx.tenant
            .ca_block_legacy
            .covers(groups, attempt.client, &ctx.tenant.named_locations)
    {
        return Ok(with_user(reject(
            "cloud.ca.block-legacy",
            "AADSTS53003",
            format!(
                "Conditional Access 'block legacy authentication' covers {} ({}){}: legacy protocols are blocked, app passwords included",
                copy.snapshot.upn,
                cov.scope,
                from()
            ),
        )));
    }

    trace.pass("cloud.ca.block-legacy", || {
        "no Conditional Access policy blocking legacy authentication covers this sign-in".into()
    });

    // Rule 5 (4a): an app password.
    if let Some(name) = &m.app {
        if attempt.endpoint.admin_actions {
            return Ok(with_user(reject(
                "cloud.app-password.admin-action",
                "AADSTS50126",
                format!("app password {name:?} presented to an administrative endpoint; administrative actions can't be performed with app passwords"),
            )));
        }
        trace.pass("cloud.app-password.admin-action", || {
            "the endpoint performs no administrative actions".into()
        });
        if live.admin {
            return Ok(with_user(reject(
                "cloud.app-password.admin-user",
                "AADSTS50126",
                format!("app password {name:?} belongs to an administrator; for security reasons app passwords are not available to admins"),
            )));
        }
        trace.pass("cloud.app-password.admin-user", || {
            "the user is not an administrator".into()
        });
        // An existing app password keeps working whatever the user's per-user MFA state now is
        // (the reference's revised §4a): enforce, create, then rely on Conditional Access.
        let mfa_note = if live.mfa != MfaState::Enforced {
            format!(
                "; the user's per-user MFA is {} now, which does not revoke an existing app password",
                live.mfa.as_str()
            )
        } else {
            String::new()
        };
        ctx.store.touch_app_password(copy.user_id, name, now)?;
        signed_in(ctx, copy.user_id)?;
        let federation = if ctx.tenant.federation {
            "; federation is on but AD FS is not contacted: no on-prem record of this sign-in"
        } else {
            ""
        };
        return Ok(with_user(accept(
            "cloud.app-password.accept",
            format!("app password {name:?} accepted by the cloud{mfa_note}{federation}"),
        )));
    }

    // Rule 6 (4b): the domain password as last synced. A correct password resets smart
    // lockout's count like any successful sign-in, even when MFA then refuses it: smart
    // lockout counts wrong passwords, and this one is right.
    if m.domain {
        signed_in(ctx, copy.user_id)?;
        let phs_lag = if live.syncable_hash.as_deref() != synced_hash.as_deref() {
            format!(
                "; this is the password the cloud last synced: the one set on-prem at {} reaches the cloud at the password-hash-sync cycle at {}",
                when(live.password_set_at, now),
                when(sync.password_hash.next, now)
            )
        } else {
            String::new()
        };
        let ca_mfa =
            ctx.tenant
                .ca_require_mfa
                .covers(groups, attempt.client, &ctx.tenant.named_locations);
        if ca_mfa.is_none() || live.mfa == MfaState::Enforced {
            trace.pass("cloud.ca.require-mfa", || {
                if ca_mfa.is_none() {
                    "no Conditional Access policy requiring MFA covers this sign-in".into()
                } else {
                    "a Conditional Access policy requires MFA, but per-user MFA is enforced and decides instead".into()
                }
            });
        }
        if let (Some(cov), false) = (&ca_mfa, live.mfa == MfaState::Enforced) {
            // Per-user enforcement overrides Conditional Access (then §4b as ever); without it,
            // the policy's MFA cannot be satisfied by a legacy client. Trusted IPs are a per-user
            // MFA feature and do not exempt; an excluded named location does (in `covers`).
            return Ok(with_user(reject(
                "cloud.ca.require-mfa",
                "AADSTS50076",
                format!(
                    "Conditional Access 'require MFA' covers {} ({}){}; a legacy client cannot satisfy MFA: use an app password{phs_lag}",
                    copy.snapshot.upn,
                    cov.scope,
                    from()
                ),
            )));
        }
        return Ok(with_user(match live.mfa {
            MfaState::Disabled => accept(
                "cloud.password.accept",
                format!("domain password (as synced by password hash sync) accepted; per-user MFA is disabled{phs_lag}"),
            ),
            MfaState::Enabled => accept(
                "cloud.password.accept",
                format!("domain password accepted: per-user MFA is enabled but not yet enforced, so legacy authentication still works until registration completes{phs_lag}"),
            ),
            MfaState::Enforced => {
                let trusted = ctx.tenant.is_trusted(attempt.client);
                if trusted && !live.ever_had_app_password {
                    accept(
                        "cloud.password.trusted-ip",
                        format!(
                            "domain password accepted without MFA from trusted IP {}: the user has never created an app password{phs_lag}",
                            attempt.client.map(|c| c.to_string()).unwrap_or_default()
                        ),
                    )
                } else if trusted {
                    reject(
                        "cloud.password.mfa-required",
                        "AADSTS50076",
                        "per-user MFA is enforced and the user has created app passwords, so an app password is required even from a trusted IP".into(),
                    )
                } else {
                    reject(
                        "cloud.password.mfa-required",
                        "AADSTS50076",
                        "per-user MFA is enforced and a legacy protocol cannot answer the MFA prompt: use an app password".into(),
                    )
                }
            }
        }));
    }

    trace.pass("cloud.password.accept", || {
        "the secret is neither an app password nor the synced domain password".into()
    });

    // Rule 7: nothing matched.
    let repeats = ctx.recent_bad.note(
        copy.user_id,
        attempt.secret.expose(),
        now,
        ctx.tenant.smart_lockout_duration,
    );
    let counted = lockout::smart_bad_attempt(ctx.store, copy.user_id, repeats, ctx.tenant, now)?;
    let count = if !counted.counted {
        "a repeat of a recent wrong password, not counted again by smart lockout".to_string()
    } else if let Some(until) = lockout::smart_locked_until(&counted.state, now) {
        format!(
            "smart lockout threshold reached: locked until {}",
            when(until, now)
        )
    } else {
        format!(
            "failure {} of {} toward smart lockout",
            counted.state.failures, ctx.tenant.smart_lockout_threshold
        )
    };
    let pending = if live.syncable_hash.as_deref() != synced_hash.as_deref() {
        format!(
            "; the password set on-prem at {} reaches the cloud at the password-hash-sync cycle at {}",
            when(live.password_set_at, now),
            when(sync.password_hash.next, now)
        )
    } else if live.must_change && live.syncable_hash.as_deref() != Some(live.password_hash.as_str())
    {
        "; the current on-prem password was set with must-change, so its hash is not synced until the user changes it".into()
    } else {
        String::new()
    };
    let refused = m
        .refused
        .as_deref()
        .map(|r| format!("; {r}"))
        .unwrap_or_default();
    Ok(with_user(reject(
        "cloud.bad-password",
        "AADSTS50126",
        format!("the secret is neither an app password nor the synced domain password ({count}){pending}{refused}"),
    )))
}

/// A correct secret: smart lockout starts counting afresh and forgets the recent wrong ones.
fn signed_in(ctx: &Ctx<'_>, user_id: i64) -> Result<(), VerifyError> {
    lockout::smart_reset(ctx.store, user_id)?;
    ctx.recent_bad.forget(user_id);
    Ok(())
}

/// The UPN of the cloud entry whose DN is `dn` (as a cloud listener shows it: the copy's
/// sAMAccountName under the users container), as of the last object-sync cycle.
fn upn_of_cloud_entry(
    ctx: &Ctx<'_>,
    dn: &str,
    sync: &SyncState,
) -> Result<Option<String>, VerifyError> {
    let names = crate::directory::Candidates {
        sams: candidates(dn, ctx.dir).sams,
        ..Default::default()
    };
    let wanted = crate::directory::normalize_dn(dn);
    Ok(ctx
        .store
        .cloud_users_named(sync.object.cutoff, &names)?
        .into_iter()
        .filter(|c| c.snapshot.exists)
        .find(|c| crate::directory::normalize_dn(&user_dn(ctx.dir, &c.snapshot.sam)) == wanted)
        .map(|c| c.snapshot.upn))
}

fn unknown_why(
    ctx: &Ctx<'_>,
    attempt: &Attempt,
    sync: &SyncState,
    resolution: Resolution,
    copies: &[CloudUser],
) -> Result<String, VerifyError> {
    let login = crate::logging::cap(attempt.login.trim(), 128);
    if resolution == Resolution::Ambiguous {
        return Ok(format!(
            "{login:?} is the e-mail address of more than one cloud account"
        ));
    }
    // An account that answered to this name before, under a UPN it no longer has in the cloud.
    if let Some(c) = copies.first() {
        return Ok(format!(
            "{login:?} is no longer a UPN in the cloud: the object-sync cycle at or before {} carried the account's new UPN, {}",
            when(sync.object.last.unwrap_or(c.synced_change_at), sync.at),
            c.snapshot.upn
        ));
    }
    // An e-mail address while e-mail sign-in is off.
    let lc = attempt.login.trim().to_lowercase();
    if !ctx.tenant.email_sign_in && lc.contains('@') {
        let by_mail = crate::directory::Candidates {
            mails: vec![lc.clone()],
            ..Default::default()
        };
        let owner = ctx
            .store
            .cloud_users_named(sync.object.cutoff, &by_mail)?
            .into_iter()
            .find(|c| {
                c.snapshot.exists
                    && c.snapshot.mail.as_deref().map(str::to_lowercase).as_deref()
                        == Some(lc.as_str())
            });
        if let Some(c) = owner {
            return Ok(format!(
                "{login:?} is an account's e-mail address, and e-mail sign-in is off (tenant email-sign-in); the cloud signs users in by UPN: {}",
                c.snapshot.upn
            ));
        }
    }
    // Which account Active Directory would have found, to say what the cloud expects instead.
    let users = ctx
        .store
        .users_named(&candidates(&attempt.login, ctx.dir))?;
    let on_prem = resolve(
        &attempt.login,
        ctx.dir,
        users.iter().map(|u| Names {
            id: u.id,
            sam: &u.sam,
            upn: &u.upn,
        }),
    );
    let Resolution::Found(id) = on_prem else {
        let hint = if ad_only_form(&attempt.login).is_some() {
            "; the cloud signs users in by UPN"
        } else {
            ""
        };
        return Ok(format!("no cloud account answers to {login:?}{hint}"));
    };
    let Some(u) = users.iter().find(|u| u.id == id) else {
        return Ok(format!("no cloud account answers to {login:?}"));
    };
    let Some(copy) = ctx
        .store
        .cloud_snapshot(id, sync.object.cutoff)?
        .filter(|c| c.snapshot.exists)
    else {
        return Ok(format!(
            "no cloud account answers to {login:?}: created on-prem at {}, it reaches the cloud at the object-sync cycle at {}",
            when(u.created_at, sync.at),
            when(sync.object.next, sync.at)
        ));
    };
    let cloud_upn = &copy.snapshot.upn;
    let typed = attempt.login.trim();
    if let Some(form) = ad_only_form(typed) {
        return Ok(format!(
            "{login:?} is {form}, an Active Directory name; the cloud signs users in by UPN: {cloud_upn}"
        ));
    }
    if typed.eq_ignore_ascii_case(&u.upn) {
        return Ok(format!(
            "{login:?} is the account's new UPN on-prem; the cloud still knows it as {cloud_upn} until the object-sync cycle at {}",
            when(sync.object.next, sync.at)
        ));
    }
    if u.mail
        .as_deref()
        .is_some_and(|m| m.eq_ignore_ascii_case(typed))
    {
        return Ok(format!(
            "{login:?} is the account's e-mail address, and e-mail sign-in is off (tenant email-sign-in); the cloud signs users in by UPN: {cloud_upn}"
        ));
    }
    Ok(format!(
        "{login:?} is the implicit UPN (sAMAccountName@domain) Active Directory accepts; the cloud signs users in by the UPN itself: {cloud_upn}"
    ))
}
