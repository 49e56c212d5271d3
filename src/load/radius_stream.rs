//! RADIUS load over TCP (RFC 6613) or TLS (RFC 6614): `connections` connections, each keeping
//! its share of the requests in flight (pipelined, paired with their answers by Identifier), or,
//! with `reconnect`, one request per new connection (what a handshake costs).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rand::RngCore;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::radius::{answer_kind, request, Target};
use super::report::{RequestEnd, Tally};

/// A client certificate and the CA the server's must chain to.
#[derive(Clone)]
pub struct TlsClient {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// How the requests travel.
#[derive(Clone)]
pub struct Stream {
    /// `None`: plain TCP.
    pub tls: Option<Arc<tokio_rustls::TlsConnector>>,
    pub connections: usize,
    pub reconnect: bool,
}

impl TlsClient {
    pub fn connector(&self) -> Result<tokio_rustls::TlsConnector, String> {
        let roots = crate::tls::load_roots(&self.ca)?;
        let certs = crate::tls::load_certs(&self.cert)?;
        let pem = std::fs::read(&self.key)
            .map_err(|e| format!("cannot read {}: {e}", self.key.display()))?;
        let key = rustls_pemfile::private_key(&mut pem.as_slice())
            .map_err(|e| format!("{}: {e}", self.key.display()))?
            .ok_or_else(|| format!("{}: no private key found", self.key.display()))?;
        let config = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, key)
            .map_err(|e| format!("client certificate and key: {e}"))?;
        Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

async fn connect(server: SocketAddr, s: &Stream) -> std::io::Result<Box<dyn Io>> {
    let tcp = TcpStream::connect(server).await?;
    tcp.set_nodelay(true)?;
    match &s.tls {
        None => Ok(Box::new(tcp)),
        Some(tls) => {
            // The lab's server certificate names its addresses (127.0.0.1, ::1).
            let name = rustls::pki_types::ServerName::IpAddress(server.ip().into());
            Ok(Box::new(tls.connect(name, tcp).await?))
        }
    }
}

/// An answer, framed as the server frames requests (its own reader, the same limits).
async fn read_packet<R: AsyncRead + Unpin>(rd: &mut R) -> std::io::Result<Vec<u8>> {
    use crate::radius::stream::framing::{self, FrameError};
    framing::read_packet(rd).await.map_err(|e| match e {
        FrameError::Io(e) => e,
        other => std::io::Error::other(other.to_string()),
    })
}

fn fresh_request(t: &Target, id: u8) -> Vec<u8> {
    let mut auth = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut auth);
    request(t, id, &auth)
}

/// One connection keeping `window` requests in flight until `next` reaches `requests`.
async fn pipelined(
    t: &Target,
    s: &Stream,
    window: usize,
    next: &AtomicU64,
    requests: u64,
    tally: &Tally,
) -> std::io::Result<()> {
    let mut conn = connect(t.server, s).await?;
    let mut open: HashMap<u8, (Vec<u8>, Instant)> = HashMap::new();
    let mut id = 0u8;
    loop {
        while open.len() < window && next.fetch_add(1, Ordering::Relaxed) < requests {
            while open.contains_key(&id) {
                id = id.wrapping_add(1);
            }
            let req = fresh_request(t, id);
            conn.write_all(&req).await?;
            open.insert(id, (req, Instant::now()));
            id = id.wrapping_add(1);
        }
        if open.is_empty() {
            return Ok(());
        }
        conn.flush().await?;
        let reply = match tokio::time::timeout(t.timeout, read_packet(&mut conn)).await {
            Ok(r) => r?,
            Err(_) => {
                for (_, (_, started)) in open.drain() {
                    tally.record(RequestEnd::Timeout, started.elapsed());
                }
                return Ok(());
            }
        };
        if let Some((req, started)) = open.remove(&reply[1]) {
            match answer_kind(&reply, &req, &t.secret) {
                Some(kind) => tally.record(RequestEnd::Answer(kind.into()), started.elapsed()),
                None => tally.record(
                    RequestEnd::Answer("bad-authenticator".into()),
                    started.elapsed(),
                ),
            }
        }
    }
}

/// One request on a connection of its own, the handshake counted in its latency.
async fn one_connection(t: &Target, s: &Stream, tally: &Tally) {
    let started = Instant::now();
    let answer = tokio::time::timeout(t.timeout, async {
        let mut conn = connect(t.server, s).await?;
        let req = fresh_request(t, 0);
        conn.write_all(&req).await?;
        conn.flush().await?;
        let reply = read_packet(&mut conn).await?;
        let _ = conn.shutdown().await;
        Ok::<_, std::io::Error>(answer_kind(&reply, &req, &t.secret))
    })
    .await;
    let end = match answer {
        Ok(Ok(Some(kind))) => RequestEnd::Answer(kind.into()),
        Ok(Ok(None)) => RequestEnd::Answer("bad-authenticator".into()),
        _ => RequestEnd::Timeout,
    };
    tally.record(end, started.elapsed());
}

/// `concurrency` requests in flight in all, over the stream's connections.
pub async fn closed_loop(
    t: Target,
    s: Stream,
    concurrency: usize,
    requests: u64,
    tally: Arc<Tally>,
) -> std::io::Result<()> {
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    if s.reconnect {
        for _ in 0..concurrency.max(1) {
            let (t, s, next, tally) = (t.clone(), s.clone(), next.clone(), tally.clone());
            workers.spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < requests {
                    one_connection(&t, &s, &tally).await;
                }
                Ok(())
            });
        }
    } else {
        let connections = s.connections.clamp(1, concurrency.max(1));
        for c in 0..connections {
            // The window is at most 256: a connection's identifiers.
            let window = (concurrency / connections + usize::from(c < concurrency % connections))
                .clamp(1, 256);
            let (t, s, next, tally) = (t.clone(), s.clone(), next.clone(), tally.clone());
            workers.spawn(async move { pipelined(&t, &s, window, &next, requests, &tally).await });
        }
    }
    while let Some(done) = workers.join_next().await {
        if let Ok(Err(e)) = done {
            return Err(e);
        }
    }
    Ok(())
}
