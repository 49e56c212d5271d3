//! The NPS extension's round trips on the RADIUS door (docs/model.md §10). The verifier's MFA
//! rules say what follows an on-prem accept (`verify::mfa`); this file does the transport: an
//! Access-Challenge asking for the code and the request that answers it (matched by State), or
//! the request held while a push waits for the phone. Both are bounded in number
//! (`radius.mfa.max_pending`) and in time (`radius.mfa.timeout`).
//!
//! Prompts and held requests live in this node's memory: a NAS sends the code back to the
//! server that asked (RFC 2865 State), and retransmissions of a held request are absorbed by
//! the duplicate detection like any request in flight. Push answers live in the store, so that
//! `hybridauth mfa approve` reaches whichever node holds the request; one task per node polls
//! them for every held request at once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::RngCore;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::config::RadiusClientConfig;
use crate::decision::{Attempt, Decision};
use crate::endpoint::EndpointKind;
use crate::protocol::radius_packet::{RawPacket, ATTR_STATE, ATTR_USER_PASSWORD};
use crate::secret::Secret;
use crate::verify::mfa::{FirstFactor, MfaConfig, Pending, Start};
use crate::verify::mschap::MsChap;
use crate::verify::Verifier;

/// How often held pushes are checked for an answer.
const POLL: Duration = Duration::from_millis(200);

struct Prompt {
    pending: Pending,
    /// The sign-in as recorded (no secret), for the MFA step's record.
    record: Attempt,
    /// The on-prem accept the code completes.
    primary: Decision,
    nas: String,
    asked: Instant,
}

pub struct SecondFactor {
    config: MfaConfig,
    prompts: Mutex<HashMap<[u8; 16], Prompt>>,
    /// Held requests by push id: woken when the poller sees an answer.
    held: Mutex<HashMap<i64, oneshot::Sender<()>>>,
    waiting: AtomicUsize,
    poller: std::sync::atomic::AtomicBool,
}

/// The answer to the request, and the decision it carries (for `serve --debug`).
pub struct Answered {
    pub reply: Arc<Vec<u8>>,
    pub decision: Decision,
}

impl SecondFactor {
    pub fn new(config: &MfaConfig) -> SecondFactor {
        SecondFactor {
            config: config.clone(),
            prompts: Mutex::new(HashMap::new()),
            held: Mutex::new(HashMap::new()),
            waiting: AtomicUsize::new(0),
            poller: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    /// Whether the extension sees this decision: an on-prem accept through a NAS it serves.
    pub fn applies(&self, client: &RadiusClientConfig, d: &Decision) -> bool {
        self.config.enabled
            && client.mfa
            && client.endpoint.kind == EndpointKind::OnPrem
            && d.accepted()
    }

    fn full(&self) -> bool {
        let prompts = self.prompts.lock().unwrap_or_else(|e| e.into_inner()).len();
        prompts + self.waiting.load(Ordering::SeqCst) >= self.config.max_pending
    }

    /// After an on-prem accept: the extension's rules, then the challenge, the held push, or
    /// the answer. `record` is the sign-in without its secret.
    #[allow(clippy::too_many_arguments)]
    pub async fn after_accept(
        &self,
        verifier: &Arc<Verifier>,
        raw: &RawPacket<'_>,
        client: &RadiusClientConfig,
        record: Attempt,
        primary: Decision,
        mschap: Option<(&MsChap, u8)>,
    ) -> Option<Answered> {
        let factor = if mschap.is_some() {
            FirstFactor::NoPrompt
        } else {
            FirstFactor::Pap
        };
        let (v, cfg, rec, first) = (
            Arc::clone(verifier),
            self.config.clone(),
            record.clone(),
            primary.clone(),
        );
        let started =
            tokio::task::spawn_blocking(move || v.mfa_start(&cfg, &rec, &first, factor)).await;
        let start = match started {
            Ok(Ok(s)) => s,
            _ => return None,
        };
        match start {
            Start::Pass => Some(Answered {
                reply: super::reply::decision(raw, client, &primary, mschap),
                decision: primary,
            }),
            Start::Reject(d) => Some(Answered {
                reply: super::reply::decision(raw, client, &d, mschap),
                decision: *d,
            }),
            Start::Code(pending) => Some(self.prompt(raw, client, pending, record, primary)),
            Start::Push(pending, id) => {
                self.hold(verifier, raw, client, record, primary, mschap, pending, id)
                    .await
            }
        }
    }

    /// The code prompt: Access-Challenge with the extension's text and a fresh State.
    fn prompt(
        &self,
        raw: &RawPacket<'_>,
        client: &RadiusClientConfig,
        pending: Pending,
        record: Attempt,
        primary: Decision,
    ) -> Answered {
        if self.full() {
            return self.overflow(raw, client, primary);
        }
        let mut state = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut state);
        self.prompts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                state,
                Prompt {
                    pending,
                    record,
                    primary: primary.clone(),
                    nas: client.name.clone(),
                    asked: Instant::now(),
                },
            );
        crate::metrics::global().mfa("challenge");
        Answered {
            reply: super::reply::code_prompt(raw, client, &state),
            decision: primary,
        }
    }

    fn overflow(
        &self,
        raw: &RawPacket<'_>,
        client: &RadiusClientConfig,
        primary: Decision,
    ) -> Answered {
        crate::metrics::global().mfa("overflow");
        let d = Decision {
            outcome: crate::decision::Outcome::Reject,
            explanation: "too many second factors waiting (radius.mfa.max_pending)".into(),
            authorization: None,
            ..primary
        };
        Answered {
            reply: super::reply::decision(raw, client, &d, None),
            decision: d,
        }
    }

    /// The request stays unanswered until the phone answers, or the time runs out.
    #[allow(clippy::too_many_arguments)]
    async fn hold(
        &self,
        verifier: &Arc<Verifier>,
        raw: &RawPacket<'_>,
        client: &RadiusClientConfig,
        record: Attempt,
        primary: Decision,
        mschap: Option<(&MsChap, u8)>,
        pending: Pending,
        id: i64,
    ) -> Option<Answered> {
        let d = self
            .push_decision(verifier, record, primary, pending, id)
            .await?;
        Some(Answered {
            reply: super::reply::decision(raw, client, &d, mschap),
            decision: d,
        })
    }

    /// Waits for the push's answer (or the timeout); the accept as decided, with the MFA step
    /// in its explanation, or the MFA step's reject.
    async fn push_decision(
        &self,
        verifier: &Arc<Verifier>,
        record: Attempt,
        primary: Decision,
        pending: Pending,
        id: i64,
    ) -> Option<Decision> {
        let (tx, rx) = oneshot::channel();
        if !self.full() {
            self.waiting.fetch_add(1, Ordering::SeqCst);
            self.held
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, tx);
            crate::metrics::global().mfa_pushes_pending(self.waiting.load(Ordering::SeqCst));
            let _ = tokio::time::timeout(self.config.timeout, rx).await;
            self.held
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            crate::metrics::global().mfa_pushes_pending(self.waiting.load(Ordering::SeqCst));
        }
        let (v, rec, p) = (Arc::clone(verifier), record, pending);
        let ended = tokio::task::spawn_blocking(move || v.mfa_push_end(&rec, &p, id)).await;
        let step = match ended {
            Ok(Ok(d)) => d,
            _ => return None,
        };
        crate::metrics::global().mfa(step.rule);
        Some(if step.accepted() {
            Decision {
                explanation: format!("{}; MFA: {}", primary.explanation, step.explanation),
                ..primary
            }
        } else {
            step
        })
    }

    /// After an inner accept in an EAP tunnel (PEAP, EAP-TTLS): no code prompt is possible,
    /// so a push or the extension's refusal. `None`: not decided (left unanswered).
    pub async fn after_tunnel_accept(
        &self,
        verifier: &Arc<Verifier>,
        record: Attempt,
        primary: Decision,
    ) -> Option<Decision> {
        let (v, cfg, rec, first) = (
            Arc::clone(verifier),
            self.config.clone(),
            record.clone(),
            primary.clone(),
        );
        let started = tokio::task::spawn_blocking(move || {
            v.mfa_start(&cfg, &rec, &first, FirstFactor::NoPrompt)
        })
        .await;
        match started {
            Ok(Ok(Start::Pass)) => Some(primary),
            Ok(Ok(Start::Reject(d))) => Some(*d),
            Ok(Ok(Start::Push(pending, id))) => {
                self.push_decision(verifier, record, primary, pending, id)
                    .await
            }
            // The rules never ask for a code after a first factor with no prompt.
            Ok(Ok(Start::Code(_))) | Ok(Err(_)) | Err(_) => None,
        }
    }

    /// Whether `raw` answers one of this node's code prompts (its State is a prompt's).
    pub fn answers_prompt(&self, raw: &RawPacket<'_>) -> bool {
        let Some(state) = raw
            .value(ATTR_STATE)
            .and_then(|v| <[u8; 16]>::try_from(v).ok())
        else {
            return false;
        };
        self.prompts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&state)
    }

    /// The request carrying the code: checked once (the prompt is used up), then Access-Accept
    /// without the policy's attributes (the extension does not forward them on this path) or
    /// Access-Reject. `None`: not a prompt of this node's (or from another NAS): dropped.
    pub async fn answer(
        &self,
        verifier: &Arc<Verifier>,
        raw: &RawPacket<'_>,
        client: &RadiusClientConfig,
        from: SocketAddr,
    ) -> Option<Answered> {
        let state: [u8; 16] = raw.value(ATTR_STATE)?.try_into().ok()?;
        let prompt = {
            let mut prompts = self.prompts.lock().unwrap_or_else(|e| e.into_inner());
            match prompts.get(&state) {
                Some(p) if p.nas == client.name => prompts.remove(&state),
                _ => None,
            }
        }?;
        let hidden = raw.value(ATTR_USER_PASSWORD).unwrap_or_default();
        let code = crate::protocol::radius_hiding::user_password(
            hidden,
            &client.secret,
            &raw.authenticator(),
        )
        .map(|c| String::from_utf8_lossy(&c).into_owned())
        .unwrap_or_default();
        let mut record = prompt.record;
        record.client = Some(from.ip());
        let (v, rec, pending) = (Arc::clone(verifier), record, prompt.pending);
        let checked = tokio::task::spawn_blocking(move || v.mfa_code(&rec, &pending, &code)).await;
        let step = match checked {
            Ok(Ok(d)) => d,
            _ => return None,
        };
        crate::metrics::global().mfa(step.rule);
        let d = if step.accepted() {
            Decision {
                explanation: format!("{}; MFA: {}", prompt.primary.explanation, step.explanation),
                authorization: None,
                ..prompt.primary
            }
        } else {
            step
        };
        Some(Answered {
            reply: super::reply::decision(raw, client, &d, None),
            decision: d,
        })
    }

    /// Wakes the held requests whose push was answered, and forgets (and records) prompts
    /// nobody answered in time. Run every `POLL` by one task per node.
    pub fn poll(&self, verifier: &Verifier) {
        let ids: Vec<i64> = self
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .copied()
            .collect();
        for id in ids {
            if let Ok(Some(_)) = verifier.mfa_push_answer(id) {
                if let Some(tx) = self
                    .held
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id)
                {
                    let _ = tx.send(());
                }
            }
        }
        let expired: Vec<Prompt> = {
            let mut prompts = self.prompts.lock().unwrap_or_else(|e| e.into_inner());
            let old: Vec<[u8; 16]> = prompts
                .iter()
                .filter(|(_, p)| p.asked.elapsed() >= self.config.timeout)
                .map(|(k, _)| *k)
                .collect();
            old.iter().filter_map(|k| prompts.remove(k)).collect()
        };
        for p in expired {
            crate::metrics::global().mfa("mfa.timeout");
            let _ = verifier.mfa_code_expired(&p.record, &p.pending);
        }
    }

    /// True once: for the socket task that runs the poller (the extension on).
    pub fn claim_poller(&self) -> bool {
        self.config.enabled && !self.poller.swap(true, Ordering::SeqCst)
    }

    pub fn poll_every(&self) -> Duration {
        POLL
    }
}

/// The sign-in as the MFA step records it: the attempt without its secret.
pub fn record_of(attempt: &Attempt) -> Attempt {
    Attempt {
        secret: Secret::new(Vec::new()),
        mschap: None,
        ..attempt.clone()
    }
}
