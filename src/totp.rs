//! TOTP (RFC 6238 over RFC 4226's HOTP): six digits, 30-second steps, HMAC-SHA-1 — what
//! authenticator apps do with an `otpauth://totp/` URI that names nothing else. A code is
//! checked against the real time (a phone's clock, not the simulated one), one step either
//! side for clock drift; which step matched is returned so that the store can refuse the same
//! step twice.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;
use subtle::ConstantTimeEq;

pub const STEP_SECS: i64 = 30;
pub const DIGITS: usize = 6;
/// Steps either side of now a code may come from (RFC 6238 §5.2: one is the usual allowance).
pub const DRIFT_STEPS: i64 = 1;
/// 160 bits, the length RFC 4226 recommends for HMAC-SHA-1.
const SECRET_BYTES: usize = 20;

/// A new random secret.
pub fn new_secret() -> Vec<u8> {
    let mut s = vec![0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut s);
    s
}

/// The secret as authenticator apps take it (RFC 4648 base32, no padding).
pub fn to_base32(secret: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(secret)
}

pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    let clean: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    data_encoding::BASE32_NOPAD.decode(clean.as_bytes()).ok()
}

/// The time step of a Unix time.
pub fn step_at(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// The code of one step (RFC 4226 §5.3 dynamic truncation), zero-padded.
pub fn code(secret: &[u8], step: i64) -> String {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(&(step as u64).to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!(
        "{:0width$}",
        binary % 10u32.pow(DIGITS as u32),
        width = DIGITS
    )
}

/// The step, within `DRIFT_STEPS` of `now_step`, whose code `typed` is; compared in constant
/// time. Anything but six digits matches nothing.
pub fn matching_step(secret: &[u8], typed: &str, now_step: i64) -> Option<i64> {
    let typed = typed.trim();
    if typed.len() != DIGITS || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut found = None;
    for step in now_step - DRIFT_STEPS..=now_step + DRIFT_STEPS {
        if bool::from(code(secret, step).as_bytes().ct_eq(typed.as_bytes())) {
            found = found.or(Some(step));
        }
    }
    found
}

/// The `otpauth://` URI an authenticator app scans (Key Uri Format).
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let esc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        esc(issuer),
        esc(account),
        to_base32(secret),
        esc(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 rows (eight digits there; the last six here).
    #[test]
    fn rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (t, eight) in [
            (59, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ] {
            assert_eq!(code(secret, step_at(t)), eight[2..], "T = {t}");
        }
    }

    #[test]
    fn a_code_matches_one_step_either_side_and_nothing_else() {
        let s = new_secret();
        let now = step_at(1_700_000_000);
        for d in -1..=1 {
            assert_eq!(matching_step(&s, &code(&s, now + d), now), Some(now + d));
        }
        assert_eq!(matching_step(&s, &code(&s, now + 2), now), None);
        assert_eq!(matching_step(&s, "12345", now), None);
        assert_eq!(matching_step(&s, "abcdef", now), None);
        assert_eq!(from_base32(&to_base32(&s)), Some(s.clone()));
        let uri = otpauth_uri("hybridauth contoso.com", "alice@contoso.com", &s);
        assert!(
            uri.starts_with("otpauth://totp/hybridauth%20contoso.com:alice@contoso.com?secret=")
        );
    }
}
