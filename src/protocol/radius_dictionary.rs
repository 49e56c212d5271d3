//! The reply attributes an authorisation policy may set, by their dictionary names (as
//! FreeRADIUS's dictionaries and radclient spell them), and how each is encoded on the wire.
//!
//! The `radius` crate's generated RFC modules give the type numbers and enumerated values used
//! below; they have no run-time name lookup and no vendor dictionaries, so this table names the
//! attributes policies use in the field (RFC 2865 / 2868 / 2869, and the vendor attributes
//! access points and VPN concentrators read for roles and VLANs). Encoding happens once, when
//! the configuration is validated: a policy that loads is a policy that encodes.

use radius::core::{rfc2865 as r65, rfc2868 as r68, rfc2869 as r69, rfc3580 as r80};

/// A reply value as written in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Integer(i64),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Text(s) => write!(f, "{s:?}"),
            Value::Integer(n) => write!(f, "{n}"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Octets of text (at most 253).
    Text,
    /// A 32-bit unsigned integer.
    Integer,
    /// A 32-bit integer with named values (a number is accepted too).
    Enum(&'static [(&'static str, u32)]),
    /// RFC 2868 tagged integer: one tag octet (0: untagged) and a 24-bit value.
    TaggedEnum(&'static [(&'static str, u32)]),
    /// An IPv4 address.
    Ipv4,
}

/// Where an attribute lives: a standard type, or a vendor's (RFC 2865 §5.26 Vendor-Specific).
#[derive(Debug, Clone, Copy)]
enum Code {
    Standard(u8),
    Vendor(u32, u8),
}

struct Attribute {
    name: &'static str,
    code: Code,
    kind: Kind,
}

const SERVICE_TYPES: &[(&str, u32)] = &[
    ("Login-User", r65::SERVICE_TYPE_LOGIN_USER),
    ("Framed-User", r65::SERVICE_TYPE_FRAMED_USER),
    ("Callback-Login-User", r65::SERVICE_TYPE_CALLBACK_LOGIN_USER),
    (
        "Callback-Framed-User",
        r65::SERVICE_TYPE_CALLBACK_FRAMED_USER,
    ),
    ("Outbound-User", r65::SERVICE_TYPE_OUTBOUND_USER),
    ("Administrative-User", r65::SERVICE_TYPE_ADMINISTRATIVE_USER),
    ("NAS-Prompt-User", r65::SERVICE_TYPE_NAS_PROMPT_USER),
    ("Authenticate-Only", r65::SERVICE_TYPE_AUTHENTICATE_ONLY),
];
const FRAMED_PROTOCOLS: &[(&str, u32)] = &[
    ("PPP", r65::FRAMED_PROTOCOL_PPP),
    ("SLIP", r65::FRAMED_PROTOCOL_SLIP),
];
const TERMINATION_ACTIONS: &[(&str, u32)] = &[
    ("Default", r65::TERMINATION_ACTION_DEFAULT),
    ("RADIUS-Request", r65::TERMINATION_ACTION_RADIUS_REQUEST),
];
const TUNNEL_TYPES: &[(&str, u32)] = &[
    ("PPTP", r68::TUNNEL_TYPE_PPTP),
    ("L2F", r68::TUNNEL_TYPE_L2F),
    ("L2TP", r68::TUNNEL_TYPE_L2TP),
    ("GRE", r68::TUNNEL_TYPE_GRE),
    ("IP-in-IP", r68::TUNNEL_TYPE_IP_IN_IP),
    ("ESP", r68::TUNNEL_TYPE_ESP),
    ("VLAN", r80::TUNNEL_TYPE_VLAN),
];
const TUNNEL_MEDIUM_TYPES: &[(&str, u32)] = &[
    ("IPv4", r68::TUNNEL_MEDIUM_TYPE_I_PV_4),
    ("IPv6", r68::TUNNEL_MEDIUM_TYPE_I_PV_6),
    ("IEEE-802", r68::TUNNEL_MEDIUM_TYPE_IEEE_802),
];

const ATTRIBUTES: &[Attribute] = &[
    Attribute {
        name: "Service-Type",
        code: Code::Standard(r65::SERVICE_TYPE_TYPE),
        kind: Kind::Enum(SERVICE_TYPES),
    },
    Attribute {
        name: "Framed-Protocol",
        code: Code::Standard(r65::FRAMED_PROTOCOL_TYPE),
        kind: Kind::Enum(FRAMED_PROTOCOLS),
    },
    Attribute {
        name: "Framed-IP-Address",
        code: Code::Standard(r65::FRAMED_IP_ADDRESS_TYPE),
        kind: Kind::Ipv4,
    },
    Attribute {
        name: "Framed-MTU",
        code: Code::Standard(r65::FRAMED_MTU_TYPE),
        kind: Kind::Integer,
    },
    Attribute {
        name: "Filter-Id",
        code: Code::Standard(r65::FILTER_ID_TYPE),
        kind: Kind::Text,
    },
    Attribute {
        name: "Reply-Message",
        code: Code::Standard(r65::REPLY_MESSAGE_TYPE),
        kind: Kind::Text,
    },
    Attribute {
        name: "Class",
        code: Code::Standard(r65::CLASS_TYPE),
        kind: Kind::Text,
    },
    Attribute {
        name: "Session-Timeout",
        code: Code::Standard(r65::SESSION_TIMEOUT_TYPE),
        kind: Kind::Integer,
    },
    Attribute {
        name: "Idle-Timeout",
        code: Code::Standard(r65::IDLE_TIMEOUT_TYPE),
        kind: Kind::Integer,
    },
    Attribute {
        name: "Termination-Action",
        code: Code::Standard(r65::TERMINATION_ACTION_TYPE),
        kind: Kind::Enum(TERMINATION_ACTIONS),
    },
    Attribute {
        name: "Acct-Interim-Interval",
        code: Code::Standard(r69::ACCT_INTERIM_INTERVAL_TYPE),
        kind: Kind::Integer,
    },
    Attribute {
        name: "Framed-Pool",
        code: Code::Standard(r69::FRAMED_POOL_TYPE),
        kind: Kind::Text,
    },
    Attribute {
        name: "Tunnel-Type",
        code: Code::Standard(r68::TUNNEL_TYPE_TYPE),
        kind: Kind::TaggedEnum(TUNNEL_TYPES),
    },
    Attribute {
        name: "Tunnel-Medium-Type",
        code: Code::Standard(r68::TUNNEL_MEDIUM_TYPE_TYPE),
        kind: Kind::TaggedEnum(TUNNEL_MEDIUM_TYPES),
    },
    Attribute {
        name: "Tunnel-Private-Group-Id",
        code: Code::Standard(r68::TUNNEL_PRIVATE_GROUP_ID_TYPE),
        kind: Kind::Text,
    },
    // Vendor attributes (numbers from the vendors' FreeRADIUS dictionaries).
    Attribute {
        name: "Cisco-AVPair",
        code: Code::Vendor(9, 1),
        kind: Kind::Text,
    },
    Attribute {
        name: "Juniper-Local-User-Name",
        code: Code::Vendor(2636, 1),
        kind: Kind::Text,
    },
    Attribute {
        name: "Fortinet-Group-Name",
        code: Code::Vendor(12356, 1),
        kind: Kind::Text,
    },
    Attribute {
        name: "Airespace-Interface-Name",
        code: Code::Vendor(14179, 5),
        kind: Kind::Text,
    },
    Attribute {
        name: "Airespace-ACL-Name",
        code: Code::Vendor(14179, 6),
        kind: Kind::Text,
    },
    Attribute {
        name: "Aruba-User-Role",
        code: Code::Vendor(14823, 1),
        kind: Kind::Text,
    },
];

/// Every attribute name a policy may use, for help texts and errors.
pub fn names() -> Vec<&'static str> {
    ATTRIBUTES.iter().map(|a| a.name).collect()
}

/// Encodes one reply attribute: its canonical name and its (type, value) octets (a vendor
/// attribute as Vendor-Specific, type 26). The name is matched without regard to case.
pub fn encode(name: &str, value: &Value) -> Result<(&'static str, (u8, Vec<u8>)), String> {
    let attr = ATTRIBUTES
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            format!(
                "unknown reply attribute {name:?}; known: {}",
                names().join(", ")
            )
        })?;
    let data = encode_value(attr, value)?;
    let wire = match attr.code {
        Code::Standard(t) => (t, data),
        Code::Vendor(vendor, t) => {
            if data.len() > 247 {
                return Err(format!("{}: at most 247 octets", attr.name));
            }
            let mut v = vendor.to_be_bytes().to_vec();
            v.push(t);
            v.push(data.len() as u8 + 2);
            v.extend_from_slice(&data);
            (26, v)
        }
    };
    Ok((attr.name, wire))
}

fn named(table: &[(&str, u32)], attr: &str, value: &Value) -> Result<u32, String> {
    match value {
        Value::Integer(n) => u32::try_from(*n).map_err(|_| format!("{attr}: {n} is out of range")),
        Value::Text(s) => table
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(s))
            .map(|(_, v)| *v)
            .or_else(|| s.parse().ok())
            .ok_or_else(|| {
                let known: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
                format!("{attr}: {s:?} is not one of {}", known.join(", "))
            }),
    }
}

fn encode_value(attr: &Attribute, value: &Value) -> Result<Vec<u8>, String> {
    let name = attr.name;
    match attr.kind {
        Kind::Text => {
            let s = match value {
                Value::Text(s) => s.clone(),
                Value::Integer(n) => n.to_string(),
            };
            if s.is_empty() || s.len() > 253 {
                return Err(format!("{name}: 1 to 253 octets of text"));
            }
            // RFC 2868: a first octet 0x01-0x1F would be read as a tag.
            if name == "Tunnel-Private-Group-Id" && s.as_bytes()[0] < 0x20 {
                return Err(format!("{name}: must not start with a control character"));
            }
            Ok(s.into_bytes())
        }
        Kind::Integer => match value {
            Value::Integer(n) => u32::try_from(*n)
                .map(|n| n.to_be_bytes().to_vec())
                .map_err(|_| format!("{name}: {n} is not a 32-bit unsigned integer")),
            Value::Text(s) => s
                .parse::<u32>()
                .map(|n| n.to_be_bytes().to_vec())
                .map_err(|_| format!("{name}: expected a number, got {s:?}")),
        },
        Kind::Enum(table) => Ok(named(table, name, value)?.to_be_bytes().to_vec()),
        Kind::TaggedEnum(table) => {
            let v = named(table, name, value)?;
            if v > 0x00ff_ffff {
                return Err(format!("{name}: {v} does not fit in 24 bits"));
            }
            // Tag 0: not part of a tunnel group, as NAS VLAN assignment expects.
            let mut out = v.to_be_bytes().to_vec();
            out[0] = 0;
            Ok(out)
        }
        Kind::Ipv4 => match value {
            Value::Text(s) => s
                .parse::<std::net::Ipv4Addr>()
                .map(|a| a.octets().to_vec())
                .map_err(|_| format!("{name}: expected an IPv4 address, got {s:?}")),
            Value::Integer(_) => Err(format!("{name}: expected an IPv4 address as a string")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vlan_assignment_encodes_as_rfc_3580_says() {
        let t = |s: &str| Value::Text(s.into());
        assert_eq!(
            encode("Tunnel-Type", &t("VLAN")).unwrap(),
            ("Tunnel-Type", (64, vec![0, 0, 0, 13]))
        );
        assert_eq!(
            encode("tunnel-medium-type", &t("IEEE-802")).unwrap().1,
            (65, vec![0, 0, 0, 6])
        );
        assert_eq!(
            encode("Tunnel-Private-Group-Id", &t("42")).unwrap().1,
            (81, b"42".to_vec())
        );
        assert_eq!(
            encode("Session-Timeout", &Value::Integer(3600)).unwrap().1,
            (27, 3600u32.to_be_bytes().to_vec())
        );
    }

    #[test]
    fn vendor_attributes_are_vendor_specific() {
        let (_, (t, v)) = encode("Aruba-User-Role", &Value::Text("staff".into())).unwrap();
        assert_eq!(t, 26);
        assert_eq!(&v[..6], &[0, 0, 0x39, 0xe7, 1, 7]);
        assert_eq!(&v[6..], b"staff");
    }

    #[test]
    fn bad_names_and_values_are_refused_with_the_reason() {
        let e = encode("Tunnel-Kind", &Value::Integer(1)).unwrap_err();
        assert!(
            e.contains("unknown reply attribute") && e.contains("Tunnel-Type"),
            "{e}"
        );
        let e = encode("Tunnel-Type", &Value::Text("Carrier-Pigeon".into())).unwrap_err();
        assert!(e.contains("VLAN"), "{e}");
        assert!(encode("Session-Timeout", &Value::Integer(-1)).is_err());
        assert!(encode("Framed-IP-Address", &Value::Text("10.0.0.300".into())).is_err());
        assert!(encode("Filter-Id", &Value::Text(String::new())).is_err());
    }
}
