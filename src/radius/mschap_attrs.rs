//! MS-CHAP and MS-CHAPv2 in RADIUS (RFC 2548 Microsoft vendor attributes): reading the
//! challenge and response into the verifier's `MsChap`, and writing what an answer carries —
//! MS-CHAP2-Success and the MPPE keys (encrypted with the shared secret, RFC 2548 §2.4.2-3)
//! in an Access-Accept, MS-CHAP-Error in an Access-Reject.

use rand::RngCore;

use crate::protocol::radius_packet::{RawPacket, ATTR_VENDOR_SPECIFIC};
use crate::verify::mschap::{challenge_user_name, MsChap, MsChapSuccess};
use crate::verify::Decision;

const MICROSOFT: u32 = 311;
const MS_CHAP_RESPONSE: u8 = 1;
const MS_CHAP_ERROR: u8 = 2;
const MS_MPPE_ENCRYPTION_POLICY: u8 = 7;
const MS_MPPE_ENCRYPTION_TYPES: u8 = 8;
const MS_CHAP_CHALLENGE: u8 = 11;
const MS_CHAP_MPPE_KEYS: u8 = 12;
const MS_MPPE_SEND_KEY: u8 = 16;
const MS_MPPE_RECV_KEY: u8 = 17;
const MS_CHAP2_RESPONSE: u8 = 25;
const MS_CHAP2_SUCCESS: u8 = 26;

/// The value of a Microsoft vendor attribute (the first, as RFC 2548 allows one of each).
fn microsoft<'a>(raw: &RawPacket<'a>, typ: u8) -> Option<&'a [u8]> {
    raw.attrs.iter().find_map(|(t, r)| {
        let v = &raw.bytes[r.clone()];
        if *t != ATTR_VENDOR_SPECIFIC || v.len() < 6 {
            return None;
        }
        let vendor = u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
        let len = v[5] as usize;
        (vendor == MICROSOFT && v[4] == typ && len >= 2 && 4 + len <= v.len())
            .then(|| &v[6..4 + len])
    })
}

/// Whether the request uses MS-CHAP (either version).
pub fn present(raw: &RawPacket<'_>) -> bool {
    microsoft(raw, MS_CHAP_RESPONSE).is_some() || microsoft(raw, MS_CHAP2_RESPONSE).is_some()
}

/// The proof an MS-CHAP request carries, with the identifier its answer must echo; an error
/// says what is wrong with it (a malformed proof is refused, not dropped: the NAS is real).
pub fn proof(raw: &RawPacket<'_>, user_name: &[u8]) -> Result<(MsChap, u8), String> {
    let challenge =
        microsoft(raw, MS_CHAP_CHALLENGE).ok_or("MS-CHAP response without MS-CHAP-Challenge")?;
    if let Some(r) = microsoft(raw, MS_CHAP2_RESPONSE) {
        // Ident, Flags, Peer-Challenge (16), Reserved (8), NT-Response (24).
        if r.len() != 50 {
            return Err(format!("MS-CHAP2-Response of {} octets, not 50", r.len()));
        }
        let authenticator_challenge: [u8; 16] = challenge.try_into().map_err(|_| {
            format!(
                "MS-CHAP-Challenge of {} octets, not 16 (MS-CHAPv2)",
                challenge.len()
            )
        })?;
        let mut peer_challenge = [0u8; 16];
        peer_challenge.copy_from_slice(&r[2..18]);
        let mut nt_response = [0u8; 24];
        nt_response.copy_from_slice(&r[26..50]);
        return Ok((
            MsChap::V2 {
                authenticator_challenge,
                peer_challenge,
                nt_response,
                user_name: challenge_user_name(user_name).to_vec(),
            },
            r[0],
        ));
    }
    let r = microsoft(raw, MS_CHAP_RESPONSE).ok_or("no MS-CHAP response")?;
    // Ident, Flags, LM-Response (24), NT-Response (24).
    if r.len() != 50 {
        return Err(format!("MS-CHAP-Response of {} octets, not 50", r.len()));
    }
    if r[1] & 1 == 0 {
        return Err("MS-CHAP with an LM response only: LAN Manager hashes are not kept".into());
    }
    let challenge: [u8; 8] = challenge.try_into().map_err(|_| {
        format!(
            "MS-CHAP-Challenge of {} octets, not 8 (MS-CHAP)",
            challenge.len()
        )
    })?;
    let mut nt_response = [0u8; 24];
    nt_response.copy_from_slice(&r[26..50]);
    Ok((
        MsChap::V1 {
            challenge,
            nt_response,
        },
        r[0],
    ))
}

fn vendor(typ: u8, data: &[u8]) -> (u8, Vec<u8>) {
    let mut v = MICROSOFT.to_be_bytes().to_vec();
    v.push(typ);
    v.push(data.len() as u8 + 2);
    v.extend_from_slice(data);
    (ATTR_VENDOR_SPECIFIC, v)
}

/// RFC 2548 §2.4.2: a key attribute's value — a 2-octet salt (high bit set, unique within the
/// packet), then the key's length, the key and zero padding to 16-octet blocks, each block
/// XORed with MD5(secret + request authenticator + salt), then MD5(secret + previous block).
fn encrypt_key(
    key: &[u8],
    salt: [u8; 2],
    secret: &[u8],
    request_authenticator: &[u8; 16],
) -> Vec<u8> {
    let mut plain = vec![key.len() as u8];
    plain.extend_from_slice(key);
    let iv = [request_authenticator.as_slice(), &salt].concat();
    let mut out = salt.to_vec();
    out.extend(crate::protocol::radius_hiding::hide(
        &plain, secret, &iv, false,
    ));
    out
}

/// RFC 2548 §2.4.1: MS-CHAP-MPPE-Keys is hidden as RFC 2865 hides User-Password.
fn hide_like_user_password(
    data: &[u8],
    secret: &[u8],
    request_authenticator: &[u8; 16],
) -> Vec<u8> {
    crate::protocol::radius_hiding::hide(data, secret, request_authenticator, false)
}

/// Two different salts with their high bit set.
fn salts() -> ([u8; 2], [u8; 2]) {
    let mut r = [0u8; 2];
    rand::thread_rng().fill_bytes(&mut r);
    let a = [r[0] | 0x80, r[1]];
    let b = [a[0], a[1] ^ 1];
    (a, b)
}

/// MS-MPPE-Recv-Key and MS-MPPE-Send-Key (RFC 2548 §2.4.2-3), each under its own salt: the
/// keys of an MS-CHAPv2 accept, or an EAP method's MSK halves.
pub fn mppe_keys(
    send: &[u8],
    recv: &[u8],
    secret: &[u8],
    request_authenticator: &[u8; 16],
) -> Vec<(u8, Vec<u8>)> {
    let (send_salt, recv_salt) = salts();
    vec![
        vendor(
            MS_MPPE_RECV_KEY,
            &encrypt_key(recv, recv_salt, secret, request_authenticator),
        ),
        vendor(
            MS_MPPE_SEND_KEY,
            &encrypt_key(send, send_salt, secret, request_authenticator),
        ),
    ]
}

/// What an MS-CHAP Access-Accept carries: MS-CHAP2-Success (v2), the MPPE keys, and MPPE
/// "encryption allowed, 40 or 128 bits" as FreeRADIUS sends by default.
pub fn accept_attributes(
    ok: &MsChapSuccess,
    ident: u8,
    secret: &[u8],
    request_authenticator: &[u8; 16],
) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    match &ok.authenticator_response {
        Some(s) => {
            let mut v = vec![ident];
            v.extend_from_slice(s.as_bytes());
            out.push(vendor(MS_CHAP2_SUCCESS, &v));
            out.extend(mppe_keys(
                &ok.send_key,
                &ok.recv_key,
                secret,
                request_authenticator,
            ));
        }
        None => {
            // LM key (8 octets; none kept) then the NT key, padded to 32 and hidden.
            let mut keys = vec![0u8; 8];
            keys.extend_from_slice(&ok.send_key);
            out.push(vendor(
                MS_CHAP_MPPE_KEYS,
                &hide_like_user_password(&keys, secret, request_authenticator),
            ));
        }
    }
    out.push(vendor(MS_MPPE_ENCRYPTION_POLICY, &1u32.to_be_bytes()));
    out.push(vendor(MS_MPPE_ENCRYPTION_TYPES, &6u32.to_be_bytes()));
    out
}

/// MS-CHAP-Error for an Access-Reject (RFC 2759 §6): the Windows error code the decision maps
/// to, no retry, and for v2 a fresh challenge and the version.
pub fn reject_attributes(proof: &MsChap, ident: u8, d: &Decision) -> Vec<(u8, Vec<u8>)> {
    let code = match d.rule {
        "onprem.disabled" | "onprem.locked-out" | "cloud.disabled" | "cloud.smart-lockout" => 647,
        "onprem.password-expired" | "onprem.must-change" => 648,
        _ => 691,
    };
    let text = match proof {
        MsChap::V1 { .. } => format!("E={code} R=0 V=1"),
        MsChap::V2 { .. } => {
            let mut c = [0u8; 16];
            rand::thread_rng().fill_bytes(&mut c);
            format!(
                "E={code} R=0 C={} V=3 M=Authentication failed",
                hex::encode_upper(c)
            )
        }
    };
    let mut v = vec![ident];
    v.extend_from_slice(text.as_bytes());
    vec![vendor(MS_CHAP_ERROR, &v)]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decrypting per RFC 2548 gives the key back: what a NAS does with it.
    #[test]
    fn an_encrypted_key_decrypts_to_the_key() {
        use md5::{Digest, Md5};
        let key = [7u8; 16];
        let auth = [3u8; 16];
        let enc = encrypt_key(&key, [0x81, 0x02], b"s3cret", &auth);
        assert_eq!(enc.len(), 2 + 32);
        let (salt, c) = enc.split_at(2);
        let mut prev: Vec<u8> = [auth.as_slice(), salt].concat();
        let mut plain = vec![];
        for block in c.chunks(16) {
            let mut h = Md5::new();
            h.update(b"s3cret");
            h.update(&prev);
            let b = h.finalize();
            plain.extend(block.iter().zip(b.iter()).map(|(x, k)| x ^ k));
            prev = block.to_vec();
        }
        assert_eq!(plain[0], 16);
        assert_eq!(&plain[1..17], &key);
    }
}
