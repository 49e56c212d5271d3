//! A minimal LDAP client for wire tests: ldap3_proto's codec as the framing, over TCP or TLS.
#![allow(dead_code)]

use futures::{SinkExt, StreamExt};
use ldap3_proto::proto::*;
use ldap3_proto::LdapCodec;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

pub type Conn<T = TcpStream> = Framed<T, LdapCodec>;

pub async fn connect(port: u16) -> Conn {
    Framed::new(
        TcpStream::connect(("127.0.0.1", port)).await.unwrap(),
        LdapCodec::default(),
    )
}

pub fn bind_msg(id: i32, dn: &str, pw: &str) -> LdapMsg {
    LdapMsg {
        msgid: id,
        op: LdapOp::BindRequest(LdapBindRequest {
            version: 3,
            dn: dn.into(),
            cred: LdapBindCred::Simple(pw.into()),
        }),
        ctrl: vec![],
    }
}

pub async fn bind<T: AsyncRead + AsyncWrite + Unpin>(
    c: &mut Conn<T>,
    id: i32,
    dn: &str,
    pw: &str,
) -> LdapResult {
    c.send(bind_msg(id, dn, pw)).await.unwrap();
    match c.next().await.unwrap().unwrap().op {
        LdapOp::BindResponse(r) => r.res,
        other => panic!("{other:?}"),
    }
}

pub fn extended_msg(id: i32, oid: &str) -> LdapMsg {
    LdapMsg {
        msgid: id,
        op: LdapOp::ExtendedRequest(LdapExtendedRequest {
            name: oid.into(),
            value: None,
        }),
        ctrl: vec![],
    }
}

pub async fn whoami<T: AsyncRead + AsyncWrite + Unpin>(c: &mut Conn<T>, id: i32) -> String {
    c.send(extended_msg(id, OID_WHOAMI)).await.unwrap();
    match c.next().await.unwrap().unwrap().op {
        LdapOp::ExtendedResponse(r) => String::from_utf8(r.value.unwrap_or_default()).unwrap(),
        other => panic!("{other:?}"),
    }
}

pub fn search_msg(id: i32, base: &str, scope: LdapSearchScope, filter: LdapFilter) -> LdapMsg {
    LdapMsg {
        msgid: id,
        op: LdapOp::SearchRequest(LdapSearchRequest {
            base: base.into(),
            scope,
            aliases: LdapDerefAliases::Never,
            sizelimit: 0,
            timelimit: 0,
            typesonly: false,
            filter,
            attrs: vec!["sAMAccountName".into(), "mail".into()],
        }),
        ctrl: vec![],
    }
}

/// A subtree search of the domain: the DNs found and the result code.
pub async fn search<T: AsyncRead + AsyncWrite + Unpin>(
    c: &mut Conn<T>,
    id: i32,
    filter: LdapFilter,
) -> (Vec<String>, LdapResultCode) {
    c.send(search_msg(
        id,
        "DC=contoso,DC=com",
        LdapSearchScope::Subtree,
        filter,
    ))
    .await
    .unwrap();
    let mut dns = vec![];
    loop {
        match c.next().await.unwrap().unwrap().op {
            LdapOp::SearchResultEntry(e) => dns.push(e.dn),
            LdapOp::SearchResultDone(r) => return (dns, r.code),
            other => panic!("{other:?}"),
        }
    }
}

/// The next message must be a Notice of Disconnection; returns its code.
pub async fn expect_notice<T: AsyncRead + AsyncWrite + Unpin>(c: &mut Conn<T>) -> LdapResultCode {
    match c.next().await {
        Some(Ok(LdapMsg {
            msgid: 0,
            op: LdapOp::ExtendedResponse(r),
            ..
        })) => {
            assert_eq!(r.name.as_deref(), Some("1.3.6.1.4.1.1466.20036"));
            r.res.code
        }
        other => panic!("expected a Notice of Disconnection, got {other:?}"),
    }
}

/// After a Notice of Disconnection the server hangs up: the stream ends.
pub async fn expect_closed<T: AsyncRead + AsyncWrite + Unpin>(c: &mut Conn<T>) {
    match tokio::time::timeout(std::time::Duration::from_secs(10), c.next()).await {
        Ok(None) | Ok(Some(Err(_))) => {}
        Ok(Some(Ok(m))) => panic!("expected the connection closed, got {m:?}"),
        Err(_) => panic!("the connection is still open 10 s after the notice"),
    }
}
