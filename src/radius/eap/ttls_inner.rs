//! EAP-TTLS phase 2 as a sequence (RFC 5281): the client's AVPs carry its credentials at
//! once — User-Password (PAP: decided, then EAP-Success) or MS-CHAP2-Response (decided, then
//! the MS-CHAP2-Success AVP, then EAP-Success once the client acknowledges it).

use super::inner::{after_mschap, InnerStep, Next, Phase};
use super::ttls;
use super::tunnel::Tunnel;
use crate::verify::mschap::{challenge_user_name, MsChap};
use crate::verify::Secret;

/// One phase-2 message, `plain` as the tunnel delivered it (empty: an acknowledgement).
pub fn step(
    phase: Phase,
    plain: &[u8],
    tunnel: &Tunnel,
    inner_identity: &mut Option<String>,
) -> InnerStep {
    if let Phase::TtlsSuccessSent(d) = phase {
        return InnerStep::Now(Next::Succeed(d));
    }
    if plain.is_empty() {
        return InnerStep::Now(Next::Send {
            message: None,
            phase,
        });
    }
    let avps = match ttls::parse(plain) {
        Ok(a) => a,
        Err(why) => return InnerStep::fail(format!("EAP-TTLS phase 2: {why}")),
    };
    if avps.eap {
        return InnerStep::fail(
            "EAP-TTLS with an inner EAP method is not supported: use inner PAP or MS-CHAPv2",
        );
    }
    let Some(user) = avps.user_name.as_deref() else {
        return InnerStep::fail("EAP-TTLS phase 2 without a User-Name");
    };
    let login = String::from_utf8_lossy(user).into_owned();
    *inner_identity = Some(login.clone());
    if let Some(password) = avps.password {
        return InnerStep::Verify {
            login,
            secret: Secret::new(password),
            mschap: None,
            then: Box::new(|d| Next::Succeed(Box::new(d))),
        };
    }
    let (Some(ch), Some(resp)) = (avps.ms_chap_challenge, avps.ms_chap2_response) else {
        return InnerStep::fail(
            "EAP-TTLS phase 2 with neither User-Password nor MS-CHAP2-Response",
        );
    };
    let proof = match mschap_proof(tunnel, user, &ch, &resp) {
        Ok(p) => p,
        Err(why) => return InnerStep::fail(why),
    };
    let ident = resp[0];
    InnerStep::Verify {
        login,
        secret: Secret::new(Vec::new()),
        mschap: Some(proof),
        then: Box::new(move |d| {
            after_mschap(
                d,
                |auth| ttls::ms_chap2_success(ident, auth),
                Phase::TtlsSuccessSent,
            )
        }),
    }
}

/// The MS-CHAPv2 proof in the AVPs, once its challenge is checked against the tunnel's. RFC
/// 5281 §11.2.4: the challenge and identifier come from the tunnel's keys, so a response
/// cannot be replayed from elsewhere.
fn mschap_proof(tunnel: &Tunnel, user: &[u8], ch: &[u8], resp: &[u8]) -> Result<MsChap, String> {
    let expected = tunnel.export(b"ttls challenge", 17)?;
    if resp.len() != 50 || ch.len() != 16 || ch[..] != expected[..16] || resp[0] != expected[16] {
        return Err("EAP-TTLS MS-CHAPv2: the challenge is not the tunnel's".into());
    }
    let mut authenticator_challenge = [0u8; 16];
    authenticator_challenge.copy_from_slice(ch);
    let mut peer_challenge = [0u8; 16];
    peer_challenge.copy_from_slice(&resp[2..18]);
    let mut nt_response = [0u8; 24];
    nt_response.copy_from_slice(&resp[26..50]);
    Ok(MsChap::V2 {
        authenticator_challenge,
        peer_challenge,
        nt_response,
        user_name: challenge_user_name(user).to_vec(),
    })
}
