//! Where searches run: `ldap.max_concurrent_searches` threads of their own, scheduled below
//! everything else (nice 19, SCHED_IDLE, as the Argon2 threads), so that a search never takes a
//! core from a packet to read or a cached sign-in. Searches and Argon2 would still share the
//! idle cycles equally, so a search also *paces* itself: while a sign-in has waited for a
//! hashing slot longer than a quarter of `hashing.max_wait`, every search pauses, and sign-ins
//! are never pushed past their deadline by searches however many clients search.
//!
//! A search stops as soon as its client cannot want it any more: the connection's task drops
//! the search's future when the client closes the connection or abandons the operation, and
//! the `Cancel` it held tells the thread to stop at the next candidate (slapd does the same).
//! It also stops at its time limit (`ldap.max_search_time`), counted from its arrival, so time
//! spent waiting for a search thread counts too.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::runtime::admission::Admission;
use crate::verify::workers::{Class, Workers};

/// A sign-in has waited this share of `hashing.max_wait`: searches pause.
const PAUSE_AT_SHARE: u32 = 4;
/// How long a paused search sleeps before it looks again.
const PAUSE_STEP: Duration = Duration::from_millis(5);
/// Candidates between two looks at the hashing queue (a look takes its lock).
const LOOK_EVERY: u32 = 32;

pub struct SearchPool {
    workers: Workers,
    admission: Admission,
}

impl SearchPool {
    pub fn new(threads: usize, admission: Admission) -> SearchPool {
        SearchPool {
            workers: Workers::new("search", threads, Class::Background),
            admission,
        }
    }

    /// Runs `f` on a search thread with the pacing of this search; `None` if it panicked.
    pub async fn run<T: Send + 'static>(
        &self,
        cancelled: Arc<AtomicBool>,
        deadline: Instant,
        f: impl FnOnce(&Pace) -> T + Send + 'static,
    ) -> Option<T> {
        let pace = Pace {
            cancelled,
            deadline,
            admission: self.admission.clone(),
            seen: std::cell::Cell::new(0),
        };
        self.workers.run(move || f(&pace)).await
    }
}

/// Set when the search's future is dropped (its client closed the connection or abandoned
/// it): the search thread stops at its next candidate.
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn new() -> Cancel {
        Cancel(Arc::new(AtomicBool::new(false)))
    }

    /// What the search thread watches.
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.0)
    }
}

impl Default for Cancel {
    fn default() -> Self {
        Cancel::new()
    }
}

impl Drop for Cancel {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Why a search stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Its time limit passed (timeLimitExceeded).
    Time,
    /// Nobody wants the answer any more.
    Cancelled,
}

/// One search's view of the limits, asked once per candidate on the search thread.
pub struct Pace {
    cancelled: Arc<AtomicBool>,
    deadline: Instant,
    admission: Admission,
    seen: std::cell::Cell<u32>,
}

impl Pace {
    /// Whether the search must stop now; otherwise pauses while sign-ins wait for Argon2.
    pub fn stop(&self) -> Option<Stopped> {
        let n = self.seen.get().wrapping_add(1);
        self.seen.set(n);
        if n.is_multiple_of(LOOK_EVERY) {
            let limit = self.admission.max_wait() / PAUSE_AT_SHARE;
            while self.admission.oldest_wait().is_some_and(|w| w >= limit) {
                if let Some(s) = self.stopped() {
                    return Some(s);
                }
                crate::metrics::global().search_paused();
                std::thread::sleep(PAUSE_STEP);
            }
        }
        self.stopped()
    }

    fn stopped(&self) -> Option<Stopped> {
        if self.cancelled.load(Ordering::Relaxed) {
            Some(Stopped::Cancelled)
        } else if Instant::now() >= self.deadline {
            Some(Stopped::Time)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_dropped_cancel_stops_the_search_thread_at_its_next_candidate() {
        let pool = SearchPool::new(1, Admission::new(1, Duration::from_secs(2)));
        let cancel = Cancel::new();
        let far = Instant::now() + Duration::from_secs(60);
        let started = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&started);
        let flag = cancel.flag();
        let job = pool.run(cancel.flag(), far, move |pace| {
            s.store(true, Ordering::Relaxed);
            let mut n = 0u64;
            loop {
                if let Some(why) = pace.stop() {
                    return (why, n);
                }
                n += 1;
                std::thread::yield_now();
            }
        });
        tokio::pin!(job);
        // The search runs until its future is dropped (as when its client hangs up).
        let _ = tokio::time::timeout(Duration::from_millis(50), &mut job).await;
        assert!(started.load(Ordering::Relaxed));
        drop(cancel);
        assert!(flag.load(Ordering::Relaxed));
        let (why, _) = job.await.unwrap();
        assert_eq!(why, Stopped::Cancelled);
        // A past deadline stops at once.
        let c = Cancel::new();
        let r = pool
            .run(c.flag(), Instant::now(), |pace| pace.stop())
            .await
            .unwrap();
        assert_eq!(r, Some(Stopped::Time));
    }
}
