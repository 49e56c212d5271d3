//! Server-sent events for the page: the sign-in records of both logs, the recent ones first
//! (read from the files' tails) and then each as it is written.
//!
//! Each stream is one task feeding a small channel that the response body drains: a client that
//! stops reading fills the channel, the task waits (it never buffers more), and a client that
//! goes away closes it. Streams are bounded (`MAX_STREAMS`), carry a keep-alive comment so that
//! a dead peer is noticed, and end with the daemon.

use std::convert::Infallible;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Frame;
use tokio::sync::{broadcast, mpsc, OwnedSemaphorePermit, Semaphore};

use crate::runtime::shutdown::Shutdown;
use crate::signin_log::SigninLog;

/// Live streams at once (each holds one of the admin listener's connections).
pub const MAX_STREAMS: usize = 16;
/// Records sent from the logs' tails when a stream opens.
const BACKLOG_RECORDS: usize = 100;
/// How much of each log's end is read for them.
const BACKLOG_BYTES: u64 = 256 * 1024;
const KEEPALIVE: Duration = Duration::from_secs(15);
/// What EventSource waits before reconnecting (the admin listener ends every connection
/// after a while).
const RETRY_MS: u32 = 2000;

pub struct Live {
    log: SigninLog,
    streams: Arc<Semaphore>,
}

pub type Frames = mpsc::Receiver<Result<Frame<Bytes>, Infallible>>;

impl Live {
    pub fn new(log: SigninLog) -> Live {
        Live {
            log,
            streams: Arc::new(Semaphore::new(MAX_STREAMS)),
        }
    }

    /// The files of both logs (on-prem, cloud).
    pub fn paths(&self) -> [PathBuf; 2] {
        self.log.paths()
    }

    /// Opens a stream, or `None` when `MAX_STREAMS` are open.
    pub fn open(&self, shutdown: Shutdown) -> Option<Frames> {
        let permit = Arc::clone(&self.streams).try_acquire_owned().ok()?;
        // Subscribed before the backlog is read: a record written meanwhile may come twice
        // (the page drops repeats), never not at all.
        let feed = self.log.subscribe();
        let (tx, rx) = mpsc::channel(32);
        tokio::spawn(run(tx, feed, self.paths(), permit, shutdown));
        Some(rx)
    }
}

fn event(name: &str, data: &str) -> Result<Frame<Bytes>, Infallible> {
    // A record is one JSON line: it has no newline of its own to split on.
    Ok(Frame::data(Bytes::from(format!(
        "event: {name}\ndata: {data}\n\n"
    ))))
}

async fn run(
    tx: mpsc::Sender<Result<Frame<Bytes>, Infallible>>,
    mut feed: broadcast::Receiver<Arc<str>>,
    paths: [PathBuf; 2],
    _permit: OwnedSemaphorePermit,
    mut shutdown: Shutdown,
) {
    let hello = Ok(Frame::data(Bytes::from(format!(
        "retry: {RETRY_MS}\n: hybridauth sign-in logs\n\n"
    ))));
    if tx.send(hello).await.is_err() {
        return;
    }
    let backlog = tokio::task::spawn_blocking(move || backlog(&paths))
        .await
        .unwrap_or_default();
    for line in backlog {
        if tx.send(event("signin", &line)).await.is_err() {
            return;
        }
    }
    let mut keepalive = tokio::time::interval(KEEPALIVE);
    keepalive.tick().await;
    loop {
        let frame = tokio::select! {
            _ = shutdown.recv() => return,
            _ = tx.closed() => return,
            _ = keepalive.tick() => Ok(Frame::data(Bytes::from_static(b": keep-alive\n\n"))),
            r = feed.recv() => match r {
                Ok(line) => event("signin", &line),
                // Fell behind the log: say how many records were skipped, then go on.
                Err(broadcast::error::RecvError::Lagged(n)) => event("skipped", &n.to_string()),
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        if tx.send(frame).await.is_err() {
            return;
        }
    }
}

/// The newest records of both logs, oldest first: at most `BACKLOG_RECORDS`, read from the
/// last `BACKLOG_BYTES` of each file (a log of any size costs the same).
fn backlog(paths: &[PathBuf; 2]) -> Vec<String> {
    let mut records: Vec<(String, String)> = Vec::new();
    for path in paths {
        let Ok(tail) = read_tail(path, BACKLOG_BYTES) else {
            continue;
        };
        for line in tail.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let time = v["time"].as_str().unwrap_or_default().to_string();
            records.push((time, line.to_string()));
        }
    }
    // RFC 3339 in UTC with a fixed precision sorts as text.
    records.sort_by(|a, b| a.0.cmp(&b.0));
    let skip = records.len().saturating_sub(BACKLOG_RECORDS);
    records.into_iter().skip(skip).map(|(_, l)| l).collect()
}

/// The last `max` bytes of a file, from the first whole line in them.
fn read_tail(path: &std::path::Path, max: u64) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(max);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::with_capacity((len - start) as usize);
    f.take(max).read_to_end(&mut buf)?;
    let from = if start > 0 {
        buf.iter()
            .position(|&b| b == b'\n')
            .map_or(buf.len(), |i| i + 1)
    } else {
        0
    };
    Ok(String::from_utf8_lossy(&buf[from..]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backlog_is_the_newest_records_of_both_logs_in_time_order() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("onprem"), dir.path().join("cloud"));
        let rec = |t: u32, log: &str| {
            format!("{{\"time\":\"2026-01-05T10:{t:02}:00.000000Z\",\"log\":\"{log}\"}}\n")
        };
        let mut onprem = String::new();
        let mut cloud = String::new();
        for t in 0..60 {
            onprem.push_str(&rec(t, "on-prem"));
            cloud.push_str(&rec(t, "cloud"));
        }
        std::fs::write(&a, onprem).unwrap();
        std::fs::write(&b, cloud + "not json\n").unwrap();
        let got = backlog(&[a, b]);
        assert_eq!(got.len(), BACKLOG_RECORDS);
        assert!(got[0].contains("10:10:00"), "{}", got[0]);
        assert!(got.last().unwrap().contains("10:59:00"));
        let times: Vec<&str> = got.iter().map(|l| &l[9..36]).collect();
        let mut sorted = times.clone();
        sorted.sort();
        assert_eq!(times, sorted);
    }

    #[test]
    fn a_tail_starts_at_a_whole_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        std::fs::write(&p, "first line\nsecond line\nthird\n").unwrap();
        assert_eq!(read_tail(&p, 14).unwrap(), "third\n");
        assert_eq!(
            read_tail(&p, 1000).unwrap(),
            "first line\nsecond line\nthird\n"
        );
        assert!(read_tail(&dir.path().join("missing"), 10).is_err());
    }
}
