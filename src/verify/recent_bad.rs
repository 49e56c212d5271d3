//! Smart lockout's memory of a user's last wrong secrets (Entra does not count the same wrong
//! password twice). Kept in memory only, never in the store: a fingerprint of a wrong password
//! is usually a typo of the right one, and an offline dictionary over fingerprints keyed by a
//! key kept beside them would recover it. Here the key is made at start and never leaves the
//! process, and a fingerprint is forgotten after the smart-lockout duration (measured on the
//! decision clock, so a simulated clock jump forgets exactly as waiting would), on a successful
//! sign-in, and on an administrator's unlock in this process.
//!
//! Consequence, documented for operators: repeat detection is per process. `hybridauth check`
//! runs in a process of its own, so it does not see the daemon's recent wrong passwords.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::directory::model::add_saturating;
use crate::time::Time;

/// How many recent wrong secrets a user's memory holds (Entra: the last three).
const PER_USER: usize = 3;
/// Users remembered at once; beyond it expired memories are pruned, then the table is cleared
/// (which only ever makes a repeat count once more).
const MAX_USERS: usize = 100_000;

type Fingerprint = [u8; 32];

pub struct RecentBad {
    key: [u8; 32],
    users: Mutex<HashMap<i64, VecDeque<(Fingerprint, Time)>>>,
}

impl Default for RecentBad {
    fn default() -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        RecentBad {
            key,
            users: Mutex::new(HashMap::new()),
        }
    }
}

impl RecentBad {
    fn fingerprint(&self, user_id: i64, secret: &[u8]) -> Fingerprint {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(&user_id.to_be_bytes());
        mac.update(secret);
        mac.finalize().into_bytes().into()
    }

    /// Notes a wrong secret; true when it repeats one of the user's last three that has not
    /// expired (`remember` after it was seen).
    pub fn note(
        &self,
        user_id: i64,
        secret: &[u8],
        now: Time,
        remember: std::time::Duration,
    ) -> bool {
        let fp = self.fingerprint(user_id, secret);
        // A poisoned lock means a panic elsewhere mid-update of this table: keep using it.
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        if users.len() >= MAX_USERS && !users.contains_key(&user_id) {
            users.retain(|_, q| q.iter().any(|(_, at)| add_saturating(*at, remember) > now));
            if users.len() >= MAX_USERS {
                users.clear();
            }
        }
        let q = users.entry(user_id).or_default();
        q.retain(|(_, at)| add_saturating(*at, remember) > now && *at <= now);
        if q.iter().any(|(f, _)| *f == fp) {
            return true;
        }
        q.push_back((fp, now));
        while q.len() > PER_USER {
            q.pop_front();
        }
        false
    }

    pub fn forget(&self, user_id: i64) {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        users.remove(&user_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn t(s: &str) -> Time {
        crate::time::parse_time(s).unwrap()
    }

    #[test]
    fn a_repeat_within_the_window_is_recognised_and_forgotten_after_it() {
        let r = RecentBad::default();
        let w = Duration::from_secs(60);
        assert!(!r.note(1, b"typo1", t("2026-01-05T10:00:00Z"), w));
        assert!(r.note(1, b"typo1", t("2026-01-05T10:00:30Z"), w));
        // Another user's identical wrong password is not theirs.
        assert!(!r.note(2, b"typo1", t("2026-01-05T10:00:30Z"), w));
        assert!(!r.note(1, b"typo1", t("2026-01-05T10:01:00Z"), w));
    }

    #[test]
    fn only_the_last_three_are_remembered() {
        let r = RecentBad::default();
        let w = Duration::from_secs(600);
        let now = t("2026-01-05T10:00:00Z");
        for s in [b"a", b"b", b"c", b"d"] {
            assert!(!r.note(1, s, now, w));
        }
        assert!(!r.note(1, b"a", now, w));
        assert!(r.note(1, b"d", now, w));
        r.forget(1);
        assert!(!r.note(1, b"d", now, w));
    }
}
