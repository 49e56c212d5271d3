//! Argon2id hashing and the keyed tags that keep app-password checks to one Argon2 run.
//!
//! Every decision costs the same hash work whether the user exists or not: a missing hash is
//! replaced by a dummy hash made with the same parameters. These functions are blocking and
//! slow by design; the verifier only calls them on the bounded blocking pool.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::Rng;
use sha2::Sha256;

use crate::config::HashingConfig;

/// A secret as presented: bytes, because RADIUS passwords need not be UTF-8. Its Debug never
/// shows the content.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Secret {
        Secret(bytes.into())
    }
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

pub struct Hasher {
    argon: Argon2<'static>,
    dummy: String,
    key: [u8; 32],
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

impl Hasher {
    /// `key` is the store's random key, used for tags (not for password hashes).
    pub fn new(cfg: &HashingConfig, key: [u8; 32]) -> Result<Hasher, HashError> {
        let params = Params::new(cfg.memory_kib, cfg.iterations, cfg.parallelism, None)
            .map_err(|e| HashError(e.to_string()))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::generate(&mut OsRng);
        let dummy = argon
            .hash_password(b"hybridauth dummy password", &salt)
            .map_err(|e| HashError(e.to_string()))?
            .to_string();
        Ok(Hasher { argon, dummy, key })
    }

    pub fn hash(&self, secret: &[u8]) -> Result<String, HashError> {
        let salt = SaltString::generate(&mut OsRng);
        self.argon
            .hash_password(secret, &salt)
            .map(|h| h.to_string())
            .map_err(|e| HashError(e.to_string()))
    }

    /// Verifies `secret` against a PHC string, or against the dummy hash when there is none,
    /// so that the work done never reveals whether a hash existed.
    pub fn verify(&self, phc: Option<&str>, secret: &[u8]) -> bool {
        let (phc, real) = match phc {
            Some(p) => (p, true),
            None => (self.dummy.as_str(), false),
        };
        let ok = match PasswordHash::new(phc) {
            Ok(parsed) => self.argon.verify_password(secret, &parsed).is_ok(),
            Err(_) => false,
        };
        ok && real
    }

    fn mac(&self, parts: &[&[u8]]) -> Vec<u8> {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        for p in parts {
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p);
        }
        mac.finalize().into_bytes().to_vec()
    }

    /// A 16-bit keyed tag of an app password: enough to pick the one candidate to verify among
    /// a user's 40, too short to help anyone guess the 75-bit secret.
    pub fn app_password_tag(&self, normalized: &str) -> String {
        hex::encode(&self.mac(&[b"app-password-tag", normalized.as_bytes()])[..2])
    }
}

pub const APP_PASSWORD_LEN: usize = 16;

/// 16 lowercase letters from the OS CSPRNG, as customers report Entra's app passwords.
pub fn generate_app_password() -> String {
    let mut rng = OsRng;
    (0..APP_PASSWORD_LEN)
        .map(|_| (b'a' + rng.gen_range(0..26u8)) as char)
        .collect()
}

/// The canonical form of a presented app password: spaces and hyphens stripped (a documented
/// choice, as people copy them in groups), then exactly 16 lowercase letters or nothing.
pub fn normalize_app_password(secret: &[u8]) -> Option<String> {
    let kept: Vec<u8> = secret
        .iter()
        .copied()
        .filter(|b| *b != b' ' && *b != b'-')
        .collect();
    (kept.len() == APP_PASSWORD_LEN && kept.iter().all(u8::is_ascii_lowercase))
        .then(|| String::from_utf8_lossy(&kept).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> Hasher {
        let cfg = HashingConfig {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
            max_concurrent: 1,
        };
        Hasher::new(&cfg, [7; 32]).unwrap()
    }

    #[test]
    fn hash_then_verify() {
        let h = hasher();
        let phc = h.hash(b"Winter2026!").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(h.verify(Some(&phc), b"Winter2026!"));
        assert!(!h.verify(Some(&phc), b"winter2026!"));
    }

    #[test]
    fn the_dummy_hash_never_matches() {
        let h = hasher();
        assert!(!h.verify(None, b"hybridauth dummy password"));
    }

    #[test]
    fn generated_app_passwords_have_the_reported_format() {
        let p = generate_app_password();
        assert_eq!(p.len(), 16);
        assert!(p.bytes().all(|b| b.is_ascii_lowercase()));
        assert_ne!(p, generate_app_password());
    }

    #[test]
    fn grouped_app_password_input_is_normalized() {
        assert_eq!(
            normalize_app_password(b"abcd efgh-ijkl mnop").as_deref(),
            Some("abcdefghijklmnop")
        );
        assert_eq!(normalize_app_password(b"abcdefghijklmnoP"), None);
        assert_eq!(normalize_app_password(b"short"), None);
    }

    #[test]
    fn secrets_do_not_debug_print() {
        assert_eq!(
            format!("{:?}", Secret::new("hunter2")),
            "Secret(<redacted>)"
        );
    }
}
