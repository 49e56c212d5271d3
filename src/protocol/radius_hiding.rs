//! The MD5 chain RADIUS hides values with (RFC 2865 §5.2 for User-Password, RFC 2548 §2.4 for
//! MPPE keys): each 16-octet block is XORed with MD5(secret + previous ciphertext block), the
//! first "previous" being the request authenticator (with a salt appended, for RFC 2548).

use md5::{Digest, Md5};

/// Hides `plain`, zero-padded to a multiple of 16 octets (at least one block when `min_block`),
/// chaining from `iv`.
pub fn hide(plain: &[u8], secret: &[u8], iv: &[u8], min_block: bool) -> Vec<u8> {
    let mut padded = plain.to_vec();
    let blocks = padded.len().div_ceil(16).max(usize::from(min_block));
    padded.resize(blocks * 16, 0);
    let mut out = Vec::with_capacity(padded.len());
    let mut prev: &[u8] = iv;
    for (i, block) in padded.chunks(16).enumerate() {
        let mut h = Md5::new();
        h.update(secret);
        h.update(prev);
        let key = h.finalize();
        out.extend(block.iter().zip(key.iter()).map(|(p, k)| p ^ k));
        prev = &out[i * 16..];
    }
    out
}

/// The receiving side of `hide`: each block's key comes from the ciphertext block before it.
pub fn reveal(hidden: &[u8], secret: &[u8], iv: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hidden.len());
    let mut prev: &[u8] = iv;
    for block in hidden.chunks(16) {
        let key = Md5::new()
            .chain_update(secret)
            .chain_update(prev)
            .finalize();
        out.extend(block.iter().zip(key.iter()).map(|(c, k)| c ^ k));
        prev = block;
    }
    out
}

/// The cleartext of a request's User-Password attribute (RFC 2865 §5.2): `None` unless it is 16
/// to 128 octets. The padding is cut at the first NUL, as the `radius` crate cuts it (a NUL
/// cannot be part of a password a NAS sends). Read straight from the attribute: decoding the
/// whole packet for it cost an allocation per attribute on every request.
pub fn user_password(hidden: &[u8], secret: &[u8], authenticator: &[u8; 16]) -> Option<Vec<u8>> {
    if !(16..=128).contains(&hidden.len()) || secret.is_empty() {
        return None;
    }
    let mut clear = reveal(hidden, secret, authenticator);
    let end = clear.iter().position(|&b| b == 0).unwrap_or(clear.len());
    clear.truncate(end);
    Some(clear)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_password_reads_as_the_radius_crate_reads_it() {
        use radius::core::code::Code;
        use radius::core::packet::Packet;
        let secret = b"s3cret";
        for pw in [
            &b"x"[..],
            b"exactly-16-bytes",
            b"Winter2026! with a longer tail of text",
        ] {
            let mut req = Packet::new(Code::AccessRequest, secret);
            radius::core::rfc2865::add_user_password(&mut req, pw).unwrap();
            let wire = req.encode().unwrap();
            let decoded = Packet::decode(&wire, secret).unwrap();
            let theirs = radius::core::rfc2865::lookup_user_password(&decoded)
                .unwrap()
                .unwrap();
            let raw = crate::protocol::radius_packet::RawPacket::parse(&wire).unwrap();
            let hidden = raw.value(2).unwrap();
            let ours = user_password(hidden, secret, &raw.authenticator()).unwrap();
            assert_eq!(ours, theirs);
            assert_eq!(ours, pw);
        }
        assert_eq!(user_password(&[0u8; 15], secret, &[0; 16]), None);
        assert_eq!(user_password(&[0u8; 144], secret, &[0; 16]), None);
    }

    #[test]
    fn hidden_values_reveal_with_the_secret_and_are_padded_to_blocks() {
        let secret = b"s3cret";
        let auth = [7u8; 16];
        for pw in [
            &b"x"[..],
            b"exactly-16-bytes",
            b"a password longer than sixteen octets",
        ] {
            let hidden = hide(pw, secret, &auth, true);
            assert_eq!(hidden.len(), pw.len().div_ceil(16) * 16);
            assert_ne!(&hidden[..pw.len()], pw);
            let got = reveal(&hidden, secret, &auth);
            assert_eq!(&got[..pw.len()], pw);
            assert!(got[pw.len()..].iter().all(|&b| b == 0));
            assert_ne!(reveal(&hidden, b"other", &auth)[..pw.len()], pw[..]);
        }
        assert_eq!(hide(b"", secret, &auth, true).len(), 16);
        assert!(hide(b"", secret, &auth, false).is_empty());
    }
}
