//! The LDAP listeners: accept connections (plain, StartTLS or LDAPS) and run each in its own
//! task until shutdown.
//!
//! Admission follows mini-redis: a listener holds a permit *before* it calls `accept`, so a
//! flood of connections waits in the kernel's backlog instead of in our memory. Permits are
//! shared by every listener (`ldap.max_connections` is one limit for the daemon). Over the
//! limit, a few extra "refusal" permits let the server tell a client it is busy (a Notice of
//! Disconnection in clear text; on LDAPS the connection is just closed, since nothing can be
//! said before TLS and a handshake is work we will not do for a refused peer). When even those
//! are taken, the listener simply waits. When the process runs out of file descriptors,
//! `accept` fails at once: the listener backs off instead of spinning.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

use super::ops::{notice_of_disconnection, ConnCtx};
use super::session;
use crate::config::{LdapConfig, LdapListenerConfig, TlsMode};
use crate::protocol::ldap_framing::Budget;
use crate::runtime::logging::SourceLimiter;
use crate::runtime::shutdown::Shutdown;
use crate::verify::Verifier;

/// Connections over the limit that may be told "busy" at once.
const REFUSAL_SLOTS: usize = 16;
/// How long a busy notice may take to write before the refused peer is dropped.
const REFUSAL_WRITE: Duration = Duration::from_secs(1);
/// Back-off after `accept` fails for lack of descriptors or memory: first and longest wait.
const ACCEPT_BACKOFF_FIRST: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// What every LDAP listener of one daemon shares.
#[derive(Clone)]
pub struct Shared {
    pub verifier: Arc<Verifier>,
    reader: Arc<crate::directory::reader::DirectoryReader>,
    pub config: Arc<LdapConfig>,
    connections: Arc<Semaphore>,
    refusals: Arc<Semaphore>,
    budget: Budget,
    log_limit: Arc<SourceLimiter>,
    searches: Arc<super::search_pool::SearchPool>,
}

impl Shared {
    pub fn new(verifier: Arc<Verifier>, config: LdapConfig) -> Shared {
        Shared {
            reader: Arc::new(crate::directory::reader::DirectoryReader::new(
                verifier.store().clone(),
                verifier.clock().clone(),
            )),
            searches: Arc::new(super::search_pool::SearchPool::new(
                config.max_concurrent_searches,
                verifier.admission().clone(),
            )),
            verifier,
            connections: Arc::new(Semaphore::new(config.max_connections)),
            refusals: Arc::new(Semaphore::new(REFUSAL_SLOTS)),
            budget: Budget::new(config.max_buffered_bytes),
            config: Arc::new(config),
            log_limit: Arc::new(SourceLimiter::default()),
        }
    }
}

pub struct BoundListener {
    listener: TcpListener,
    config: LdapListenerConfig,
    tls: Option<TlsAcceptor>,
}

pub async fn bind(cfg: &LdapListenerConfig) -> Result<BoundListener, String> {
    let tls = match (cfg.tls, &cfg.cert, &cfg.key) {
        (TlsMode::None, _, _) => None,
        (_, Some(c), Some(k)) => Some(super::tls_accept::acceptor(c, k)?),
        _ => {
            return Err(format!(
                "LDAP listener {}: TLS needs cert and key",
                cfg.address
            ))
        }
    };
    let listener = crate::runtime::net::bind_tcp(cfg.address)
        .map_err(|e| format!("cannot bind LDAP on {}: {e}", cfg.address))?;
    Ok(BoundListener {
        listener,
        config: cfg.clone(),
        tls,
    })
}

/// What a listener holds before it accepts.
enum Admission {
    Serve(OwnedSemaphorePermit),
    Refuse(OwnedSemaphorePermit),
}

async fn admit(shared: &Shared) -> Admission {
    if let Ok(p) = shared.connections.clone().try_acquire_owned() {
        return Admission::Serve(p);
    }
    if let Ok(p) = shared.refusals.clone().try_acquire_owned() {
        return Admission::Refuse(p);
    }
    tokio::select! {
        Ok(p) = shared.connections.clone().acquire_owned() => Admission::Serve(p),
        Ok(p) = shared.refusals.clone().acquire_owned() => Admission::Refuse(p),
    }
}

/// `accept` failed because the process or the system is out of descriptors or memory.
fn out_of_resources(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

impl BoundListener {
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    pub async fn serve(self, shared: Shared, mut shutdown: Shutdown) {
        let tracker = TaskTracker::new();
        let mut backoff = ACCEPT_BACKOFF_FIRST;
        loop {
            // Wait until there is room (or a refusal slot) before accepting. A serving permit
            // is not held while this listener waits in `accept`, so that idle listeners do not
            // park capacity the others need; it is taken again once a peer is there.
            let ready = tokio::select! {
                _ = shutdown.recv() => break,
                a = admit(&shared) => a,
            };
            let refusal = match ready {
                Admission::Serve(p) => {
                    drop(p);
                    None
                }
                Admission::Refuse(p) => Some(p),
            };
            let accepted = tokio::select! {
                _ = shutdown.recv() => break,
                r = self.listener.accept() => r,
            };
            let (stream, peer) = match accepted {
                Ok(v) => {
                    backoff = ACCEPT_BACKOFF_FIRST;
                    v
                }
                Err(e) => {
                    if out_of_resources(&e) {
                        tracing::warn!(error = %e, wait_ms = backoff.as_millis() as u64, "LDAP accept: out of descriptors or memory; backing off");
                        tokio::select! {
                            _ = shutdown.recv() => break,
                            _ = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                    }
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            // A fixed send buffer: a peer that never reads its replies can park at most this
            // much in the kernel before ldap.write_timeout closes it (autotuning let it grow to
            // about 4 MiB per connection).
            let _ = socket2::SockRef::from(&stream)
                .set_send_buffer_size(shared.config.send_buffer_bytes);
            // Room may have freed up while we waited in `accept`: serving beats refusing.
            let admission = match shared.connections.clone().try_acquire_owned() {
                Ok(p) => Admission::Serve(p),
                Err(_) => match refusal
                    .map_or_else(|| shared.refusals.clone().try_acquire_owned().ok(), Some)
                {
                    Some(p) => Admission::Refuse(p),
                    // Another listener took the room and every refusal slot meanwhile.
                    None => continue,
                },
            };
            let permit = match admission {
                Admission::Serve(p) => p,
                Admission::Refuse(p) => {
                    crate::metrics::global()
                        .dropped("ldap", crate::metrics::DropReason::ConnectionLimit);
                    let mode = self.config.tls;
                    tracker.spawn(async move {
                        let _p = p;
                        refuse_busy(stream, mode).await;
                    });
                    continue;
                }
            };
            self.serve_connection(&shared, &tracker, stream, peer, permit, shutdown.clone());
        }
        tracker.close();
        tracker.wait().await;
    }

    /// A connection admitted to be served: its context, the LDAPS handshake if the listener
    /// speaks it, then the session, on a task the listener's tracker waits for at shutdown.
    fn serve_connection(
        &self,
        shared: &Shared,
        tracker: &TaskTracker,
        stream: TcpStream,
        peer: std::net::SocketAddr,
        permit: tokio::sync::OwnedSemaphorePermit,
        shutdown: Shutdown,
    ) {
        let ctx = ConnCtx {
            verifier: shared.verifier.clone(),
            reader: shared.reader.clone(),
            endpoint: self.config.endpoint,
            tls: self.config.tls,
            require_tls: self.config.require_tls,
            config: shared.config.clone(),
            peer,
            log_limit: shared.log_limit.clone(),
            searches: shared.searches.clone(),
        };
        let tls = self.tls.clone();
        let mode = self.config.tls;
        let budget = shared.budget.clone();
        tracker.spawn(async move {
            let _permit = permit;
            let _open = crate::metrics::global().ldap_connection();
            let (io, active, starttls): (Box<dyn session::Io>, bool, Option<TlsAcceptor>) =
                match (mode, tls) {
                    (TlsMode::Ldaps, Some(acc)) => {
                        match super::tls_accept::handshake(&acc, stream).await {
                            Ok(s) => (Box::new(s), true, None),
                            Err(_) => {
                                ctx.log_close("LDAPS handshake failed");
                                return;
                            }
                        }
                    }
                    (TlsMode::StartTls, acc) => (Box::new(stream), false, acc),
                    _ => (Box::new(stream), false, None),
                };
            session::run(io, active, starttls, ctx, budget, shutdown).await;
        });
    }
}

/// Over the connection limit: a Notice of Disconnection (busy) where the listener speaks clear
/// text, then close. No TLS work is done for a refused peer.
async fn refuse_busy(mut stream: TcpStream, mode: TlsMode) {
    if mode != TlsMode::Ldaps {
        let notice = notice_of_disconnection(
            ldap3_proto::proto::LdapResultCode::Busy,
            "too many connections (ldap.max_connections)",
        );
        let _ = crate::protocol::ldap_framing::write_all(&mut stream, vec![notice], REFUSAL_WRITE)
            .await;
    }
    let _ = tokio::time::timeout(
        REFUSAL_WRITE,
        tokio::io::AsyncWriteExt::shutdown(&mut stream),
    )
    .await;
}
