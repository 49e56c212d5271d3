//! A hand-built RADIUS client for wire tests: each field can be broken on purpose.
#![allow(dead_code)]

use std::net::UdpSocket;
use std::time::Duration;

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};

pub fn hmac_md5(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Md5> as Mac>::new_from_slice(key).unwrap();
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// An Access-Request with PAP, built by hand so that each field can be broken on purpose.
pub fn access_request(
    id: u8,
    auth: [u8; 16],
    user: &str,
    password: &[u8],
    secret: &str,
    with_ma: bool,
    extra: &[(u8, Vec<u8>)],
) -> Vec<u8> {
    let mut p = vec![1, id, 0, 0];
    p.extend_from_slice(&auth);
    let push = |p: &mut Vec<u8>, t: u8, v: &[u8]| {
        p.push(t);
        p.push(v.len() as u8 + 2);
        p.extend_from_slice(v);
    };
    push(&mut p, 1, user.as_bytes());
    let mut padded = password.to_vec();
    padded.resize(password.len().div_ceil(16).max(1) * 16, 0);
    let mut enc = Vec::new();
    let mut prev = auth.to_vec();
    for chunk in padded.chunks(16) {
        let mut h = Md5::new();
        h.update(secret.as_bytes());
        h.update(&prev);
        let b = h.finalize();
        let c: Vec<u8> = chunk.iter().zip(b.iter()).map(|(x, y)| x ^ y).collect();
        enc.extend_from_slice(&c);
        prev = c;
    }
    push(&mut p, 2, &enc);
    for (t, v) in extra {
        push(&mut p, *t, v);
    }
    let ma_at = if with_ma {
        push(&mut p, 80, &[0u8; 16]);
        Some(p.len() - 16)
    } else {
        None
    };
    let len = p.len() as u16;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    if let Some(at) = ma_at {
        let ma = hmac_md5(secret.as_bytes(), &p);
        p[at..at + 16].copy_from_slice(&ma);
    }
    p
}

pub fn exchange(sock: &UdpSocket, port: u16, host: &str, pkt: &[u8]) -> Option<Vec<u8>> {
    sock.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    sock.send_to(pkt, (host, port)).unwrap();
    let mut buf = [0u8; 4096];
    sock.recv_from(&mut buf)
        .ok()
        .map(|(n, _)| buf[..n].to_vec())
}

pub fn client(host: &str) -> UdpSocket {
    UdpSocket::bind((host, 0)).unwrap()
}

/// An Accounting-Request (RFC 2866) with these attributes, its authenticator made with `secret`.
pub fn accounting_request(id: u8, attrs: &[(u8, Vec<u8>)], secret: &str) -> Vec<u8> {
    let mut p = vec![4u8, id, 0, 0];
    p.extend_from_slice(&[0u8; 16]);
    for (t, v) in attrs {
        p.push(*t);
        p.push(v.len() as u8 + 2);
        p.extend_from_slice(v);
    }
    let len = p.len() as u16;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    let mut h = Md5::new();
    h.update(&p);
    h.update(secret.as_bytes());
    let auth: [u8; 16] = h.finalize().into();
    p[4..20].copy_from_slice(&auth);
    p
}
