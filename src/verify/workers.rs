//! The threads that run decisions (Argon2 and the store reads around it): exactly
//! `hashing.max_concurrent` of them, made at start and kept. tokio's blocking pool would grow
//! to hundreds of threads under load, and each thread that once ran Argon2 keeps its 19 MiB in
//! its own malloc arena: a flood then costs gigabytes. With a fixed set, memory is bounded by
//! `max_concurrent` × the Argon2 memory, and admission (one job per slot) means a job never
//! waits for a thread. A panic inside a job is caught: the request fails, the thread goes on.
//!
//! The queue is crossbeam's multi-consumer channel: with std's single-consumer one behind a
//! mutex, every job woke two threads (one for the queue, one for the mutex), which showed in
//! profiles of the warm path at tens of thousands of decisions a second.

use std::panic::AssertUnwindSafe;

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// The nice value of the Argon2 threads (see `process::lower_thread_priority`): at 19, the
/// lowest, the scheduler gives a runnable reactor or probe thread about 98% of a shared core
/// (weights 1024 against 15), and hashing still takes every idle cycle. (Until this was set
/// once per thread it was raised by 10 before every job, so every measurement after a
/// thread's second job already ran at 19; at a real 10, beside 200 online guessers, cached
/// users kept visibly less of their throughput.)
pub const HASHING_NICE: i32 = 19;

pub struct Workers {
    tx: crossbeam_channel::Sender<Job>,
}

impl Workers {
    /// `threads` threads at scheduling priority `nice` (0 leaves it as inherited).
    pub fn new(threads: usize, nice: i32) -> Workers {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("hybridauth-verify-{i}"))
                .spawn(move || {
                    // Once: the call lowers relative to the thread's current value.
                    if nice != 0 {
                        crate::process::lower_thread_priority(nice);
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
        let base = crate::process::thread_priority().unwrap();
        let w = Workers::new(1, 3);
        // The same priority for every job, not lowered again each time.
        for _ in 0..3 {
            let nice = w.run(crate::process::thread_priority).await.unwrap();
            assert_eq!(nice, Some((base + 3).min(19)));
        }
    }

    #[tokio::test]
    async fn jobs_run_on_the_named_threads_and_a_panic_leaves_them_working() {
        let w = Workers::new(2, 0);
        let name = w
            .run(|| std::thread::current().name().map(str::to_string))
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("hybridauth-verify-"));
        assert_eq!(
            w.run(|| -> u8 { panic!("a bug in one request") }).await,
            None
        );
        for i in 0..4 {
            assert_eq!(w.run(move || i * 2).await, Some(i * 2));
        }
    }
}
