//! Wire-level RADIUS: structural validation, authenticators, Message-Authenticator (RFC 3579)
//! and response encoding. The `radius` crate decodes attributes and the User-Password; the
//! checks an operator relies on (and the crate does not do) live here.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

pub const HEADER_LEN: usize = 20;
/// RFC 2865 §3: the maximum packet length.
pub const MAX_LEN: usize = 4096;

pub const ACCESS_REQUEST: u8 = 1;
pub const ACCESS_ACCEPT: u8 = 2;
pub const ACCESS_REJECT: u8 = 3;
pub const ACCOUNTING_REQUEST: u8 = 4;
pub const ACCOUNTING_RESPONSE: u8 = 5;
pub const STATUS_SERVER: u8 = 12;

pub const ATTR_USER_PASSWORD: u8 = 2;
pub const ATTR_CHAP_PASSWORD: u8 = 3;
pub const ATTR_REPLY_MESSAGE: u8 = 18;
/// State (RFC 2865 §5.24): ties a challenge to the request that answers it.
pub const ATTR_STATE: u8 = 24;
pub const ATTR_VENDOR_SPECIFIC: u8 = 26;
pub const ATTR_EAP_MESSAGE: u8 = 79;
pub const ATTR_MESSAGE_AUTHENTICATOR: u8 = 80;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("datagram of {0} octets is shorter than the 20-octet header")]
    Short(usize),
    #[error("length field {0} is outside 20..=4096")]
    BadLength(usize),
    #[error("length field {field} exceeds the {got} octets received")]
    Truncated { field: usize, got: usize },
    #[error("attribute at offset {0} has length < 2")]
    AttrTooShort(usize),
    #[error("attribute at offset {0} runs past the end of the packet")]
    AttrOverflow(usize),
    #[error("Message-Authenticator is not 18 octets")]
    BadMessageAuthenticator,
    #[error("User-Password is not 16 to 128 octets in multiples of 16")]
    BadUserPassword,
}

/// A structurally valid packet: the exact octets of its declared length, and where each
/// attribute sits.
pub struct RawPacket<'a> {
    pub bytes: &'a [u8],
    pub attrs: Vec<(u8, std::ops::Range<usize>)>,
}

impl<'a> RawPacket<'a> {
    pub fn parse(datagram: &'a [u8]) -> Result<RawPacket<'a>, Malformed> {
        if datagram.len() < HEADER_LEN {
            return Err(Malformed::Short(datagram.len()));
        }
        let len = u16::from_be_bytes([datagram[2], datagram[3]]) as usize;
        if !(HEADER_LEN..=MAX_LEN).contains(&len) {
            return Err(Malformed::BadLength(len));
        }
        if datagram.len() < len {
            return Err(Malformed::Truncated {
                field: len,
                got: datagram.len(),
            });
        }
        // Octets beyond the length field are padding and ignored (RFC 2865 §3).
        let bytes = &datagram[..len];
        let mut attrs = Vec::new();
        let mut i = HEADER_LEN;
        while i < len {
            if i + 2 > len {
                return Err(Malformed::AttrOverflow(i));
            }
            let alen = bytes[i + 1] as usize;
            if alen < 2 {
                return Err(Malformed::AttrTooShort(i));
            }
            if i + alen > len {
                return Err(Malformed::AttrOverflow(i));
            }
            let typ = bytes[i];
            if typ == ATTR_MESSAGE_AUTHENTICATOR && alen != 18 {
                return Err(Malformed::BadMessageAuthenticator);
            }
            if typ == ATTR_USER_PASSWORD
                && (alen - 2 < 16 || alen - 2 > 128 || !(alen - 2).is_multiple_of(16))
            {
                return Err(Malformed::BadUserPassword);
            }
            attrs.push((typ, i + 2..i + alen));
            i += alen;
        }
        Ok(RawPacket { bytes, attrs })
    }

    pub fn code(&self) -> u8 {
        self.bytes[0]
    }
    pub fn identifier(&self) -> u8 {
        self.bytes[1]
    }
    pub fn authenticator(&self) -> [u8; 16] {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.bytes[4..20]);
        a
    }
    pub fn has(&self, typ: u8) -> bool {
        self.attrs.iter().any(|(t, _)| *t == typ)
    }
    pub fn value(&self, typ: u8) -> Option<&'a [u8]> {
        self.attrs
            .iter()
            .find(|(t, _)| *t == typ)
            .map(|(_, r)| &self.bytes[r.clone()])
    }

    /// CHAP or EAP: methods hybridauth does not support yet. (CHAP needs the cleartext
    /// password at the server, which is never kept.)
    pub fn unsupported_method(&self) -> Option<&'static str> {
        if self.has(ATTR_EAP_MESSAGE) {
            return Some("EAP");
        }
        if self.has(ATTR_CHAP_PASSWORD) {
            return Some("CHAP");
        }
        None
    }

    /// RFC 3579 §3.2: HMAC-MD5 over the packet with the Message-Authenticator value zeroed and,
    /// for requests other than Access-Request and Status-Server, the authenticator zeroed too.
    /// `None` when the packet carries none.
    pub fn message_authenticator_ok(&self, secret: &[u8]) -> Option<bool> {
        let (_, range) = self
            .attrs
            .iter()
            .find(|(t, _)| *t == ATTR_MESSAGE_AUTHENTICATOR)?;
        let mut copy = self.bytes.to_vec();
        copy[range.clone()].fill(0);
        if !matches!(self.code(), ACCESS_REQUEST | STATUS_SERVER) {
            copy[4..20].fill(0);
        }
        let expected = hmac_md5(secret, &copy);
        Some(expected.ct_eq(&self.bytes[range.clone()]).into())
    }

    /// RFC 2866 §3: the Accounting-Request authenticator.
    pub fn accounting_authenticator_ok(&self, secret: &[u8]) -> bool {
        let mut h = Md5::new();
        h.update(&self.bytes[..4]);
        h.update([0u8; 16]);
        h.update(&self.bytes[HEADER_LEN..]);
        h.update(secret);
        let expected = h.finalize();
        expected.as_slice().ct_eq(&self.bytes[4..20]).into()
    }
}

fn hmac_md5(key: &[u8], data: &[u8]) -> [u8; 16] {
    let mut mac = <Hmac<Md5> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// RFC 2865 §5.33: Proxy-State.
pub const ATTR_PROXY_STATE: u8 = 33;

impl RawPacket<'_> {
    /// Every Proxy-State of the request, in order: a proxy in front of us needs them back.
    pub fn proxy_states(&self) -> Vec<(u8, Vec<u8>)> {
        self.attrs
            .iter()
            .filter(|(t, _)| *t == ATTR_PROXY_STATE)
            .map(|(t, r)| (*t, self.bytes[r.clone()].to_vec()))
            .collect()
    }
}

/// The reply to `request`: its identifier and authenticator, its Proxy-States copied in order
/// (before `attrs`, so that a long Reply-Message can never push them out), then `attrs`.
pub fn encode_reply(
    code: u8,
    request: &RawPacket<'_>,
    attrs: &[(u8, Vec<u8>)],
    secret: &[u8],
    with_ma: bool,
) -> Vec<u8> {
    let mut all = request.proxy_states();
    all.extend(attrs.iter().cloned());
    encode_response_with(
        code,
        request.identifier(),
        &request.authenticator(),
        &all,
        secret,
        with_ma,
    )
}

/// Encodes a response: Message-Authenticator first (RFC 3579, BlastRADIUS mitigation), then
/// `attrs`; the Message-Authenticator is computed with the request authenticator in place, then
/// the Response Authenticator over the finished attributes.
pub fn encode_response(
    code: u8,
    identifier: u8,
    request_authenticator: &[u8; 16],
    attrs: &[(u8, Vec<u8>)],
    secret: &[u8],
) -> Vec<u8> {
    encode_response_with(code, identifier, request_authenticator, attrs, secret, true)
}

/// `with_ma = false` is for the Accounting-Response to an Accounting-Request, which RFC 2866
/// signs with the Response Authenticator alone (FreeRADIUS's radclient rejects the Message-
/// Authenticator variants there).
pub fn encode_response_with(
    code: u8,
    identifier: u8,
    request_authenticator: &[u8; 16],
    attrs: &[(u8, Vec<u8>)],
    secret: &[u8],
    with_ma: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&[code, identifier, 0, 0]);
    out.extend_from_slice(request_authenticator);
    let ma_at = out.len() + 2;
    if with_ma {
        out.extend_from_slice(&[ATTR_MESSAGE_AUTHENTICATOR, 18]);
        out.extend_from_slice(&[0u8; 16]);
    }
    for (t, v) in attrs {
        for chunk in v.chunks(253) {
            if out.len() + 2 + chunk.len() > MAX_LEN {
                break;
            }
            out.push(*t);
            out.push((chunk.len() + 2) as u8);
            out.extend_from_slice(chunk);
        }
    }
    let len = out.len() as u16;
    out[2..4].copy_from_slice(&len.to_be_bytes());
    if with_ma {
        let ma = hmac_md5(secret, &out);
        out[ma_at..ma_at + 16].copy_from_slice(&ma);
    }
    let mut h = Md5::new();
    h.update(&out);
    h.update(secret);
    let auth = h.finalize();
    out[4..20].copy_from_slice(&auth);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(attrs: &[(u8, &[u8])]) -> Vec<u8> {
        let mut p = vec![ACCESS_REQUEST, 7, 0, 0];
        p.extend_from_slice(&[1u8; 16]);
        for (t, v) in attrs {
            p.push(*t);
            p.push((v.len() + 2) as u8);
            p.extend_from_slice(v);
        }
        let l = p.len() as u16;
        p[2..4].copy_from_slice(&l.to_be_bytes());
        p
    }

    #[test]
    fn structural_errors_are_named() {
        assert_eq!(
            RawPacket::parse(&[1, 2, 3]).err(),
            Some(Malformed::Short(3))
        );
        let mut p = request(&[(1, b"alice")]);
        p[3] = 10;
        assert_eq!(RawPacket::parse(&p).err(), Some(Malformed::BadLength(10)));
        let mut p = request(&[(1, b"alice")]);
        let n = p.len();
        p[n - 6] = 1; // attribute length 1
        assert!(matches!(
            RawPacket::parse(&p),
            Err(Malformed::AttrTooShort(_))
        ));
        let mut p = request(&[(1, b"alice")]);
        p[n - 6] = 40;
        assert!(matches!(
            RawPacket::parse(&p),
            Err(Malformed::AttrOverflow(_))
        ));
        let p = request(&[(2, b"short")]);
        assert_eq!(RawPacket::parse(&p).err(), Some(Malformed::BadUserPassword));
    }

    #[test]
    fn trailing_padding_is_ignored() {
        let mut p = request(&[(1, b"alice")]);
        p.extend_from_slice(&[0, 0, 0]);
        let raw = RawPacket::parse(&p).unwrap();
        assert_eq!(raw.bytes.len(), p.len() - 3);
        assert_eq!(raw.value(1), Some(&b"alice"[..]));
    }

    #[test]
    fn message_authenticator_round_trip() {
        let mut p = request(&[(1, b"alice"), (80, &[0u8; 16])]);
        let ma = hmac_md5(b"s3cret", &p);
        let n = p.len();
        p[n - 16..].copy_from_slice(&ma);
        let raw = RawPacket::parse(&p).unwrap();
        assert_eq!(raw.message_authenticator_ok(b"s3cret"), Some(true));
        assert_eq!(raw.message_authenticator_ok(b"wrong"), Some(false));
    }

    #[test]
    fn random_datagrams_never_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(2865);
        let mut parsed = 0;
        for _ in 0..20_000 {
            let len = rng.gen_range(0..200);
            let mut d: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            if d.len() >= 4 && rng.gen_bool(0.5) {
                // A plausible length field gets the walk past the header more often.
                let l = d.len() as u16;
                d[2..4].copy_from_slice(&l.to_be_bytes());
            }
            if let Ok(p) = RawPacket::parse(&d) {
                parsed += 1;
                let _ = p.unsupported_method();
                let _ = p.message_authenticator_ok(b"s");
                let _ = p.accounting_authenticator_ok(b"s");
                let _ = radius::core::packet::Packet::decode(p.bytes, b"s");
            }
        }
        assert!(parsed > 0, "some random datagrams are structurally valid");
    }

    #[test]
    fn responses_carry_message_authenticator_first() {
        let r = encode_response(ACCESS_ACCEPT, 9, &[3u8; 16], &[(18, b"hi".to_vec())], b"s");
        assert_eq!(r[20], ATTR_MESSAGE_AUTHENTICATOR);
        assert_eq!(u16::from_be_bytes([r[2], r[3]]) as usize, r.len());
    }
}
