//! PEAPv0 phase 2 as a sequence: the server leads — Identity, then an EAP-MSCHAPv2 challenge
//! (or EAP-GTC if the client Naks it), then the MS-CHAPv2 success and its acknowledgement,
//! then the Result TLV, and EAP-Success once the client's Result TLV says success too.

use rand::RngCore;

use super::inner::{after_mschap, InnerStep, Next, Phase};
use super::peap;
use crate::protocol::eap_packet::{
    TYPE_EXTENSIONS, TYPE_GTC, TYPE_IDENTITY, TYPE_MSCHAPV2, TYPE_NAK,
};
use crate::verify::mschap::{challenge_user_name, MsChap};
use crate::verify::Secret;

/// One inner response, `plain` as the tunnel delivered it; `id` is the outer EAP Identifier
/// the response came with.
pub fn step(phase: Phase, plain: &[u8], id: u8, inner_identity: &mut Option<String>) -> InnerStep {
    let next_id = id.wrapping_add(1);
    match (phase, peap::inner(plain)) {
        // The client acknowledged the end of the handshake: ask who is inside.
        (Phase::Tunnel, _) => InnerStep::send(peap::identity_request(), Phase::PeapIdentitySent),
        (Phase::PeapIdentitySent, Some((TYPE_IDENTITY, identity))) => {
            *inner_identity = Some(String::from_utf8_lossy(identity).into_owned());
            let mut challenge = [0u8; 16];
            rand::thread_rng().fill_bytes(&mut challenge);
            InnerStep::send(
                peap::mschapv2_challenge(id, &challenge),
                Phase::PeapMsChapSent {
                    challenge,
                    ms_id: id,
                },
            )
        }
        (Phase::PeapMsChapSent { .. }, Some((TYPE_NAK, wanted))) if wanted.contains(&TYPE_GTC) => {
            InnerStep::send(peap::gtc_request(), Phase::PeapGtcSent)
        }
        (Phase::PeapMsChapSent { challenge, ms_id }, Some((TYPE_MSCHAPV2, data))) => {
            mschap_response(challenge, ms_id, data, inner_identity.as_deref())
        }
        (Phase::PeapGtcSent, Some((TYPE_GTC, password))) => InnerStep::Verify {
            login: inner_identity.clone().unwrap_or_default(),
            secret: Secret::new(password.to_vec()),
            mschap: None,
            then: Box::new(move |d| Next::Send {
                message: Some(peap::result_tlv(next_id, true)),
                phase: Phase::PeapResultSent(Box::new(d)),
            }),
        },
        (Phase::PeapMsChapSuccessSent(d), Some((TYPE_MSCHAPV2, [peap::OP_SUCCESS, ..]))) => {
            InnerStep::send(peap::result_tlv(next_id, true), Phase::PeapResultSent(d))
        }
        (Phase::PeapResultSent(d), Some((TYPE_EXTENSIONS, tlv))) => {
            if peap::result_is_success(tlv) {
                InnerStep::Now(Next::Succeed(d))
            } else {
                InnerStep::fail("PEAP: the client reported failure in its Result TLV")
            }
        }
        (_, _) => InnerStep::fail("PEAP: an inner response out of order"),
    }
}

/// The client's EAP-MSCHAPv2 response to our challenge: verified; on accept, our success
/// message with the authenticator response.
fn mschap_response(
    challenge: [u8; 16],
    ms_id: u8,
    data: &[u8],
    inner_identity: Option<&str>,
) -> InnerStep {
    let r = match peap::mschapv2_response(data) {
        Ok(r) => r,
        Err(why) => return InnerStep::fail(format!("PEAP: {why}")),
    };
    let login = inner_identity
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(&r.name).into_owned());
    InnerStep::Verify {
        login,
        secret: Secret::new(Vec::new()),
        mschap: Some(MsChap::V2 {
            authenticator_challenge: challenge,
            peer_challenge: r.peer_challenge,
            nt_response: r.nt_response,
            user_name: challenge_user_name(&r.name).to_vec(),
        }),
        then: Box::new(move |d| {
            after_mschap(
                d,
                |auth| peap::mschapv2_success(ms_id, auth),
                Phase::PeapMsChapSuccessSent,
            )
        }),
    }
}
