//! Socket set-up shared by the listeners. IPv6 sockets are made IPv6-only so that `0.0.0.0:1812`
//! and `[::]:1812` can be listened on side by side, as operators list them.

use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

fn socket(addr: SocketAddr, ty: Type, proto: Protocol) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), ty, Some(proto))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_nonblocking(true)?;
    Ok(s)
}

pub fn bind_udp(addr: SocketAddr) -> std::io::Result<tokio::net::UdpSocket> {
    let s = socket(addr, Type::DGRAM, Protocol::UDP)?;
    s.bind(&addr.into())?;
    tokio::net::UdpSocket::from_std(s.into())
}

pub fn bind_tcp(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let s = socket(addr, Type::STREAM, Protocol::TCP)?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    tokio::net::TcpListener::from_std(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ipv4_and_ipv6_wildcards_share_a_port() {
        let v4 = bind_udp("0.0.0.0:0".parse().unwrap()).unwrap();
        let port = v4.local_addr().unwrap().port();
        let v6: SocketAddr = format!("[::]:{port}").parse().unwrap();
        // Without IPv6 this proves nothing, and the suite's daemons listen on [::1] anyway:
        // say so rather than pass.
        bind_udp(v6).unwrap_or_else(|e| {
            panic!("cannot bind [::]:{port} beside 0.0.0.0:{port} (does this host have IPv6?): {e}")
        });
        let tcp4 = bind_tcp("0.0.0.0:0".parse().unwrap()).unwrap();
        let port = tcp4.local_addr().unwrap().port();
        bind_tcp(format!("[::]:{port}").parse().unwrap())
            .unwrap_or_else(|e| panic!("TCP [::]:{port} beside 0.0.0.0:{port}: {e}"));
    }
}
