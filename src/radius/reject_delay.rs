//! The reject delay (FreeRADIUS's `reject_delay`): every Access-Reject waits `radius.reject_delay`
//! before it is sent, which slows an online password guesser without slowing anyone else.
//!
//! A delayed reject costs one timer entry in one task per UDP socket (per connection for RADIUS
//! over TCP and TLS), nothing more: the request's
//! own task, its hashing slot and its worker are all released as soon as the decision is made.
//! Until the reject is sent the request stays "in flight" for duplicate detection, so a
//! retransmission is absorbed rather than answered twice; once sent, retransmissions get the
//! same octets back as for any answer.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::time::DelayQueue;

use super::dedup::{Dedup, Key};

struct Delayed {
    key: Key,
    reply: Arc<Vec<u8>>,
}

#[derive(Clone)]
pub struct Delayer {
    delay: Duration,
    tx: mpsc::UnboundedSender<Delayed>,
}

pub struct Receiver {
    delay: Duration,
    rx: mpsc::UnboundedReceiver<Delayed>,
}

pub fn channel(delay: Duration) -> (Delayer, Receiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Delayer { delay, tx }, Receiver { delay, rx })
}

impl Delayer {
    pub fn delays(&self) -> bool {
        !self.delay.is_zero()
    }

    /// Hands a reject over; it is sent (to the request's source) when its delay is up.
    pub fn send_later(&self, key: Key, reply: Arc<Vec<u8>>) {
        // The receiver only goes away after every request task has finished.
        let _ = self.tx.send(Delayed { key, reply });
    }
}

/// Where a held reject goes: a UDP socket (to the request's source) or a stream connection's
/// writer.
pub trait ReplySink: Send + Sync + 'static {
    fn deliver(&self, to: SocketAddr, reply: Arc<Vec<u8>>) -> impl Future<Output = ()> + Send;
}

impl ReplySink for UdpSocket {
    async fn deliver(&self, to: SocketAddr, reply: Arc<Vec<u8>>) {
        if let Err(e) = self.send_to(&reply, to).await {
            tracing::debug!(%to, error = %e, "send_to failed");
        }
    }
}

/// Sends a held reject, then records it in the duplicate table (retransmissions get it too).
async fn send<S: ReplySink>(sink: &S, dedup: &Dedup, key: Key, reply: Arc<Vec<u8>>) {
    sink.deliver(key.0, Arc::clone(&reply)).await;
    dedup.finish(key, Some(reply));
}

/// Runs until every [`Delayer`] is dropped, then sends what it still holds at once.
pub async fn run<S: ReplySink>(mut r: Receiver, socket: Arc<S>, dedup: Arc<Dedup>) {
    // The timer wheel holds the request keys; the replies wait beside it.
    let mut due: DelayQueue<Key> = DelayQueue::new();
    let mut replies: HashMap<Key, Arc<Vec<u8>>> = HashMap::new();
    loop {
        tokio::select! {
            msg = r.rx.recv() => match msg {
                Some(d) => {
                    due.insert(d.key, r.delay);
                    replies.insert(d.key, d.reply);
                }
                None => break,
            },
            Some(expired) = due.next(), if !due.is_empty() => {
                let key = expired.into_inner();
                if let Some(reply) = replies.remove(&key) {
                    send(socket.as_ref(), &dedup, key, reply).await;
                }
            }
        }
    }
    for (key, reply) in replies {
        send(socket.as_ref(), &dedup, key, reply).await;
    }
}
