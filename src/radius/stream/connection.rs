//! One RADIUS over TCP or TLS connection, once its client is known: packets read one after the
//! other and served concurrently (answers go out in the order they are ready, as RFC 6613 §2.6
//! allows: the Identifier pairs them), at most `max_in_flight` at a time — beyond it the
//! connection is not read, so a fast peer slows down instead of growing memory.
//!
//! A writer task owns the sending half: a peer that stops reading meets `write_timeout` and the
//! connection ends. A connection with nothing received and nothing outstanding for
//! `idle_timeout` is closed (the Status-Server watchdog of RFC 6614 §2.6 keeps a live one busy).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::framing::{must_close, read_packet, FrameError};
use crate::config::{RadiusClientConfig, StreamListenerConfig};
use crate::metrics::DropReason;
use crate::radius::reject_delay::{self, ReplySink};
use crate::radius::server::{RadiusServer, RequestCtx, Role};
use crate::runtime::shutdown::Shutdown;

/// What one connection needs besides its stream.
pub struct Peer {
    pub server: Arc<RadiusServer>,
    pub from: SocketAddr,
    pub client: Arc<RadiusClientConfig>,
    pub transport: &'static str,
}

/// The writer's queue, as a sink for the reject delay.
struct Outgoing(mpsc::Sender<Arc<Vec<u8>>>);

impl ReplySink for Outgoing {
    async fn deliver(&self, _to: SocketAddr, reply: Arc<Vec<u8>>) {
        // The writer has gone (the peer left or stopped reading): nothing to deliver to.
        let _ = self.0.send(reply).await;
    }
}

/// Serves the connection until the peer leaves, misbehaves, idles, or the daemon stops; then
/// answers what is in flight (a reject waiting out its delay included) and closes.
pub async fn serve<S>(stream: S, peer: Peer, limits: &StreamListenerConfig, shutdown: Shutdown)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (rd, wr) = tokio::io::split(stream);
    // Pipelined packets arrive together: read them from one buffer, not a syscall each.
    let mut rd = tokio::io::BufReader::with_capacity(16 * 1024, rd);
    let (tx, rx) = mpsc::channel::<Arc<Vec<u8>>>(limits.max_in_flight);
    let broken = CancellationToken::new();
    let writer = tokio::spawn(write_loop(wr, rx, limits.write_timeout, broken.clone()));
    let (delayer, delayed) = reject_delay::channel(peer.server.reject_delay());
    let delay_task = tokio::spawn(reject_delay::run(
        delayed,
        Arc::new(Outgoing(tx.clone())),
        Arc::clone(peer.server.dedup()),
    ));
    let in_flight = Arc::new(Semaphore::new(limits.max_in_flight));
    let tracker = TaskTracker::new();
    let why = read_loop(
        &mut rd,
        &peer,
        limits,
        shutdown,
        &broken,
        |packet, permit| {
            let (server, client, tx, delayer) = (
                Arc::clone(&peer.server),
                Arc::clone(&peer.client),
                tx.clone(),
                delayer.clone(),
            );
            let from = peer.from;
            tracker.spawn(async move {
                let ctx = RequestCtx {
                    from,
                    arrived: tokio::time::Instant::now(),
                    delayer: &delayer,
                };
                if let Some(reply) = server.handle_for(&packet, Role::Stream, client, &ctx).await {
                    let _ = tx.send(reply).await;
                }
                drop(permit);
            });
        },
        &in_flight,
    )
    .await;
    tracing::debug!(from = %peer.from, client = %peer.client.name, transport = peer.transport, "RADIUS connection closing: {why}");
    tracker.close();
    tracker.wait().await;
    drop(delayer);
    let _ = delay_task.await;
    drop(tx);
    let _ = writer.await;
}

/// Reads packets and hands each, with its in-flight slot, to `serve_one` until the connection
/// should end; why it ended.
async fn read_loop<R, F>(
    rd: &mut R,
    peer: &Peer,
    limits: &StreamListenerConfig,
    mut shutdown: Shutdown,
    broken: &CancellationToken,
    mut serve_one: F,
    in_flight: &Arc<Semaphore>,
) -> String
where
    R: AsyncRead + Unpin,
    F: FnMut(Vec<u8>, OwnedSemaphorePermit),
{
    let metrics = crate::metrics::global();
    loop {
        // At most max_in_flight unanswered: wait for a slot before reading on.
        let slot = tokio::select! {
            _ = shutdown.recv() => return "the server is stopping".into(),
            _ = broken.cancelled() => return "the peer does not read its answers (write_timeout)".into(),
            s = Arc::clone(in_flight).acquire_owned() => s,
        };
        // The semaphore is never closed.
        let Ok(slot) = slot else {
            return "no request slot".into();
        };
        let packet = tokio::select! {
            _ = shutdown.recv() => return "the server is stopping".into(),
            _ = broken.cancelled() => return "the peer does not read its answers (write_timeout)".into(),
            r = read_idle(rd, limits.idle_timeout, in_flight, limits.max_in_flight) => r,
        };
        let packet = match packet {
            Ok(p) => p,
            Err(Ended::Idle) => return "idle".into(),
            Err(Ended::Frame(FrameError::Closed)) => return "closed by the peer".into(),
            Err(Ended::Frame(e)) => return closed_for(peer, "", e.to_string()),
        };
        metrics.radius_request(peer.transport);
        if let Some(why) = must_close(&packet, &peer.client) {
            return closed_for(peer, " (RFC 6613 §2.6.4)", why);
        }
        serve_one(packet, slot);
    }
}

/// A connection ended by what its peer sent: counted, logged (a few lines a second per
/// source), and the reason returned for the closing line.
fn closed_for(peer: &Peer, rule: &str, why: String) -> String {
    crate::metrics::global().dropped("radius", DropReason::Malformed);
    let what = format!(
        "RADIUS/{} connection of {} closed{rule}",
        peer.transport, peer.client.name
    );
    super::peer_log::warn_peer(peer.from, &what, &why);
    why
}

enum Ended {
    Idle,
    Frame(FrameError),
}

/// The next packet, or `Idle` once nothing has come and nothing was outstanding for `idle`.
/// The read future is kept across the idle checks (a partly read packet is never lost).
async fn read_idle<R: AsyncRead + Unpin>(
    rd: &mut R,
    idle: Duration,
    in_flight: &Semaphore,
    max_in_flight: usize,
) -> Result<Vec<u8>, Ended> {
    let read = read_packet(rd);
    tokio::pin!(read);
    loop {
        tokio::select! {
            r = &mut read => return r.map_err(Ended::Frame),
            _ = tokio::time::sleep(idle) => {
                // Requests still being decided (a held MFA push) keep the connection open; the
                // one slot the reader holds for the packet it waits for is not one of them.
                if in_flight.available_permits() + 1 >= max_in_flight {
                    return Err(Ended::Idle);
                }
            }
        }
    }
}

/// Sends answers as they come; whatever is queued goes out in one flush. A write that does not
/// finish within `timeout` ends the connection (`broken`).
async fn write_loop<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut rx: mpsc::Receiver<Arc<Vec<u8>>>,
    timeout: Duration,
    broken: CancellationToken,
) {
    let mut batch = Vec::with_capacity(8192);
    while let Some(first) = rx.recv().await {
        // Whatever is queued goes out in one write (one TLS record, one syscall).
        batch.clear();
        batch.extend_from_slice(&first);
        while let Ok(more) = rx.try_recv() {
            batch.extend_from_slice(&more);
            if batch.len() >= 16 * 1024 {
                break;
            }
        }
        let written = tokio::time::timeout(timeout, async {
            wr.write_all(&batch).await?;
            wr.flush().await
        })
        .await;
        if !matches!(written, Ok(Ok(()))) {
            crate::metrics::global().dropped("radius", DropReason::SlowPeer);
            broken.cancel();
            return;
        }
    }
    // TLS: close_notify, then FIN.
    let _ = tokio::time::timeout(timeout, wr.shutdown()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_peer_that_stops_reading_is_cut_at_the_write_timeout() {
        // 64 octets of buffer between us and a peer that never reads.
        let (ours, _theirs) = tokio::io::duplex(64);
        let (tx, rx) = mpsc::channel(8);
        let broken = CancellationToken::new();
        let writer = tokio::spawn(write_loop(
            ours,
            rx,
            Duration::from_millis(200),
            broken.clone(),
        ));
        tx.send(Arc::new(vec![0u8; 4096])).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), broken.cancelled())
            .await
            .expect("the writer gives up");
        tokio::time::timeout(Duration::from_secs(5), writer)
            .await
            .unwrap()
            .unwrap();
        assert!(
            tx.send(Arc::new(vec![1])).await.is_err(),
            "nothing more is queued for it"
        );
    }

    #[tokio::test]
    async fn queued_answers_all_reach_a_reading_peer() {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let (tx, rx) = mpsc::channel(8);
        let broken = CancellationToken::new();
        let writer = tokio::spawn(write_loop(ours, rx, Duration::from_secs(5), broken.clone()));
        for i in 0..5u8 {
            tx.send(Arc::new(vec![i; 100])).await.unwrap();
        }
        drop(tx);
        let mut got = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut theirs, &mut got)
            .await
            .unwrap();
        writer.await.unwrap();
        assert_eq!(got.len(), 500);
        assert!(!broken.is_cancelled());
    }
}
