//! The one verifier behind every front door.
//!
//! A front door builds an [`Attempt`] (endpoint, door, client, login as typed, secret) and gets
//! back a [`Decision`]. The verifier knows nothing of packets: it reads the live directory
//! (on-prem path), the cloud copy at `now` (cloud path, see `sync`), and the lockout state, and
//! applies the rule tables of docs/model.md §3 and §4 in order.

pub mod cloud;
mod explain;
pub mod hashing;
pub mod lockout;
pub mod mschap;
pub mod onprem;
pub mod recent_bad;
pub mod workers;

use std::net::IpAddr;
use std::sync::Arc;

use crate::admission::Admission;
use serde::Serialize;

use crate::clock::Clock;
use crate::config::DirectoryConfig;
use crate::directory::{AppPassword, Store, StoreError, Tenant, Time};
use crate::signin_log::SigninLog;
pub use hashing::{Hasher, Secret};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EndpointKind {
    #[serde(rename = "on-prem")]
    OnPrem,
    #[serde(rename = "cloud")]
    Cloud,
    #[serde(rename = "hybrid")]
    Hybrid,
}

impl EndpointKind {
    pub fn parse(s: &str) -> Option<EndpointKind> {
        match s {
            "on-prem" => Some(EndpointKind::OnPrem),
            "cloud" => Some(EndpointKind::Cloud),
            "hybrid" => Some(EndpointKind::Hybrid),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointKind::OnPrem => "on-prem",
            EndpointKind::Cloud => "cloud",
            EndpointKind::Hybrid => "hybrid",
        }
    }
}

/// How a front door is configured: which path it stands for, and whether it is an
/// administrative service (where app passwords are refused even for administrators).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub kind: EndpointKind,
    pub admin_actions: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Door {
    Radius,
    Ldap,
    Cli,
}

impl Door {
    pub fn as_str(self) -> &'static str {
        match self {
            Door::Radius => "radius",
            Door::Ldap => "ldap",
            Door::Cli => "cli",
        }
    }
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accept => "accept",
            Outcome::Reject => "reject",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Attempt {
    pub endpoint: Endpoint,
    pub door: Door,
    pub client: Option<IpAddr>,
    /// The login name exactly as typed.
    pub login: String,
    pub secret: Secret,
    /// The decision time; `None` reads the verifier's clock.
    pub now: Option<Time>,
    /// Record every rule evaluated, in order, in `Decision::trace` (`serve --debug`,
    /// `check --trace`). Off on the usual path: building the notes costs allocations.
    pub trace: bool,
    /// The RADIUS client (NAS) the request came through, by its configured name: authorisation
    /// policies may be limited to some clients. `None` elsewhere.
    pub nas: Option<String>,
    /// An MS-CHAP or MS-CHAPv2 proof instead of a cleartext secret (`secret` is then empty):
    /// checked against the on-prem NT hash; never an app password, never the cloud's.
    pub mschap: Option<mschap::MsChap>,
    /// EAP: the outer (often anonymous) identity, kept apart from `login`, the inner one that
    /// is decided on; both are in the sign-in log.
    pub outer_identity: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Accept,
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Credential {
    DomainPassword,
    AppPassword,
    None,
}

/// Which side of the hybrid world made a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Side {
    #[serde(rename = "on-prem")]
    OnPrem,
    #[serde(rename = "cloud")]
    Cloud,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Codes {
    /// AD's `data` code in an LDAP invalidCredentials diagnostic.
    pub ad: Option<&'static str>,
    /// The NPS reason code.
    pub nps: Option<u32>,
    pub aadsts: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub outcome: Outcome,
    pub credential: Credential,
    pub app_password: Option<String>,
    pub rule: &'static str,
    pub codes: Codes,
    pub explanation: String,
    #[serde(skip)]
    pub side: Side,
    /// The user as resolved (sAMAccountName), if any.
    #[serde(skip)]
    pub user: Option<String>,
    /// The resolved user's DN, for front doors that report an identity (LDAP WhoAmI).
    #[serde(skip)]
    pub user_dn: Option<String>,
    /// Every rule evaluated, in order, when the attempt asked for it (else empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<Step>,
    /// The deciding side's groups for the resolved user, gathered only when authorisation
    /// policies need them.
    #[serde(skip)]
    pub groups: Vec<String>,
    /// What an accept carries to a RADIUS client (`[[radius.policies]]`).
    #[serde(skip)]
    pub authorization: Option<crate::authorization::Authorization>,
    /// An MS-CHAP accept: the authenticator response and the MPPE keys for the reply.
    #[serde(skip)]
    pub mschap: Option<mschap::MsChapSuccess>,
    /// On a cloud LDAP listener, the UPN a bind DN stood for (docs/model.md §4d); the DN as
    /// sent is the attempt's login.
    #[serde(skip)]
    pub dn_stands_for: Option<String>,
}

/// One rule the verifier evaluated: whether it decided, and what it found (never a secret).
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub rule: &'static str,
    /// `true` for the rule that decided; `false` for a rule that passed and let evaluation go on.
    pub decided: bool,
    pub note: String,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mark = if self.decided { "decides" } else { "passes" };
        write!(f, "{} {mark}: {}", self.rule, self.note)
    }
}

/// The steps of one decision as they are evaluated; records nothing unless switched on.
pub(crate) struct Trace {
    on: bool,
    steps: Vec<Step>,
}

impl Trace {
    pub(crate) fn new(on: bool) -> Trace {
        Trace { on, steps: vec![] }
    }

    /// A rule that did not fire; `note` says what it found (only built when tracing).
    pub(crate) fn pass(&mut self, rule: &'static str, note: impl FnOnce() -> String) {
        if self.on {
            self.steps.push(Step {
                rule,
                decided: false,
                note: note(),
            });
        }
    }

    /// Ends the trace with the rule that decided, and hands the steps to the decision.
    pub(crate) fn finish(mut self, d: &mut Decision) {
        if self.on {
            let outcome = d.outcome.as_str();
            self.steps.push(Step {
                rule: d.rule,
                decided: true,
                note: format!("{outcome}: {}", d.explanation),
            });
            d.trace = self.steps;
        }
    }
}

impl Decision {
    /// A decision not yet tied to a user or credential; the rule tables add those.
    pub(crate) fn new(
        side: Side,
        outcome: Outcome,
        rule: &'static str,
        codes: Codes,
        explanation: String,
    ) -> Decision {
        Decision {
            outcome,
            credential: Credential::None,
            app_password: None,
            rule,
            codes,
            explanation,
            side,
            user: None,
            user_dn: None,
            trace: Vec::new(),
            groups: Vec::new(),
            authorization: None,
            mschap: None,
            dn_stands_for: None,
        }
    }

    pub fn accepted(&self) -> bool {
        self.outcome == Outcome::Accept
    }

    /// The login name was refused for its shape, before any account was looked up.
    pub fn invalid_name(&self) -> bool {
        self.rule == RULE_INVALID_NAME
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the verifier is shutting down")]
    Closed,
    /// The hash work could not start within `hashing.max_wait`: the request is shed.
    #[error("overloaded: the request could not start within hashing.max_wait")]
    Overloaded,
    /// A probing decision needs Argon2 (internal: the decision is then made for real).
    #[error("the secret needs an Argon2 verification")]
    NeedsArgon2,
}

/// Store id that stands in for "no such user": an unknown user costs the same store reads and
/// writes as a known one with a wrong password, so timing does not reveal who exists.
/// (Ids start at 1.)
pub(crate) const NOBODY: i64 = 0;

pub const RULE_INVALID_NAME: &str = "login.invalid-name";

/// A login name longer than its form allows names nobody, on either side; it is refused before
/// any store read or hash work (its shape, not the directory, decides, so nothing leaks).
fn invalid_name_decision(endpoint: EndpointKind, why: String) -> Decision {
    let side = match endpoint {
        EndpointKind::Cloud => Side::Cloud,
        _ => Side::OnPrem,
    };
    let codes = Codes {
        ad: Some("525"),
        nps: Some(8),
        aadsts: (side == Side::Cloud).then_some("AADSTS50034"),
    };
    Decision::new(side, Outcome::Reject, RULE_INVALID_NAME, codes, why)
}

/// What the rule tables read, gathered once per decision.
pub(crate) struct Ctx<'a> {
    pub store: &'a dyn Store,
    pub hasher: &'a Hasher,
    pub dir: &'a DirectoryConfig,
    pub tenant: &'a Tenant,
    pub now: Time,
    pub recent_bad: &'a recent_bad::RecentBad,
    /// Authorisation policies will read the user's groups: put them in the decision.
    pub wants_groups: bool,
}

/// Which of a user's credentials a secret is. Always the same hash work: one Argon2 run for the
/// domain password (against a dummy hash when there is none), and one more when the secret has
/// the shape of an app password.
pub(crate) struct SecretMatch {
    pub domain: bool,
    pub app: Option<String>,
    /// Why the domain password's stored hash was not run (its cost is above the cap), for the
    /// explanation of a wrong-password answer.
    pub refused: Option<String>,
}

/// Whether `secret` could be an app password at all (`match_secret` tries app passwords only
/// for such secrets), so that a decision reads a user's app passwords only when they can matter.
pub(crate) fn might_be_app_password(secret: &Secret) -> bool {
    hashing::normalize_app_password(secret.expose()).is_some()
}

pub(crate) fn match_secret(
    ctx: &Ctx<'_>,
    domain_hash: Option<&str>,
    app_passwords: &[AppPassword],
    secret: &Secret,
) -> SecretMatch {
    let domain = ctx.hasher.verify(domain_hash, secret.expose());
    let refused = domain_hash.and_then(|h| ctx.hasher.refuses(h));
    let app = hashing::normalize_app_password(secret.expose()).and_then(|norm| {
        let tag = ctx.hasher.app_password_tag(&norm);
        let candidates: Vec<&AppPassword> = app_passwords.iter().filter(|a| a.tag == tag).collect();
        if candidates.is_empty() {
            ctx.hasher.verify(None, norm.as_bytes());
            return None;
        }
        candidates
            .into_iter()
            .find(|a| ctx.hasher.verify(Some(&a.hash), norm.as_bytes()))
            .map(|a| a.name.clone())
    });
    SecretMatch {
        domain,
        app,
        refused,
    }
}

/// After `match_secret`, before any side effect: a probing decision stops here when the
/// verified-secret cache could not answer.
pub(crate) fn stop_if_probe_needs_argon2() -> Result<(), VerifyError> {
    if hashing::probe_needs_argon2() {
        return Err(VerifyError::NeedsArgon2);
    }
    Ok(())
}

pub struct Verifier {
    store: Arc<dyn Store>,
    clock: Clock,
    dir: DirectoryConfig,
    hasher: Arc<Hasher>,
    signin: SigninLog,
    admission: Admission,
    workers: workers::Workers,
    /// Threads for probes (decisions the cache may answer without Argon2), apart from the
    /// hashing threads so that a probe never waits behind Argon2 work.
    probes: workers::Workers,
    recent_bad: recent_bad::RecentBad,
    /// `[[radius.policies]]`, replaced on SIGHUP with the client table.
    policies: std::sync::RwLock<Arc<crate::authorization::Policies>>,
}

impl Verifier {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Clock,
        dir: DirectoryConfig,
        hasher: Arc<Hasher>,
        signin: SigninLog,
        max_concurrent: usize,
        max_wait: std::time::Duration,
    ) -> Verifier {
        Verifier {
            store,
            clock,
            dir,
            hasher,
            signin,
            admission: Admission::new(max_concurrent, max_wait),
            workers: workers::Workers::new("hash", max_concurrent, workers::Class::Background),
            probes: workers::Workers::new(
                "probe",
                std::thread::available_parallelism().map_or(2, |n| n.get()),
                workers::Class::Normal,
            ),
            recent_bad: recent_bad::RecentBad::default(),
            policies: Default::default(),
        }
    }

    /// Installs the authorisation policies (at start and on SIGHUP).
    pub fn set_policies(&self, policies: crate::authorization::Policies) {
        *self.policies.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(policies);
    }

    fn policies(&self) -> Arc<crate::authorization::Policies> {
        Arc::clone(&self.policies.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Opens the sign-in logs now and keeps them open (the daemon calls this at start).
    pub fn open_logs(&self) -> std::io::Result<()> {
        self.signin.open()
    }

    /// Log rotation (SIGHUP): the sign-in logs continue in fresh files.
    pub fn reopen_logs(&self) -> std::io::Result<()> {
        self.signin.reopen()
    }

    pub fn directory(&self) -> &DirectoryConfig {
        &self.dir
    }

    /// The sign-in logs this verifier writes (the admin page watches them).
    pub fn signin_log(&self) -> &SigninLog {
        &self.signin
    }

    /// The hashing slots' admission (work below sign-ins watches its queue).
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Requests shed so far because their hash work could not start in time.
    pub fn shed(&self) -> u64 {
        self.admission.dropped()
    }

    /// Decides off the reactor: waits for one of the bounded hashing slots — until
    /// `arrived + hashing.max_wait`, newest first (see `admission`) — then runs the blocking
    /// decision on tokio's blocking pool.
    pub async fn decide_async(
        self: &Arc<Self>,
        attempt: Attempt,
        arrived: tokio::time::Instant,
    ) -> Result<Decision, VerifyError> {
        self.decide_ranked(attempt, arrived, arrived).await
    }

    /// As `decide_async` for a request first sent at `first_sent` (a RADIUS retransmission
    /// of a request that was shed ranks by its first transmission).
    pub async fn decide_ranked(
        self: &Arc<Self>,
        attempt: Attempt,
        first_sent: tokio::time::Instant,
        arrived: tokio::time::Instant,
    ) -> Result<Decision, VerifyError> {
        // First a probe without a hashing slot: a secret the verified-secret cache knows needs
        // no Argon2, so it must not wait behind those who do (an online guesser's requests,
        // say). The probe stops before any side effect when Argon2 is needed.
        // A retransmission of a request shed earlier: shed again before any work.
        if self.admission.drop_if_expired(first_sent, arrived) {
            return Err(VerifyError::Overloaded);
        }
        let attempt = if self.hasher.caches() {
            // The attempt travels to the probe thread and back (no copy per request).
            let me = Arc::clone(self);
            let (probed, attempt) = self
                .probes
                .run(move || {
                    let probed = hashing::probing(|| me.decide_in_one_read(&attempt));
                    (probed, attempt)
                })
                .await
                .ok_or(VerifyError::Closed)?;
            match probed {
                (Err(VerifyError::NeedsArgon2), _) | (_, true) => attempt,
                (decided, false) => {
                    let decided = decided?;
                    self.flush_if_needed().await?;
                    return Ok(decided);
                }
            }
        } else {
            attempt
        };
        let permit = self
            .admission
            .admit_ranked(first_sent, arrived)
            .await
            .ok_or(VerifyError::Overloaded)?;
        crate::metrics::global().hashing_waited(arrived.elapsed());
        tracing::debug!(door = ?attempt.door, endpoint = %attempt.endpoint.kind.as_str(), "verification started");
        let me = Arc::clone(self);
        let decided = self
            .workers
            .run(move || {
                let _permit = permit;
                me.decide_committed(&attempt)
            })
            .await
            .ok_or(VerifyError::Closed)??;
        // The hashing slot is free again; the decision's writes reach the disk before its
        // answer goes out, with one fsync shared by whatever else committed meanwhile.
        self.flush_if_needed().await?;
        Ok(decided)
    }

    async fn flush_if_needed(&self) -> Result<(), VerifyError> {
        if self.store.unflushed() {
            let store = Arc::clone(&self.store);
            tokio::task::spawn_blocking(move || store.flush_durable())
                .await
                .map_err(|_| VerifyError::Closed)??;
        }
        Ok(())
    }

    /// Decides one attempt, appends it to the sign-in log(s) and makes its writes durable.
    /// Blocking.
    pub fn decide(&self, attempt: &Attempt) -> Result<Decision, VerifyError> {
        let d = self.decide_committed(attempt)?;
        self.store.flush_durable()?;
        Ok(d)
    }

    /// `decide_committed` with all its reads in one read transaction: for probes, which stop
    /// before any Argon2 work, so the transaction stays short.
    fn decide_in_one_read(&self, attempt: &Attempt) -> Result<Decision, VerifyError> {
        let mut out = None;
        self.store
            .read_scope(&mut || out = Some(self.decide_committed(attempt)))?;
        out.unwrap_or(Err(VerifyError::Closed))
    }

    /// Decides and commits, without waiting for the disk (see `Store::flush_durable`).
    fn decide_committed(&self, attempt: &Attempt) -> Result<Decision, VerifyError> {
        let now = match attempt.now {
            Some(t) => t,
            None => self.clock.now()?,
        };
        if let Some(why) = crate::directory::invalid_login(&attempt.login) {
            let mut d = invalid_name_decision(attempt.endpoint.kind, why);
            Trace::new(attempt.trace).finish(&mut d);
            self.signin.record(d.side, now, attempt, &d);
            count(attempt, &d);
            return Ok(d);
        }
        let tenant = self.store.tenant()?;
        // Policies apply to RADIUS accepts only (an LDAP bind has no reply attributes).
        let policies = (attempt.door == Door::Radius)
            .then(|| self.policies())
            .filter(|p| !p.is_empty());
        let ctx = Ctx {
            store: self.store.as_ref(),
            hasher: &self.hasher,
            dir: &self.dir,
            tenant: &tenant,
            now,
            recent_bad: &self.recent_bad,
            wants_groups: policies.is_some(),
        };
        let authorize = |d: &mut Decision| {
            if let (Some(p), true) = (&policies, d.accepted()) {
                d.authorization =
                    p.authorize(&d.groups, attempt.nas.as_deref(), attempt.endpoint.kind);
                if let Some(a) = &d.authorization {
                    d.explanation = format!("{}; {}", d.explanation, a.describe());
                }
            }
        };
        let decision = match attempt.endpoint.kind {
            EndpointKind::OnPrem => {
                let mut d = onprem::decide(&ctx, attempt)?;
                authorize(&mut d);
                self.signin.record(Side::OnPrem, now, attempt, &d);
                d
            }
            EndpointKind::Cloud => {
                let mut d = cloud::decide(&ctx, attempt)?;
                authorize(&mut d);
                self.log_cloud(&tenant, now, attempt, &d);
                d
            }
            EndpointKind::Hybrid => {
                let mut on = onprem::decide(&ctx, attempt)?;
                // MS-CHAP on a hybrid endpoint: the response is verified on-prem (the cloud
                // cannot); only once it proves the password are the cloud's rules that need
                // no secret applied. A failed proof is on-prem's answer alone.
                if attempt.mschap.is_some() && !on.accepted() {
                    self.signin.record(Side::OnPrem, now, attempt, &on);
                    count(attempt, &on);
                    return Ok(on);
                }
                let mut cl = cloud::decide(&ctx, attempt)?;
                // A hybrid accept is authorised by the on-prem groups (the live directory);
                // both sides' records and the combined explanation name the policy once.
                let auth = match &policies {
                    Some(p) if on.accepted() && cl.accepted() => {
                        p.authorize(&on.groups, attempt.nas.as_deref(), attempt.endpoint.kind)
                    }
                    _ => None,
                };
                let note = auth.as_ref().map(|a| format!("; {}", a.describe()));
                if let Some(n) = &note {
                    on.explanation.push_str(n);
                    cl.explanation.push_str(n);
                }
                self.signin.record(Side::OnPrem, now, attempt, &on);
                self.log_cloud(&tenant, now, attempt, &cl);
                if let Some(n) = &note {
                    on.explanation.truncate(on.explanation.len() - n.len());
                    cl.explanation.truncate(cl.explanation.len() - n.len());
                }
                let mut d = combine_hybrid(on, cl);
                if let Some(n) = &note {
                    d.explanation.push_str(n);
                }
                d.authorization = auth;
                d
            }
        };
        count(attempt, &decision);
        Ok(decision)
    }

    /// Records a reject a front door decided on protocol grounds (e.g. an unsupported RADIUS
    /// authentication method) in the log of the endpoint's side, so it is never silent.
    pub fn record_protocol_reject(
        &self,
        attempt: &Attempt,
        rule: &'static str,
        nps: u32,
        explanation: &str,
    ) -> Result<(), VerifyError> {
        let now = match attempt.now {
            Some(t) => t,
            None => self.clock.now()?,
        };
        let side = match attempt.endpoint.kind {
            EndpointKind::Cloud => Side::Cloud,
            _ => Side::OnPrem,
        };
        let codes = Codes {
            ad: None,
            nps: Some(nps),
            aadsts: None,
        };
        let d = Decision::new(side, Outcome::Reject, rule, codes, explanation.to_string());
        self.signin.record(side, now, attempt, &d);
        count(attempt, &d);
        Ok(())
    }

    /// Cloud sign-ins go to the cloud log. With federation, a domain-password sign-in also
    /// reaches AD through AD FS and leaves an on-prem record; an app-password sign-in never
    /// does (docs/model.md §4a).
    fn log_cloud(&self, tenant: &Tenant, now: Time, attempt: &Attempt, d: &Decision) {
        self.signin.record(Side::Cloud, now, attempt, d);
        if tenant.federation && d.credential != Credential::AppPassword {
            self.signin.record(Side::OnPrem, now, attempt, d);
        }
    }
}

/// Counts a decision in `hybridauth_decisions_total` (door, endpoint, outcome, rule).
fn count(attempt: &Attempt, d: &Decision) {
    crate::metrics::global().decision(crate::metrics::DecisionLabels {
        door: attempt.door.as_str(),
        endpoint: attempt.endpoint.kind.as_str(),
        outcome: d.outcome.as_str(),
        rule: d.rule,
    });
}

/// A hybrid client stores one secret for both sides: it works only if both accept it.
/// The trace shows both sides' rules, on-prem first, then the combination.
fn combine_hybrid(mut on: Decision, mut cl: Decision) -> Decision {
    let mut trace = std::mem::take(&mut on.trace);
    trace.append(&mut cl.trace);
    let mut d = combine_sides(on, cl);
    if !trace.is_empty() {
        trace.push(Step {
            rule: "hybrid.combine",
            decided: true,
            note: format!(
                "{}: a hybrid endpoint accepts only what both sides accept (by {})",
                d.outcome.as_str(),
                d.rule
            ),
        });
    }
    d.trace = trace;
    d
}

fn combine_sides(on: Decision, cl: Decision) -> Decision {
    match (on.accepted(), cl.accepted()) {
        (true, true) => Decision {
            rule: "hybrid.accept",
            explanation: format!(
                "hybrid endpoint: both sides accept the domain password (on-prem: {}; cloud: {})",
                on.explanation, cl.explanation
            ),
            ..on
        },
        (false, _) => {
            let other = if cl.accepted() { "accepts" } else { "rejects" };
            Decision {
                explanation: format!(
                    "hybrid endpoint: on-prem rejects ({}); the cloud {other} it; a hybrid client needs a secret both sides accept",
                    on.explanation
                ),
                ..on
            }
        }
        (true, false) => Decision {
            explanation: format!(
                "hybrid endpoint: the cloud rejects ({}); on-prem accepts it; a hybrid client needs a secret both sides accept",
                cl.explanation
            ),
            ..cl
        },
    }
}
