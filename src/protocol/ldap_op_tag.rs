//! Which protocol operation an LDAP message names, read from its BER before the codec sees it.
//!
//! ldap3_proto prints `unknown op -> N` on standard output for every message whose operation it
//! does not know (an application tag outside RFC 4511's, or a known one in the wrong form), and
//! nothing can turn that print off. A peer could so write a line per message to the daemon's
//! stdout, past every log limit (found by the `ldap_message` fuzz target). Such a message is
//! malformed for us anyway: it is refused here, before the codec, and the codec never prints.

/// Application tags RFC 4511 gives operations, as ldap3_proto decodes them: constructed ones,
/// primitive ones (DelRequest 10, AbandonRequest 16), and UnbindRequest (2) in either form.
fn known(number: u64, constructed: bool) -> bool {
    match number {
        2 => true,
        10 | 16 => !constructed,
        0 | 1 | 3..=9 | 11..=15 | 19 | 23..=25 => constructed,
        _ => false,
    }
}

/// One BER element's content start and end within `der`, from `at`.
fn element(der: &[u8], at: usize) -> Option<(usize, usize)> {
    let mut i = at + 1;
    if der.get(at)? & 0x1f == 0x1f {
        // High tag number form: continuation octets until one without the top bit.
        while der.get(i)? & 0x80 != 0 {
            i += 1;
        }
        i += 1;
    }
    let first = *der.get(i)?;
    i += 1;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let octets = der.get(i..i + n)?;
        i += n;
        octets
            .iter()
            .fold(0usize, |a, b| (a << 8) | usize::from(*b))
    };
    let end = i.checked_add(len)?;
    (end <= der.len()).then_some((i, end))
}

/// Whether the message's operation is one the codec knows; `true` when the message is too
/// broken to tell (the codec then refuses it without printing anything).
pub fn codec_knows(message: &[u8]) -> bool {
    let Some((body, _)) = element(message, 0) else {
        return true;
    };
    // messageID INTEGER, then protocolOp.
    let Some((_, id_end)) = element(message, body) else {
        return true;
    };
    let Some(&op) = message.get(id_end) else {
        return true;
    };
    if op >> 6 != 1 {
        // Not an application tag: refused by the codec with a log event (switched off), no print.
        return true;
    }
    let constructed = op & 0x20 != 0;
    let number = if op & 0x1f != 0x1f {
        u64::from(op & 0x1f)
    } else {
        let mut n = 0u64;
        for b in message.iter().skip(id_end + 1) {
            n = n.saturating_mul(128).saturating_add(u64::from(b & 0x7f));
            if b & 0x80 == 0 {
                break;
            }
        }
        n
    };
    known(number, constructed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(op: &[u8]) -> Vec<u8> {
        let mut body = vec![0x02, 0x01, 0x07];
        body.extend_from_slice(op);
        let mut m = vec![0x30, body.len() as u8];
        m.extend(body);
        m
    }

    #[test]
    fn operations_the_codec_does_not_know_are_told_apart() {
        assert!(codec_knows(&message(&[0x60, 0x00])), "BindRequest");
        assert!(codec_knows(&message(&[0x42, 0x00])), "UnbindRequest");
        assert!(
            codec_knows(&message(&[0x4a, 0x00])),
            "DelRequest, primitive"
        );
        assert!(!codec_knows(&message(&[0x72, 0x00])), "application 18");
        assert!(
            !codec_knows(&message(&[0x6a, 0x00])),
            "DelRequest, constructed"
        );
        assert!(
            !codec_knows(&message(&[0x40, 0x00])),
            "BindRequest, primitive"
        );
        assert!(
            !codec_knows(&message(&[0x7f, 0x81, 0x00, 0x00])),
            "high tag number 128"
        );
        assert!(
            codec_knows(&message(&[0x30, 0x00])),
            "not an application tag"
        );
        assert!(codec_knows(&[0x30]), "too short to tell");
    }
}
