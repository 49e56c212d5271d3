//! LDAP load: simple binds over `concurrency` connections, answers named by result code.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use ldap3_proto::proto::{LdapBindCred, LdapBindRequest, LdapMsg, LdapOp};
use ldap3_proto::LdapCodec;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

use super::report::{RequestEnd, Tally};

#[derive(Clone)]
pub struct Target {
    pub server: SocketAddr,
    pub bind_dn: String,
    pub password: String,
    pub timeout: Duration,
}

fn code_name(code: &ldap3_proto::proto::LdapResultCode) -> String {
    let s = format!("{code:?}");
    // camelCase as RFC 4511 names them: InvalidCredentials -> invalidCredentials.
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => s,
    }
}

/// `concurrency` connections binding in a loop until `requests` binds are done. A connection
/// that fails or times out is replaced.
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
        workers.spawn(async move {
            let mut conn: Option<Framed<TcpStream, LdapCodec>> = None;
            let mut msgid = 0i32;
            while next.fetch_add(1, Ordering::Relaxed) < requests {
                let first = Instant::now();
                if conn.is_none() {
                    conn = TcpStream::connect(t.server)
                        .await
                        .ok()
                        .map(|s| Framed::new(s, LdapCodec::default()));
                }
                let Some(c) = conn.as_mut() else {
                    tally.record(RequestEnd::Timeout, first.elapsed());
                    continue;
                };
                msgid = msgid.wrapping_add(1).max(1);
                let bind = LdapMsg {
                    msgid,
                    op: LdapOp::BindRequest(LdapBindRequest {
                        version: 3,
                        dn: t.bind_dn.clone(),
                        cred: LdapBindCred::Simple(t.password.clone()),
                    }),
                    ctrl: vec![],
                };
                let answer = async {
                    c.send(bind).await.ok()?;
                    loop {
                        let m = c.next().await?.ok()?;
                        match m.op {
                            LdapOp::BindResponse(r) if m.msgid == msgid => {
                                return Some(code_name(&r.res.code))
                            }
                            LdapOp::ExtendedResponse(r) if m.msgid == 0 => {
                                return Some(format!("disconnected:{}", code_name(&r.res.code)))
                            }
                            _ => continue,
                        }
                    }
                };
                match tokio::time::timeout(t.timeout, answer).await {
                    Ok(Some(kind)) => {
                        let closed = kind.starts_with("disconnected");
                        tally.record(RequestEnd::Answer(kind), first.elapsed());
                        if closed {
                            conn = None;
                        }
                    }
                    _ => {
                        tally.record(RequestEnd::Timeout, first.elapsed());
                        conn = None;
                    }
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    Ok(())
}
