//! Admission to the hashing slots: a permit with a deadline, shared by every front door.
//!
//! A request that cannot start its hash work within `hashing.max_wait` of its arrival is
//! dropped — a NAS has given up on it by then, and answering it would only delay the answers
//! that can still arrive in time. A RADIUS retransmission of a dropped request keeps the
//! deadline of its first transmission, so it is dropped too (see `admit_ranked`).
//!
//! The order is adaptive. While the oldest waiter has waited less than half of `max_wait`, the
//! server keeps up and serves first-in-first-out, so no request waits much longer than another
//! (a busy but healthy server has short, fair waits). Once the oldest has waited longer, the
//! server is overloaded and serves the **newest first**: fresh requests are answered within
//! milliseconds while the oldest ones (whose NAS is about to retransmit or has failed over)
//! expire, and when a flood stops a new request is served at once instead of behind the
//! backlog. (Plain FIFO with the same deadline answers everything about `max_wait` late under
//! overload and stays late for `max_wait` after it; plain LIFO lets a few requests of a healthy
//! but busy server wait up to `max_wait`. Per-client fairness is left for later.)
//! The number waiting is also capped, so memory stays bounded whatever the arrival rate.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

/// Requests that may wait at once; beyond it the oldest waiter is dropped.
const MAX_WAITING: usize = 8192;

struct Waiter {
    /// When the request was first sent: under overload the newest is served first.
    priority: Instant,
    deadline: Instant,
    slot: oneshot::Sender<()>,
}

struct State {
    free: usize,
    /// By priority: oldest at the front, newest at the back.
    waiting: VecDeque<Waiter>,
}

struct Inner {
    state: Mutex<State>,
    max_wait: Duration,
    dropped: AtomicU64,
}

#[derive(Clone)]
pub struct Admission {
    inner: Arc<Inner>,
}

/// A hashing slot; handed to the newest live waiter (or freed) when dropped.
pub struct Permit {
    inner: Arc<Inner>,
}

impl Admission {
    pub fn new(slots: usize, max_wait: Duration) -> Admission {
        Admission {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    free: slots.max(1),
                    waiting: VecDeque::new(),
                }),
                max_wait,
                dropped: AtomicU64::new(0),
            }),
        }
    }

    /// How long the oldest request still waiting for a slot has waited (from its first
    /// transmission); `None` while nobody waits. Work below sign-ins (searches) pauses on it.
    pub fn oldest_wait(&self) -> Option<Duration> {
        let st = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        // By priority, oldest first; expired or abandoned waiters are skipped.
        st.waiting
            .iter()
            .find(|w| w.deadline > now && !w.slot.is_closed())
            .map(|w| now.duration_since(w.priority))
    }

    pub fn max_wait(&self) -> Duration {
        self.inner.max_wait
    }

    /// Requests dropped so far because they could not start in time.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Waits for a slot until `arrived + max_wait`; `None` when the deadline passed first.
    pub async fn admit(&self, arrived: Instant) -> Option<Permit> {
        self.admit_ranked(arrived, arrived).await
    }

    /// Drops (and counts) the retransmission of a request that was shed, when the deadline of
    /// its first transmission has passed: at once, before any work, even with a slot free —
    /// under overload a slot is free only for an instant, and a fresh request needs it.
    pub fn drop_if_expired(&self, first_sent: Instant, arrived: Instant) -> bool {
        let expired = first_sent < arrived && Instant::now() >= first_sent + self.inner.max_wait;
        if expired {
            self.inner.dropped.fetch_add(1, Ordering::Relaxed);
        }
        expired
    }

    /// As `admit`, for a request first seen at `first_sent`: a retransmission of a request
    /// that was shed ranks by its first transmission, and its deadline runs from it too. The
    /// request could not start in time once; hashing it now would take a slot from a fresh
    /// request that can still be answered in time, for an answer that comes a timeout late.
    /// Its NAS fails over or its user tries again, as with any shed request.
    pub async fn admit_ranked(&self, first_sent: Instant, arrived: Instant) -> Option<Permit> {
        let deadline = first_sent.min(arrived) + self.inner.max_wait;
        let mut rx = {
            let mut st = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
            // A free slot means nobody waits: serving even a late request costs no one.
            if st.free > 0 {
                st.free -= 1;
                return Some(self.permit());
            }
            if Instant::now() >= deadline {
                drop(st);
                self.inner.dropped.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            if st.waiting.len() >= MAX_WAITING {
                // The oldest waiter is the least likely to be answered in time.
                st.waiting.pop_front();
            }
            let (tx, rx) = oneshot::channel();
            let at = st.waiting.partition_point(|w| w.priority <= first_sent);
            st.waiting.insert(
                at,
                Waiter {
                    priority: first_sent,
                    deadline,
                    slot: tx,
                },
            );
            rx
        };
        // Counted while this request waits, whatever ends the wait.
        let _queued = Queued::enter();
        match tokio::time::timeout_at(deadline, &mut rx).await {
            Ok(Ok(())) => Some(self.permit()),
            _ => {
                // A slot may have been handed over at the very last moment: keep it, or the
                // slot would be lost.
                rx.close();
                if rx.try_recv().is_ok() {
                    return Some(self.permit());
                }
                self.inner.dropped.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    fn permit(&self) -> Permit {
        Permit {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// A request waiting for a slot, counted in `hybridauth_hashing_queue_depth`.
struct Queued;

impl Queued {
    fn enter() -> Queued {
        crate::metrics::global().hashing_queue_changed(1);
        Queued
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        crate::metrics::global().hashing_queue_changed(-1);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut st = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        // Decided once per release, not once per expired waiter skipped. The front waiter is
        // the one first sent longest ago (a retransmission counts from its first transmission).
        let overloaded = st
            .waiting
            .front()
            .is_some_and(|oldest| now.duration_since(oldest.priority) * 2 > self.inner.max_wait);
        loop {
            let next = if overloaded {
                st.waiting.pop_back()
            } else {
                st.waiting.pop_front()
            };
            let Some(w) = next else { break };
            // An expired waiter's own timer counts its drop; skip it.
            if w.deadline > now && w.slot.send(()).is_ok() {
                return;
            }
        }
        st.free += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_newest_waiter_is_served_first_and_the_stale_are_dropped() {
        let a = Admission::new(1, Duration::from_secs(2));
        let held = a.admit(Instant::now()).await.unwrap();
        let t0 = Instant::now();
        // Three requests arrive while the slot is busy, 100 ms apart.
        let mut waiters = vec![];
        for i in 0..3u64 {
            let a = a.clone();
            let arrived = t0 + Duration::from_millis(100 * i);
            tokio::time::sleep_until(arrived).await;
            waiters.push(tokio::spawn(async move {
                a.admit(arrived).await.map(|p| (i, p, Instant::now()))
            }));
            tokio::task::yield_now().await;
        }
        // The oldest has now waited more than half of max_wait: overload, newest first.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        drop(held);
        let newest = waiters.pop().unwrap().await.unwrap().unwrap();
        assert_eq!(newest.0, 2);
        // Hold it past everyone else's deadline: the older two are dropped, not served late.
        tokio::time::sleep(Duration::from_secs(3)).await;
        drop(newest);
        for w in waiters {
            assert!(w.await.unwrap().is_none());
        }
        assert_eq!(a.dropped(), 2);
        // The slot came back: a fresh request is admitted at once.
        assert!(a.admit(Instant::now()).await.is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_that_keeps_up_serves_first_come_first_served() {
        let a = Admission::new(1, Duration::from_secs(2));
        let held = a.admit(Instant::now()).await.unwrap();
        let t0 = Instant::now();
        let mut waiters = vec![];
        for i in 0..3u64 {
            let a = a.clone();
            let arrived = t0 + Duration::from_millis(100 * i);
            tokio::time::sleep_until(arrived).await;
            waiters.push(tokio::spawn(async move {
                a.admit(arrived).await.map(|p| (i, p))
            }));
            tokio::task::yield_now().await;
        }
        drop(held);
        let (first, permit) = waiters.remove(0).await.unwrap().unwrap();
        assert_eq!(first, 0, "the oldest, waiting 200 ms of 2 s, goes first");
        drop(permit);
        for (want, w) in waiters.into_iter().enumerate() {
            let (i, p) = w.await.unwrap().unwrap();
            assert_eq!(i, want as u64 + 1);
            drop(p);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_retransmission_ranks_by_its_first_transmission() {
        let a = Admission::new(1, Duration::from_secs(2));
        let held = a.admit(Instant::now()).await.unwrap();
        let t0 = Instant::now();
        // A request first sent at t0, retransmitted at t0 + 1.2 s; a fresh one comes with it.
        tokio::time::advance(Duration::from_millis(1200)).await;
        let now = Instant::now();
        let retransmission = {
            let a = a.clone();
            tokio::spawn(async move { a.admit_ranked(t0, now).await })
        };
        tokio::task::yield_now().await;
        let fresh = {
            let a = a.clone();
            tokio::spawn(async move { a.admit_ranked(now, now).await })
        };
        tokio::task::yield_now().await;
        drop(held);
        // The retransmission, waiting since its first transmission 1.2 s ago, marks overload:
        // the fresh request is served first ...
        let fresh = fresh.await.unwrap();
        assert!(
            fresh.is_some(),
            "under overload the fresh request is served first"
        );
        // ... and the retransmission is not served past its first transmission's deadline.
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(fresh);
        assert!(retransmission.await.unwrap().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_retransmission_of_a_request_past_its_deadline_is_dropped_even_with_a_free_slot() {
        let a = Admission::new(1, Duration::from_secs(2));
        let t0 = Instant::now();
        tokio::time::advance(Duration::from_secs(3)).await;
        let now = Instant::now();
        assert!(
            !a.drop_if_expired(now, now),
            "a first transmission is never dropped early"
        );
        assert!(a.drop_if_expired(t0, now));
        assert_eq!(a.dropped(), 1);
        // The slot was not taken: a fresh request gets it at once.
        assert!(a.admit_ranked(now, now).await.is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_already_past_its_deadline_is_dropped_without_waiting() {
        let a = Admission::new(1, Duration::from_secs(2));
        let _held = a.admit(Instant::now()).await.unwrap();
        let old = Instant::now();
        tokio::time::advance(Duration::from_secs(3)).await;
        assert!(a.admit(old).await.is_none());
        assert_eq!(a.dropped(), 1);
    }
}
