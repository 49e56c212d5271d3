//! EAP packets (RFC 3748) and how RADIUS carries them (RFC 3579): EAP-Message attributes of at
//! most 253 octets each, joined in order.

pub const REQUEST: u8 = 1;
pub const RESPONSE: u8 = 2;
pub const SUCCESS: u8 = 3;
pub const FAILURE: u8 = 4;

pub const TYPE_IDENTITY: u8 = 1;
pub const TYPE_NAK: u8 = 3;
pub const TYPE_GTC: u8 = 6;
pub const TYPE_TTLS: u8 = 21;
pub const TYPE_PEAP: u8 = 25;
pub const TYPE_MSCHAPV2: u8 = 26;
pub const TYPE_EXTENSIONS: u8 = 33;

pub const ATTR_EAP_MESSAGE: u8 = 79;
pub const ATTR_STATE: u8 = 24;

/// One EAP packet, borrowed from its octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eap<'a> {
    pub code: u8,
    pub id: u8,
    /// The method type of a Request or Response.
    pub typ: Option<u8>,
    /// What follows the type (or the header, for Success and Failure).
    pub data: &'a [u8],
}

impl<'a> Eap<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Eap<'a>, String> {
        if bytes.len() < 4 {
            return Err(format!("EAP packet of {} octets", bytes.len()));
        }
        let len = u16::from_be_bytes([bytes[2], bytes[3]]) as usize;
        if len < 4 || len > bytes.len() {
            return Err(format!("EAP length {len} with {} octets", bytes.len()));
        }
        let (code, id) = (bytes[0], bytes[1]);
        match code {
            REQUEST | RESPONSE if len >= 5 => Ok(Eap {
                code,
                id,
                typ: Some(bytes[4]),
                data: &bytes[5..len],
            }),
            SUCCESS | FAILURE => Ok(Eap {
                code,
                id,
                typ: None,
                data: &bytes[4..len],
            }),
            _ => Err(format!("EAP code {code} of length {len}")),
        }
    }
}

/// Encodes an EAP packet.
pub fn encode(code: u8, id: u8, typ: Option<u8>, data: &[u8]) -> Vec<u8> {
    let len = 4 + typ.map_or(0, |_| 1) + data.len();
    let mut out = Vec::with_capacity(len);
    out.push(code);
    out.push(id);
    out.extend_from_slice(&(len as u16).to_be_bytes());
    if let Some(t) = typ {
        out.push(t);
    }
    out.extend_from_slice(data);
    out
}

/// The EAP packet a RADIUS request carries: its EAP-Message attributes, joined in order.
pub fn join(raw: &crate::protocol::radius_packet::RawPacket<'_>) -> Vec<u8> {
    raw.attrs
        .iter()
        .filter(|(t, _)| *t == ATTR_EAP_MESSAGE)
        .flat_map(|(_, r)| raw.bytes[r.clone()].iter().copied())
        .collect()
}

/// EAP-Message attributes for an EAP packet: 253 octets each.
pub fn split(eap: &[u8]) -> Vec<(u8, Vec<u8>)> {
    eap.chunks(253)
        .map(|c| (ATTR_EAP_MESSAGE, c.to_vec()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_round_trips_and_splits_into_253_octet_attributes() {
        let data = vec![7u8; 600];
        let p = encode(REQUEST, 9, Some(TYPE_TTLS), &data);
        let e = Eap::parse(&p).unwrap();
        assert_eq!(
            (e.code, e.id, e.typ, e.data.len()),
            (REQUEST, 9, Some(TYPE_TTLS), 600)
        );
        let parts = split(&p);
        assert_eq!(parts.len(), 3);
        assert!(parts
            .iter()
            .all(|(t, v)| *t == ATTR_EAP_MESSAGE && v.len() <= 253));
        assert!(Eap::parse(&[1, 2, 0, 9]).is_err(), "length past the end");
        assert!(Eap::parse(&[9, 2, 0, 4]).is_err(), "unknown code");
    }
}
