//! Duplicate detection (RFC 5080 §2.2.2). A request is identified by the client's address and
//! port, its Identifier and its Request Authenticator. A retransmission of a request still being
//! verified is dropped (the answer is on its way); one that arrives after the answer gets the
//! very same octets again for `window`, without a second verification or sign-in log entry.
//!
//! Every request passes here twice (check, finish), so this is one short-held mutex over plain
//! hash tables: a general-purpose concurrent cache (moka) cost several per cent of a warm
//! request's CPU time in profiles, for bookkeeping this table does with two queues. Every entry
//! of a kind lives equally long, so each kind's queue is in expiry order: expired entries are
//! dropped from its front as requests pass, and a full table drops its oldest answer first.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub type Key = (SocketAddr, u8, [u8; 16]);

pub enum Seen {
    New,
    InFlight,
    Answered(Arc<Vec<u8>>),
}

/// Answers kept for retransmissions, and shed requests remembered, at most (each).
const CAPACITY: usize = 100_000;

/// How long a shed request's first arrival is remembered (longer than any NAS retries).
const SHED_MEMORY: Duration = Duration::from_secs(60);

/// Entries of one kind, by key, with their insertion (so expiry) order.
struct Timed<V> {
    live: Duration,
    by_key: HashMap<Key, Entry<V>>,
    /// (expiry, insertion number, key), oldest first; a key replaced later has a later pair,
    /// and only the pair with the entry's own insertion number removes it.
    order: VecDeque<(Instant, u64, Key)>,
    inserted: u64,
}

struct Entry<V> {
    value: V,
    until: Instant,
    seq: u64,
}

impl<V: Clone> Timed<V> {
    fn new(live: Duration) -> Timed<V> {
        Timed {
            live,
            by_key: HashMap::new(),
            order: VecDeque::new(),
            inserted: 0,
        }
    }

    fn get(&self, key: &Key, now: Instant) -> Option<V> {
        match self.by_key.get(key) {
            Some(e) if e.until > now => Some(e.value.clone()),
            _ => None,
        }
    }

    fn insert(&mut self, key: Key, value: V, now: Instant) {
        let until = now + self.live;
        self.inserted += 1;
        let seq = self.inserted;
        self.by_key.insert(key, Entry { value, until, seq });
        self.order.push_back((until, seq, key));
        while self.by_key.len() > CAPACITY {
            self.pop_oldest();
        }
    }

    /// Drops what expired by `now`.
    fn expire(&mut self, now: Instant) {
        while self
            .order
            .front()
            .is_some_and(|(until, _, _)| *until <= now)
        {
            self.pop_oldest();
        }
        // Replaced keys leave stale pairs behind; never let them outgrow the table.
        if self.order.len() > 2 * CAPACITY {
            let by_key = &self.by_key;
            self.order
                .retain(|(_, seq, k)| by_key.get(k).is_some_and(|e| e.seq == *seq));
        }
    }

    fn pop_oldest(&mut self) {
        if let Some((_, seq, key)) = self.order.pop_front() {
            if self.by_key.get(&key).is_some_and(|e| e.seq == seq) {
                self.by_key.remove(&key);
            }
        }
    }
}

struct Table {
    in_flight: HashSet<Key>,
    answered: Timed<Arc<Vec<u8>>>,
    /// When requests that were shed under overload were first received, so that their
    /// retransmissions rank by their first transmission (see `admission`).
    shed: Timed<tokio::time::Instant>,
}

pub struct Dedup {
    table: Mutex<Table>,
}

impl Dedup {
    pub fn new(window: Duration) -> Dedup {
        Dedup {
            table: Mutex::new(Table {
                in_flight: HashSet::new(),
                answered: Timed::new(window),
                shed: Timed::new(SHED_MEMORY),
            }),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        // Nothing here can panic half-way through a change that matters: keep serving.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The request was shed: no answer, and its first arrival is remembered.
    pub fn shed(&self, key: Key, first_sent: tokio::time::Instant) {
        let mut t = self.table();
        t.shed.insert(key, first_sent, Instant::now());
        t.in_flight.remove(&key);
    }

    /// When a request with this key was first received, if it was shed before.
    pub fn first_sent(&self, key: &Key) -> Option<tokio::time::Instant> {
        self.table().shed.get(key, Instant::now())
    }

    /// Classifies a request and, when it is new, marks it in flight.
    pub fn check(&self, key: Key) -> Seen {
        let now = Instant::now();
        let mut t = self.table();
        t.answered.expire(now);
        t.shed.expire(now);
        if let Some(ans) = t.answered.get(&key, now) {
            return Seen::Answered(ans);
        }
        if !t.in_flight.insert(key) {
            return Seen::InFlight;
        }
        Seen::New
    }

    /// Records the answer (`None`: the request was dropped) and clears the in-flight mark.
    pub fn finish(&self, key: Key, answer: Option<Arc<Vec<u8>>>) {
        let mut t = self.table();
        if let Some(a) = answer {
            t.answered.insert(key, a, Instant::now());
        }
        t.in_flight.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u8, auth: u8) -> Key {
        ("127.0.0.1:5000".parse().expect("address"), id, [auth; 16])
    }

    #[test]
    fn retransmissions_are_recognised() {
        let d = Dedup::new(Duration::from_secs(5));
        let k = key(1, 0);
        assert!(matches!(d.check(k), Seen::New));
        assert!(matches!(d.check(k), Seen::InFlight));
        d.finish(k, Some(Arc::new(vec![1, 2, 3])));
        assert!(matches!(d.check(k), Seen::Answered(a) if *a == vec![1, 2, 3]));
        let other = key(1, 9);
        assert!(
            matches!(d.check(other), Seen::New),
            "same id, new authenticator: a new request"
        );
    }

    #[test]
    fn a_dropped_request_is_new_again_and_a_shed_one_keeps_its_first_arrival() {
        let d = Dedup::new(Duration::from_secs(5));
        let k = key(2, 0);
        assert!(matches!(d.check(k), Seen::New));
        d.finish(k, None);
        assert!(matches!(d.check(k), Seen::New));
        let first = tokio::time::Instant::now();
        d.shed(k, first);
        assert_eq!(d.first_sent(&k), Some(first));
        assert!(
            matches!(d.check(k), Seen::New),
            "shed: not in flight any more"
        );
        assert_eq!(d.first_sent(&key(3, 0)), None);
    }

    #[test]
    fn answers_expire_after_the_window_in_order() {
        let mut t = Timed::new(Duration::from_secs(5));
        let now = Instant::now();
        t.insert(key(1, 0), 1, now);
        t.insert(key(2, 0), 2, now + Duration::from_secs(2));
        // Replaced: the first pair of key 1 must not remove the newer entry.
        t.insert(key(1, 0), 3, now + Duration::from_secs(3));
        t.expire(now + Duration::from_secs(5));
        assert_eq!(t.get(&key(1, 0), now + Duration::from_secs(5)), Some(3));
        assert_eq!(t.get(&key(2, 0), now + Duration::from_secs(5)), Some(2));
        t.expire(now + Duration::from_secs(7));
        assert_eq!(t.by_key.len(), 1);
        assert_eq!(t.get(&key(1, 0), now + Duration::from_secs(7)), Some(3));
        assert_eq!(
            t.get(&key(1, 0), now + Duration::from_secs(8)),
            None,
            "expired"
        );
        t.expire(now + Duration::from_secs(8));
        assert!(t.by_key.is_empty() && t.order.is_empty());
    }

    #[test]
    fn a_full_table_drops_its_oldest_answer_and_stays_bounded() {
        let mut t = Timed::new(Duration::from_secs(60));
        let now = Instant::now();
        for i in 0..(CAPACITY + 10) {
            let mut auth = [0u8; 16];
            auth[..8].copy_from_slice(&(i as u64).to_be_bytes());
            t.insert(("127.0.0.1:1".parse().expect("address"), 0, auth), i, now);
        }
        assert_eq!(t.by_key.len(), CAPACITY);
        let oldest = ("127.0.0.1:1".parse().expect("address"), 0, [0u8; 16]);
        assert_eq!(t.get(&oldest, now), None);
        // The same key over and over leaves stale pairs, which are swept.
        for _ in 0..(2 * CAPACITY + 10) {
            t.insert(key(7, 7), 0, now);
            t.expire(now);
        }
        assert!(t.order.len() <= 2 * CAPACITY + 1);
    }
}
