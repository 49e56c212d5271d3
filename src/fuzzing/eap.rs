//! EAP: the packets inside EAP-Message, the EAP-TLS framing and TLS records of the TTLS and
//! PEAP tunnels, and what the tunnelled methods read from the plaintext.

use std::sync::{Arc, LazyLock};

use crate::protocol::eap_packet::{self, Eap};
use crate::radius::eap::inner::Phase;
use crate::radius::eap::{peap, peap_inner, ttls, tunnel::Tunnel};

/// An EAP packet as the conversation engine reads it, and the phase-2 readers on the same
/// octets taken as tunnel plaintext (TTLS AVPs, PEAP's inner EAP, MS-CHAPv2 responses, the
/// Result TLV), through PEAP's step function from every phase that reads the client's answer.
/// Splitting into EAP-Message attributes and joining gives the octets back.
pub fn message(data: &[u8]) {
    let _ = Eap::parse(data);
    let parts = eap_packet::split(data);
    let joined: Vec<u8> = parts.iter().flat_map(|(_, v)| v.iter().copied()).collect();
    assert_eq!(
        joined, data,
        "EAP-Message attributes join back to the packet"
    );
    let _ = ttls::parse(data);
    let _ = peap::inner(data);
    let _ = peap::mschapv2_response(data);
    let _ = peap::result_is_success(data);
    let id = data.first().copied().unwrap_or(0);
    for phase in [
        Phase::PeapIdentitySent,
        Phase::PeapMsChapSent {
            challenge: [7; 16],
            ms_id: id,
        },
        Phase::PeapGtcSent,
    ] {
        let mut identity = Some("alice".to_string());
        let _ = peap_inner::step(phase, data, id, &mut identity);
    }
}

static TLS: LazyLock<Arc<rustls::ServerConfig>> = LazyLock::new(|| {
    let lab = super::lab::lab();
    crate::tls::server_config(&lab.cert, &lab.key, crate::tls::Versions::Tls12)
        .expect("the lab certificate loads")
});

/// EAP-TLS-framed fragments into a fresh tunnel, as a client's responses arrive: the input is
/// a sequence of (2-octet length, type data) responses; after each, what the server would send.
pub fn tunnel(data: &[u8]) {
    let Ok(mut t) = Tunnel::new(Arc::clone(&TLS), 1024) else {
        return;
    };
    let mut rest = data;
    while rest.len() >= 2 {
        let n = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let (response, more) = rest[2..].split_at(n);
        rest = more;
        match t.receive(response) {
            Ok(crate::radius::eap::tunnel::Received::Records(plain)) => {
                let _ = ttls::parse(&plain);
                let _ = t.send(b"\x00");
            }
            Ok(_) => {}
            Err(_) => return,
        }
        t.limit_fragment(rest.len().max(1));
        let _ = t.next_fragment();
    }
}
