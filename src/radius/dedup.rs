//! Duplicate detection (RFC 5080 §2.2.2). A request is identified by the client's address and
//! port, its Identifier and its Request Authenticator. A retransmission of a request still being
//! verified is dropped (the answer is on its way); one that arrives after the answer gets the
//! very same octets again for `window`, without a second verification or sign-in log entry.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moka::sync::Cache;

pub type Key = (SocketAddr, u8, [u8; 16]);

pub enum Seen {
    New,
    InFlight,
    Answered(Arc<Vec<u8>>),
}

pub struct Dedup {
    in_flight: Mutex<HashSet<Key>>,
    answered: Cache<Key, Arc<Vec<u8>>>,
    /// When requests that were shed under overload were first received, so that their
    /// retransmissions rank by their first transmission (see `admission`).
    shed: Cache<Key, tokio::time::Instant>,
}

impl Dedup {
    pub fn new(window: Duration) -> Dedup {
        Dedup {
            in_flight: Mutex::new(HashSet::new()),
            answered: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(window.max(Duration::from_millis(1)))
                .build(),
            shed: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(60))
                .build(),
        }
    }

    /// The request was shed: no answer, and its first arrival is remembered.
    pub fn shed(&self, key: Key, first_sent: tokio::time::Instant) {
        self.shed.insert(key, first_sent);
        self.finish(key, None);
    }

    /// When a request with this key was first received, if it was shed before.
    pub fn first_sent(&self, key: &Key) -> Option<tokio::time::Instant> {
        self.shed.get(key)
    }

    /// Classifies a request and, when it is new, marks it in flight.
    pub fn check(&self, key: Key) -> Seen {
        if let Some(ans) = self.answered.get(&key) {
            return Seen::Answered(ans);
        }
        let mut inflight = match self.in_flight.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if !inflight.insert(key) {
            return Seen::InFlight;
        }
        Seen::New
    }

    /// Records the answer (`None`: the request was dropped) and clears the in-flight mark.
    pub fn finish(&self, key: Key, answer: Option<Arc<Vec<u8>>>) {
        if let Some(a) = answer {
            self.answered.insert(key, a);
        }
        let mut inflight = match self.in_flight.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        inflight.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retransmissions_are_recognised() {
        let d = Dedup::new(Duration::from_secs(5));
        let k: Key = ("127.0.0.1:5000".parse().unwrap(), 1, [0; 16]);
        assert!(matches!(d.check(k), Seen::New));
        assert!(matches!(d.check(k), Seen::InFlight));
        d.finish(k, Some(Arc::new(vec![1, 2, 3])));
        assert!(matches!(d.check(k), Seen::Answered(a) if *a == vec![1, 2, 3]));
        let other: Key = (k.0, 1, [9; 16]);
        assert!(
            matches!(d.check(other), Seen::New),
            "same id, new authenticator: a new request"
        );
    }
}
