//! What a load run measured: latencies, answers by kind, timeouts, and the printed report.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

/// How one request ended.
#[derive(Debug, Clone)]
pub enum RequestEnd {
    /// An answer, named by kind (`Access-Accept`, `invalidCredentials`, ...).
    Answer(String),
    Timeout,
}

/// Shared by every request task of a run.
pub struct Tally {
    started: Instant,
    /// Answers within this of the first transmission count as "in time".
    in_time: Duration,
    done: AtomicU64,
    retransmissions: AtomicU64,
    inner: Mutex<(Vec<Duration>, BTreeMap<String, u64>, u64)>,
}

impl Tally {
    pub fn new(in_time: Duration) -> Arc<Tally> {
        Arc::new(Tally {
            started: Instant::now(),
            in_time,
            done: AtomicU64::new(0),
            retransmissions: AtomicU64::new(0),
            inner: Mutex::new((Vec::new(), BTreeMap::new(), 0)),
        })
    }

    pub fn record(&self, outcome: RequestEnd, latency: Duration) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match outcome {
            RequestEnd::Answer(kind) => {
                g.0.push(latency);
                *g.1.entry(kind).or_insert(0) += 1;
            }
            RequestEnd::Timeout => g.2 += 1,
        }
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    pub fn retransmitted(&self) {
        self.retransmissions.fetch_add(1, Ordering::Relaxed);
    }

    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    pub fn report(&self, door: &'static str, planned: u64) -> Report {
        let elapsed = self.started.elapsed();
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut lat = g.0.clone();
        lat.sort();
        let pct = |q: f64| -> f64 {
            if lat.is_empty() {
                return 0.0;
            }
            let i = ((lat.len() - 1) as f64 * q).round() as usize;
            lat[i].as_secs_f64() * 1000.0
        };
        let answered = lat.len() as u64;
        let in_time = lat.iter().filter(|l| **l <= self.in_time).count() as u64;
        Report {
            answered_in_time: in_time,
            in_time_ms: self.in_time.as_secs_f64() * 1000.0,
            door,
            requests: planned,
            answered,
            timeouts: g.2,
            retransmissions: self.retransmissions.load(Ordering::Relaxed),
            duration_s: elapsed.as_secs_f64(),
            rate: answered as f64 / elapsed.as_secs_f64().max(1e-9),
            latency_ms: Latency {
                p50: pct(0.5),
                p90: pct(0.9),
                p99: pct(0.99),
                max: pct(1.0),
            },
            answers: g.1.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub door: &'static str,
    pub requests: u64,
    pub answered: u64,
    /// Answered within `in_time_ms` of the first transmission (a NAS's timeout).
    pub answered_in_time: u64,
    pub in_time_ms: f64,
    pub timeouts: u64,
    pub retransmissions: u64,
    pub duration_s: f64,
    /// Answers a second.
    pub rate: f64,
    pub latency_ms: Latency,
    pub answers: BTreeMap<String, u64>,
}

impl Report {
    pub fn text(&self) -> String {
        let answers: Vec<String> = self
            .answers
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        format!(
            "{door}: {answered} answers in {d:.2} s = {rate:.1}/s; latency p50 {p50:.2} ms p90 {p90:.2} ms p99 {p99:.2} ms max {max:.2} ms\n\
             answers: {answers}; {it} within {itms:.0} ms of the first transmission; timeouts {t}; retransmissions {r}",
            door = self.door,
            answered = self.answered,
            d = self.duration_s,
            rate = self.rate,
            p50 = self.latency_ms.p50,
            p90 = self.latency_ms.p90,
            p99 = self.latency_ms.p99,
            max = self.latency_ms.max,
            answers = if answers.is_empty() { "none".into() } else { answers.join(", ") },
            t = self.timeouts,
            r = self.retransmissions,
            it = self.answered_in_time,
            itms = self.in_time_ms,
        )
    }
}

/// A progress line on stderr, only when stderr is a terminal; ends when `planned` are done.
pub async fn progress(tally: Arc<Tally>, planned: u64) {
    if !std::io::stderr().is_terminal() {
        return;
    }
    loop {
        let done = tally.done();
        eprint!("\r{}", crate::progress::line(done, planned));
        if done >= planned {
            eprintln!();
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
