//! RADIUS datagrams, as the UDP loop and the stream connections hand them over.

use crate::protocol::radius_packet::{RawPacket, ACCESS_REQUEST, HEADER_LEN};

use super::lab::{client, peer, SECRET};

/// The packet parser, and everything the server reads from a parsed packet before deciding:
/// its description (`serve --debug`), Proxy-States, authenticators, the EAP-Message joined,
/// and the radius crate's decoding the accounting log uses. A parsed packet re-encodes to
/// exactly the octets of its declared length.
pub fn packet(data: &[u8]) {
    let Ok(raw) = RawPacket::parse(data) else {
        return;
    };
    let mut again = raw.bytes[..HEADER_LEN].to_vec();
    for (typ, range) in &raw.attrs {
        let value = &raw.bytes[range.clone()];
        again.push(*typ);
        again.push(value.len() as u8 + 2);
        again.extend_from_slice(value);
    }
    assert_eq!(
        again, raw.bytes,
        "a parsed packet re-encodes to its own octets"
    );
    let _ = crate::radius::describe::describe(&raw);
    let _ = raw.proxy_states();
    let _ = raw.message_authenticator_ok(SECRET);
    let _ = raw.accounting_authenticator_ok(SECRET);
    let _ = raw.unsupported_method();
    let _ = crate::protocol::eap_packet::join(&raw);
    let _ = radius::core::packet::Packet::decode(raw.bytes, SECRET);
}

/// An Access-Request read into an attempt (User-Password unhidden, MS-CHAP proofs read and,
/// when readable, checked against an NT hash), as `radius::request::read` does for the door.
pub fn request(data: &[u8]) {
    let mut owned = data.to_vec();
    if owned.len() >= HEADER_LEN {
        // Every input is an Access-Request: the fuzzer spends no time finding the code.
        owned[0] = ACCESS_REQUEST;
    }
    let Ok(raw) = RawPacket::parse(&owned) else {
        return;
    };
    let c = client();
    if let crate::radius::request::Request::SignIn {
        attempt,
        mschap_ident,
    } = crate::radius::request::read(&raw, &c, peer())
    {
        if let (Some(proof), Some(ident)) = (&attempt.mschap, mschap_ident) {
            let hash = crate::verify::mschap::nt_hash(b"Winter2026!");
            if let Some(ok) = crate::verify::mschap::verify(proof, &hash) {
                let auth = raw.authenticator();
                let _ =
                    crate::radius::mschap_attrs::accept_attributes(&ok, ident, &c.secret, &auth);
            }
        }
    }
}
