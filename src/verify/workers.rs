//! The threads that run decisions (Argon2 and the store reads and writes around it): twice
//! `hashing.max_concurrent` of them, made at start and kept. A decision starts holding one of
//! the `max_concurrent` hashing slots (admission) and gives it back when its Argon2 run ends;
//! it finishes its store writes on its thread while the next admitted decision hashes on
//! another. tokio's blocking pool would grow to hundreds of threads under load, and each thread
//! that once ran Argon2 would keep its memory: a flood then costs gigabytes. With a fixed set,
//! and Argon2 run in `max_concurrent` kept buffers (`argon2_memory`), memory is bounded by
//! `max_concurrent` × the Argon2 memory; a job waits for a thread only while more than
//! `max_concurrent` decisions are still writing (a store slower than Argon2). A panic inside a
//! job is caught: the request fails, the thread goes on.
//!
//! The queue is crossbeam's multi-consumer channel: with std's single-consumer one behind a
//! mutex, every job woke two threads (one for the queue, one for the mutex), which showed in
//! profiles of the warm path at tens of thousands of decisions a second.

use std::panic::AssertUnwindSafe;

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// How the threads of a set are scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// As the process: the probes, which answer cached secrets in microseconds.
    Normal,
    /// Below everything else, for Argon2: nice 19 and Linux's SCHED_IDLE class (see
    /// `process::idle_thread_class`). Hashing still takes every idle cycle, but a reactor or
    /// probe thread that wakes takes the core at once. Beside 200 online guessers, cached users
    /// kept 0.84 of their throughput at nice 19 alone and 0.90 with SCHED_IDLE (three
    /// alternating runs each; the guessers' hashing took half the CPU time it took before).
    /// (Nice was once raised by 10 before every job, so it sat at 19 from a thread's second
    /// job on; it is now set once per thread.)
    Background,
}

/// The nice value of `Class::Background` threads.
pub const BACKGROUND_NICE: i32 = 19;

pub struct Workers {
    tx: crossbeam_channel::Sender<Job>,
}

impl Workers {
    /// `threads` threads named `hybridauth-<kind>-<n>` (as `top -H` shows them), scheduled as
    /// `class` says.
    pub fn new(kind: &str, threads: usize, class: Class) -> Workers {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("hybridauth-{kind}-{i}"))
                .spawn(move || {
                    // Once: the call lowers relative to the thread's current value.
                    if class == Class::Background {
                        crate::runtime::process::lower_thread_priority(BACKGROUND_NICE);
                        crate::runtime::process::idle_thread_class();
                    }
                    // The job's answer channel reports a panic as a dropped sender.
                    while let Ok(job) = rx.recv() {
                        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a verification thread");
            }
        }
        Workers { tx }
    }

    /// Runs `f` on one of the threads; `None` if it panicked.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (done, answer) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(f());
        });
        self.tx.send(job).ok()?;
        answer.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_below_the_reactor_s_priority() {
        assert!(!crate::runtime::process::thread_is_idle_class());
        let w = Workers::new("hash", 1, Class::Background);
        // The same for every job, and the class is the thread's, not the caller's.
        for _ in 0..3 {
            let (nice, idle) = w
                .run(|| {
                    (
                        crate::runtime::process::thread_priority(),
                        crate::runtime::process::thread_is_idle_class(),
                    )
                })
                .await
                .unwrap();
            assert_eq!(nice, Some(BACKGROUND_NICE));
            assert!(idle, "SCHED_IDLE");
        }
        assert!(!crate::runtime::process::thread_is_idle_class());
        let probes = Workers::new("probe", 1, Class::Normal);
        let normal = probes
            .run(crate::runtime::process::thread_is_idle_class)
            .await;
        assert_eq!(normal, Some(false));
    }

    #[tokio::test]
    async fn jobs_run_on_the_named_threads_and_a_panic_leaves_them_working() {
        let w = Workers::new("probe", 2, Class::Normal);
        let name = w
            .run(|| std::thread::current().name().map(str::to_string))
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("hybridauth-probe-"));
        assert_eq!(
            w.run(|| -> u8 { panic!("a bug in one request") }).await,
            None
        );
        for i in 0..4 {
            assert_eq!(w.run(move || i * 2).await, Some(i * 2));
        }
    }
}
