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

#[cfg(test)]
mod tests {
    use super::*;

    /// The receiving side, written apart: each block's key comes from the ciphertext before it.
    fn reveal(hidden: &[u8], secret: &[u8], iv: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut prev = iv.to_vec();
        for block in hidden.chunks(16) {
            let key = Md5::new()
                .chain_update(secret)
                .chain_update(&prev)
                .finalize();
            out.extend(block.iter().zip(key.iter()).map(|(c, k)| c ^ k));
            prev = block.to_vec();
        }
        out
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
