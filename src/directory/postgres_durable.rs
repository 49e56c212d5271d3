//! When the PostgreSQL store's hot-path writes reach the disk.
//!
//! A decision's write (a lockout count, an app password's last use) is committed with
//! `synchronous_commit = off`: visible to every node at once, and its commit returns without
//! waiting for PostgreSQL to flush its WAL. The decision's answer goes out only after
//! `flush_durable`, which runs outside the hashing slot (the verifier calls it once the slot is
//! free) and commits one small write of its own at the server's `synchronous_commit` (on by
//! default): that commit's record follows the earlier ones in the WAL, and PostgreSQL flushes
//! the WAL in order, so waiting for it waits for them. One flush serves every write committed
//! before it began, as SQLite's fsync does (`sqlite.rs`).
//!
//! Why a write of its own: a transaction that writes nothing to the WAL (one that only takes
//! a transaction id, say) commits without waiting for the disk even when asked to — an
//! acknowledged count was lost across `kill -9` of PostgreSQL when the flush was such a
//! transaction. The flush row (`health`, keyed by the node's name and `/durable`) is one no
//! decision reads, and the table has no change trigger: a flush moves no node's memo.
//!
//! Before, each write waited for the disk inside the hashing slot, which then stood idle:
//! cold decisions (one Argon2 run and one lockout write each) read about 0.8 of SQLite's rate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The statement that begins a hot-path write's transaction.
pub(crate) const BEGIN_HOT: &str = "BEGIN; SET LOCAL synchronous_commit = off";

/// The statement a flush commits: one row per node (`$1`), the time of its last flush (`$2`,
/// microseconds of the real clock).
pub(crate) const FLUSH_SQL: &str = "INSERT INTO health (node, at) VALUES ($1, $2) \
     ON CONFLICT (node) DO UPDATE SET at = excluded.at";

/// Counts of hot-path commits, and of those a flush has made durable.
#[derive(Default)]
pub(crate) struct Durable {
    committed: AtomicU64,
    flushed: AtomicU64,
    /// Held while a flush runs: a caller that waited for it finds its own writes covered and
    /// returns without a flush of its own (the waiting is the wait for its durability).
    flushing: Mutex<()>,
}

impl Durable {
    /// A hot-path write committed (call after its commit returned).
    pub(crate) fn committed(&self) {
        self.committed.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn unflushed(&self) -> bool {
        self.flushed.load(Ordering::SeqCst) < self.committed.load(Ordering::SeqCst)
    }

    /// Makes every hot-path write committed before this call durable, with `flush` (one
    /// synchronous commit) at most once for all callers waiting at the time.
    pub(crate) fn flush<E>(&self, flush: impl FnOnce() -> Result<(), E>) -> Result<(), E> {
        let target = self.committed.load(Ordering::SeqCst);
        if self.flushed.load(Ordering::SeqCst) >= target {
            return Ok(());
        }
        let _one_at_a_time = self.flushing.lock().unwrap_or_else(|e| e.into_inner());
        if self.flushed.load(Ordering::SeqCst) >= target {
            return Ok(());
        }
        // Everything committed by now is before the flush's own commit record.
        let covered = self.committed.load(Ordering::SeqCst);
        flush()?;
        self.flushed.fetch_max(covered, Ordering::SeqCst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_flush_covers_every_write_committed_before_it_and_a_failure_covers_none() {
        let d = Durable::default();
        assert!(!d.unflushed());
        d.flush(|| -> Result<(), ()> { panic!("nothing to flush") })
            .unwrap();
        d.committed();
        d.committed();
        assert!(d.unflushed());
        assert_eq!(d.flush(|| Err("down")), Err("down"));
        assert!(d.unflushed(), "a failed flush made nothing durable");
        let mut flushes = 0;
        d.flush(|| -> Result<(), ()> {
            flushes += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(flushes, 1);
        assert!(!d.unflushed());
        d.flush(|| -> Result<(), ()> { panic!("already durable") })
            .unwrap();
    }

    #[test]
    fn callers_waiting_behind_a_flush_are_covered_by_it() {
        let d = std::sync::Arc::new(Durable::default());
        d.committed();
        let flushes = std::sync::Arc::new(AtomicU64::new(0));
        let (entered_tx, entered_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let first = {
            let (d, flushes) = (d.clone(), flushes.clone());
            std::thread::spawn(move || {
                d.flush(|| -> Result<(), ()> {
                    entered_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                    flushes.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                })
            })
        };
        entered_rx.recv().unwrap();
        // A caller whose write was committed before the running flush began waits for it and
        // flushes nothing itself.
        let second = {
            let (d, flushes) = (d.clone(), flushes.clone());
            std::thread::spawn(move || {
                d.flush(|| -> Result<(), ()> {
                    flushes.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                })
            })
        };
        release_tx.send(()).unwrap();
        first.join().unwrap().unwrap();
        second.join().unwrap().unwrap();
        assert_eq!(flushes.load(Ordering::SeqCst), 1);
        // A write committed after a flush began needs another.
        d.committed();
        assert!(d.unflushed());
    }
}
