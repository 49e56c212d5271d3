//! MS-CHAP (RFC 2433) and MS-CHAPv2 (RFC 2759) proofs, checked against the NT hash, and the
//! MPPE keys an accept carries (RFC 3079). Packets are not known here: a front door hands over
//! the challenge and response octets and gets back whether they prove the password, with what
//! the reply needs (the authenticator response, the session keys).
//!
//! The NT hash is MD4 over the UTF-16LE password: what Active Directory keeps for every account.
//! hybridauth stores it only with `hashing.store_nt_hash = true` (docs/model.md §11).

use des::cipher::{BlockEncrypt, KeyInit};
use md4::{Digest, Md4};
use sha1::Sha1;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// What the client sent to prove it knows the password.
#[derive(Clone, PartialEq, Eq)]
pub enum MsChap {
    /// RFC 2433: the server's 8-octet challenge and the 24-octet NT-Response.
    V1 {
        challenge: [u8; 8],
        nt_response: [u8; 24],
    },
    /// RFC 2759: the authenticator (server) challenge, the peer challenge, the NT-Response and
    /// the user name the client hashed (without any `DOMAIN\`).
    V2 {
        authenticator_challenge: [u8; 16],
        peer_challenge: [u8; 16],
        nt_response: [u8; 24],
        user_name: Vec<u8>,
    },
}

impl std::fmt::Debug for MsChap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MsChap::V1 { .. } => f.write_str("MsChap::V1(<challenge-response>)"),
            MsChap::V2 { .. } => f.write_str("MsChap::V2(<challenge-response>)"),
        }
    }
}

impl MsChap {
    pub fn name(&self) -> &'static str {
        match self {
            MsChap::V1 { .. } => "MS-CHAP",
            MsChap::V2 { .. } => "MS-CHAPv2",
        }
    }
}

/// What a proven MS-CHAP sign-in gives the front door for its accept.
#[derive(Clone, PartialEq, Eq)]
pub struct MsChapSuccess {
    /// MS-CHAPv2: `S=` and 40 hex digits (RFC 2759 §8.7), proving the server knew the hash.
    pub authenticator_response: Option<String>,
    /// MPPE keys, from the server's side: MS-MPPE-Send-Key and MS-MPPE-Recv-Key (v2), or the
    /// MS-CHAP-MPPE-Keys block (v1: 8 octets of LM key, here zero, and the 16-octet NT key).
    pub send_key: [u8; 16],
    pub recv_key: [u8; 16],
}

impl std::fmt::Debug for MsChapSuccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MsChapSuccess(<keys>)")
    }
}

impl Drop for MsChapSuccess {
    fn drop(&mut self) {
        self.send_key.zeroize();
        self.recv_key.zeroize();
    }
}

/// MD4 over the UTF-16LE password (RFC 2759 §8.3 NtPasswordHash).
pub fn nt_hash(password: &[u8]) -> [u8; 16] {
    let text = String::from_utf8_lossy(password);
    let mut unicode: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let h: [u8; 16] = Md4::digest(&unicode).into();
    unicode.zeroize();
    h
}

fn md4(data: &[u8]) -> [u8; 16] {
    Md4::digest(data).into()
}

/// Seven key octets spread over eight, one parity bit each (DES ignores parity).
fn des_key(k: &[u8]) -> [u8; 8] {
    [
        k[0],
        (k[0] << 7) | (k[1] >> 1),
        (k[1] << 6) | (k[2] >> 2),
        (k[2] << 5) | (k[3] >> 3),
        (k[3] << 4) | (k[4] >> 4),
        (k[4] << 3) | (k[5] >> 5),
        (k[5] << 2) | (k[6] >> 6),
        k[6] << 1,
    ]
}

/// RFC 2759 §8.5 ChallengeResponse: the hash, zero-padded to 21 octets, keys three DES
/// encryptions of the 8-octet challenge.
fn challenge_response(challenge: &[u8; 8], hash: &[u8; 16]) -> [u8; 24] {
    let mut z = [0u8; 21];
    z[..16].copy_from_slice(hash);
    let mut out = [0u8; 24];
    for i in 0..3 {
        let key = des_key(&z[i * 7..i * 7 + 7]);
        let cipher = des::Des::new(&key.into());
        let mut block = (*challenge).into();
        cipher.encrypt_block(&mut block);
        out[i * 8..i * 8 + 8].copy_from_slice(&block);
    }
    z.zeroize();
    out
}

/// RFC 2759 §8.2 ChallengeHash.
fn challenge_hash(peer: &[u8; 16], authenticator: &[u8; 16], user: &[u8]) -> [u8; 8] {
    let mut h = Sha1::new();
    h.update(peer);
    h.update(authenticator);
    h.update(user);
    let d = h.finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&d[..8]);
    out
}

/// The NT-Response a client sends for `hash` (RFC 2759 §8.1 GenerateNTResponse; v1 uses the
/// server's challenge directly).
pub fn nt_response(proof: &MsChap, hash: &[u8; 16]) -> [u8; 24] {
    match proof {
        MsChap::V1 { challenge, .. } => challenge_response(challenge, hash),
        MsChap::V2 {
            authenticator_challenge,
            peer_challenge,
            user_name,
            ..
        } => challenge_response(
            &challenge_hash(peer_challenge, authenticator_challenge, user_name),
            hash,
        ),
    }
}

const MAGIC1: &[u8] = b"Magic server to client signing constant";
const MAGIC2: &[u8] = b"Pad to make it do more than one iteration";

/// RFC 2759 §8.7 GenerateAuthenticatorResponse.
fn authenticator_response(
    hash_hash: &[u8; 16],
    nt_response: &[u8; 24],
    peer: &[u8; 16],
    authenticator: &[u8; 16],
    user: &[u8],
) -> String {
    let mut h = Sha1::new();
    h.update(hash_hash);
    h.update(nt_response);
    h.update(MAGIC1);
    let digest = h.finalize();
    let mut h = Sha1::new();
    h.update(digest);
    h.update(challenge_hash(peer, authenticator, user));
    h.update(MAGIC2);
    format!("S={}", hex::encode_upper(h.finalize()))
}

const MPPE_MASTER: &[u8] = b"This is the MPPE Master Key";
/// RFC 3079 §3.4: Magic2 is the server's receive key, Magic3 its send key.
const MPPE_SERVER_RECV: &[u8] =
    b"On the client side, this is the send key; on the server side, it is the receive key.";
const MPPE_SERVER_SEND: &[u8] =
    b"On the client side, this is the receive key; on the server side, it is the send key.";

fn start_key(master: &[u8; 16], magic: &[u8]) -> [u8; 16] {
    let mut h = Sha1::new();
    h.update(master);
    h.update([0u8; 40]);
    h.update(magic);
    h.update([0xf2u8; 40]);
    let d = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&d[..16]);
    out
}

/// Checks `proof` against the stored NT hash; on success, what the accept carries.
/// The comparison takes constant time.
pub fn verify(proof: &MsChap, hash: &[u8; 16]) -> Option<MsChapSuccess> {
    let (sent, expected) = match proof {
        MsChap::V1 { nt_response, .. } | MsChap::V2 { nt_response, .. } => {
            (nt_response, self::nt_response(proof, hash))
        }
    };
    if !bool::from(sent.ct_eq(&expected)) {
        return None;
    }
    let hash_hash = md4(hash);
    Some(match proof {
        MsChap::V1 { .. } => MsChapSuccess {
            authenticator_response: None,
            // RFC 2548 §2.4.1 MS-CHAP-MPPE-Keys: LM key (none kept: zero) and NT key.
            send_key: hash_hash,
            recv_key: [0; 16],
        },
        MsChap::V2 {
            authenticator_challenge,
            peer_challenge,
            nt_response,
            user_name,
        } => {
            let mut h = Sha1::new();
            h.update(hash_hash);
            h.update(nt_response);
            h.update(MPPE_MASTER);
            let mut master = [0u8; 16];
            master.copy_from_slice(&h.finalize()[..16]);
            let out = MsChapSuccess {
                authenticator_response: Some(authenticator_response(
                    &hash_hash,
                    nt_response,
                    peer_challenge,
                    authenticator_challenge,
                    user_name,
                )),
                send_key: start_key(&master, MPPE_SERVER_SEND),
                recv_key: start_key(&master, MPPE_SERVER_RECV),
            };
            master.zeroize();
            out
        }
    })
}

/// The user name MS-CHAPv2 hashes: the account part of `DOMAIN\user` (Windows clients hash
/// the name without its domain; FreeRADIUS calls this `with_ntdomain_hack`).
pub fn challenge_user_name(login: &[u8]) -> &[u8] {
    match login.iter().rposition(|&b| b == b'\\') {
        Some(i) => &login[i + 1..],
        None => login,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h<const N: usize>(s: &str) -> [u8; N] {
        hex::decode(s.replace(' ', "")).unwrap().try_into().unwrap()
    }

    /// RFC 2759 §9.2 and RFC 3079 §3.5.3 (the 128-bit sample).
    #[test]
    fn rfc_2759_and_3079_sample_values() {
        let hash = nt_hash(b"clientPass");
        assert_eq!(hash, h::<16>("44EBBA8D5312B8D611474411F56989AE"));
        let proof = MsChap::V2 {
            authenticator_challenge: h("5B5D7C7D7B3F2F3E3C2C602132262628"),
            peer_challenge: h("21402324255E262A28295F2B3A337C7E"),
            nt_response: h("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF"),
            user_name: b"User".to_vec(),
        };
        assert_eq!(
            nt_response(&proof, &hash),
            h::<24>("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")
        );
        let ok = verify(&proof, &hash).expect("the sample response proves the password");
        assert_eq!(
            ok.authenticator_response.as_deref(),
            Some("S=407A5589115FD0D6209F510FE9C04566932CDA56")
        );
        // The server's send key is the RFC's SendStartKey128.
        assert_eq!(ok.send_key, h::<16>("8B7CDC149B993A1BA118CB153F56DCCB"));
        assert_eq!(ok.recv_key, h::<16>("D5F0E9521E3EA9589645E86051C82226"));
        assert!(verify(&proof, &nt_hash(b"clientPasS")).is_none());
    }

    /// RFC 2433 Appendix B.2 ("MyPw", challenge 102DB5DF085D3041).
    #[test]
    fn rfc_2433_sample_values() {
        let hash = nt_hash(b"MyPw");
        assert_eq!(hash, h::<16>("FC156AF7EDCD6C0EDDE3337D427F4EAC"));
        let proof = MsChap::V1 {
            challenge: h("102DB5DF085D3041"),
            nt_response: h("4E9D3C8F9CFD385D5BF4D3246791956CA4C351AB409A3D61"),
        };
        assert_eq!(
            nt_response(&proof, &hash),
            h::<24>("4E9D3C8F9CFD385D5BF4D3246791956CA4C351AB409A3D61")
        );
        let ok = verify(&proof, &hash).unwrap();
        assert_eq!(ok.send_key, md4(&hash));
    }

    #[test]
    fn the_domain_is_not_part_of_the_hashed_name() {
        assert_eq!(challenge_user_name(b"CONTOSO\\alice"), b"alice");
        assert_eq!(
            challenge_user_name(b"alice@contoso.com"),
            b"alice@contoso.com"
        );
    }
}
