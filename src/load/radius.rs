//! RADIUS load: PAP Access-Requests with Message-Authenticator, answers checked against the
//! Response Authenticator, NAS-style retransmission.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use rand::RngCore;
use tokio::net::UdpSocket;

use super::report::{RequestEnd, Tally};

#[derive(Clone)]
pub struct Target {
    pub server: SocketAddr,
    pub secret: Vec<u8>,
    pub user: String,
    pub password: Vec<u8>,
    /// Wait this long for an answer before sending again.
    pub timeout: Duration,
    /// How many times to send again.
    pub retries: u32,
}

pub(crate) fn request(t: &Target, id: u8, auth: &[u8; 16]) -> Vec<u8> {
    request_with(t, id, auth, &[])
}

/// A PAP Access-Request with more attributes before its Message-Authenticator (a State
/// answering a challenge, say).
pub(crate) fn request_with(t: &Target, id: u8, auth: &[u8; 16], extra: &[(u8, &[u8])]) -> Vec<u8> {
    let mut p = vec![1u8, id, 0, 0];
    p.extend_from_slice(auth);
    let user = &t.user.as_bytes()[..t.user.len().min(253)];
    p.push(1);
    p.push(user.len() as u8 + 2);
    p.extend_from_slice(user);
    // User-Password (RFC 2865 §5.2), at most 128 octets.
    let hidden = crate::protocol::radius_hiding::hide(
        &t.password[..t.password.len().min(128)],
        &t.secret,
        auth,
        true,
    );
    p.push(2);
    p.push(hidden.len() as u8 + 2);
    p.extend_from_slice(&hidden);
    for (t, v) in extra {
        let v = &v[..v.len().min(253)];
        p.push(*t);
        p.push(v.len() as u8 + 2);
        p.extend_from_slice(v);
    }
    p.extend_from_slice(&[80, 18]);
    p.extend_from_slice(&[0u8; 16]);
    let len = p.len() as u16;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    let mut mac = <Hmac<Md5> as Mac>::new_from_slice(&t.secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(&p);
    let ma = mac.finalize().into_bytes();
    let n = p.len();
    p[n - 16..].copy_from_slice(&ma);
    p
}

/// The answer's kind, if `reply` answers `req` (identifier and Response Authenticator).
pub(crate) fn answer_kind(reply: &[u8], req: &[u8], secret: &[u8]) -> Option<&'static str> {
    if reply.len() < 20 || reply[1] != req[1] {
        return None;
    }
    let mut h = Md5::new();
    h.update(&reply[..4]);
    h.update(&req[4..20]);
    h.update(&reply[20..]);
    h.update(secret);
    if h.finalize().as_slice() != &reply[4..20] {
        return None;
    }
    Some(match reply[0] {
        2 => "Access-Accept",
        3 => "Access-Reject",
        11 => "Access-Challenge",
        _ => "other",
    })
}

async fn socket_for(server: SocketAddr) -> std::io::Result<UdpSocket> {
    let local: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().unwrap_or_else(|_| unreachable!())
    } else {
        "[::]:0".parse().unwrap_or_else(|_| unreachable!())
    };
    let s = UdpSocket::bind(local).await?;
    s.connect(server).await?;
    Ok(s)
}

/// One request: send, wait, retransmit; records the outcome.
async fn one(t: &Target, socket: &UdpSocket, id: u8, tally: &Tally) {
    let mut auth = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut auth);
    let req = request(t, id, &auth);
    let first = Instant::now();
    let mut buf = [0u8; 4096];
    for attempt in 0..=t.retries {
        if attempt > 0 {
            tally.retransmitted();
        }
        if socket.send(&req).await.is_err() {
            break;
        }
        let deadline = tokio::time::Instant::now() + t.timeout;
        loop {
            match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
                Ok(Ok(n)) => {
                    if let Some(kind) = answer_kind(&buf[..n], &req, &t.secret) {
                        tally.record(RequestEnd::Answer(kind.into()), first.elapsed());
                        return;
                    }
                    // A late answer to an earlier request on this socket: keep waiting.
                }
                Ok(Err(_)) => break,
                Err(_) => break,
            }
        }
    }
    tally.record(RequestEnd::Timeout, first.elapsed());
}

/// `concurrency` workers, each with its own socket, until `requests` are done.
pub async fn closed_loop(
    t: Target,
    concurrency: usize,
    requests: u64,
    tally: Arc<Tally>,
) -> std::io::Result<()> {
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (t, next, tally) = (t.clone(), next.clone(), tally.clone());
        let socket = socket_for(t.server).await?;
        workers.spawn(async move {
            let mut id = 0u8;
            while next.fetch_add(1, Ordering::Relaxed) < requests {
                one(&t, &socket, id, &tally).await;
                id = id.wrapping_add(1);
            }
        });
    }
    while workers.join_next().await.is_some() {}
    Ok(())
}

/// `rate` new requests a second, each on its own socket, until `requests` were started; then
/// waits for the last answers (or their timeouts).
pub async fn open_loop(
    t: Target,
    rate: f64,
    requests: u64,
    tally: Arc<Tally>,
) -> std::io::Result<()> {
    let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..requests {
        tokio::time::sleep_until(start + period.mul_f64(i as f64)).await;
        let (t, tally) = (t.clone(), tally.clone());
        tasks.spawn(async move {
            match socket_for(t.server).await {
                Ok(s) => one(&t, &s, (i % 256) as u8, &tally).await,
                Err(_) => tally.record(RequestEnd::Timeout, Duration::ZERO),
            }
        });
        // Reap finished tasks as we go so memory stays flat over a long run.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_hides_the_password_and_carries_a_valid_message_authenticator() {
        let t = Target {
            server: "127.0.0.1:1812".parse().unwrap(),
            secret: b"s3cret".to_vec(),
            user: "alice".into(),
            password: b"Winter2026!".to_vec(),
            timeout: Duration::from_secs(1),
            retries: 0,
        };
        let p = request(&t, 7, &[9; 16]);
        assert!(!p.windows(11).any(|w| w == b"Winter2026!"));
        let raw = crate::protocol::radius_packet::RawPacket::parse(&p).unwrap();
        assert_eq!(raw.message_authenticator_ok(b"s3cret"), Some(true));
        let pkt = radius::core::packet::Packet::decode(&p, b"s3cret").unwrap();
        let pw = radius::core::rfc2865::lookup_user_password(&pkt)
            .unwrap()
            .unwrap();
        assert_eq!(pw, b"Winter2026!");
    }
}
