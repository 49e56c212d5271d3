//! What the daemon counts, for `/metrics` on the admin listener (Prometheus text format).
//!
//! One registry per process, reached through [`global`]: the front doors, the verifier and
//! the hashing layer record into it without being wired to the admin listener (as the
//! `metrics` facade or Prometheus's own client libraries do). Recording is a few atomic
//! operations; label values are `&'static str` (rule ids, door and endpoint names), so no
//! request allocates and the number of series stays bounded by the code, never by input.

use std::sync::atomic::AtomicU64;
use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    pub door: &'static str,
    pub endpoint: &'static str,
    pub outcome: &'static str,
    pub rule: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DoorLabel {
    pub door: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabels {
    pub door: &'static str,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransportLabel {
    pub transport: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransportReasonLabels {
    pub transport: &'static str,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

/// Why a request got no answer (or, for LDAP, a connection was refused or closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// RADIUS: from an address no client covers.
    UnknownClient,
    /// RADIUS: not a valid packet of the role's codes; LDAP: a PDU that could not be decoded.
    Malformed,
    /// RADIUS: Message-Authenticator missing where required, or wrong (wrong shared secret).
    BadAuthenticator,
    /// The hash work could not start within `hashing.max_wait`.
    Overloaded,
    /// LDAP: a connection beyond `ldap.max_connections` (or a peer's share of them).
    ConnectionLimit,
    /// LDAP: a peer too slow to send or to read (timeouts).
    SlowPeer,
    /// The store or another internal step failed; the request is not answered.
    Internal,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::UnknownClient => "unknown-client",
            DropReason::Malformed => "malformed",
            DropReason::BadAuthenticator => "bad-authenticator",
            DropReason::Overloaded => "overloaded",
            DropReason::ConnectionLimit => "connection-limit",
            DropReason::SlowPeer => "slow-peer",
            DropReason::Internal => "internal-error",
        }
    }
}

pub struct Metrics {
    registry: Registry,
    decisions: Family<DecisionLabels, Counter>,
    latency: Family<DoorLabel, Histogram>,
    drops: Family<DropLabels, Counter>,
    retransmissions: Counter,
    /// Searches ended early: by their time limit, or because their client left or abandoned.
    searches_stopped: Family<ReasonLabel, Counter>,
    /// Pauses of search threads while sign-ins waited for Argon2.
    search_pauses: Counter,
    hashing_waits: Histogram,
    hashing_queue: Gauge,
    argon2_runs: Counter,
    cache_hits: Counter,
    ldap_open: Gauge,
    ldap_accepted: Counter,
    /// Per transport, made at start: counting a packet is one atomic add, no family lookup
    /// (the UDP path counts every datagram).
    radius_packets: [(&'static str, Counter); 3],
    radius_open: Family<TransportLabel, Gauge>,
    radius_refused: Family<TransportReasonLabels, Counter>,
    eap_conversations: Gauge,
    mfa: Family<ReasonLabel, Counter>,
    mfa_pushes_pending: Gauge,
    sync_cycles: Family<KindLabel, Counter>,
    sync_last: Family<KindLabel, Gauge<f64, AtomicU64>>,
    sync_next: Family<KindLabel, Gauge<f64, AtomicU64>>,
}

/// Latency buckets: 0.25 ms to about 8 s, doubling (a warm decision is well under a
/// millisecond, a cold one tens of milliseconds, a shed one `hashing.max_wait`).
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("hybridauth");
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "decisions",
            "Decisions by front door, endpoint kind, outcome and the rule that decided (docs/model.md)",
            decisions.clone(),
        );
        let latency = Family::<DoorLabel, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "request_duration_seconds",
            "Time from an authentication request's arrival to its answer (RADIUS Access-Request, LDAP bind)",
            latency.clone(),
        );
        let drops = Family::<DropLabels, Counter>::default();
        registry.register(
            "dropped",
            "Requests not answered (RADIUS) or connections refused or closed (LDAP), by reason",
            drops.clone(),
        );
        let retransmissions = Counter::default();
        registry.register(
            "radius_retransmissions",
            "RADIUS retransmissions answered from the duplicate cache or absorbed while the first is in progress",
            retransmissions.clone(),
        );
        let searches_stopped = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "ldap_searches_stopped",
            "LDAP searches stopped before their end: time (ldap.max_search_time or the client's limit), abandoned (Abandon, or the connection closed)",
            searches_stopped.clone(),
        );
        let search_pauses = Counter::default();
        registry.register(
            "ldap_search_pauses",
            "5 ms pauses of search threads while a sign-in waited for a hashing slot",
            search_pauses.clone(),
        );
        let hashing_waits = latency_histogram();
        registry.register(
            "hashing_wait_seconds",
            "Time a verification waited for a hashing slot",
            hashing_waits.clone(),
        );
        let hashing_queue = Gauge::default();
        registry.register(
            "hashing_queue_depth",
            "Verifications waiting for a hashing slot",
            hashing_queue.clone(),
        );
        let argon2_runs = Counter::default();
        registry.register(
            "argon2_verifications",
            "Argon2 verifications run (the verified-secret cache's hits are not among them)",
            argon2_runs.clone(),
        );
        let cache_hits = Counter::default();
        registry.register(
            "verified_secret_cache_hits",
            "Secrets the verified-secret cache matched without Argon2 (every rule still ran)",
            cache_hits.clone(),
        );
        let ldap_open = Gauge::default();
        registry.register(
            "ldap_connections_open",
            "LDAP connections open now",
            ldap_open.clone(),
        );
        let ldap_accepted = Counter::default();
        registry.register(
            "ldap_connections",
            "LDAP connections accepted",
            ldap_accepted.clone(),
        );
        let radius_requests = Family::<TransportLabel, Counter>::default();
        registry.register(
            "radius_packets",
            "RADIUS packets received, by transport (udp, tcp, tls)",
            radius_requests.clone(),
        );
        let radius_packets = ["udp", "tcp", "tls"].map(|transport| {
            (
                transport,
                radius_requests
                    .get_or_create(&TransportLabel { transport })
                    .clone(),
            )
        });
        let radius_open = Family::<TransportLabel, Gauge>::default();
        registry.register(
            "radius_connections_open",
            "RADIUS over TCP and TLS connections open now, by transport",
            radius_open.clone(),
        );
        let radius_refused = Family::<TransportReasonLabels, Counter>::default();
        registry.register(
            "radius_connections_refused",
            "RADIUS over TCP and TLS connections refused, by transport and reason (connection-limit, handshake, handshake-timeout, unknown-client)",
            radius_refused.clone(),
        );
        let eap_conversations = Gauge::default();
        registry.register(
            "eap_conversations",
            "EAP conversations in progress (bounded by radius.eap.max_sessions)",
            eap_conversations.clone(),
        );
        let mfa = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "mfa",
            "MFA over RADIUS (radius.mfa): code challenges issued, and second-factor outcomes by rule (mfa.code-accepted, mfa.push-denied, mfa.timeout, ...)",
            mfa.clone(),
        );
        let mfa_pushes_pending = Gauge::default();
        registry.register(
            "mfa_pushes_pending",
            "RADIUS requests held while a push waits for the phone",
            mfa_pushes_pending.clone(),
        );
        let sync_cycles = Family::<KindLabel, Counter>::default();
        registry.register(
            "sync_cycles",
            "Periodic sync cycles that ran (by the daemon's clock, simulated or not) since the daemon started, by kind",
            sync_cycles.clone(),
        );
        let sync_last = Family::<KindLabel, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "sync_last_cycle_timestamp_seconds",
            "When the cycle whose result the cloud holds ran (periodic or manual), by kind",
            sync_last.clone(),
        );
        let sync_next = Family::<KindLabel, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "sync_next_cycle_timestamp_seconds",
            "When the next periodic cycle runs, by kind",
            sync_next.clone(),
        );
        registry.register(
            "build",
            "The running build",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        Metrics {
            registry,
            decisions,
            latency,
            drops,
            retransmissions,
            searches_stopped,
            search_pauses,
            hashing_waits,
            hashing_queue,
            argon2_runs,
            cache_hits,
            ldap_open,
            ldap_accepted,
            radius_packets,
            radius_open,
            radius_refused,
            eap_conversations,
            mfa,
            mfa_pushes_pending,
            sync_cycles,
            sync_last,
            sync_next,
        }
    }

    pub fn decision(&self, labels: DecisionLabels) {
        self.decisions.get_or_create(&labels).inc();
    }

    pub fn request_done(&self, door: &'static str, took: Duration) {
        self.latency
            .get_or_create(&DoorLabel { door })
            .observe(took.as_secs_f64());
    }

    pub fn dropped(&self, door: &'static str, reason: DropReason) {
        self.drops
            .get_or_create(&DropLabels {
                door,
                reason: reason.as_str(),
            })
            .inc();
    }

    pub fn retransmission(&self) {
        self.retransmissions.inc();
    }

    /// `reason`: "time" or "abandoned".
    /// An MFA event: "challenge", "overflow", or the rule of a second factor's outcome.
    pub fn mfa(&self, reason: &'static str) {
        self.mfa.get_or_create(&ReasonLabel { reason }).inc();
    }

    pub fn mfa_pushes_pending(&self, n: usize) {
        self.mfa_pushes_pending
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub fn search_stopped(&self, reason: &'static str) {
        self.searches_stopped
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    pub fn search_paused(&self) {
        self.search_pauses.inc();
    }

    pub fn hashing_waited(&self, took: Duration) {
        self.hashing_waits.observe(took.as_secs_f64());
    }

    pub fn hashing_queue_changed(&self, delta: i64) {
        self.hashing_queue.inc_by(delta);
    }

    pub fn argon2_run(&self) {
        self.argon2_runs.inc();
    }

    pub fn cache_hit(&self) {
        self.cache_hits.inc();
    }

    /// The EAP conversation table's size, after each change.
    pub fn eap_conversations(&self, n: usize) {
        self.eap_conversations
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// An LDAP connection opened; the guard counts it closed when dropped.
    pub fn ldap_connection(&'static self) -> OpenConnection {
        self.ldap_accepted.inc();
        self.ldap_open.inc();
        OpenConnection(self)
    }

    /// A RADIUS packet received over `transport`.
    pub fn radius_request(&self, transport: &'static str) {
        if let Some((_, c)) = self.radius_packets.iter().find(|(t, _)| *t == transport) {
            c.inc();
        }
    }

    /// A RADIUS connection open; counted until the guard is dropped.
    pub fn radius_connection(&'static self, transport: &'static str) -> OpenRadiusConnection {
        let g = self
            .radius_open
            .get_or_create(&TransportLabel { transport });
        g.inc();
        OpenRadiusConnection(g.clone())
    }

    pub fn radius_connection_refused(&self, transport: &'static str, reason: &'static str) {
        self.radius_refused
            .get_or_create(&TransportReasonLabels { transport, reason })
            .inc();
    }

    /// One sync kind's figures (`kind`: "object" or "password-hash"): `new_cycles` cycles ran
    /// since the last look, the last one at `last` and the next at `next` (Unix seconds). The
    /// caller works them out from the schedule; this only records numbers.
    pub fn sync_figures(&self, kind: &'static str, new_cycles: u64, last: Option<f64>, next: f64) {
        let label = KindLabel { kind };
        // Created at the first look, so the series exist from the first scrape.
        self.sync_cycles.get_or_create(&label).inc_by(new_cycles);
        if let Some(last) = last {
            self.sync_last.get_or_create(&label).set(last);
        }
        self.sync_next.get_or_create(&label).set(next);
    }

    /// The exposition, in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// An open LDAP connection, counted in `ldap_connections_open` until dropped.
pub struct OpenConnection(&'static Metrics);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.ldap_open.dec();
    }
}

/// An open RADIUS stream connection, counted in `radius_connections_open` until dropped.
pub struct OpenRadiusConnection(Gauge);

impl Drop for OpenRadiusConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

static GLOBAL: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn global() -> &'static Metrics {
    &GLOBAL
}
