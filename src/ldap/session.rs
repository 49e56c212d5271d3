//! One client connection: reads LDAP messages (see `framing` for the memory bounds), applies the
//! idle timeout to reads and the write timeout to every reply, upgrades to TLS on StartTLS, and
//! says goodbye with a Notice of Disconnection — then hangs up — rather than just vanishing.

use crate::metrics::DropReason;
use std::collections::VecDeque;
use std::sync::Arc;

use ldap3_proto::proto::{LdapMsg, LdapOp, LdapResultCode};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;

use super::ops::{notice_of_disconnection, Action, ConnCtx, Identity, Session};
use crate::protocol::ldap_framing::{self as framing, Budget, ReadError, Reader};
use crate::runtime::shutdown::Shutdown;

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A connection's transport and its reader.
struct Conn {
    io: Box<dyn Io>,
    reader: Reader,
}

impl Conn {
    async fn send(&mut self, msgs: Vec<ldap3_proto::proto::LdapMsg>, ctx: &ConnCtx) -> bool {
        match framing::write_all(&mut self.io, msgs, ctx.config.write_timeout).await {
            Ok(()) => true,
            Err(framing::WriteError::TimedOut) => {
                crate::metrics::global().dropped("ldap", DropReason::SlowPeer);
                ctx.log_close("peer does not read its replies (ldap.write_timeout)");
                false
            }
            Err(framing::WriteError::Io(_)) => false,
        }
    }

    /// A Notice of Disconnection, then the connection is closed (by the caller returning).
    async fn goodbye(&mut self, code: LdapResultCode, why: &str, ctx: &ConnCtx) {
        let _ = self
            .send(vec![notice_of_disconnection(code, why)], ctx)
            .await;
        let _ = tokio::time::timeout(
            ctx.config.write_timeout,
            tokio::io::AsyncWriteExt::shutdown(&mut self.io),
        )
        .await;
    }
}

/// Messages a client may pipeline behind a running search before the connection stops reading
/// (its further bytes wait in the kernel; each message is bounded by `max_message_bytes`).
const MAX_QUEUED: usize = 16;

/// Turns a read's result into the next message, saying goodbye on a bad one; `None` when the
/// connection is over (closed by the peer, or a goodbye was said).
async fn next_message(
    conn: &mut Conn,
    read: Result<LdapMsg, ReadError>,
    ctx: &ConnCtx,
) -> Option<LdapMsg> {
    match read {
        Ok(m) => Some(m),
        Err(ReadError::Closed | ReadError::Truncated | ReadError::Io(_)) => None,
        Err(ReadError::TooLarge { size, max }) => {
            crate::metrics::global().dropped("ldap", DropReason::Malformed);
            ctx.log_close("message larger than ldap.max_message_bytes");
            let why =
                format!("message of {size} octets is larger than {max} (ldap.max_message_bytes)");
            conn.goodbye(LdapResultCode::ProtocolError, &why, ctx).await;
            None
        }
        Err(ReadError::Malformed) => {
            crate::metrics::global().dropped("ldap", DropReason::Malformed);
            ctx.log_close("malformed LDAP message");
            conn.goodbye(
                LdapResultCode::ProtocolError,
                "malformed LDAP message (bad BER or a value that is not valid UTF-8)",
                ctx,
            )
            .await;
            None
        }
    }
}

pub async fn run(
    io: Box<dyn Io>,
    tls_active: bool,
    starttls: Option<TlsAcceptor>,
    ctx: ConnCtx,
    budget: Budget,
    mut shutdown: Shutdown,
) {
    let mut conn = Conn {
        io,
        reader: Reader::new(ctx.config.max_message_bytes, budget.clone()),
    };
    let mut session = Session {
        identity: Identity::Anonymous,
        tls_active,
    };
    let ctx = Arc::new(ctx);
    // Requests the client sent while a search ran, in order.
    let mut queued: VecDeque<LdapMsg> = VecDeque::new();
    loop {
        let message = match queued.pop_front() {
            Some(m) => m,
            None => match next_request(&mut conn, &mut shutdown, &ctx).await {
                Some(m) => m,
                None => return,
            },
        };
        let action = if matches!(message.op, LdapOp::SearchRequest(_)) {
            let searched = search_while_reading(
                &mut session,
                message,
                &mut conn,
                &mut queued,
                &mut shutdown,
                &ctx,
            )
            .await;
            match searched {
                Searched::Answer(action) => *action,
                // Abandoned: RFC 4511 §4.11, no response at all.
                Searched::Abandoned => continue,
                Searched::Over => return,
            }
        } else {
            session.handle(message, &ctx).await
        };
        conn = match action {
            Action::StartTls(response) => {
                let queued = !queued.is_empty();
                let tls = starttls.as_ref();
                match upgrade(conn, &mut session, tls, response, queued, &ctx, &budget).await {
                    Some(tls) => tls,
                    None => return,
                }
            }
            Action::Reply(msgs) => {
                if !conn.send(msgs, &ctx).await {
                    return;
                }
                conn
            }
            Action::Close => return,
            Action::Disconnect(code, why) => {
                ctx.log_close(&why);
                conn.goodbye(code, &why, &ctx).await;
                return;
            }
        };
    }
}

/// StartTLS (RFC 4511 §4.14): the success response in the clear, then the handshake; the
/// connection goes on over TLS with a fresh reader and an anonymous session. `None` ends the connection: StartTLS not
/// offered here, the client spoke before the handshake, or the handshake failed.
async fn upgrade(
    mut conn: Conn,
    session: &mut Session,
    starttls: Option<&TlsAcceptor>,
    response: LdapMsg,
    queued: bool,
    ctx: &ConnCtx,
    budget: &Budget,
) -> Option<Conn> {
    let acceptor = starttls?;
    if !conn.send(vec![response], ctx).await {
        return None;
    }
    if conn.reader.has_pending() || queued {
        // The client spoke before the handshake: nothing safe to do but hang up.
        return None;
    }
    let tls = start_tls(conn.io, acceptor, ctx).await?;
    session.tls_active = true;
    // Whatever was bound before TLS does not carry over.
    session.identity = Identity::Anonymous;
    Some(Conn {
        io: tls,
        reader: Reader::new(ctx.config.max_message_bytes, budget.clone()),
    })
}

/// The next request, within the idle timeout; `None` when the connection is over (shutdown,
/// idle, closed, or a bad message: a goodbye was said where one is due).
async fn next_request(conn: &mut Conn, shutdown: &mut Shutdown, ctx: &ConnCtx) -> Option<LdapMsg> {
    let idle = ctx.config.idle_timeout;
    let next = tokio::select! {
        _ = shutdown.recv() => None,
        r = tokio::time::timeout(idle, conn.reader.next(&mut conn.io)) => Some(r),
    };
    let Some(next) = next else {
        conn.goodbye(
            LdapResultCode::Unavailable,
            "the server is shutting down",
            ctx,
        )
        .await;
        return None;
    };
    let Ok(read) = next else {
        crate::metrics::global().dropped("ldap", DropReason::SlowPeer);
        conn.goodbye(LdapResultCode::Unavailable, "idle timeout", ctx)
            .await;
        return None;
    };
    next_message(conn, read, ctx).await
}

/// What became of a search run beside the connection's reads.
enum Searched {
    Answer(Box<Action>),
    /// The client abandoned it: no response at all.
    Abandoned,
    /// The connection is over (closed, unbound, or the server is shutting down).
    Over,
}

/// A search runs while the connection keeps reading: an Abandon of it, an Unbind or the peer
/// hanging up stops it (dropping it stops its search thread); other requests wait their turn
/// in `queued` (at most `MAX_QUEUED`; beyond, their bytes wait in the kernel).
async fn search_while_reading(
    session: &mut Session,
    message: LdapMsg,
    conn: &mut Conn,
    queued: &mut VecDeque<LdapMsg>,
    shutdown: &mut Shutdown,
    ctx: &ConnCtx,
) -> Searched {
    let id = message.msgid;
    let search = session.handle(message, ctx);
    tokio::pin!(search);
    loop {
        tokio::select! {
            a = &mut search => return Searched::Answer(Box::new(a)),
            _ = shutdown.recv() => {
                conn.goodbye(LdapResultCode::Unavailable, "the server is shutting down", ctx).await;
                return Searched::Over;
            }
            r = conn.reader.next(&mut conn.io), if queued.len() < MAX_QUEUED => {
                let Some(m) = next_message(conn, r, ctx).await else {
                    crate::metrics::global().search_stopped("abandoned");
                    return Searched::Over;
                };
                match m.op {
                    LdapOp::AbandonRequest(target) if target == id => {
                        crate::metrics::global().search_stopped("abandoned");
                        return Searched::Abandoned;
                    }
                    // Abandoning an operation that is over: nothing to do.
                    LdapOp::AbandonRequest(_) => {}
                    LdapOp::UnbindRequest => return Searched::Over,
                    _ => queued.push_back(m),
                }
            }
        }
    }
}

/// The TLS handshake after a StartTLS response; `None` when it failed (logged at debug).
async fn start_tls(io: Box<dyn Io>, acceptor: &TlsAcceptor, ctx: &ConnCtx) -> Option<Box<dyn Io>> {
    match super::tls_accept::handshake(acceptor, io).await {
        Ok(tls) => Some(Box::new(tls)),
        Err(e) => {
            tracing::debug!(peer = %ctx.peer, error = %crate::runtime::logging::cap(&e, 200), "StartTLS handshake failed");
            None
        }
    }
}
