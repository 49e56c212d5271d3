//! The seam between the tunnel driver (`mod.rs`: State, fragments, the TLS records, the
//! verifier, the outer EAP-Success or -Failure) and the tunnelled methods (`ttls_inner.rs`,
//! `peap_inner.rs`: which inner message answers which, and what to ask the verifier).
//!
//! A method's step is a plain function of the phase it waits in and the plaintext the tunnel
//! delivered; it returns what the driver does next. It never touches the verifier itself: it
//! asks for a verification and says, in `Then`, what an accept leads to. A reject always ends
//! the conversation with an Access-Reject, whichever method asked.

use crate::verify::mschap::MsChap;
use crate::verify::{Decision, Secret};

/// Where a conversation waits between two round trips.
#[derive(Debug)]
pub enum Phase {
    /// The TLS handshake (and, for PEAP, the wait for the client's acknowledgement).
    Tunnel,
    TtlsSuccessSent(Box<Decision>),
    PeapIdentitySent,
    PeapMsChapSent {
        challenge: [u8; 16],
        ms_id: u8,
    },
    PeapGtcSent,
    PeapMsChapSuccessSent(Box<Decision>),
    PeapResultSent(Box<Decision>),
}

/// What the driver does once a step (and its verification, if any) is over.
pub enum Next {
    /// Send `message` through the tunnel (`None`: only the next fragment of what the tunnel
    /// already holds) in an Access-Challenge, and wait in `phase`.
    Send {
        message: Option<Vec<u8>>,
        phase: Phase,
    },
    /// Access-Accept with EAP-Success and the keys.
    Succeed(Box<Decision>),
    /// Access-Reject for the inner decision.
    Reject(Box<Decision>),
    /// Access-Reject for a protocol failure, with why (logged, rate-limited).
    Fail(String),
}

/// What an accepted inner decision leads to.
pub type Then = Box<dyn FnOnce(Decision) -> Next + Send>;

/// A method's answer to one inner message.
pub enum InnerStep {
    Now(Next),
    /// Ask the verifier; on accept, go on with `then`; on reject, `Next::Reject`.
    Verify {
        login: String,
        secret: Secret,
        mschap: Option<MsChap>,
        then: Then,
    },
}

impl InnerStep {
    pub fn fail(why: impl Into<String>) -> InnerStep {
        InnerStep::Now(Next::Fail(why.into()))
    }

    pub fn send(message: Vec<u8>, phase: Phase) -> InnerStep {
        InnerStep::Now(Next::Send {
            message: Some(message),
            phase,
        })
    }
}

/// After an accepted MS-CHAPv2 decision: the method's success message carrying the
/// authenticator response, then `wait` for the client's acknowledgement. An accept without
/// MS-CHAP results (which the verifier does not give for an MS-CHAP attempt) is a reject.
pub fn after_mschap(
    d: Decision,
    success_message: impl FnOnce(&str) -> Vec<u8>,
    wait: fn(Box<Decision>) -> Phase,
) -> Next {
    let message = match &d.mschap {
        Some(ok) => success_message(ok.authenticator_response.as_deref().unwrap_or_default()),
        None => return Next::Reject(Box::new(d)),
    };
    Next::Send {
        message: Some(message),
        phase: wait(Box::new(d)),
    }
}
