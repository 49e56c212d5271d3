//! PEAPv0 phase 2: inner EAP packets without their header (except the Extensions packets that
//! carry the Result TLV), with EAP-MSCHAPv2 (draft-kamath-pppext-eap-mschapv2) and EAP-GTC.

use crate::protocol::eap_packet::{
    self as packet, TYPE_EXTENSIONS, TYPE_GTC, TYPE_IDENTITY, TYPE_MSCHAPV2,
};

pub const OP_CHALLENGE: u8 = 1;
pub const OP_RESPONSE: u8 = 2;
pub const OP_SUCCESS: u8 = 3;
pub const OP_FAILURE: u8 = 4;
/// The name the server gives in its MS-CHAPv2 challenge.
const SERVER_NAME: &[u8] = b"hybridauth";

/// An inner response: its type and data (the header PEAPv0 omits, or that Extensions keep).
pub fn inner(plain: &[u8]) -> Option<(u8, &[u8])> {
    // An Extensions response keeps its full EAP header.
    if plain.len() >= 5 && plain[0] == packet::RESPONSE && plain[4] == TYPE_EXTENSIONS {
        let e = packet::Eap::parse(plain).ok()?;
        return Some((TYPE_EXTENSIONS, e.data));
    }
    let (&typ, data) = plain.split_first()?;
    Some((typ, data))
}

pub fn identity_request() -> Vec<u8> {
    vec![TYPE_IDENTITY]
}

pub fn gtc_request() -> Vec<u8> {
    let mut v = vec![TYPE_GTC];
    v.extend_from_slice(b"Password");
    v
}

pub fn mschapv2_challenge(ms_id: u8, challenge: &[u8; 16]) -> Vec<u8> {
    let ms_len = (4 + 1 + 16 + SERVER_NAME.len()) as u16;
    let mut v = vec![TYPE_MSCHAPV2, OP_CHALLENGE, ms_id];
    v.extend_from_slice(&ms_len.to_be_bytes());
    v.push(16);
    v.extend_from_slice(challenge);
    v.extend_from_slice(SERVER_NAME);
    v
}

pub fn mschapv2_success(ms_id: u8, authenticator_response: &str) -> Vec<u8> {
    let msg = format!("{authenticator_response} M=Authentication succeeded");
    let ms_len = (4 + msg.len()) as u16;
    let mut v = vec![TYPE_MSCHAPV2, OP_SUCCESS, ms_id];
    v.extend_from_slice(&ms_len.to_be_bytes());
    v.extend_from_slice(msg.as_bytes());
    v
}

/// What a client's EAP-MSCHAPv2 Response carries.
pub struct MsChapV2Response {
    pub peer_challenge: [u8; 16],
    pub nt_response: [u8; 24],
    pub name: Vec<u8>,
}

pub fn mschapv2_response(data: &[u8]) -> Result<MsChapV2Response, String> {
    // OpCode, MS-CHAPv2-ID, MS-Length (2), Value-Size (49), Peer-Challenge (16), Reserved (8),
    // NT-Response (24), Flags, Name.
    if data.len() < 54 || data[0] != OP_RESPONSE || data[4] != 49 {
        return Err("not an EAP-MSCHAPv2 Response".into());
    }
    let mut peer = [0u8; 16];
    peer.copy_from_slice(&data[5..21]);
    let mut nt = [0u8; 24];
    nt.copy_from_slice(&data[29..53]);
    Ok(MsChapV2Response {
        peer_challenge: peer,
        nt_response: nt,
        name: data[54..].to_vec(),
    })
}

/// The Result TLV (Extensions, full EAP header): success or failure.
pub fn result_tlv(id: u8, success: bool) -> Vec<u8> {
    let status: u16 = if success { 1 } else { 2 };
    let mut tlv = vec![0x80, 0x03, 0x00, 0x02];
    tlv.extend_from_slice(&status.to_be_bytes());
    packet::encode(packet::REQUEST, id, Some(TYPE_EXTENSIONS), &tlv)
}

/// Whether an Extensions response reports success in its Result TLV.
pub fn result_is_success(data: &[u8]) -> bool {
    let mut d = data;
    while d.len() >= 4 {
        let typ = u16::from_be_bytes([d[0], d[1]]) & 0x3fff;
        let len = u16::from_be_bytes([d[2], d[3]]) as usize;
        if d.len() < 4 + len {
            return false;
        }
        if typ == 3 && len == 2 {
            return u16::from_be_bytes([d[4], d[5]]) == 1;
        }
        d = &d[4 + len..];
    }
    false
}
