//! The one verifier behind every front door.
//!
//! A front door builds an [`Attempt`] (endpoint, door, client, login as typed, secret) and gets
//! back a [`Decision`]. The verifier knows nothing of packets: it reads the live directory
//! (on-prem path), the cloud copy at `now` (cloud path, see `sync`), and the lockout state, and
//! applies the rule tables of docs/model.md §3 and §4 in order.

mod argon2_memory;
pub mod cloud;
mod context;
mod explain;
pub mod hashing;
pub mod lockout;
pub mod mfa;
pub mod mschap;
pub mod onprem;
pub mod recent_bad;
pub mod workers;

use std::sync::Arc;

use crate::runtime::admission::Admission;

use crate::clock::Clock;
use crate::directory::domain::DirectoryConfig;
use crate::directory::{CaughtUp, Store, Tenant, Time};
use crate::signin_log::SigninLog;
pub use hashing::{Hasher, Secret};

pub use crate::decision::{
    Attempt, Codes, Credential, Decision, Door, Outcome, Side, Step, RULE_INVALID_NAME,
};
pub use crate::endpoint::{Endpoint, EndpointKind};
pub use context::VerifyError;
pub(crate) use context::{Ctx, Trace};

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

/// Threads that run decisions per hashing slot. A decision gives its slot back as soon as its
/// Argon2 run ends (see `hashing::holding_slot`) and then writes to the store, which on
/// PostgreSQL means round trips: with one thread per slot, the next admitted decision had no
/// thread to start on meanwhile, and a core sat idle through them.
const THREADS_PER_SLOT: usize = 2;

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
            workers: workers::Workers::new(
                "hash",
                max_concurrent * THREADS_PER_SLOT,
                workers::Class::Background,
            ),
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
            // The store's proof that remembered reads are current is awaited here, so that no
            // probe thread waits for it (on PostgreSQL it is a round trip to the database).
            let caught_up = self.store.catch_up().await;
            // The attempt travels to the probe thread and back (no copy per request).
            let me = Arc::clone(self);
            let (probed, attempt) = self
                .probes
                .run(move || {
                    let probed = hashing::probing(|| me.decide_in_one_read(&attempt, caught_up));
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
            .run(move || hashing::holding_slot(permit, || me.decide_committed(&attempt)))
            .await
            .ok_or(VerifyError::Closed)??;
        // The hashing slot is free again (since the Argon2 run ended); the decision's writes
        // reach the disk before its answer goes out, with one fsync shared by whatever else
        // committed meanwhile.
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
    fn decide_in_one_read(
        &self,
        attempt: &Attempt,
        caught_up: CaughtUp,
    ) -> Result<Decision, VerifyError> {
        let mut out = None;
        self.store.read_scope_caught_up(caught_up, &mut || {
            out = Some(self.decide_committed(attempt))
        })?;
        out.unwrap_or(Err(VerifyError::Closed))
    }

    /// Decides and commits, without waiting for the disk (see `Store::flush_durable`).
    fn decide_committed(&self, attempt: &Attempt) -> Result<Decision, VerifyError> {
        let now = match attempt.now {
            Some(t) => t,
            None => self.clock.now()?,
        };
        let decision = match crate::directory::invalid_login(&attempt.login) {
            Some(why) => {
                let mut d = invalid_name_decision(attempt.endpoint.kind, why);
                Trace::new(attempt.trace).finish(&mut d);
                self.signin.record(d.side, now, attempt, &d);
                d
            }
            None => self.decide_by_endpoint(attempt, now)?,
        };
        count(attempt, &decision);
        Ok(decision)
    }

    /// The endpoint's path (on-prem, cloud, or both for a hybrid endpoint), its policies,
    /// and the sign-in records of the side or sides that saw the attempt.
    fn decide_by_endpoint(&self, attempt: &Attempt, now: Time) -> Result<Decision, VerifyError> {
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
        let policies = policies.as_deref();
        match attempt.endpoint.kind {
            EndpointKind::OnPrem => {
                let mut d = onprem::decide(&ctx, attempt)?;
                authorize(policies, attempt, &mut d);
                self.signin.record(Side::OnPrem, now, attempt, &d);
                Ok(d)
            }
            EndpointKind::Cloud => {
                let mut d = cloud::decide(&ctx, attempt)?;
                authorize(policies, attempt, &mut d);
                self.log_cloud(&tenant, now, attempt, &d);
                Ok(d)
            }
            EndpointKind::Hybrid => self.decide_hybrid(&ctx, attempt, policies),
        }
    }

    /// A hybrid endpoint accepts what both sides accept. Each side's record carries its own
    /// explanation; the combined decision explains both; the policy (authorised by the
    /// on-prem groups, the live directory) is named once in each.
    fn decide_hybrid(
        &self,
        ctx: &Ctx<'_>,
        attempt: &Attempt,
        policies: Option<&crate::authorization::Policies>,
    ) -> Result<Decision, VerifyError> {
        let on = onprem::decide(ctx, attempt)?;
        // MS-CHAP on a hybrid endpoint: the response is verified on-prem (the cloud cannot);
        // only once it proves the password are the cloud's rules that need no secret applied.
        // A failed proof is on-prem's answer alone.
        if attempt.mschap.is_some() && !on.accepted() {
            self.signin.record(Side::OnPrem, ctx.now, attempt, &on);
            return Ok(on);
        }
        let cl = cloud::decide(ctx, attempt)?;
        let auth = match policies {
            Some(p) if on.accepted() && cl.accepted() => {
                p.authorize(&on.groups, attempt.nas.as_deref(), attempt.endpoint.kind)
            }
            _ => None,
        };
        let note = auth
            .as_ref()
            .map(|a| format!("; {}", a.describe()))
            .unwrap_or_default();
        let noted = |d: &Decision| Decision {
            explanation: format!("{}{note}", d.explanation),
            ..d.clone()
        };
        self.signin
            .record(Side::OnPrem, ctx.now, attempt, &noted(&on));
        self.log_cloud(ctx.tenant, ctx.now, attempt, &noted(&cl));
        let mut d = combine_hybrid(on, cl);
        d.explanation.push_str(&note);
        d.authorization = auth;
        Ok(d)
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

/// An accept on a RADIUS endpoint with policies: the first policy that matches the user's
/// groups, the NAS and the endpoint, named in the explanation.
fn authorize(
    policies: Option<&crate::authorization::Policies>,
    attempt: &Attempt,
    d: &mut Decision,
) {
    if let (Some(p), true) = (policies, d.accepted()) {
        d.authorization = p.authorize(&d.groups, attempt.nas.as_deref(), attempt.endpoint.kind);
        if let Some(a) = &d.authorization {
            d.explanation = format!("{}; {}", d.explanation, a.describe());
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
