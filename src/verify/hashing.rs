//! Argon2id hashing and the keyed tags that keep app-password checks to one Argon2 run.
//!
//! Every decision costs the same hash work whether the user exists or not: a missing hash is
//! replaced by a dummy hash made with the same parameters. These functions are blocking and
//! slow by design; the verifier only calls them on the bounded blocking pool.

use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::Rng;
use sha2::Sha256;

use super::argon2_memory::Argon2Memory;
use crate::runtime::admission::Permit;

/// `[hashing]`, validated.
#[derive(Debug, Clone, Copy)]
pub struct HashingConfig {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    pub max_concurrent: usize,
    /// A request that cannot start its hash work within this is dropped.
    pub max_wait: Duration,
    /// How long a verified secret is remembered; zero disables the cache.
    pub cache_ttl: Duration,
    pub cache_entries: u64,
    /// Keep the NT hash (MD4 of the UTF-16LE password) beside the Argon2 hash when a password
    /// is set, for MS-CHAP and MS-CHAPv2.
    pub store_nt_hash: bool,
}

pub use crate::secret::Secret;

pub struct Hasher {
    argon: Argon2<'static>,
    dummy: String,
    costs: CostRange,
    key: [u8; 32],
    verified: Option<VerifiedCache>,
    argon2_runs: std::sync::atomic::AtomicU64,
    store_nt_hash: bool,
    /// Argon2's working memory: no more runs at once than `max_concurrent`, one per buffer.
    memory: Argon2Memory,
}

/// The verified-secret cache (as Apache's mod_authnz_ldap and SSSD keep one): after Argon2
/// says that a secret matches a stored hash, that fact is remembered for `hashing.cache_ttl`,
/// keyed by an HMAC of the stored hash and the secret under a key made at start that never
/// leaves the process — never the secret itself. The stored hash is part of the key, so a
/// password reset, a password-hash-sync cycle or a deleted app password changes what is looked
/// up, and the next request verifies afresh. Only the hash comparison is skipped: every rule
/// still runs. Failures are never cached, and the dummy hash of an unknown user never matches,
/// so an unknown user always costs a full Argon2 run.
struct VerifiedCache {
    key: [u8; 32],
    entries: moka::sync::Cache<[u8; 32], ()>,
}

impl VerifiedCache {
    fn id(&self, phc: &str, secret: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(&(phc.len() as u64).to_be_bytes());
        mac.update(phc.as_bytes());
        mac.update(secret);
        mac.finalize().into_bytes().into()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(pub String);

/// How far a stored hash's cost may stray from the configured `[hashing]` parameters: a
/// quarter to four times the configured memory, and a quarter to four times the configured
/// work (memory × iterations, which is what Argon2's time follows), with at most 16 lanes.
/// An imported hash outside the range is refused at import (too weak: it would be the
/// directory's weakest secret; too costly: one sign-in naming it would hold a hashing slot
/// and gigabytes for as long as its author chose). At verification a hash above the range
/// is never run (a store written before this check may hold one): the secret is treated as
/// wrong, the decision says why, and the dummy hash runs instead so the answer takes the
/// usual time.
pub const COST_FACTOR: u64 = 4;
/// Argon2 lanes a stored hash may ask for (the configuration allows the same).
pub const MAX_PARALLELISM: u32 = 16;

/// The costs a stored Argon2 hash may have, from `[hashing]` and `COST_FACTOR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostRange {
    pub min_memory_kib: u64,
    pub max_memory_kib: u64,
    pub min_work: u64,
    pub max_work: u64,
}

/// A stored hash's cost as its PHC string records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    pub memory_kib: u64,
    pub iterations: u64,
    pub parallelism: u32,
}

impl CostRange {
    pub fn around(cfg: &HashingConfig) -> CostRange {
        let m = u64::from(cfg.memory_kib);
        let work = m * u64::from(cfg.iterations);
        CostRange {
            min_memory_kib: (m / COST_FACTOR).max(8),
            max_memory_kib: m * COST_FACTOR,
            min_work: (work / COST_FACTOR).max(8),
            max_work: work * COST_FACTOR,
        }
    }

    /// Why a hash of cost `c` is above the range, if it is.
    pub fn too_costly(&self, c: &Cost) -> Option<String> {
        if c.memory_kib > self.max_memory_kib {
            return Some(format!(
                "its memory cost m={} KiB is above the cap of {} KiB",
                c.memory_kib, self.max_memory_kib
            ));
        }
        if c.memory_kib * c.iterations > self.max_work {
            return Some(format!(
                "its work m×t={}×{} is above the cap of {}",
                c.memory_kib, c.iterations, self.max_work
            ));
        }
        if c.parallelism > MAX_PARALLELISM {
            return Some(format!(
                "it asks for {} lanes, above the cap of {MAX_PARALLELISM}",
                c.parallelism
            ));
        }
        None
    }

    /// Why a hash of cost `c` is outside the range (either way), if it is.
    pub fn outside(&self, c: &Cost) -> Option<String> {
        if let Some(why) = self.too_costly(c) {
            return Some(why);
        }
        if c.memory_kib < self.min_memory_kib {
            return Some(format!(
                "its memory cost m={} KiB is below the floor of {} KiB",
                c.memory_kib, self.min_memory_kib
            ));
        }
        if c.memory_kib * c.iterations < self.min_work {
            return Some(format!(
                "its work m×t={}×{} is below the floor of {}",
                c.memory_kib, c.iterations, self.min_work
            ));
        }
        None
    }

    /// The accepted range in words, for error messages.
    pub fn describe(&self) -> String {
        format!(
            "memory {}–{} KiB, memory × iterations {}–{}, at most {MAX_PARALLELISM} lanes: a quarter to four times the [hashing] parameters",
            self.min_memory_kib, self.max_memory_kib, self.min_work, self.max_work
        )
    }
}

/// The cost a PHC string records, when it is an Argon2 hash this server can run.
pub fn cost_of(phc: &str) -> Option<Cost> {
    let parsed = PasswordHash::new(phc).ok()?;
    Algorithm::try_from(parsed.algorithm).ok()?;
    let p = Params::try_from(&parsed).ok()?;
    Some(Cost {
        memory_kib: u64::from(p.m_cost()),
        iterations: u64::from(p.t_cost()),
        parallelism: p.p_cost(),
    })
}

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
        let verified = (!cfg.cache_ttl.is_zero()).then(|| {
            let mut key = [0u8; 32];
            OsRng.fill(&mut key);
            VerifiedCache {
                key,
                entries: moka::sync::Cache::builder()
                    .max_capacity(cfg.cache_entries)
                    .time_to_live(cfg.cache_ttl)
                    .build(),
            }
        });
        Ok(Hasher {
            argon,
            dummy,
            costs: CostRange::around(cfg),
            key,
            verified,
            argon2_runs: std::sync::atomic::AtomicU64::new(0),
            store_nt_hash: cfg.store_nt_hash,
            memory: Argon2Memory::new(cfg.max_concurrent),
        })
    }

    /// The NT hash (hex) to keep with a password being set, when `hashing.store_nt_hash` is
    /// on; `None` otherwise, which also clears an NT hash kept for an earlier password.
    pub fn nt_hash_for(&self, password: &[u8]) -> Option<String> {
        self.store_nt_hash
            .then(|| hex::encode(super::mschap::nt_hash(password)))
    }

    /// The costs a stored hash may have (see `COST_FACTOR`).
    pub fn cost_range(&self) -> CostRange {
        self.costs
    }

    /// Why a stored hash will not be run, if its cost is above the range: the decision's
    /// explanation names it. (`verify` treats such a hash as never matching.)
    pub fn refuses(&self, phc: &str) -> Option<String> {
        let why = self.costs.too_costly(&cost_of(phc)?)?;
        Some(format!(
            "the stored password hash was not run: {why} ([hashing] × {COST_FACTOR}); reset the password"
        ))
    }

    /// Whether the verified-secret cache is on.
    pub fn caches(&self) -> bool {
        self.verified.is_some()
    }

    /// How many Argon2 verifications this hasher has run (the cache's hits are not counted).
    pub fn argon2_runs(&self) -> u64 {
        self.argon2_runs.load(std::sync::atomic::Ordering::Relaxed)
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
        let cached = match (&self.verified, real) {
            (Some(c), true) => Some((c, c.id(phc, secret))),
            _ => None,
        };
        if let Some((c, id)) = &cached {
            if c.entries.contains_key(id) {
                crate::metrics::global().cache_hit();
                return true;
            }
        }
        if PROBE.with(|p| p.get()) {
            NEEDS_ARGON2.with(|n| n.set(true));
            return false;
        }
        self.argon2_runs
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        crate::metrics::global().argon2_run();
        tracing::trace!(cached = cached.is_some(), "argon2 verification");
        let ran = argon2_matches(phc, secret, &self.costs, &self.memory);
        if ran.is_none() {
            // Above the cost cap: the usual work instead, and never a match.
            argon2_matches(&self.dummy, secret, &self.costs, &self.memory);
        }
        give_back_slot();
        let Some(ok) = ran else {
            return false;
        };
        if let (true, true, Some((c, id))) = (ok, real, cached) {
            c.entries.insert(id, ());
        }
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

thread_local! {
    /// Set while a decision is only probing (see `Verifier::decide_ranked`): a verification
    /// the cache cannot answer is not run, and `NEEDS_ARGON2` records that one was needed.
    static PROBE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static NEEDS_ARGON2: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with verifications limited to the cache; returns its result and whether any
/// verification needed Argon2 (then `f`'s answer must be discarded).
pub fn probing<T>(f: impl FnOnce() -> T) -> (T, bool) {
    PROBE.with(|p| p.set(true));
    NEEDS_ARGON2.with(|n| n.set(false));
    let out = f();
    PROBE.with(|p| p.set(false));
    (out, NEEDS_ARGON2.with(|n| n.replace(false)))
}

thread_local! {
    /// The hashing slot of the decision running on this thread (see `holding_slot`).
    static SLOT: std::cell::RefCell<Option<Permit>> = const { std::cell::RefCell::new(None) };
}

/// Runs the decision `f` holding the hashing slot `slot` until its Argon2 run ends (or `f`
/// ends, or panics): the store writes that follow the hash do not keep the next admitted
/// decision from hashing. A second Argon2 run in the same decision waits for a free buffer
/// (`Argon2Memory`), so the memory bound holds either way.
pub fn holding_slot<T>(slot: Permit, f: impl FnOnce() -> T) -> T {
    struct Held;
    impl Drop for Held {
        fn drop(&mut self) {
            give_back_slot();
        }
    }
    SLOT.with(|s| *s.borrow_mut() = Some(slot));
    let _held = Held;
    f()
}

/// Gives this thread's hashing slot back, if it holds one.
fn give_back_slot() {
    // Taken out before it is dropped: the drop hands the slot to a waiter.
    let slot = SLOT.with(|s| s.borrow_mut().take());
    drop(slot);
}

/// Whether a verification in the current probe needed Argon2.
pub fn probe_needs_argon2() -> bool {
    PROBE.with(|p| p.get()) && NEEDS_ARGON2.with(|n| n.get())
}

/// Whether `secret` hashes to the PHC string `phc`, computed with the parameters, salt and
/// length the string records, in one of `memory`'s buffers (waiting for one to be free);
/// compared in constant time. `None` when the recorded cost is above `limits` (nothing was run).
fn argon2_matches(
    phc: &str,
    secret: &[u8],
    limits: &CostRange,
    memory: &Argon2Memory,
) -> Option<bool> {
    use subtle::ConstantTimeEq;
    let Ok(parsed) = PasswordHash::new(phc) else {
        return Some(false);
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Some(false);
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return Some(false);
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::V0x13,
        Some(Ok(v)) => v,
        Some(Err(_)) => return Some(false),
    };
    let Ok(recorded) = Params::try_from(&parsed) else {
        return Some(false);
    };
    let cost = Cost {
        memory_kib: u64::from(recorded.m_cost()),
        iterations: u64::from(recorded.t_cost()),
        parallelism: recorded.p_cost(),
    };
    if limits.too_costly(&cost).is_some() {
        return None;
    }
    let expected = expected.as_bytes();
    let Ok(params) = Params::new(
        recorded.m_cost(),
        recorded.t_cost(),
        recorded.p_cost(),
        Some(expected.len()),
    ) else {
        return Some(false);
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return Some(false);
    };
    let blocks = params.block_count();
    let argon = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    let computed = memory.with(blocks, |blocks| {
        argon.hash_password_into_with_memory(secret, salt, &mut out, blocks)
    });
    Some(computed.is_ok() && bool::from(out.ct_eq(expected)))
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

    fn hasher_with(cache_ttl: std::time::Duration) -> Hasher {
        let cfg = HashingConfig {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
            max_concurrent: 1,
            max_wait: std::time::Duration::from_secs(2),
            cache_ttl,
            cache_entries: 1000,
            store_nt_hash: false,
        };
        Hasher::new(&cfg, [7; 32]).unwrap()
    }

    fn hasher() -> Hasher {
        hasher_with(std::time::Duration::ZERO)
    }

    #[test]
    fn a_decision_gives_its_hashing_slot_back_when_its_argon2_run_ends() {
        use futures::FutureExt;
        let h = hasher();
        let phc = h.hash(b"Winter2026!").unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let _in = rt.enter();
        let slots = crate::runtime::admission::Admission::new(1, Duration::from_secs(2));
        let now = tokio::time::Instant::now;
        let permit = slots.admit(now()).now_or_never().flatten().unwrap();
        let free_after = holding_slot(permit, || {
            // Before the hash (the decision's reads), the slot is still held ...
            assert!(slots.admit(now()).now_or_never().is_none());
            assert!(!h.verify(Some(&phc), b"Winter2026?"));
            // ... after it (the decision's writes), another decision may take it.
            slots.admit(now()).now_or_never().flatten()
        });
        assert!(free_after.is_some());
        drop(free_after);
        // A decision that ends without an Argon2 run gives its slot back as it ends.
        let permit = slots.admit(now()).now_or_never().flatten().unwrap();
        holding_slot(permit, || ());
        assert!(slots.admit(now()).now_or_never().flatten().is_some());
    }

    #[test]
    fn a_verified_secret_skips_argon2_for_that_hash_only_and_failures_are_never_cached() {
        let h = hasher_with(std::time::Duration::from_secs(300));
        let phc = h.hash(b"Winter2026!").unwrap();
        assert!(h.verify(Some(&phc), b"Winter2026!"));
        assert_eq!(h.argon2_runs(), 1);
        assert!(h.verify(Some(&phc), b"Winter2026!"));
        assert_eq!(h.argon2_runs(), 1, "a hit costs no Argon2 run");
        // Another stored hash of the same password (a reset, a new sync): verified afresh.
        let again = h.hash(b"Winter2026!").unwrap();
        assert!(h.verify(Some(&again), b"Winter2026!"));
        assert_eq!(h.argon2_runs(), 2);
        // Wrong secrets run Argon2 every time.
        assert!(!h.verify(Some(&phc), b"wrong"));
        assert!(!h.verify(Some(&phc), b"wrong"));
        assert_eq!(h.argon2_runs(), 4);
        // An unknown user (the dummy hash) always costs a full run.
        assert!(!h.verify(None, b"Winter2026!"));
        assert!(!h.verify(None, b"Winter2026!"));
        assert_eq!(h.argon2_runs(), 6);
        // Disabled: every verification runs Argon2.
        let off = hasher();
        off.verify(Some(&phc), b"Winter2026!");
        off.verify(Some(&phc), b"Winter2026!");
        assert_eq!(off.argon2_runs(), 2);
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
    fn any_recorded_parameters_and_variant_are_honoured() {
        // A hash made elsewhere (argon2i, other costs, a 16-byte output) still verifies.
        let params = Params::new(32, 2, 1, Some(16)).unwrap();
        let other = Argon2::new(Algorithm::Argon2i, Version::V0x13, params);
        let phc = other
            .hash_password(b"Winter2026!", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(phc.starts_with("$argon2i$"));
        let any = CostRange {
            min_memory_kib: 8,
            max_memory_kib: 1024,
            min_work: 8,
            max_work: 1024,
        };
        let memory = Argon2Memory::new(1);
        assert_eq!(
            argon2_matches(&phc, b"Winter2026!", &any, &memory),
            Some(true)
        );
        assert_eq!(
            argon2_matches(&phc, b"Winter2026?", &any, &memory),
            Some(false)
        );
        assert_eq!(
            argon2_matches("$argon2id$garbage", b"Winter2026!", &any, &memory),
            Some(false)
        );
    }

    #[test]
    fn a_hash_above_the_cost_cap_is_never_run_and_never_matches() {
        let h = hasher(); // m=64, t=1: the range is m 16..256, work 16..256
        assert_eq!(
            h.cost_range(),
            CostRange {
                min_memory_kib: 16,
                max_memory_kib: 256,
                min_work: 16,
                max_work: 256
            }
        );
        let make = |m: u32, t: u32| {
            let params = Params::new(m, t, 1, None).unwrap();
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password(b"pw", &SaltString::generate(&mut OsRng))
                .unwrap()
                .to_string()
        };
        let costly = make(512, 1);
        assert!(h.refuses(&costly).unwrap().contains("m=512 KiB"));
        assert!(
            !h.verify(Some(&costly), b"pw"),
            "the right password, never run"
        );
        let slow = make(128, 4);
        assert!(h.refuses(&slow).unwrap().contains("128×4"));
        assert!(!h.verify(Some(&slow), b"pw"));
        let fine = make(128, 2);
        assert_eq!(h.refuses(&fine), None);
        assert!(h.verify(Some(&fine), b"pw"));
        // Too weak is outside the range (refused at import) but not refused at verification.
        let weak = make(8, 1);
        assert!(h.cost_range().outside(&cost_of(&weak).unwrap()).is_some());
        assert_eq!(h.refuses(&weak), None);
        // A hostile cost is refused from the PHC string alone: nothing is allocated.
        let hostile = "$argon2id$v=19$m=2097152,t=100000,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
        assert!(h.refuses(hostile).is_some());
        assert!(!h.verify(Some(hostile), b"pw"));
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
