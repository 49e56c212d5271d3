//! RADIUS over TCP (RFC 6613) and over TLS (RFC 6614): the listeners. They only carry packets:
//! every request is served by the same `RadiusServer` as on UDP (verifier, duplicate detection
//! per connection, reject delay, EAP, MS-CHAP, accounting, logs).
//!
//! A TCP client is known by its source address and shared secret, as on UDP. A TLS client is
//! known by its certificate: it must chain to the listener's CA and name a client's
//! `tls_identity`, or the handshake is refused; the client's `network`, when set, must cover
//! the source too. Its shared secret is "radsec" (RFC 6614 §2.3).
//!
//! Connections are bounded per listener (`max_connections`: one over it is closed at once,
//! logged at most a few times a second), a handshake by `handshake_timeout`. SIGHUP re-reads
//! the certificate, key and CA files.

pub mod certificates;
mod connection;
pub mod framing;
mod peer_log;

use peer_log::warn_peer;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;

use crate::config::{StreamListenerConfig, StreamTlsFiles};
use crate::radius::{Clients, RadiusServer};
use crate::runtime::shutdown::Shutdown;

/// The kernel send buffer of each RADIUS stream connection (the kernel doubles it).
const SEND_BUFFER_BYTES: usize = 64 * 1024;

/// The TLS side of a listener: the server configuration in use, swapped whole on reload.
#[derive(Clone)]
pub struct TlsSetup {
    files: StreamTlsFiles,
    clients: Clients,
    current: Arc<RwLock<Arc<rustls::ServerConfig>>>,
}

impl TlsSetup {
    pub fn load(files: &StreamTlsFiles, clients: &Clients) -> Result<TlsSetup, String> {
        let config = build(files, clients)?;
        Ok(TlsSetup {
            files: files.clone(),
            clients: clients.clone(),
            current: Arc::new(RwLock::new(config)),
        })
    }

    /// SIGHUP: the files read again; a set that does not load keeps the one in use.
    pub fn reload(&self) -> Result<(), String> {
        let config = build(&self.files, &self.clients)?;
        match self.current.write() {
            Ok(mut g) => *g = config,
            Err(p) => *p.into_inner() = config,
        }
        Ok(())
    }

    fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let config = match self.current.read() {
            Ok(g) => Arc::clone(&g),
            Err(p) => Arc::clone(&p.into_inner()),
        };
        tokio_rustls::TlsAcceptor::from(config)
    }
}

/// The server configuration for one listener's files (also what `config check` tries).
pub fn build(
    files: &StreamTlsFiles,
    clients: &Clients,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let roots = crate::tls::load_roots(&files.ca)?;
    let verifier = certificates::KnownClients::new(roots, clients.clone())?;
    crate::tls::mutual_server_config(&files.cert, &files.key, Arc::new(verifier))
}

pub struct StreamListener {
    listener: TcpListener,
    config: StreamListenerConfig,
    tls: Option<TlsSetup>,
}

/// Binds one configured listener (and loads its certificates: a listener that cannot serve
/// TLS does not start).
pub fn bind(config: &StreamListenerConfig, clients: &Clients) -> Result<StreamListener, String> {
    let tls = match &config.tls {
        Some(files) => Some(TlsSetup::load(files, clients)?),
        None => None,
    };
    let listener = crate::runtime::net::bind_tcp(config.address)
        .map_err(|e| format!("cannot listen on {}: {e}", config.address))?;
    Ok(StreamListener {
        listener,
        config: config.clone(),
        tls,
    })
}

impl StreamListener {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// What SIGHUP reloads (TLS listeners only).
    pub fn tls(&self) -> Option<TlsSetup> {
        self.tls.clone()
    }

    /// Accepts until shutdown, then waits for every connection to answer what it has in flight.
    pub async fn serve(self, server: Arc<RadiusServer>, mut shutdown: Shutdown) {
        let transport = self.config.transport();
        let slots = Arc::new(Semaphore::new(self.config.max_connections));
        let tracker = TaskTracker::new();
        let background = server.start_background(&shutdown);
        let metrics = crate::metrics::global();
        loop {
            let (tcp, from) = tokio::select! {
                _ = shutdown.recv() => break,
                r = self.listener.accept() => match r {
                    Ok(v) => v,
                    Err(e) => {
                        // Out of descriptors, say: back off a moment rather than spin.
                        tracing::debug!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        continue;
                    }
                },
            };
            let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                metrics.radius_connection_refused(transport, "connection-limit");
                let what = format!("RADIUS/{transport} connection refused");
                let why = format!(
                    "max_connections ({}) reached on {}",
                    self.config.max_connections, self.config.address
                );
                warn_peer(from, &what, &why);
                drop(tcp);
                continue;
            };
            let _ = tcp.set_nodelay(true);
            // Answers are small: a fixed send buffer bounds the kernel memory a peer that never
            // reads can hold (TCP autotuning would let it grow to megabytes) until write_timeout.
            let _ = socket2::SockRef::from(&tcp).set_send_buffer_size(SEND_BUFFER_BYTES);
            let accepted = Accepted {
                tcp,
                from,
                permit,
                server: Arc::clone(&server),
                config: self.config.clone(),
                shutdown: shutdown.clone(),
            };
            match &self.tls {
                Some(tls) => tracker.spawn(accepted.serve_tls(tls.acceptor())),
                None => tracker.spawn(accepted.serve_tcp()),
            };
        }
        for task in background {
            task.abort();
        }
        tracker.close();
        tracker.wait().await;
    }
}

/// A connection accepted within the limit; its slot is freed when it ends.
struct Accepted {
    tcp: TcpStream,
    from: SocketAddr,
    permit: OwnedSemaphorePermit,
    server: Arc<RadiusServer>,
    config: StreamListenerConfig,
    shutdown: Shutdown,
}

impl Accepted {
    /// RFC 6613: a client known by address and secret; an unknown one is closed at once.
    async fn serve_tcp(self) {
        let metrics = crate::metrics::global();
        let Some(client) = self.server.clients().current().lookup(self.from.ip()) else {
            metrics.radius_connection_refused("tcp", "unknown-client");
            warn_peer(
                self.from,
                "RADIUS/tcp connection refused",
                "no [[radius.clients]] network covers it",
            );
            return;
        };
        let _open = metrics.radius_connection("tcp");
        let peer = connection::Peer {
            server: self.server,
            from: self.from,
            client,
            transport: "tcp",
        };
        connection::serve(self.tcp, peer, &self.config, self.shutdown).await;
        drop(self.permit);
    }

    /// RFC 6614: mutual TLS within `handshake_timeout`, then the client its certificate names.
    async fn serve_tls(self, acceptor: tokio_rustls::TlsAcceptor) {
        let metrics = crate::metrics::global();
        let from = self.from;
        let handshake =
            tokio::time::timeout(self.config.handshake_timeout, acceptor.accept(self.tcp)).await;
        let tls = match handshake {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                metrics.radius_connection_refused("tls", "handshake");
                warn_peer(
                    from,
                    "RADIUS/tls handshake refused",
                    &certificates::describe_refusal(&e),
                );
                return;
            }
            Err(_) => {
                metrics.radius_connection_refused("tls", "handshake-timeout");
                warn_peer(
                    from,
                    "RADIUS/tls handshake refused",
                    "not finished within handshake_timeout",
                );
                return;
            }
        };
        let names = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(certificates::names)
            .unwrap_or_default();
        let Some(client) = self
            .server
            .clients()
            .current()
            .lookup_tls(&names, from.ip())
        else {
            metrics.radius_connection_refused("tls", "unknown-client");
            let why = format!(
                "the certificate ({}) names a client whose network does not cover this address",
                names.join(", ")
            );
            warn_peer(from, "RADIUS/tls connection closed", &why);
            return;
        };
        tracing::debug!(%from, client = %client.name, "RADIUS/tls connection from a known certificate");
        let _open = metrics.radius_connection("tls");
        let peer = connection::Peer {
            server: self.server,
            from,
            client,
            transport: "tls",
        };
        connection::serve(tls, peer, &self.config, self.shutdown).await;
        drop(self.permit);
    }
}
