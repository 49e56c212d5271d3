//! An Access-Request read into what the verifier decides on: the login, the secret (the
//! User-Password unhidden, or an MS-CHAP proof), the client it came through. Translation only:
//! nothing here decides; a request hybridauth cannot read is said to be so, with why.

use std::net::SocketAddr;

use crate::config::RadiusClientConfig;
use crate::decision::{Attempt, Door};
use crate::protocol::radius_packet::{RawPacket, ATTR_USER_PASSWORD};
use crate::secret::Secret;
use crate::verify::mschap::MsChap;

/// What an Access-Request (not EAP) asks for.
pub enum Request {
    /// A sign-in to decide; with MS-CHAP, the proof's identifier for the reply's attributes.
    SignIn {
        attempt: Attempt,
        mschap_ident: Option<u8>,
    },
    /// A method hybridauth does not serve, or an MS-CHAP request it cannot read: answered with
    /// Access-Reject (NPS reason 66) and recorded, as the NAS is a known client.
    MethodNotAllowed { attempt: Attempt, why: String },
    /// A User-Password that does not unhide: dropped.
    Undecodable,
}

/// Reads `raw` from `client` at `from`.
pub fn read(raw: &RawPacket<'_>, client: &RadiusClientConfig, from: SocketAddr) -> Request {
    let login = raw
        .value(radius::core::rfc2865::USER_NAME_TYPE)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default();
    let attempt = Attempt {
        endpoint: client.endpoint,
        door: Door::Radius,
        client: Some(from.ip()),
        login,
        secret: Secret::new(Vec::new()),
        now: None,
        // `serve --debug` shows every rule evaluated.
        trace: tracing::enabled!(tracing::Level::DEBUG),
        nas: Some(client.name.clone()),
        mschap: None,
        outer_identity: None,
    };
    let uses_mschap = super::mschap_attrs::present(raw);
    let method = raw
        .unsupported_method()
        .map(|m| format!("{m} is not supported, only PAP, MS-CHAP and MS-CHAPv2"))
        .or(match (raw.has(ATTR_USER_PASSWORD), uses_mschap) {
            (true, true) => Some("both User-Password and an MS-CHAP response".into()),
            (false, false) => Some("no User-Password and no MS-CHAP response".into()),
            _ => None,
        });
    if let Some(m) = method {
        let why = format!("authentication method not allowed: {m}");
        return Request::MethodNotAllowed { attempt, why };
    }
    if uses_mschap {
        return match super::mschap_attrs::proof(raw, attempt.login.as_bytes()) {
            Ok((proof, ident)) => Request::SignIn {
                attempt: with_proof(attempt, proof),
                mschap_ident: Some(ident),
            },
            Err(e) => Request::MethodNotAllowed {
                attempt,
                why: format!("unreadable MS-CHAP request: {e}"),
            },
        };
    }
    let hidden = raw.value(ATTR_USER_PASSWORD).unwrap_or_default();
    match crate::protocol::radius_hiding::user_password(
        hidden,
        &client.secret,
        &raw.authenticator(),
    ) {
        Some(password) => Request::SignIn {
            attempt: Attempt {
                secret: Secret::new(password),
                ..attempt
            },
            mschap_ident: None,
        },
        None => Request::Undecodable,
    }
}

fn with_proof(attempt: Attempt, proof: MsChap) -> Attempt {
    Attempt {
        mschap: Some(proof),
        ..attempt
    }
}
