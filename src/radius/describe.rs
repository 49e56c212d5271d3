//! A packet's attributes as `radiusd -X` shows them, for `serve --debug`: names from RFC 2865,
//! 2866, 2869 and 3162, values as text, numbers or addresses — and every secret masked
//! (User-Password, CHAP-Password, EAP-Message, State, Message-Authenticator, vendor data).

use crate::protocol::radius_packet::RawPacket;

enum Kind {
    Text,
    Integer,
    Ipv4,
    Hidden,
    Octets,
}

fn attribute(typ: u8) -> (&'static str, Kind) {
    use Kind::*;
    match typ {
        1 => ("User-Name", Text),
        2 => ("User-Password", Hidden),
        3 => ("CHAP-Password", Hidden),
        4 => ("NAS-IP-Address", Ipv4),
        5 => ("NAS-Port", Integer),
        6 => ("Service-Type", Integer),
        7 => ("Framed-Protocol", Integer),
        8 => ("Framed-IP-Address", Ipv4),
        11 => ("Filter-Id", Text),
        18 => ("Reply-Message", Text),
        24 => ("State", Hidden),
        25 => ("Class", Octets),
        26 => ("Vendor-Specific", Hidden),
        27 => ("Session-Timeout", Integer),
        30 => ("Called-Station-Id", Text),
        31 => ("Calling-Station-Id", Text),
        32 => ("NAS-Identifier", Text),
        33 => ("Proxy-State", Octets),
        40 => ("Acct-Status-Type", Integer),
        44 => ("Acct-Session-Id", Text),
        60 => ("CHAP-Challenge", Hidden),
        61 => ("NAS-Port-Type", Integer),
        64 => ("Tunnel-Type", Octets),
        65 => ("Tunnel-Medium-Type", Octets),
        77 => ("Connect-Info", Text),
        79 => ("EAP-Message", Hidden),
        80 => ("Message-Authenticator", Hidden),
        81 => ("Tunnel-Private-Group-Id", Text),
        87 => ("NAS-Port-Id", Text),
        95 => ("NAS-IPv6-Address", Octets),
        _ => ("", Octets),
    }
}

/// `Name = value, …` for every attribute of the packet, in order.
pub fn describe(pkt: &RawPacket<'_>) -> String {
    pkt.attrs
        .iter()
        .map(|(typ, range)| {
            let v = &pkt.bytes[range.clone()];
            let (name, kind) = attribute(*typ);
            let name = if name.is_empty() {
                format!("Attr-{typ}")
            } else {
                name.to_string()
            };
            let shown = match kind {
                Kind::Text => format!(
                    "{:?}",
                    crate::runtime::logging::cap(&String::from_utf8_lossy(v), 64)
                ),
                Kind::Integer if v.len() == 4 => {
                    u32::from_be_bytes([v[0], v[1], v[2], v[3]]).to_string()
                }
                Kind::Ipv4 if v.len() == 4 => {
                    std::net::Ipv4Addr::new(v[0], v[1], v[2], v[3]).to_string()
                }
                Kind::Hidden => format!("<hidden, {} octets>", v.len()),
                _ => format!("0x{}", hex::encode(&v[..v.len().min(32)])),
            };
            format!("{name} = {shown}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_and_the_rest_is_readable() {
        let mut p = vec![1u8, 7, 0, 0];
        p.extend_from_slice(&[0; 16]);
        p.extend_from_slice(&[1, 7, b'a', b'l', b'i', b'c', b'e']);
        p.push(2);
        p.push(18);
        p.extend_from_slice(b"sixteen-octets!!");
        p.extend_from_slice(&[4, 6, 192, 0, 2, 1]);
        let len = p.len() as u16;
        p[2..4].copy_from_slice(&len.to_be_bytes());
        let raw = RawPacket::parse(&p).unwrap();
        let d = describe(&raw);
        assert_eq!(
            d,
            "User-Name = \"alice\", User-Password = <hidden, 16 octets>, NAS-IP-Address = 192.0.2.1"
        );
        assert!(!d.contains("sixteen"));
    }
}
