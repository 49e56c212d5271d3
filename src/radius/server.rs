//! The UDP loops. One task receives per socket; each datagram is handled in its own task so a
//! slow Argon2 verification never holds up the socket. On shutdown the loops stop receiving and
//! wait for the requests in flight to be answered.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio_util::task::TaskTracker;

use super::accounting::AccountingLog;
use super::clients::Clients;
use super::dedup::{Dedup, Seen};
use crate::config::{RadiusClientConfig, RadiusConfig};
use crate::metrics::DropReason;
use crate::protocol::radius_packet::*;
use crate::runtime::logging::{cap, SourceLimiter, MAX_LOGGED_CHARS};
use crate::runtime::shutdown::Shutdown;
use crate::verify::{Attempt, Verifier, VerifyError};

/// Which port a socket serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Authentication,
    Accounting,
    /// A RADIUS over TCP or TLS connection: access and accounting requests on one stream
    /// (RFC 6614 §2.1), Status-Server answered as on the authentication port.
    Stream,
}

/// The most requests one socket has in flight; beyond it datagrams are dropped and the NAS
/// retransmits, which is how RADIUS expects an overloaded server to behave.
const MAX_IN_FLIGHT: usize = 4096;

/// Drop lines a peer can trigger: capped and rate-limited per source (see `logging`).
#[derive(Default)]
struct DropLog {
    limiter: SourceLimiter,
}

impl DropLog {
    fn warn(&self, what: &str, from: SocketAddr, detail: &str) {
        if let Some(suppressed) = self.limiter.allow(from.ip()) {
            tracing::warn!(%from, suppressed, "{what}: {}", cap(detail, MAX_LOGGED_CHARS));
        }
    }
}

pub struct RadiusServer {
    verifier: Arc<Verifier>,
    clients: Clients,
    dedup: Arc<Dedup>,
    accounting: Arc<AccountingLog>,
    unknown: DropLog,
    dropped: DropLog,
    shed: DropLog,
    /// Verifications that failed (the store unreachable, say): every request fails alike, so
    /// one line a second, with how many were held back.
    failed: DropLog,
    reject_delay: Duration,
    /// EAP-TTLS and PEAP conversations (`[radius.eap]`).
    eap: super::eap::Engine,
    /// The MFA extension's prompts and held pushes (`[radius.mfa]`).
    mfa: super::mfa_door::SecondFactor,
}

/// The request was shed under overload (see `admission`).
struct Shed;

/// What a request's handling needs besides the datagram.
pub(super) struct RequestCtx<'a> {
    pub(super) from: SocketAddr,
    /// When the datagram was received: the hashing deadline counts from here.
    pub(super) arrived: tokio::time::Instant,
    pub(super) delayer: &'a super::reject_delay::Delayer,
}

impl RadiusServer {
    /// The live client table (the stream listeners match certificates against it).
    pub fn clients(&self) -> &Clients {
        &self.clients
    }

    pub(super) fn dedup(&self) -> &Arc<Dedup> {
        &self.dedup
    }

    pub(super) fn reject_delay(&self) -> Duration {
        self.reject_delay
    }

    /// Log rotation (SIGHUP): the accounting log continues in a fresh file.
    pub fn reopen_accounting_log(&self) -> std::io::Result<()> {
        self.accounting.reopen()
    }

    /// Opens the accounting log now (kept open; see `logfile`).
    pub fn new(
        cfg: &RadiusConfig,
        verifier: Arc<Verifier>,
        clients: Clients,
    ) -> std::io::Result<Arc<RadiusServer>> {
        let accounting = AccountingLog::new(&cfg.accounting_log);
        accounting.open().map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot open the accounting log: {e}"))
        })?;
        let eap = super::eap::Engine::new(&cfg.eap)
            .map_err(|e| std::io::Error::other(format!("radius.eap: {e}")))?;
        Ok(Arc::new(RadiusServer {
            verifier,
            clients,
            dedup: Arc::new(Dedup::new(cfg.duplicate_window)),
            accounting: Arc::new(accounting),
            unknown: DropLog::default(),
            dropped: DropLog::default(),
            shed: DropLog::default(),
            failed: DropLog::default(),
            reject_delay: cfg.reject_delay,
            eap,
            mfa: super::mfa_door::SecondFactor::new(&cfg.mfa),
        }))
    }

    /// Serves one bound socket until shutdown, then waits for its requests in flight.
    pub async fn serve(self: Arc<Self>, socket: UdpSocket, role: Role, mut shutdown: Shutdown) {
        let socket = Arc::new(socket);
        let tracker = TaskTracker::new();
        let (delayer, delayed) = super::reject_delay::channel(self.reject_delay);
        let delay_task = tokio::spawn(super::reject_delay::run(
            delayed,
            Arc::clone(&socket),
            Arc::clone(&self.dedup),
        ));
        let background = if role == Role::Accounting {
            Vec::new()
        } else {
            self.start_background(&shutdown)
        };
        let mut buf = vec![0u8; 65536];
        loop {
            let (n, from) = tokio::select! {
                _ = shutdown.recv() => break,
                r = socket.recv_from(&mut buf) => match r {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::debug!(error = %e, "recv_from failed");
                        continue;
                    }
                },
            };
            crate::metrics::global().radius_request("udp");
            if tracker.len() >= MAX_IN_FLIGHT {
                crate::metrics::global().dropped("radius", DropReason::Overloaded);
                self.dropped
                    .warn("request dropped", from, "too many requests in flight");
                continue;
            }
            let arrived = tokio::time::Instant::now();
            let datagram = buf[..n].to_vec();
            let me = Arc::clone(&self);
            let sock = Arc::clone(&socket);
            let delayer = delayer.clone();
            tracker.spawn(async move {
                let ctx = RequestCtx {
                    from,
                    arrived,
                    delayer: &delayer,
                };
                if let Some(reply) = me.handle(&datagram, role, &ctx).await {
                    if let Err(e) = sock.send_to(&reply, from).await {
                        tracing::debug!(%from, error = %e, "send_to failed");
                    }
                }
            });
        }
        for task in background {
            task.abort();
        }
        tracker.close();
        tracker.wait().await;
        // Every request task is done: closing the channel makes the delay task send what it
        // still holds at once (an answer in flight at shutdown is still an answer), then end.
        drop(delayer);
        let _ = delay_task.await;
    }

    /// The timers an authentication listener needs: idle EAP conversations reclaimed on a
    /// timer too, not only as new ones arrive (a second sweeper is harmless), and the MFA
    /// extension's poller (one per server). Aborted by the caller when it stops.
    pub(super) fn start_background(
        self: &Arc<Self>,
        shutdown: &Shutdown,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        if self.eap.enabled() {
            let me = Arc::clone(self);
            let mut stop = shutdown.clone();
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(me.eap.sweep_every());
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = stop.recv() => break,
                        _ = tick.tick() => { me.eap.sweep(); }
                    }
                }
            }));
        }
        tasks.extend(self.spawn_mfa_poller(shutdown));
        tasks
    }

    /// RFC 5080 §2.2.2: a retransmission (the same client port, Identifier and Request
    /// Authenticator) gets the answer already sent, or none while the first is in flight, and
    /// is counted; `None` for a new request, now marked in flight.
    fn retransmission(&self, key: super::dedup::Key) -> Option<Option<Arc<Vec<u8>>>> {
        let answer = match self.dedup.check(key) {
            Seen::Answered(reply) => Some(reply),
            Seen::InFlight => None,
            Seen::New => return None,
        };
        crate::metrics::global().retransmission();
        Some(answer)
    }

    fn drop_packet(&self, from: SocketAddr, reason: DropReason, why: &str) -> Option<Arc<Vec<u8>>> {
        crate::metrics::global().dropped("radius", reason);
        self.dropped.warn("packet dropped", from, why);
        None
    }

    /// Returns the octets to send back, or `None` for a silent drop.
    async fn handle(
        &self,
        datagram: &[u8],
        role: Role,
        ctx: &RequestCtx<'_>,
    ) -> Option<Arc<Vec<u8>>> {
        let from = ctx.from;
        let Some(client) = self.clients.current().lookup(from.ip()) else {
            crate::metrics::global().dropped("radius", DropReason::UnknownClient);
            self.unknown.warn(
                "packet from unknown client dropped",
                from,
                "no [[radius.clients]] network covers it",
            );
            return None;
        };
        self.handle_for(datagram, role, client, ctx).await
    }

    /// A packet from a client already known (by its address, or by the certificate of its
    /// TLS connection).
    pub(super) async fn handle_for(
        &self,
        datagram: &[u8],
        role: Role,
        client: Arc<RadiusClientConfig>,
        ctx: &RequestCtx<'_>,
    ) -> Option<Arc<Vec<u8>>> {
        let from = ctx.from;
        let raw = match RawPacket::parse(datagram) {
            Ok(r) => r,
            Err(e) => {
                return self.drop_packet(
                    from,
                    DropReason::Malformed,
                    &format!("malformed packet from {}: {e}", client.name),
                )
            }
        };
        match (role, raw.code()) {
            (_, STATUS_SERVER) => self.status_server(&raw, &client, role, from),
            (Role::Authentication | Role::Stream, ACCESS_REQUEST) => {
                self.access_request(&raw, client, ctx).await
            }
            (Role::Accounting | Role::Stream, ACCOUNTING_REQUEST) => {
                self.accounting_request(&raw, &client, from).await
            }
            (_, code) => self.drop_packet(
                from,
                DropReason::Malformed,
                &format!("code {code} is not served on this port"),
            ),
        }
    }

    /// RFC 5997: answered only with a valid Message-Authenticator.
    fn status_server(
        &self,
        raw: &RawPacket<'_>,
        client: &RadiusClientConfig,
        role: Role,
        from: SocketAddr,
    ) -> Option<Arc<Vec<u8>>> {
        if raw.message_authenticator_ok(&client.secret) != Some(true) {
            return self.drop_packet(
                from,
                DropReason::BadAuthenticator,
                "Status-Server without a valid Message-Authenticator",
            );
        }
        let code = match role {
            Role::Authentication | Role::Stream => ACCESS_ACCEPT,
            Role::Accounting => ACCOUNTING_RESPONSE,
        };
        let reply = vec![(ATTR_REPLY_MESSAGE, b"hybridauth is alive".to_vec())];
        Some(Arc::new(encode_reply(
            code,
            raw,
            &reply,
            &client.secret,
            true,
        )))
    }

    async fn accounting_request(
        &self,
        raw: &RawPacket<'_>,
        client: &RadiusClientConfig,
        from: SocketAddr,
    ) -> Option<Arc<Vec<u8>>> {
        if !raw.accounting_authenticator_ok(&client.secret) {
            return self.drop_packet(
                from,
                DropReason::BadAuthenticator,
                "Accounting-Request with a bad authenticator (wrong shared secret?)",
            );
        }
        if raw.message_authenticator_ok(&client.secret) == Some(false) {
            return self.drop_packet(
                from,
                DropReason::BadAuthenticator,
                "Accounting-Request with a bad Message-Authenticator",
            );
        }
        // RFC 5080 §2.2.2: a retransmission (the same octets, so the same Identifier and
        // Request Authenticator) is answered again without a second record. A record being
        // written absorbs its retransmissions; one that could not be written is forgotten, so
        // the NAS's next retransmission tries again.
        let key = (from, raw.identifier(), raw.authenticator());
        if let Some(answer) = self.retransmission(key) {
            return answer;
        }
        let reply = self.record_accounting(raw, client, from).await;
        self.dedup.finish(key, reply.clone());
        reply
    }

    /// Writes one accounting record; the Accounting-Response once it is on disk.
    async fn record_accounting(
        &self,
        raw: &RawPacket<'_>,
        client: &RadiusClientConfig,
        from: SocketAddr,
    ) -> Option<Arc<Vec<u8>>> {
        let pkt = radius::core::packet::Packet::decode(raw.bytes, &client.secret).ok()?;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        // The record is fsynced: file I/O stays off the reactor.
        let (log, nas) = (Arc::clone(&self.accounting), client.name.clone());
        let written = tokio::task::spawn_blocking(move || log.record(&nas, from, &pkt, now)).await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                // Not acknowledged, so the NAS keeps the record and retries.
                tracing::error!(error = %e, "cannot write the accounting log");
                return None;
            }
            Err(_) => return None,
        }
        Some(Arc::new(encode_reply(
            ACCOUNTING_RESPONSE,
            raw,
            &[],
            &client.secret,
            false,
        )))
    }

    async fn access_request(
        &self,
        raw: &RawPacket<'_>,
        client: Arc<RadiusClientConfig>,
        ctx: &RequestCtx<'_>,
    ) -> Option<Arc<Vec<u8>>> {
        let from = ctx.from;
        match raw.message_authenticator_ok(&client.secret) {
            Some(false) => return self.drop_packet(from, DropReason::BadAuthenticator, "bad Message-Authenticator (wrong shared secret?)"),
            None if client.require_message_authenticator => {
                return self.drop_packet(from, DropReason::BadAuthenticator, "Access-Request without Message-Authenticator (require_message_authenticator = true)")
            }
            _ => {}
        }
        let key = (from, raw.identifier(), raw.authenticator());
        if let Some(answer) = self.retransmission(key) {
            return answer;
        }
        let first_sent = self.dedup.first_sent(&key).unwrap_or(ctx.arrived);
        let reply = match self
            .decide(raw, &client, from, first_sent, ctx.arrived)
            .await
        {
            Err(Shed) => {
                self.dedup.shed(key, first_sent);
                return None;
            }
            Ok(reply) => reply,
        };
        if reply.is_some() {
            // Arrival to answer, before any reject delay (a deliberate wait, not work).
            crate::metrics::global().request_done("radius", ctx.arrived.elapsed());
        }
        match reply {
            // An Access-Reject waits out the reject delay in the delay task's timer wheel,
            // still "in flight" for duplicate detection, so retransmissions are absorbed.
            Some(r) if r.first() == Some(&ACCESS_REJECT) && ctx.delayer.delays() => {
                ctx.delayer.send_later(key, r);
                None
            }
            other => {
                self.dedup.finish(key, other.clone());
                other
            }
        }
    }

    async fn decide(
        &self,
        raw: &RawPacket<'_>,
        client: &RadiusClientConfig,
        from: SocketAddr,
        first_sent: tokio::time::Instant,
        arrived: tokio::time::Instant,
    ) -> Result<Option<Arc<Vec<u8>>>, Shed> {
        if raw.has(crate::protocol::eap_packet::ATTR_EAP_MESSAGE) && self.eap.enabled() {
            return self.eap_request(raw, client, from, arrived).await;
        }
        if self.mfa.enabled() && raw.has(crate::protocol::radius_packet::ATTR_STATE) {
            return Ok(self.code_answer(raw, client, from).await);
        }
        let (attempt, mschap_ident) = match super::request::read(raw, client, from) {
            super::request::Request::SignIn {
                attempt,
                mschap_ident,
            } => (attempt, mschap_ident),
            super::request::Request::MethodNotAllowed { attempt, why } => {
                self.record_protocol_reject(attempt, &why).await;
                return Ok(Some(super::reply::protocol_reject(raw, client, &why)));
            }
            super::request::Request::Undecodable => {
                let why = "undecodable User-Password";
                return Ok(self.drop_packet(from, DropReason::Malformed, why));
            }
        };
        // `serve --debug`: the request as radiusd -X shows it (secrets masked), and the login
        // as typed for the decision line of an unknown user (escaped and capped: client
        // input). Nothing of this is computed on the request path at the usual levels.
        let debug = tracing::enabled!(tracing::Level::DEBUG);
        let typed = debug.then(|| crate::runtime::logging::cap(&attempt.login, 64));
        if debug {
            tracing::debug!(client = %client.name, %from, id = raw.identifier(), "Access-Request received: {}", super::describe::describe(raw));
        }
        let proof = attempt.mschap.clone();
        let record = self
            .mfa
            .enabled()
            .then(|| super::mfa_door::record_of(&attempt));
        let decided = self
            .verifier
            .decide_ranked(attempt, first_sent, arrived)
            .await;
        match decided {
            Ok(d) => {
                let mschap = proof.as_ref().zip(mschap_ident);
                let Some((reply, d)) = self.answer_decided(raw, client, d, record, mschap).await
                else {
                    return Ok(None);
                };
                // Every decision is in the sign-in log; the daemon log shows each request only
                // at debug (as LDAP binds, and as FreeRADIUS without `auth = yes`): a line per
                // request at info cost a tenth of the warm path's CPU.
                if debug {
                    self.debug_answer(client, from, &d, typed.as_deref(), &reply);
                }
                Ok(Some(reply))
            }
            Err(VerifyError::Overloaded) => {
                // Shed: its NAS has given up by now; the count rides on the (limited) log line.
                let why = format!(
                    "its hash work could not start within hashing.max_wait (overload; {} shed since start)",
                    self.verifier.shed()
                );
                crate::metrics::global().dropped("radius", DropReason::Overloaded);
                self.shed.warn("request dropped", from, &why);
                Err(Shed)
            }
            Err(e) => {
                self.unanswered(&e);
                Ok(None)
            }
        }
    }

    /// A verification that failed (the store unreachable, say): no answer, so that the NAS
    /// retries or fails over to its other server, which beats a reject that would lock the
    /// user out of both. One log line a second, with how many were held back.
    fn unanswered(&self, e: &VerifyError) {
        crate::metrics::global().dropped("radius", DropReason::Internal);
        let everyone = SocketAddr::from(([0, 0, 0, 0], 0));
        if let Some(held_back) = self.failed.limiter.allow(everyone.ip()) {
            tracing::error!(error = %e, held_back, "verification failed; the request is left unanswered");
        }
    }

    /// A request refused before any decision is still a sign-in on record (NPS reason 66).
    async fn record_protocol_reject(&self, attempt: Attempt, why: &str) {
        self.record_refusal(attempt, "radius.method-not-allowed", 66, why)
            .await
    }

    async fn record_refusal(&self, attempt: Attempt, rule: &'static str, nps: u32, why: &str) {
        let (verifier, reason) = (Arc::clone(&self.verifier), why.to_string());
        let recorded = tokio::task::spawn_blocking(move || {
            verifier.record_protocol_reject(&attempt, rule, nps, &reason)
        })
        .await;
        if let Ok(Err(e)) = recorded {
            tracing::error!(error = %e, "cannot record the sign-in");
        }
    }

    /// One poller per server (not per socket) for the MFA extension's held pushes and expired
    /// prompts; `None` when the extension is off or another socket's task runs it.
    fn spawn_mfa_poller(
        self: &Arc<Self>,
        shutdown: &Shutdown,
    ) -> Option<tokio::task::JoinHandle<()>> {
        if !self.mfa.claim_poller() {
            return None;
        }
        let me = Arc::clone(self);
        let mut stop = shutdown.clone();
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(me.mfa.poll_every());
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.recv() => break,
                    _ = tick.tick() => {
                        let me = Arc::clone(&me);
                        let _ = tokio::task::spawn_blocking(move || me.mfa.poll(&me.verifier)).await;
                    }
                }
            }
        }))
    }

    /// The answer to a decided request: as decided, or, after an on-prem accept through a NAS
    /// the MFA extension serves, after the second factor (a challenge, a held push, or the
    /// extension's refusal). `None`: the second factor could not be decided (unanswered).
    async fn answer_decided(
        &self,
        raw: &RawPacket<'_>,
        client: &RadiusClientConfig,
        d: crate::decision::Decision,
        record: Option<Attempt>,
        mschap: Option<(&crate::verify::mschap::MsChap, u8)>,
    ) -> Option<(Arc<Vec<u8>>, crate::decision::Decision)> {
        match record.filter(|_| self.mfa.applies(client, &d)) {
            Some(record) => {
                let second = self
                    .mfa
                    .after_accept(&self.verifier, raw, client, record, d, mschap);
                second.await.map(|a| (a.reply, a.decision))
            }
            None => Some((super::reply::decision(raw, client, &d, mschap), d)),
        }
    }

    /// A request carrying a State, the MFA extension on: the code for one of this node's
    /// prompts, or a State this node never issued (a prompt that expired, or another node's
    /// after a failover). The latter is refused as such — the code is never tried as a
    /// password, which would count a wrong one against the user's lockout.
    async fn code_answer(
        &self,
        raw: &RawPacket<'_>,
        client: &RadiusClientConfig,
        from: SocketAddr,
    ) -> Option<Arc<Vec<u8>>> {
        if self.mfa.answers_prompt(raw) {
            let answered = self.mfa.answer(&self.verifier, raw, client, from).await;
            return answered.map(|a| a.reply);
        }
        let why = "a State this server did not issue: the MFA code prompt expired or came from another server; sign in again";
        if let super::request::Request::SignIn { attempt, .. } =
            super::request::read(raw, client, from)
        {
            let record = super::mfa_door::record_of(&attempt);
            self.record_refusal(record, "mfa.prompt-unknown", 16, why)
                .await;
        }
        Some(super::reply::protocol_reject(raw, client, why))
    }

    /// `serve --debug`: the decision, then the answer as radiusd -X shows what it sends.
    fn debug_answer(
        &self,
        client: &RadiusClientConfig,
        from: SocketAddr,
        d: &crate::decision::Decision,
        typed: Option<&str>,
        reply: &[u8],
    ) {
        let at = crate::decision::Whence {
            peer: from,
            client: Some(&client.name),
            endpoint: client.endpoint.kind,
        };
        crate::log_decision!("access-request", &at, d, typed);
        if let Ok(sent) = RawPacket::parse(reply) {
            let code = if d.accepted() {
                "Access-Accept"
            } else {
                "Access-Reject"
            };
            tracing::debug!(%from, id = sent.identifier(), "{code} sent: {}", super::describe::describe(&sent));
        }
    }
}

impl RadiusServer {
    /// One round trip of an EAP conversation (RFC 3579): an Access-Challenge, or the final
    /// Access-Accept / Access-Reject.
    async fn eap_request(
        &self,
        raw: &RawPacket<'_>,
        client: &RadiusClientConfig,
        from: SocketAddr,
        arrived: tokio::time::Instant,
    ) -> Result<Option<Arc<Vec<u8>>>, Shed> {
        // RFC 3579 §3.2: every EAP request carries a Message-Authenticator.
        if raw.message_authenticator_ok(&client.secret).is_none() {
            return Ok(self.drop_packet(
                from,
                DropReason::BadAuthenticator,
                "EAP request without Message-Authenticator (RFC 3579)",
            ));
        }
        let debug = tracing::enabled!(tracing::Level::DEBUG);
        if debug {
            tracing::debug!(client = %client.name, %from, id = raw.identifier(), "Access-Request received: {}", super::describe::describe(raw));
        }
        let peer = super::eap::Peer {
            client,
            from,
            raw,
            arrived,
            debug,
            mfa: &self.mfa,
        };
        match self.eap.handle(&peer, &self.verifier).await {
            super::eap::EapReply::Answer {
                code,
                attrs,
                decision,
            } => {
                if let (true, Some(d)) = (debug, &decision) {
                    let at = crate::decision::Whence {
                        peer: from,
                        client: Some(&client.name),
                        endpoint: client.endpoint.kind,
                    };
                    crate::log_decision!("eap inner authentication", &at, d, None);
                }
                let reply = encode_reply(code, raw, &attrs, &client.secret, true);
                if !whole_eap_message(&attrs, &reply) {
                    // Never part of an EAP packet (RFC 3579): the NAS would pass on garbage.
                    return Ok(self.drop_packet(
                        from,
                        DropReason::Malformed,
                        "the EAP reply does not fit in one RADIUS packet beside the request's Proxy-States",
                    ));
                }
                if debug {
                    if let Ok(sent) = RawPacket::parse(&reply) {
                        tracing::debug!(%from, id = sent.identifier(), "code {code} sent: {}", super::describe::describe(&sent));
                    }
                }
                if code != super::eap::ACCESS_CHALLENGE {
                    crate::metrics::global().request_done("radius", arrived.elapsed());
                }
                Ok(Some(Arc::new(reply)))
            }
            super::eap::EapReply::Shed => {
                crate::metrics::global().dropped("radius", DropReason::Overloaded);
                self.shed.warn(
                    "request dropped",
                    from,
                    "an EAP inner verification could not start within hashing.max_wait",
                );
                Err(Shed)
            }
            super::eap::EapReply::Drop(why) => {
                Ok(self.drop_packet(from, DropReason::Malformed, &why))
            }
        }
    }
}

/// Whether the encoded reply carries every EAP-Message octet of `attrs` (the encoder leaves
/// out what does not fit in 4096 octets).
fn whole_eap_message(attrs: &[(u8, Vec<u8>)], reply: &[u8]) -> bool {
    let eap = crate::protocol::eap_packet::ATTR_EAP_MESSAGE;
    let wanted: usize = attrs
        .iter()
        .filter(|(t, _)| *t == eap)
        .map(|(_, v)| v.len())
        .sum();
    wanted == 0
        || RawPacket::parse(reply)
            .is_ok_and(|p| crate::protocol::eap_packet::join(&p).len() == wanted)
}

/// Binds every configured address for one role.
pub async fn bind_all(addrs: &[SocketAddr]) -> std::io::Result<Vec<UdpSocket>> {
    let mut out = Vec::new();
    for a in addrs {
        let s = crate::runtime::net::bind_udp(*a).map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot bind RADIUS on {a}: {e}"))
        })?;
        out.push(s);
    }
    Ok(out)
}

pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
