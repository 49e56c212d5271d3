//! One client connection: frames LDAP messages, applies the idle timeout, upgrades to TLS on
//! StartTLS, and says goodbye with a Notice of Disconnection rather than just hanging up.

use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use ldap3_proto::proto::{LdapMsg, LdapResultCode};
use ldap3_proto::LdapCodec;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::Framed;

use super::ops::{notice_of_disconnection, Action, ConnCtx, Identity, Session};
use crate::shutdown::Shutdown;

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type Conn = Framed<Box<dyn Io>, LdapCodec>;

fn framed(io: Box<dyn Io>, max: usize) -> Conn {
    Framed::new(io, LdapCodec::new(Some(max), None))
}

async fn send_all(conn: &mut Conn, msgs: Vec<LdapMsg>) -> bool {
    for m in msgs {
        if conn.feed(m).await.is_err() {
            return false;
        }
    }
    conn.flush().await.is_ok()
}

async fn goodbye(conn: &mut Conn, code: LdapResultCode, why: &str) {
    let _ = send_all(conn, vec![notice_of_disconnection(code, why)]).await;
}

pub async fn run(
    io: Box<dyn Io>,
    tls_active: bool,
    starttls: Option<TlsAcceptor>,
    ctx: ConnCtx,
    mut shutdown: Shutdown,
) {
    let max = ctx.config.max_message_bytes;
    let idle = ctx.config.idle_timeout;
    let mut conn = framed(io, max);
    let mut session = Session {
        identity: Identity::Anonymous,
        tls_active,
    };
    let ctx = Arc::new(ctx);
    loop {
        let next = tokio::select! {
            _ = shutdown.recv() => {
                goodbye(&mut conn, LdapResultCode::Unavailable, "the server is shutting down").await;
                return;
            }
            r = tokio::time::timeout(idle, conn.next()) => r,
        };
        let message = match next {
            Err(_) => {
                goodbye(&mut conn, LdapResultCode::Unavailable, "idle timeout").await;
                return;
            }
            Ok(None) => return,
            Ok(Some(Err(e))) => {
                let why = if e.kind() == std::io::ErrorKind::OutOfMemory {
                    format!("message larger than {max} octets (ldap.max_message_bytes)")
                } else {
                    "malformed LDAP message (bad BER or a value that is not valid UTF-8)"
                        .to_string()
                };
                tracing::debug!(peer = %ctx.peer, error = %e, "closing LDAP connection");
                goodbye(&mut conn, LdapResultCode::ProtocolError, &why).await;
                return;
            }
            Ok(Some(Ok(m))) => m,
        };
        match session.handle(message, &ctx).await {
            Action::Reply(msgs) => {
                if !send_all(&mut conn, msgs).await {
                    return;
                }
            }
            Action::Close => return,
            Action::StartTls(response) => {
                let Some(acceptor) = starttls.clone() else {
                    return;
                };
                if !send_all(&mut conn, vec![response]).await {
                    return;
                }
                let parts = conn.into_parts();
                if !parts.read_buf.is_empty() {
                    // The client spoke before the handshake: nothing safe to do but hang up.
                    return;
                }
                match super::tls::handshake(&acceptor, parts.io).await {
                    Ok(tls) => {
                        conn = framed(Box::new(tls), max);
                        session.tls_active = true;
                        // Whatever was bound before TLS does not carry over.
                        session.identity = Identity::Anonymous;
                    }
                    Err(e) => {
                        tracing::debug!(peer = %ctx.peer, error = %e, "StartTLS handshake failed");
                        return;
                    }
                }
            }
        }
    }
}
