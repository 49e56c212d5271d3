//! The TLS tunnel of EAP-TTLS and PEAP: EAP-TLS-style framing (RFC 5216 §3.1: the L, M and S
//! flags, the TLS message length, fragments acknowledged one by one) around a rustls server
//! connection. Inbound reassembly and outbound queues are bounded.

use std::io::{Read, Write};
use std::sync::Arc;

const FLAG_LENGTH: u8 = 0x80;
const FLAG_MORE: u8 = 0x40;
const FLAG_START: u8 = 0x20;
/// The largest TLS message a client may send in fragments (a ClientHello or a client
/// certificate chain fits well within it).
const MAX_INBOUND: usize = 64 * 1024;

/// What a response gave the tunnel.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// A fragment was stored; the client waits for an acknowledgement to send the next.
    NeedMore,
    /// The client acknowledged a fragment of ours (an empty response).
    Ack,
    /// A whole TLS message was processed: the application data it held (maybe none).
    Records(Vec<u8>),
}

pub struct Tunnel {
    tls: rustls::ServerConnection,
    inbound: Vec<u8>,
    outbound: Vec<u8>,
    sent: usize,
    /// `radius.eap.fragment_size`, and what this round trip's reply has room for.
    configured: usize,
    fragment: usize,
}

impl Tunnel {
    pub fn new(config: Arc<rustls::ServerConfig>, fragment: usize) -> Result<Tunnel, String> {
        Ok(Tunnel {
            tls: rustls::ServerConnection::new(config).map_err(|e| e.to_string())?,
            inbound: Vec::new(),
            outbound: Vec::new(),
            sent: 0,
            configured: fragment,
            fragment,
        })
    }

    /// The most TLS octets the next fragment may carry in this round trip: the configured
    /// size, or less when the reply has less room (many Proxy-States in the request).
    pub fn limit_fragment(&mut self, room: usize) {
        self.fragment = self.configured.min(room).max(1);
    }

    /// The data of the first request: Start, version 0.
    pub fn start() -> Vec<u8> {
        vec![FLAG_START]
    }

    /// An acknowledgement of the client's fragment: flags only.
    pub fn ack() -> Vec<u8> {
        vec![0]
    }

    pub fn handshaking(&self) -> bool {
        self.tls.is_handshaking()
    }

    /// Whether TLS octets wait to be sent.
    pub fn pending(&self) -> bool {
        self.sent < self.outbound.len() || self.tls.wants_write()
    }

    /// Handles the type data of an EAP-Response of the tunnel's method.
    pub fn receive(&mut self, data: &[u8]) -> Result<Received, String> {
        let (&flags, mut rest) = data.split_first().ok_or("empty EAP-TLS response")?;
        if flags & FLAG_LENGTH != 0 {
            if rest.len() < 4 {
                return Err("TLS message length missing".into());
            }
            let total = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            if total > MAX_INBOUND {
                return Err(format!("TLS message of {total} octets is too large"));
            }
            rest = &rest[4..];
        }
        if rest.is_empty() && flags & FLAG_MORE == 0 && self.inbound.is_empty() {
            return Ok(Received::Ack);
        }
        if self.inbound.len() + rest.len() > MAX_INBOUND {
            return Err("TLS message too large".into());
        }
        self.inbound.extend_from_slice(rest);
        if flags & FLAG_MORE != 0 {
            return Ok(Received::NeedMore);
        }
        let message = std::mem::take(&mut self.inbound);
        let mut reader = message.as_slice();
        while !reader.is_empty() {
            self.tls.read_tls(&mut reader).map_err(|e| e.to_string())?;
            self.tls
                .process_new_packets()
                .map_err(|e| format!("TLS: {e}"))?;
        }
        let mut plain = Vec::new();
        match self.tls.reader().read_to_end(&mut plain) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(format!("TLS: {e}")),
        }
        Ok(Received::Records(plain))
    }

    /// Queues application data for the client (inside the tunnel).
    pub fn send(&mut self, plain: &[u8]) -> Result<(), String> {
        self.tls
            .writer()
            .write_all(plain)
            .map_err(|e| format!("TLS: {e}"))
    }

    /// The type data of the next request: the next fragment of what TLS has to send (the
    /// first of several carries the total length), or an empty request.
    pub fn next_fragment(&mut self) -> Vec<u8> {
        if self.sent >= self.outbound.len() {
            self.outbound.clear();
            self.sent = 0;
            while self.tls.wants_write() {
                if self.tls.write_tls(&mut self.outbound).is_err() {
                    break;
                }
            }
        }
        let remaining = self.outbound.len() - self.sent;
        let chunk = remaining.min(self.fragment);
        let more = chunk < remaining;
        let mut out = Vec::with_capacity(chunk + 5);
        if more && self.sent == 0 {
            out.push(FLAG_LENGTH | FLAG_MORE);
            out.extend_from_slice(&(self.outbound.len() as u32).to_be_bytes());
        } else if more {
            out.push(FLAG_MORE);
        } else {
            out.push(0);
        }
        out.extend_from_slice(&self.outbound[self.sent..self.sent + chunk]);
        self.sent += chunk;
        out
    }

    /// Keying material from the TLS master secret (RFC 5705 exporter; for TLS 1.2 the PRF
    /// over the master secret, the label and both randoms, as RFC 5281 and PEAP define it).
    pub fn export(&self, label: &[u8], len: usize) -> Result<Vec<u8>, String> {
        self.tls
            .export_keying_material(vec![0u8; len], label, None)
            .map_err(|e| format!("TLS exporter: {e}"))
    }
}
