//! The LDAP listener: accepts connections (plain or LDAPS), bounds how many are open at once,
//! and runs each in its own task until shutdown.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

use super::ops::{notice_of_disconnection, ConnCtx};
use super::session::{self, Io};
use crate::config::{LdapConfig, LdapListenerConfig, TlsMode};
use crate::shutdown::Shutdown;
use crate::verify::Verifier;

pub struct BoundListener {
    listener: TcpListener,
    config: LdapListenerConfig,
    tls: Option<TlsAcceptor>,
}

pub async fn bind(cfg: &LdapListenerConfig) -> Result<BoundListener, String> {
    let tls = match (cfg.tls, &cfg.cert, &cfg.key) {
        (TlsMode::None, _, _) => None,
        (_, Some(c), Some(k)) => Some(super::tls::acceptor(c, k)?),
        _ => {
            return Err(format!(
                "LDAP listener {}: TLS needs cert and key",
                cfg.address
            ))
        }
    };
    let listener = crate::net::bind_tcp(cfg.address)
        .map_err(|e| format!("cannot bind LDAP on {}: {e}", cfg.address))?;
    Ok(BoundListener {
        listener,
        config: cfg.clone(),
        tls,
    })
}

impl BoundListener {
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    pub async fn serve(self, verifier: Arc<Verifier>, ldap: LdapConfig, mut shutdown: Shutdown) {
        let ldap = Arc::new(ldap);
        let limit = Arc::new(Semaphore::new(ldap.max_connections));
        let tracker = TaskTracker::new();
        loop {
            let (stream, peer) = tokio::select! {
                _ = shutdown.recv() => break,
                r = self.listener.accept() => match r {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::debug!(error = %e, "accept failed");
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let permit = limit.clone().try_acquire_owned();
            let ctx = ConnCtx {
                verifier: verifier.clone(),
                endpoint: self.config.endpoint,
                tls: self.config.tls,
                config: ldap.clone(),
                peer,
            };
            let tls = self.tls.clone();
            let mode = self.config.tls;
            let shutdown = shutdown.clone();
            tracker.spawn(async move {
                let Ok(_permit) = permit else {
                    refuse_busy(stream, tls, mode).await;
                    return;
                };
                let (io, active, starttls): (Box<dyn Io>, bool, Option<TlsAcceptor>) =
                    match (mode, tls) {
                        (TlsMode::Ldaps, Some(acc)) => {
                            match super::tls::handshake(&acc, stream).await {
                                Ok(s) => (Box::new(s), true, None),
                                Err(e) => {
                                    tracing::debug!(%peer, error = %e, "LDAPS handshake failed");
                                    return;
                                }
                            }
                        }
                        (TlsMode::StartTls, acc) => (Box::new(stream), false, acc),
                        _ => (Box::new(stream), false, None),
                    };
                session::run(io, active, starttls, ctx, shutdown).await;
            });
        }
        tracker.close();
        tracker.wait().await;
    }
}

/// Over the connection limit: a Notice of Disconnection (busy), then close.
async fn refuse_busy(stream: tokio::net::TcpStream, tls: Option<TlsAcceptor>, mode: TlsMode) {
    use futures::SinkExt;
    let io: Box<dyn Io> = match (mode, tls) {
        (TlsMode::Ldaps, Some(acc)) => match super::tls::handshake(&acc, stream).await {
            Ok(s) => Box::new(s),
            Err(_) => return,
        },
        _ => Box::new(stream),
    };
    let mut conn = tokio_util::codec::Framed::new(io, ldap3_proto::LdapCodec::default());
    let _ = conn
        .send(notice_of_disconnection(
            ldap3_proto::proto::LdapResultCode::Busy,
            "too many connections (ldap.max_connections)",
        ))
        .await;
}
