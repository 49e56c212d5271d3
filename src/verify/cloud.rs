//! The cloud path: Entra semantics against the synced copy of the account
//! (docs/model.md §4). The cloud never reads live on-prem state to decide; it reads the live
//! directory only to explain how far the copy lags behind.

use super::context::{
    find_by_login, match_secret, might_be_app_password, stop_if_probe_needs_argon2, Ctx,
    SecretMatch, Trace, VerifyError, NOBODY,
};
use super::explain::{ago, when};
use super::lockout;
use crate::decision::{Attempt, Codes, Credential, Decision, Door, Outcome, Side};
use crate::directory::cloud_names::{ad_only_form, cloud_candidates, resolve_cloud, CloudNames};
use std::net::IpAddr;

use crate::directory::store::{CloudUser, SmartLockout};
use crate::directory::{candidates, user_dn, MfaState, Resolution, Tenant, User};
use crate::endpoint::EndpointKind;
use crate::sync::{self, SyncState};
use crate::time::Time;

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

/// What the cloud rules read, gathered before any of them runs: the cloud copy as of the last
/// object-sync cycle, the hash as of the last password-hash-sync cycle, the secret's match.
pub(crate) struct Facts<'a> {
    /// The login as sent (a bind DN on a cloud LDAP listener, see `dn_stands_for`).
    pub login: &'a str,
    /// The UPN a bind DN stood for (docs/model.md §4d), if it did.
    pub dn_stands_for: Option<&'a str>,
    pub copy: Option<&'a CloudUser>,
    /// The live account behind the copy: cloud-owned settings (MFA, roles) live with it.
    pub live: Option<&'a User>,
    pub synced_hash: Option<&'a str>,
    pub secret: &'a SecretMatch,
    pub admin_actions: bool,
    pub client: Option<IpAddr>,
    /// Smart lockout's state for the copy's user (a stand-in's for an unknown one).
    pub smart: &'a SmartLockout,
    pub sync: &'a SyncState,
    pub tenant: &'a Tenant,
    pub now: Time,
}

/// The rule that decided (docs/model.md §4, in its order), with what its answer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Rule 1.
    UnknownUser,
    /// Rule 2, once the disable has synced.
    Disabled,
    /// Rule 3.
    SmartLocked(Time),
    /// Rules 4 to 6 when a policy refuses, whatever the secret is worth.
    Blocked(Blocked),
    /// Rule 5 (4a).
    AppPasswordAccept(String),
    /// Rule 6 (4b and 4c).
    PasswordAccept(MfaState),
    PasswordTrustedIp,
    /// Rule 7.
    BadPassword,
}

/// Rules 4 to 6 refusing legacy authentication as a policy says, whatever the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Blocked {
    /// Rule 4: Security Defaults, a modern-auth-only user, or a CA policy blocking legacy auth.
    SecurityDefaults,
    ModernAuthOnly,
    CaBlockLegacy(String),
    /// Rule 5 (4a): an app password where app passwords may not serve.
    AppPasswordAdminAction(String),
    AppPasswordAdminUser(String),
    /// Rule 6 (4b and 4c): MFA that a legacy protocol cannot answer.
    CaRequireMfa(String),
    MfaRequired {
        trusted: bool,
    },
}

impl Verdict {
    /// A correct secret was presented (smart lockout starts afresh, even when MFA refuses it).
    fn right_secret(&self) -> bool {
        matches!(
            self,
            Verdict::AppPasswordAccept(_)
                | Verdict::Blocked(Blocked::CaRequireMfa(_))
                | Verdict::PasswordAccept(_)
                | Verdict::PasswordTrustedIp
                | Verdict::Blocked(Blocked::MfaRequired { .. })
        )
    }
}

/// The cloud rules: a pure function of the facts, in the reference's order, noting in
/// `trace` every rule that passed.
pub(crate) fn rules(f: &Facts<'_>, trace: &mut Trace) -> Verdict {
    let now = f.now;
    if let Some(upn) = f.dn_stands_for {
        trace.pass("cloud.ldap-bind-dn", || {
            format!(
                "the bind DN names the cloud entry of {upn}: signed in as that UPN (docs/model.md §4d)"
            )
        });
    }
    let (Some(copy), Some(live)) = (f.copy, f.live) else {
        return Verdict::UnknownUser;
    };
    trace.pass("cloud.unknown-user", || {
        format!(
            "{:?} is the cloud account {} (as of the object-sync cycle at {}); {}",
            crate::runtime::logging::cap(f.login, 64),
            copy.snapshot.upn,
            last_object_cycle(f.sync, now),
            super::onprem::secret_note(f.secret, "synced")
        )
    });
    if !copy.snapshot.enabled {
        return Verdict::Disabled;
    }
    trace.pass("cloud.disabled", || "the cloud copy is enabled".into());
    if let Some(until) = lockout::smart_locked_until(f.smart, now) {
        return Verdict::SmartLocked(until);
    }
    trace.pass("cloud.smart-lockout", || {
        format!(
            "smart lockout is not active ({} failure(s) counted, threshold {})",
            f.smart.failures, f.tenant.smart_lockout_threshold
        )
    });
    if f.tenant.security_defaults {
        return Verdict::Blocked(Blocked::SecurityDefaults);
    }
    if live.modern_auth_only {
        return Verdict::Blocked(Blocked::ModernAuthOnly);
    }
    trace.pass("cloud.legacy-auth-blocked", || {
        "Security Defaults are off and the user is not required to use modern authentication".into()
    });
    // Conditional Access scopes by the groups the cloud holds for the user (as synced).
    let groups = &copy.snapshot.groups;
    if let Some(cov) = f
        .tenant
        .ca_block_legacy
        .covers(groups, f.client, &f.tenant.named_locations)
    {
        return Verdict::Blocked(Blocked::CaBlockLegacy(cov.scope));
    }
    trace.pass("cloud.ca.block-legacy", || {
        "no Conditional Access policy blocking legacy authentication covers this sign-in".into()
    });
    if let Some(name) = &f.secret.app {
        return app_password_rules(f, live, name, trace);
    }
    if f.secret.domain {
        return domain_password_rules(f, live, groups, trace);
    }
    trace.pass("cloud.password.accept", || {
        "the secret is neither an app password nor the synced domain password".into()
    });
    Verdict::BadPassword
}

/// Rule 5 (4a): an app password, refused on administrative endpoints and to administrators.
fn app_password_rules(f: &Facts<'_>, live: &User, name: &str, trace: &mut Trace) -> Verdict {
    if f.admin_actions {
        return Verdict::Blocked(Blocked::AppPasswordAdminAction(name.to_string()));
    }
    trace.pass("cloud.app-password.admin-action", || {
        "the endpoint performs no administrative actions".into()
    });
    if live.admin {
        return Verdict::Blocked(Blocked::AppPasswordAdminUser(name.to_string()));
    }
    trace.pass("cloud.app-password.admin-user", || {
        "the user is not an administrator".into()
    });
    Verdict::AppPasswordAccept(name.to_string())
}

/// Rule 6 (4b, 4c): the domain password as last synced, under per-user MFA and Conditional
/// Access.
fn domain_password_rules(
    f: &Facts<'_>,
    live: &User,
    groups: &[String],
    trace: &mut Trace,
) -> Verdict {
    let ca_mfa = f
        .tenant
        .ca_require_mfa
        .covers(groups, f.client, &f.tenant.named_locations);
    let enforced = live.mfa == MfaState::Enforced;
    if let (Some(cov), false) = (&ca_mfa, enforced) {
        // Per-user enforcement overrides Conditional Access (then §4b as ever); without it,
        // the policy's MFA cannot be satisfied by a legacy client. Trusted IPs are a per-user
        // MFA feature and do not exempt; an excluded named location does (in `covers`).
        return Verdict::Blocked(Blocked::CaRequireMfa(cov.scope.clone()));
    }
    trace.pass("cloud.ca.require-mfa", || {
        if ca_mfa.is_none() {
            "no Conditional Access policy requiring MFA covers this sign-in".into()
        } else {
            "a Conditional Access policy requires MFA, but per-user MFA is enforced and decides instead".into()
        }
    });
    if !enforced {
        return Verdict::PasswordAccept(live.mfa);
    }
    let trusted = f.tenant.is_trusted(f.client);
    if trusted && !live.ever_had_app_password {
        return Verdict::PasswordTrustedIp;
    }
    Verdict::Blocked(Blocked::MfaRequired { trusted })
}

/// "the object-sync cycle at 10:30", or an earlier one the state does not name.
fn last_object_cycle(sync: &SyncState, now: Time) -> String {
    sync.object
        .last
        .map(|t| when(t, now))
        .unwrap_or_else(|| "an earlier cycle".into())
}

/// What the reads gave (owned; `Facts` borrows from it).
struct Gathered {
    sync: SyncState,
    dn_stands_for: Option<String>,
    copies: Vec<CloudUser>,
    copy_id: Option<i64>,
    live: Option<User>,
    synced_hash: Option<String>,
    secret: SecretMatch,
    smart: SmartLockout,
    /// For an unknown name: why, from the reads that tell (see `unknown_why`).
    unknown_why: Option<String>,
}

/// §4d: on a cloud LDAP listener, a bind DN naming an entry of the listener's own (cloud)
/// view stands for that entry's UPN: search-then-bind applications bind with the DN the
/// search gave them. Anywhere else a DN is an AD form, unknown to the cloud.
fn dn_stands_for(
    ctx: &Ctx<'_>,
    attempt: &Attempt,
    sync: &SyncState,
) -> Result<Option<String>, VerifyError> {
    if attempt.door == Door::Ldap
        && attempt.endpoint.kind == EndpointKind::Cloud
        && attempt.login.contains('=')
    {
        upn_of_cloud_entry(ctx, &attempt.login, sync)
    } else {
        Ok(None)
    }
}

/// The cloud copies (as of the last object-sync cycle) answering to `login`, and which one
/// it names. The cloud signs users in by UPN (or mail, with email-sign-in), never by AD's
/// forms.
fn cloud_copies_named(
    ctx: &Ctx<'_>,
    login: &str,
    sync: &SyncState,
) -> Result<(Vec<CloudUser>, Resolution), VerifyError> {
    let email = ctx.tenant.email_sign_in;
    let copies: Vec<CloudUser> = ctx
        .store
        .cloud_users_named(sync.object.cutoff, &cloud_candidates(login, email))?
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
    Ok((copies, resolution))
}

/// The reads and the secret match. An unknown user costs the same reads (a stand-in's smart
/// lockout state, app passwords of nobody) as a known one.
fn gather(ctx: &Ctx<'_>, attempt: &Attempt) -> Result<Gathered, VerifyError> {
    let sync = sync::state_at(ctx.store, ctx.tenant, ctx.now)?;
    let dn_stands_for = dn_stands_for(ctx, attempt, &sync)?;
    let login = dn_stands_for.as_deref().unwrap_or(&attempt.login);
    let (copies, resolution) = cloud_copies_named(ctx, login, &sync)?;
    let copy = match resolution {
        Resolution::Found(id) => copies.iter().find(|c| c.user_id == id),
        _ => None,
    };
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
    let secret = if attempt.mschap.is_some() {
        SecretMatch {
            domain: true,
            app: None,
            refused: None,
        }
    } else {
        match_secret(ctx, synced_hash.as_deref(), &app_passwords, &attempt.secret)
    };
    stop_if_probe_needs_argon2()?;
    let known = copy.filter(|_| live.is_some());
    let smart = ctx
        .store
        .smart_lockout(known.map_or(NOBODY, |c| c.user_id))?;
    let unknown_why = match known {
        Some(_) => None,
        None => Some(unknown_why(ctx, attempt, &sync, resolution, &copies)?),
    };
    Ok(Gathered {
        copy_id: known.map(|c| c.user_id),
        sync,
        dn_stands_for,
        copies,
        live,
        synced_hash,
        secret,
        smart,
        unknown_why,
    })
}

/// The writes a verdict calls for; for a wrong password, how smart lockout counted it.
fn apply(
    ctx: &Ctx<'_>,
    attempt: &Attempt,
    f: &Facts<'_>,
    verdict: &Verdict,
) -> Result<Option<lockout::SmartCount>, VerifyError> {
    let Some(copy) = f.copy else {
        // The same write an unknown user's wrong secret would cost, on a stand-in.
        ctx.store.modify_smart_lockout(NOBODY, &mut |_| {})?;
        return Ok(None);
    };
    let id = copy.user_id;
    if let Verdict::AppPasswordAccept(name) = verdict {
        ctx.store.touch_app_password(id, name, f.now)?;
    }
    if verdict.right_secret() {
        lockout::smart_reset(ctx.store, id)?;
        ctx.recent_bad.forget(id);
    }
    if *verdict == Verdict::BadPassword {
        let repeats = ctx.recent_bad.note(
            id,
            attempt.secret.expose(),
            f.now,
            ctx.tenant.smart_lockout_duration,
        );
        return Ok(Some(lockout::smart_bad_attempt(
            ctx.store, id, repeats, ctx.tenant, f.now,
        )?));
    }
    Ok(None)
}

/// The decision a verdict stands for: codes and the explanation (with what `apply` counted).
fn explain(f: &Facts<'_>, verdict: Verdict, counted: Option<lockout::SmartCount>) -> Decision {
    let now = f.now;
    let (Some(live), Some(_)) = (f.live, f.copy) else {
        return reject("cloud.unknown-user", "AADSTS50034", String::new());
    };
    // This is the password the cloud last synced, when a newer one waits for its cycle.
    let phs_lag = || {
        if live.syncable_hash.as_deref() != f.synced_hash {
            format!(
                "; this is the password the cloud last synced: the one set on-prem at {} reaches the cloud at the password-hash-sync cycle at {}",
                when(live.password_set_at, now),
                when(f.sync.password_hash.next, now)
            )
        } else {
            String::new()
        }
    };
    match verdict {
        Verdict::UnknownUser => reject("cloud.unknown-user", "AADSTS50034", String::new()),
        Verdict::Disabled => reject(
            "cloud.disabled",
            "AADSTS50057",
            format!(
                "the cloud copy of the account is disabled (synced by the object-sync cycle at {})",
                last_object_cycle(f.sync, now)
            ),
        ),
        Verdict::SmartLocked(until) => reject(
            "cloud.smart-lockout",
            "AADSTS50053",
            format!("Entra smart lockout is active until {}", when(until, now)),
        ),
        Verdict::AppPasswordAccept(name) => app_password_accepted(f, live, &name),
        Verdict::PasswordAccept(MfaState::Enabled) => accept(
            "cloud.password.accept",
            format!("domain password accepted: per-user MFA is enabled but not yet enforced, so legacy authentication still works until registration completes{}", phs_lag()),
        ),
        Verdict::PasswordAccept(_) => accept(
            "cloud.password.accept",
            format!("domain password (as synced by password hash sync) accepted; per-user MFA is disabled{}", phs_lag()),
        ),
        Verdict::PasswordTrustedIp => accept(
            "cloud.password.trusted-ip",
            format!(
                "domain password accepted without MFA from trusted IP {}: the user has never created an app password{}",
                f.client.map(|c| c.to_string()).unwrap_or_default(),
                phs_lag()
            ),
        ),
        Verdict::BadPassword => bad_password(f, live, counted),
        Verdict::Blocked(blocked) => legacy_blocked(f, blocked, phs_lag()),
    }
}

/// The verdicts where a policy, not the secret, refuses legacy authentication: Security
/// Defaults, modern-auth-only users, Conditional Access, app passwords where they may not
/// serve, and per-user MFA.
fn legacy_blocked(f: &Facts<'_>, blocked: Blocked, phs_lag: String) -> Decision {
    let from = || f.client.map(|c| format!(" from {c}")).unwrap_or_default();
    let upn = f.copy.map_or("", |c| c.snapshot.upn.as_str());
    match blocked {
        Blocked::SecurityDefaults => reject(
            "cloud.legacy-auth-blocked",
            "AADSTS53003",
            "Security Defaults are on: legacy authentication is blocked for every user, app passwords included".into(),
        ),
        Blocked::ModernAuthOnly => reject(
            "cloud.legacy-auth-blocked",
            "AADSTS53003",
            "the user is required to use modern authentication; legacy protocols and app passwords do not work for them".into(),
        ),
        Blocked::CaBlockLegacy(scope) => reject(
            "cloud.ca.block-legacy",
            "AADSTS53003",
            format!(
                "Conditional Access 'block legacy authentication' covers {upn} ({scope}){}: legacy protocols are blocked, app passwords included",
                from()
            ),
        ),
        Blocked::AppPasswordAdminAction(name) => reject(
            "cloud.app-password.admin-action",
            "AADSTS50126",
            format!("app password {name:?} presented to an administrative endpoint; administrative actions can't be performed with app passwords"),
        ),
        Blocked::AppPasswordAdminUser(name) => reject(
            "cloud.app-password.admin-user",
            "AADSTS50126",
            format!("app password {name:?} belongs to an administrator; for security reasons app passwords are not available to admins"),
        ),
        Blocked::CaRequireMfa(scope) => reject(
            "cloud.ca.require-mfa",
            "AADSTS50076",
            format!(
                "Conditional Access 'require MFA' covers {upn} ({scope}){}; a legacy client cannot satisfy MFA: use an app password{}",
                from(),
                phs_lag
            ),
        ),
        Blocked::MfaRequired { trusted: true } => reject(
            "cloud.password.mfa-required",
            "AADSTS50076",
            "per-user MFA is enforced and the user has created app passwords, so an app password is required even from a trusted IP".into(),
        ),
        Blocked::MfaRequired { trusted: false } => reject(
            "cloud.password.mfa-required",
            "AADSTS50076",
            "per-user MFA is enforced and a legacy protocol cannot answer the MFA prompt: use an app password".into(),
        ),
    }
}

/// Rule 7's answer: how smart lockout counted it, and a newer password not synced yet.
fn bad_password(f: &Facts<'_>, live: &User, counted: Option<lockout::SmartCount>) -> Decision {
    let now = f.now;

    let count = match &counted {
        Some(c) if !c.counted => {
            "a repeat of a recent wrong password, not counted again by smart lockout".to_string()
        }
        Some(c) => match lockout::smart_locked_until(&c.state, now) {
            Some(until) => format!(
                "smart lockout threshold reached: locked until {}",
                when(until, now)
            ),
            None => format!(
                "failure {} of {} toward smart lockout",
                c.state.failures, f.tenant.smart_lockout_threshold
            ),
        },
        None => String::new(),
    };
    let pending = if live.syncable_hash.as_deref() != f.synced_hash {
        format!(
                    "; the password set on-prem at {} reaches the cloud at the password-hash-sync cycle at {}",
                    when(live.password_set_at, now),
                    when(f.sync.password_hash.next, now)
                )
    } else if live.must_change && live.syncable_hash.as_deref() != Some(live.password_hash.as_str())
    {
        "; the current on-prem password was set with must-change, so its hash is not synced until the user changes it".into()
    } else {
        String::new()
    };
    let refused = f
        .secret
        .refused
        .as_deref()
        .map(|r| format!("; {r}"))
        .unwrap_or_default();
    reject(
                "cloud.bad-password",
                "AADSTS50126",
                format!("the secret is neither an app password nor the synced domain password ({count}){pending}{refused}"),
            )
}

/// Rule 5's accept: what per-user MFA and federation mean for it.
fn app_password_accepted(f: &Facts<'_>, live: &User, name: &str) -> Decision {
    // An existing app password keeps working whatever the user's per-user MFA state
    // now is (the reference's revised §4a): enforce, create, then rely on CA.
    let mfa_note = if live.mfa != MfaState::Enforced {
        format!(
            "; the user's per-user MFA is {} now, which does not revoke an existing app password",
            live.mfa.as_str()
        )
    } else {
        String::new()
    };
    let federation = if f.tenant.federation {
        "; federation is on but AD FS is not contacted: no on-prem record of this sign-in"
    } else {
        ""
    };
    accept(
        "cloud.app-password.accept",
        format!("app password {name:?} accepted by the cloud{mfa_note}{federation}"),
    )
}

/// Gather, rules, apply, then the decision with the user it names.
fn decide_traced(
    ctx: &Ctx<'_>,
    attempt: &Attempt,
    trace: &mut Trace,
) -> Result<Decision, VerifyError> {
    let g = gather(ctx, attempt)?;
    let copy = g
        .copy_id
        .and_then(|id| g.copies.iter().find(|c| c.user_id == id));
    let facts = Facts {
        login: &attempt.login,
        dn_stands_for: g.dn_stands_for.as_deref(),
        copy,
        live: g.live.as_ref().filter(|_| copy.is_some()),
        synced_hash: g.synced_hash.as_deref(),
        secret: &g.secret,
        admin_actions: attempt.endpoint.admin_actions,
        client: attempt.client,
        smart: &g.smart,
        sync: &g.sync,
        tenant: ctx.tenant,
        now: ctx.now,
    };
    let verdict = rules(&facts, trace);
    let counted = apply(ctx, attempt, &facts, &verdict)?;
    if verdict == Verdict::UnknownUser {
        return Ok(reject(
            "cloud.unknown-user",
            "AADSTS50034",
            g.unknown_why.clone().unwrap_or_default(),
        ));
    }
    let mut d = explain(&facts, verdict, counted);
    let (Some(copy), Some(live)) = (copy, facts.live) else {
        return Ok(d);
    };
    if ctx.wants_groups {
        d.groups = copy.snapshot.groups.clone();
    }
    d.user = Some(copy.snapshot.sam.clone());
    d.user_dn = Some(user_dn(ctx.dir, &copy.snapshot.sam));
    if let Some(upn) = &g.dn_stands_for {
        d.explanation = format!(
            "bind DN {} stands for {upn} on this cloud LDAP listener; {}",
            crate::runtime::logging::cap(attempt.login.trim(), 256),
            d.explanation
        );
        d.dn_stands_for = Some(upn.clone());
    }
    if let Some(name) = &g.secret.app {
        d.credential = Credential::AppPassword;
        d.app_password = Some(name.clone());
    } else if g.secret.domain {
        d.credential = Credential::DomainPassword;
    }
    if let Some(lag) = object_lag(Some(live), copy, &g.sync) {
        d.explanation = format!("{}; {lag}", d.explanation);
    }
    Ok(d)
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
    let login = crate::runtime::logging::cap(attempt.login.trim(), 128);
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
    if let Some(why) = mail_while_email_sign_in_is_off(ctx, attempt, sync, &login)? {
        return Ok(why);
    }
    // Which account Active Directory would have found, to say what the cloud expects instead.
    name_active_directory_knows(ctx, attempt, sync, &login)
}

/// An account's e-mail address typed while e-mail sign-in is off: whose it is.
fn mail_while_email_sign_in_is_off(
    ctx: &Ctx<'_>,
    attempt: &Attempt,
    sync: &SyncState,
    login: &str,
) -> Result<Option<String>, VerifyError> {
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
            return Ok(Some(format!(
                "{login:?} is an account's e-mail address, and e-mail sign-in is off (tenant email-sign-in); the cloud signs users in by UPN: {}",
                c.snapshot.upn
            )));
        }
    }
    Ok(None)
}

/// A name the cloud does not know: which account Active Directory would have found by it,
/// and what the cloud expects instead (or when the account reaches the cloud).
fn name_active_directory_knows(
    ctx: &Ctx<'_>,
    attempt: &Attempt,
    sync: &SyncState,
    login: &str,
) -> Result<String, VerifyError> {
    let (users, on_prem) = find_by_login(ctx, &attempt.login)?;
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

#[cfg(test)]
mod tests {
    //! The cloud rules from facts alone: no store, no Argon2.
    use super::*;
    use crate::directory::store::Cutoff;
    use crate::sync::CycleState;

    fn at(s: &str) -> Time {
        crate::time::parse_time(s).unwrap()
    }

    fn live(mfa: MfaState) -> User {
        User {
            groups: vec!["staff".into()],
            password_hash: "h".into(),
            syncable_hash: Some("h".into()),
            mfa,
            ..User::fixture(7, "alice", at("2026-01-05T09:00:00Z"))
        }
    }

    fn copy_of(u: &User) -> CloudUser {
        CloudUser {
            user_id: u.id,
            snapshot: u.snapshot(),
            synced_change_at: u.created_at,
        }
    }

    fn sync_state() -> SyncState {
        let cycle = CycleState {
            last: Some(at("2026-01-05T09:30:00Z")),
            next: at("2026-01-05T10:30:00Z"),
            cutoff: Cutoff {
                before_time: None,
                before_seq: None,
            },
        };
        SyncState {
            at: at("2026-01-05T10:00:00Z"),
            object: cycle,
            password_hash: cycle,
            last_manual: None,
        }
    }

    fn secret(domain: bool, app: Option<&str>) -> SecretMatch {
        SecretMatch {
            domain,
            app: app.map(str::to_string),
            refused: None,
        }
    }

    struct Case {
        user: Option<User>,
        secret: SecretMatch,
        tenant: Tenant,
        smart: SmartLockout,
        admin_actions: bool,
        client: Option<IpAddr>,
    }

    fn case(mfa: MfaState, secret: SecretMatch) -> Case {
        Case {
            user: Some(live(mfa)),
            secret,
            tenant: Tenant::default(),
            smart: SmartLockout::default(),
            admin_actions: false,
            client: Some("203.0.113.9".parse().unwrap()),
        }
    }

    fn verdict(c: &Case) -> Verdict {
        let copy = c.user.as_ref().map(copy_of);
        let sync = sync_state();
        let f = Facts {
            login: "alice@contoso.com",
            dn_stands_for: None,
            copy: copy.as_ref(),
            live: c.user.as_ref(),
            synced_hash: Some("h"),
            secret: &c.secret,
            admin_actions: c.admin_actions,
            client: c.client,
            smart: &c.smart,
            sync: &sync,
            tenant: &c.tenant,
            now: at("2026-01-05T10:00:00Z"),
        };
        rules(&f, &mut Trace::new(true))
    }

    #[test]
    fn app_passwords_and_synced_passwords_follow_the_mfa_rules() {
        let app = || secret(false, Some("Laptop"));
        let pw = || secret(true, None);
        assert_eq!(
            verdict(&case(MfaState::Enforced, app())),
            Verdict::AppPasswordAccept("Laptop".into())
        );
        // An existing app password survives relaxed per-user MFA (§4a, revised).
        assert_eq!(
            verdict(&case(MfaState::Disabled, app())),
            Verdict::AppPasswordAccept("Laptop".into())
        );
        assert_eq!(
            verdict(&case(MfaState::Enforced, pw())),
            Verdict::Blocked(Blocked::MfaRequired { trusted: false })
        );
        assert_eq!(
            verdict(&case(MfaState::Enabled, pw())),
            Verdict::PasswordAccept(MfaState::Enabled)
        );
        assert_eq!(
            verdict(&case(MfaState::Enforced, secret(false, None))),
            Verdict::BadPassword
        );
        let mut admin = case(MfaState::Enforced, app());
        admin.user.as_mut().unwrap().admin = true;
        assert_eq!(
            verdict(&admin),
            Verdict::Blocked(Blocked::AppPasswordAdminUser("Laptop".into()))
        );
        let mut endpoint = case(MfaState::Enforced, app());
        endpoint.admin_actions = true;
        assert_eq!(
            verdict(&endpoint),
            Verdict::Blocked(Blocked::AppPasswordAdminAction("Laptop".into()))
        );
        // Trusted IPs exempt only a user who never created an app password.
        let mut trusted = case(MfaState::Enforced, pw());
        trusted.tenant.trusted_ips = vec!["203.0.113.0/24".parse().unwrap()];
        assert_eq!(verdict(&trusted), Verdict::PasswordTrustedIp);
        trusted.user.as_mut().unwrap().ever_had_app_password = true;
        assert_eq!(
            verdict(&trusted),
            Verdict::Blocked(Blocked::MfaRequired { trusted: true })
        );
    }

    #[test]
    fn blocks_fire_before_the_secret_is_looked_at() {
        let app = || secret(false, Some("Laptop"));
        let mut none = case(MfaState::Enforced, app());
        none.user = None;
        assert_eq!(verdict(&none), Verdict::UnknownUser);
        let mut off = case(MfaState::Enforced, secret(false, None));
        off.user.as_mut().unwrap().enabled = false;
        assert_eq!(
            verdict(&off),
            Verdict::Disabled,
            "before the wrong password"
        );
        let mut locked = case(MfaState::Enforced, app());
        locked.smart.locked_until = Some(at("2026-01-05T10:01:00Z"));
        assert_eq!(
            verdict(&locked),
            Verdict::SmartLocked(at("2026-01-05T10:01:00Z"))
        );
        let mut sd = case(MfaState::Enforced, app());
        sd.tenant.security_defaults = true;
        assert_eq!(verdict(&sd), Verdict::Blocked(Blocked::SecurityDefaults));
        let mut block = case(MfaState::Enforced, app());
        block.tenant.ca_block_legacy.on = true;
        assert!(matches!(
            verdict(&block),
            Verdict::Blocked(Blocked::CaBlockLegacy(_))
        ));
        // Require-MFA policies refuse a domain password unless per-user MFA is enforced.
        let mut ca = case(MfaState::Disabled, secret(true, None));
        ca.tenant.ca_require_mfa.on = true;
        assert!(matches!(
            verdict(&ca),
            Verdict::Blocked(Blocked::CaRequireMfa(_))
        ));
        ca.user.as_mut().unwrap().mfa = MfaState::Enforced;
        assert_eq!(
            verdict(&ca),
            Verdict::Blocked(Blocked::MfaRequired { trusted: false })
        );
    }
}
