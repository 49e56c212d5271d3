//! EAP over RADIUS (RFC 3579) with EAP-TTLS (RFC 5281: inner PAP and MS-CHAPv2) and PEAPv0
//! (inner EAP-MSCHAPv2 and EAP-GTC), for WPA2/WPA3-Enterprise Wi-Fi and VPNs.
//!
//! A conversation spans several Access-Request / Access-Challenge round trips, tied together
//! by the State attribute. Conversations are bounded in number (`max_sessions`: a new one is
//! refused when the table is full of live ones, so a flood of half-finished conversations
//! cannot push out those in progress) and in idle time (`session_timeout`). Retransmissions
//! are answered from the RADIUS duplicate cache like any request. Inner credentials go to the
//! verifier exactly as PAP and MS-CHAPv2 do (one Argon2 run at most per inner authentication);
//! the TLS work runs off the reactor. TLS 1.2 only: RFC 5281 and PEAPv0 derive their keys
//! (MSK, sent as MS-MPPE keys for the Wi-Fi 4-way handshake) from the TLS 1.2 PRF.

pub mod inner;
pub mod peap;
pub(crate) mod peap_inner;
pub mod ttls;
pub(crate) mod ttls_inner;
pub mod tunnel;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rand::RngCore;

use self::inner::{InnerStep, Next, Phase};
use self::tunnel::{Received, Tunnel};
use crate::config::{EapConfig, EapMethod, RadiusClientConfig};
use crate::protocol::eap_packet as packet;
use crate::protocol::eap_packet::{
    Eap, ATTR_STATE, RESPONSE, TYPE_IDENTITY, TYPE_NAK, TYPE_PEAP, TYPE_TTLS,
};
use crate::protocol::radius_packet::{RawPacket, ACCESS_ACCEPT, ACCESS_REJECT};
use crate::verify::mschap::MsChap;
use crate::verify::{Attempt, Decision, Door, Secret, Verifier, VerifyError};

pub const ACCESS_CHALLENGE: u8 = 11;

/// What the RADIUS door sends back for an EAP request.
pub enum EapReply {
    Answer {
        code: u8,
        attrs: Vec<(u8, Vec<u8>)>,
        /// The inner decision, when one was made in this round trip.
        decision: Option<Box<Decision>>,
    },
    /// The inner verification could not start in time (overload): no answer.
    Shed,
    /// Not an EAP request hybridauth can answer: dropped, with why.
    Drop(String),
}

struct Conversation {
    method: EapMethod,
    tunnel: Tunnel,
    phase: Phase,
    outer_identity: String,
    inner_identity: Option<String>,
    /// The NAS the conversation began with: a State presented by another is not its own.
    nas: String,
    /// The Identifier of the outstanding EAP-Request: a response with another one (a replay,
    /// a late duplicate) is silently discarded (RFC 3748 §4.1) and changes nothing.
    outstanding: u8,
}

struct Session {
    touched: Mutex<Instant>,
    conversation: tokio::sync::Mutex<Conversation>,
}

pub struct Engine {
    config: EapConfig,
    tls: Option<Arc<rustls::ServerConfig>>,
    sessions: Mutex<HashMap<[u8; 16], Arc<Session>>>,
    /// When expired conversations were last swept as new ones arrived.
    swept: Mutex<Instant>,
    /// Failure lines are peer-triggered: rate-limited per source like the server's drop lines.
    failures: crate::runtime::logging::SourceLimiter,
}

fn method_type(m: EapMethod) -> u8 {
    match m {
        EapMethod::Ttls => TYPE_TTLS,
        EapMethod::Peap => TYPE_PEAP,
    }
}

/// Who is asking, for the inner decisions.
pub struct Peer<'a> {
    pub client: &'a RadiusClientConfig,
    pub from: SocketAddr,
    pub raw: &'a RawPacket<'a>,
    pub arrived: tokio::time::Instant,
    pub debug: bool,
    /// The MFA extension: an inner accept goes on to a push (EAP has no room for a code).
    pub mfa: &'a super::mfa_door::SecondFactor,
}

/// TLS work (a handshake's signature, a record's decryption) off the reactor.
fn off_reactor<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

impl Engine {
    /// Loads the certificate and key (refusing the configuration if they do not fit).
    pub fn new(config: &EapConfig) -> Result<Engine, String> {
        let tls = if config.methods.is_empty() {
            None
        } else {
            Some(crate::tls::server_config(
                &config.cert,
                &config.key,
                crate::tls::Versions::Tls12,
            )?)
        };
        Ok(Engine {
            config: config.clone(),
            tls,
            sessions: Mutex::new(HashMap::new()),
            swept: Mutex::new(Instant::now()),
            failures: Default::default(),
        })
    }

    /// Removes the conversations idle for longer than `session_timeout` (their TLS state and
    /// fragments with them); returns how many remain. Run on a timer (`sweep_every`) and as
    /// new conversations arrive, so memory follows the conversations alive, not the most
    /// there ever were.
    pub fn sweep(&self) -> usize {
        let mut table = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        table.retain(|_, s| self.alive(s));
        crate::metrics::global().eap_conversations(table.len());
        *self.swept.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        table.len()
    }

    /// How often the timer sweeps: a quarter of `session_timeout`, between 1 s and 30 s.
    pub fn sweep_every(&self) -> std::time::Duration {
        (self.config.session_timeout / 4).clamp(
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(30),
        )
    }

    pub fn enabled(&self) -> bool {
        self.tls.is_some()
    }

    /// Conversations in progress (for tests and metrics).
    pub fn conversations(&self) -> usize {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    pub async fn handle(&self, peer: &Peer<'_>, verifier: &Arc<Verifier>) -> EapReply {
        let bytes = packet::join(peer.raw);
        let eap = match Eap::parse(&bytes) {
            Ok(e) if e.code == RESPONSE => e,
            Ok(e) => return EapReply::Drop(format!("EAP code {} from a client", e.code)),
            Err(why) => return EapReply::Drop(why),
        };
        let state: Option<[u8; 16]> = peer.raw.value(ATTR_STATE).and_then(|v| v.try_into().ok());
        let Some(state) = state else {
            if eap.typ != Some(TYPE_IDENTITY) {
                return EapReply::Drop(
                    "an EAP response without State that is not an Identity".into(),
                );
            }
            return self.begin(peer, &eap);
        };
        let session = {
            let mut table = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
            match table.get(&state) {
                Some(s) if self.alive(s) => Some(Arc::clone(s)),
                Some(_) => {
                    table.remove(&state);
                    crate::metrics::global().eap_conversations(table.len());
                    None
                }
                None => None,
            }
        };
        let Some(session) = session else {
            return self.failure(
                peer,
                &eap,
                "unknown or expired EAP conversation (State)",
                None,
            );
        };
        let mut conv = session.conversation.lock().await;
        // Only a response to the outstanding request, from the NAS the conversation began
        // with, belongs to it; anything else is discarded without touching it (a replay from
        // another port must not end the real client's conversation).
        if conv.nas != peer.client.name {
            return EapReply::Drop("an EAP State of a conversation begun by another NAS".into());
        }
        if eap.id != conv.outstanding {
            return EapReply::Drop(format!(
                "EAP response Identifier {} does not match the outstanding request's {} (RFC 3748 §4.1: discarded)",
                eap.id, conv.outstanding
            ));
        }
        *session.touched.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        match fragment_room(peer.raw) {
            Some(room) => conv.tunnel.limit_fragment(room),
            None => {
                return EapReply::Drop(
                    "the request's Proxy-State attributes leave no room for an EAP fragment in the reply (RFC 3579)".into(),
                )
            }
        }
        let out = self.step(peer, verifier, &eap, &mut conv, state).await;
        if let EapReply::Answer {
            code: ACCESS_CHALLENGE,
            ..
        } = &out
        {
            conv.outstanding = eap.id.wrapping_add(1);
        }
        if let EapReply::Answer { code, .. } = &out {
            if *code != ACCESS_CHALLENGE {
                let mut table = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
                table.remove(&state);
                crate::metrics::global().eap_conversations(table.len());
            }
        }
        out
    }

    fn alive(&self, s: &Session) -> bool {
        s.touched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
            < self.config.session_timeout
    }

    /// An EAP-Response/Identity: a new conversation, started with the preferred method.
    fn begin(&self, peer: &Peer<'_>, eap: &Eap<'_>) -> EapReply {
        let Some(tls) = &self.tls else {
            return EapReply::Drop("EAP is not enabled".into());
        };
        let method = self.config.methods[0];
        let tunnel = match Tunnel::new(Arc::clone(tls), self.config.fragment_size) {
            Ok(t) => t,
            Err(e) => return EapReply::Drop(e),
        };
        let outer = String::from_utf8_lossy(eap.data).into_owned();
        let mut state = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut state);
        let sweep_due = self
            .swept
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
            >= self.sweep_every();
        if sweep_due {
            self.sweep();
        }
        {
            let mut table = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
            if table.len() >= self.config.max_sessions {
                table.retain(|_, s| self.alive(s));
                crate::metrics::global().eap_conversations(table.len());
            }
            if table.len() >= self.config.max_sessions {
                drop(table);
                crate::metrics::global().dropped("radius", crate::metrics::DropReason::Overloaded);
                return self.failure(
                    peer,
                    eap,
                    "too many EAP conversations in progress (radius.eap.max_sessions)",
                    None,
                );
            }
            table.insert(
                state,
                Arc::new(Session {
                    touched: Mutex::new(Instant::now()),
                    conversation: tokio::sync::Mutex::new(Conversation {
                        method,
                        tunnel,
                        phase: Phase::Tunnel,
                        outer_identity: outer.clone(),
                        inner_identity: None,
                        nas: peer.client.name.clone(),
                        outstanding: eap.id.wrapping_add(1),
                    }),
                }),
            );
            crate::metrics::global().eap_conversations(table.len());
        }
        if peer.debug {
            tracing::debug!(from = %peer.from, outer_identity = %crate::runtime::logging::cap(&outer, 64), method = method.as_str(), "EAP conversation started");
        }
        challenge(eap, method_type(method), Tunnel::start(), state)
    }

    async fn step(
        &self,
        peer: &Peer<'_>,
        verifier: &Arc<Verifier>,
        eap: &Eap<'_>,
        conv: &mut Conversation,
        state: [u8; 16],
    ) -> EapReply {
        let typ = method_type(conv.method);
        // A Nak before the tunnel started: the client wants another method we offer.
        if eap.typ == Some(TYPE_NAK)
            && matches!(conv.phase, Phase::Tunnel)
            && !conv.tunnel.pending()
        {
            let wanted = self
                .config
                .methods
                .iter()
                .copied()
                .find(|m| eap.data.contains(&method_type(*m)) && *m != conv.method);
            let Some(m) = wanted else {
                return self.failure(
                    peer,
                    eap,
                    "the client wants no EAP method offered here (radius.eap.methods)",
                    None,
                );
            };
            conv.method = m;
            return challenge(eap, method_type(m), Tunnel::start(), state);
        }
        if eap.typ != Some(typ) {
            return self.failure(peer, eap, "an EAP response of another method", None);
        }
        let received = off_reactor(|| conv.tunnel.receive(eap.data));
        let plain = match received {
            Err(why) => {
                return self.failure(
                    peer,
                    eap,
                    &format!("EAP-{}: {why}", name(conv.method)),
                    Some(conv),
                )
            }
            Ok(Received::NeedMore) => return challenge(eap, typ, Tunnel::ack(), state),
            Ok(Received::Ack) => Vec::new(),
            Ok(Received::Records(p)) => p,
        };
        if conv.tunnel.pending() {
            let data = off_reactor(|| conv.tunnel.next_fragment());
            return challenge(eap, typ, data, state);
        }
        if conv.tunnel.handshaking() {
            // Waiting for the client's next handshake flight.
            return challenge(eap, typ, Tunnel::ack(), state);
        }
        self.inner(peer, verifier, eap, conv, state, &plain).await
    }

    /// The one tunnel driver for both methods: the method's step says what the plaintext
    /// asks for; the driver runs the verification it names and turns the outcome into the
    /// next round trip (or the conversation's end).
    async fn inner(
        &self,
        peer: &Peer<'_>,
        verifier: &Arc<Verifier>,
        eap: &Eap<'_>,
        conv: &mut Conversation,
        state: [u8; 16],
        plain: &[u8],
    ) -> EapReply {
        let phase = std::mem::replace(&mut conv.phase, Phase::Tunnel);
        let step = match conv.method {
            EapMethod::Ttls => {
                ttls_inner::step(phase, plain, &conv.tunnel, &mut conv.inner_identity)
            }
            EapMethod::Peap => peap_inner::step(phase, plain, eap.id, &mut conv.inner_identity),
        };
        let next = match step {
            InnerStep::Now(next) => next,
            InnerStep::Verify {
                login,
                secret,
                mschap,
                then,
            } => match self
                .decide(peer, verifier, conv, login, secret, mschap)
                .await
            {
                Err(reply) => return reply,
                Ok(d) if d.accepted() => then(d),
                Ok(d) => Next::Reject(Box::new(d)),
            },
        };
        match next {
            Next::Succeed(d) => match self.second_factor(peer, verifier, eap, conv, *d).await {
                Ok(d) => self.success(peer, eap, conv, d),
                Err(reply) => reply,
            },
            Next::Reject(d) => self.rejected(peer, eap, *d),
            Next::Fail(why) => self.failure(peer, eap, &why, Some(conv)),
            Next::Send { message, phase } => {
                conv.phase = phase;
                if let Err(why) = message.map_or(Ok(()), |m| conv.tunnel.send(&m)) {
                    return self.failure(peer, eap, &why, Some(conv));
                }
                let data = off_reactor(|| conv.tunnel.next_fragment());
                challenge(eap, method_type(conv.method), data, state)
            }
        }
    }

    /// An inner accept through a NAS the MFA extension serves goes on to the second factor (a
    /// push: EAP has no room for a code prompt); anything else is the accept as decided.
    async fn second_factor(
        &self,
        peer: &Peer<'_>,
        verifier: &Arc<Verifier>,
        eap: &Eap<'_>,
        conv: &Conversation,
        d: Decision,
    ) -> Result<Decision, EapReply> {
        if !peer.mfa.applies(peer.client, &d) {
            return Ok(d);
        }
        let record = Attempt {
            endpoint: peer.client.endpoint,
            door: Door::Radius,
            client: Some(peer.from.ip()),
            login: conv.inner_identity.clone().unwrap_or_default(),
            secret: Secret::new(Vec::new()),
            now: None,
            trace: false,
            nas: Some(peer.client.name.clone()),
            mschap: None,
            outer_identity: Some(conv.outer_identity.clone()),
        };
        match peer.mfa.after_tunnel_accept(verifier, record, d).await {
            Some(d) if d.accepted() => Ok(d),
            Some(d) => Err(self.rejected(peer, eap, d)),
            None => Err(EapReply::Drop("the MFA step could not be decided".into())),
        }
    }

    /// One inner authentication, decided by the verifier like any RADIUS sign-in.
    async fn decide(
        &self,
        peer: &Peer<'_>,
        verifier: &Arc<Verifier>,
        conv: &Conversation,
        login: String,
        secret: Secret,
        mschap: Option<MsChap>,
    ) -> Result<Decision, EapReply> {
        if peer.debug {
            tracing::debug!(from = %peer.from, outer_identity = %crate::runtime::logging::cap(&conv.outer_identity, 64), inner_identity = %crate::runtime::logging::cap(&login, 64), method = conv.method.as_str(), "EAP inner authentication");
        }
        let attempt = Attempt {
            endpoint: peer.client.endpoint,
            door: Door::Radius,
            client: Some(peer.from.ip()),
            login,
            secret,
            now: None,
            trace: peer.debug,
            nas: Some(peer.client.name.clone()),
            mschap,
            outer_identity: Some(conv.outer_identity.clone()),
        };
        match verifier
            .decide_ranked(attempt, peer.arrived, peer.arrived)
            .await
        {
            Ok(d) => Ok(d),
            Err(VerifyError::Overloaded) => Err(EapReply::Shed),
            Err(e) => Err(EapReply::Drop(format!("verification failed: {e}"))),
        }
    }

    /// Access-Accept: EAP-Success, the MSK as MS-MPPE keys, the policies' attributes.
    fn success(
        &self,
        peer: &Peer<'_>,
        eap: &Eap<'_>,
        conv: &Conversation,
        d: Decision,
    ) -> EapReply {
        let label: &[u8] = match conv.method {
            EapMethod::Ttls => b"ttls keying material",
            EapMethod::Peap => b"client EAP encryption",
        };
        let msk = match conv.tunnel.export(label, 64) {
            Ok(k) => k,
            Err(why) => return self.failure(peer, eap, &why, Some(conv)),
        };
        let mut attrs = packet::split(&packet::encode(packet::SUCCESS, eap.id, None, &[]));
        attrs.extend(super::mschap_attrs::mppe_keys(
            &msk[32..64],
            &msk[..32],
            &peer.client.secret,
            &peer.raw.authenticator(),
        ));
        if let Some(a) = &d.authorization {
            attrs.extend(a.reply.iter().map(|r| r.wire.clone()));
        }
        EapReply::Answer {
            code: ACCESS_ACCEPT,
            attrs,
            decision: Some(Box::new(d)),
        }
    }

    /// Access-Reject for an inner decision.
    fn rejected(&self, peer: &Peer<'_>, eap: &Eap<'_>, d: Decision) -> EapReply {
        let mut attrs = packet::split(&packet::encode(packet::FAILURE, eap.id, None, &[]));
        if peer.client.reply_message {
            attrs.push((
                crate::protocol::radius_packet::ATTR_REPLY_MESSAGE,
                crate::runtime::logging::cap(&d.explanation, 240).into_bytes(),
            ));
        }
        EapReply::Answer {
            code: ACCESS_REJECT,
            attrs,
            decision: Some(Box::new(d)),
        }
    }

    /// Access-Reject for a protocol failure (no inner decision): logged, rate-limited.
    fn failure(
        &self,
        peer: &Peer<'_>,
        eap: &Eap<'_>,
        why: &str,
        conv: Option<&Conversation>,
    ) -> EapReply {
        let outer = conv
            .map(|c| crate::runtime::logging::cap(&c.outer_identity, 64))
            .unwrap_or_default();
        if let Some(suppressed) = self.failures.allow(peer.from.ip()) {
            tracing::info!(from = %peer.from, client = %peer.client.name, outer_identity = %outer, suppressed, "EAP failed: {}", crate::runtime::logging::cap(why, 240));
        }
        let mut attrs = packet::split(&packet::encode(packet::FAILURE, eap.id, None, &[]));
        if peer.client.reply_message {
            attrs.push((
                crate::protocol::radius_packet::ATTR_REPLY_MESSAGE,
                crate::runtime::logging::cap(why, 240).into_bytes(),
            ));
        }
        EapReply::Answer {
            code: ACCESS_REJECT,
            attrs,
            decision: None,
        }
    }
}

fn name(m: EapMethod) -> &'static str {
    match m {
        EapMethod::Ttls => "TTLS",
        EapMethod::Peap => "PEAP",
    }
}

/// The most TLS octets an Access-Challenge to `request` can carry in one EAP fragment: what
/// is left of RADIUS's 4096 octets after the header, the Message-Authenticator, the State and
/// the Proxy-States copied from the request, less the EAP and EAP-TLS headers and the two
/// octets every 253-octet EAP-Message attribute costs. `None` when that is too little for a
/// useful fragment: the request is dropped rather than answered with part of an EAP packet.
fn fragment_room(request: &RawPacket<'_>) -> Option<usize> {
    const MIN_FRAGMENT: usize = 64;
    let proxy: usize = request
        .proxy_states()
        .iter()
        .map(|(_, v)| 2 + v.len())
        .sum();
    let fixed = crate::protocol::radius_packet::HEADER_LEN + 18 + 18;
    let room = crate::protocol::radius_packet::MAX_LEN.checked_sub(fixed + proxy)?;
    // EAP-Message attributes: 253 octets of EAP in every 255 of attribute.
    let eap_octets = room / 255 * 253 + (room % 255).saturating_sub(2);
    // EAP header (4), type (1), flags (1), TLS message length (4).
    let fragment = eap_octets.checked_sub(10)?;
    (fragment >= MIN_FRAGMENT).then_some(fragment)
}

/// Access-Challenge carrying the next EAP-Request and the conversation's State.
fn challenge(eap: &Eap<'_>, typ: u8, data: Vec<u8>, state: [u8; 16]) -> EapReply {
    let request = packet::encode(packet::REQUEST, eap.id.wrapping_add(1), Some(typ), &data);
    let mut attrs = packet::split(&request);
    attrs.push((ATTR_STATE, state.to_vec()));
    EapReply::Answer {
        code: ACCESS_CHALLENGE,
        attrs,
        decision: None,
    }
}
