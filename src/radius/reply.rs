//! A decision written as RADIUS: Access-Accept with what the authorisation policies chose and,
//! for MS-CHAP, the success and keys; Access-Reject with the explanation as Reply-Message when
//! the client wants one and, for MS-CHAP, the error. Encoding only: the verifier decided.

use std::sync::Arc;

use crate::config::RadiusClientConfig;
use crate::decision::Decision;
use crate::protocol::radius_packet::{
    encode_reply, RawPacket, ACCESS_ACCEPT, ACCESS_REJECT, ATTR_REPLY_MESSAGE, ATTR_STATE,
};
use crate::verify::mschap::MsChap;

/// The octets answering `request` with decision `d` (`mschap`: the request's MS-CHAP proof and
/// identifier, when it asked by MS-CHAP).
pub fn decision(
    request: &RawPacket<'_>,
    client: &RadiusClientConfig,
    d: &Decision,
    mschap: Option<(&MsChap, u8)>,
) -> Arc<Vec<u8>> {
    let attrs = match (mschap, &d.mschap) {
        (Some((_, ident)), Some(ok)) if d.accepted() => super::mschap_attrs::accept_attributes(
            ok,
            ident,
            &client.secret,
            &request.authenticator(),
        ),
        (Some((proof, ident)), _) if !d.accepted() => {
            super::mschap_attrs::reject_attributes(proof, ident, d)
        }
        _ => Vec::new(),
    };
    answer(
        request,
        client,
        d.accepted(),
        Some(&d.explanation),
        d,
        attrs,
    )
}

/// The MFA extension's code prompt: Access-Challenge with its Reply-Message and the State the
/// answer must carry (RFC 2865 §4.4).
pub fn code_prompt(
    request: &RawPacket<'_>,
    client: &RadiusClientConfig,
    state: &[u8; 16],
) -> Arc<Vec<u8>> {
    let attrs = vec![
        (
            ATTR_REPLY_MESSAGE,
            b"Enter your Microsoft validation code".to_vec(),
        ),
        (ATTR_STATE, state.to_vec()),
    ];
    Arc::new(encode_reply(
        ACCESS_CHALLENGE,
        request,
        &attrs,
        &client.secret,
        true,
    ))
}

/// Access-Challenge (RFC 2865 §4.4).
pub const ACCESS_CHALLENGE: u8 = 11;

/// Access-Reject for a request refused before any decision (a method not allowed).
pub fn protocol_reject(
    request: &RawPacket<'_>,
    client: &RadiusClientConfig,
    why: &str,
) -> Arc<Vec<u8>> {
    let mut attrs = Vec::new();
    if client.reply_message {
        attrs.push((ATTR_REPLY_MESSAGE, why.as_bytes().to_vec()));
    }
    Arc::new(encode_reply(
        ACCESS_REJECT,
        request,
        &attrs,
        &client.secret,
        true,
    ))
}

fn answer(
    request: &RawPacket<'_>,
    client: &RadiusClientConfig,
    accepted: bool,
    message: Option<&str>,
    d: &Decision,
    mut attrs: Vec<(u8, Vec<u8>)>,
) -> Arc<Vec<u8>> {
    if let (false, true, Some(m)) = (accepted, client.reply_message, message) {
        attrs.push((ATTR_REPLY_MESSAGE, m.as_bytes().to_vec()));
    }
    // What the authorisation policies chose (accepts only; encoded at config load).
    if let (true, Some(a)) = (accepted, &d.authorization) {
        attrs.extend(a.reply.iter().map(|r| r.wire.clone()));
    }
    let code = if accepted {
        ACCESS_ACCEPT
    } else {
        ACCESS_REJECT
    };
    Arc::new(encode_reply(code, request, &attrs, &client.secret, true))
}
