//! RADIUS on a byte stream (RFC 6613 §2.6.1): packets follow each other, each framed by its
//! own Length field. Nothing beyond a packet's declared length (at most 4096 octets, RFC 2865
//! §3) is ever buffered, whatever a peer claims.

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::config::RadiusClientConfig;
use crate::protocol::radius_packet::{
    RawPacket, ACCESS_REQUEST, ACCOUNTING_REQUEST, ATTR_EAP_MESSAGE, HEADER_LEN, MAX_LEN,
    STATUS_SERVER,
};

/// Why reading the next packet stopped.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed between packets: a normal end.
    #[error("the peer closed the connection")]
    Closed,
    #[error("the connection ended inside a packet")]
    Truncated,
    #[error("a packet declares {0} octets (RADIUS packets are 20 to 4096)")]
    BadLength(usize),
    #[error("{0}")]
    Io(std::io::Error),
}

/// Reads one whole packet.
pub async fn read_packet<R: AsyncRead + Unpin>(rd: &mut R) -> Result<Vec<u8>, FrameError> {
    let mut header = [0u8; 4];
    let mut got = 0;
    while got < header.len() {
        match rd.read(&mut header[got..]).await {
            Ok(0) if got == 0 => return Err(FrameError::Closed),
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => got += n,
            // A TLS peer that leaves without close_notify, between packets: a close all the same.
            Err(e) if got == 0 && e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(FrameError::Closed)
            }
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    let len = u16::from_be_bytes([header[2], header[3]]) as usize;
    if !(HEADER_LEN..=MAX_LEN).contains(&len) {
        return Err(FrameError::BadLength(len));
    }
    let mut packet = vec![0u8; len];
    packet[..4].copy_from_slice(&header);
    match rd.read_exact(&mut packet[4..]).await {
        Ok(_) => Ok(packet),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(FrameError::Truncated),
        Err(e) => Err(FrameError::Io(e)),
    }
}

/// RFC 6613 §2.6.4: on a stream, a packet that UDP would silently discard for what it *is*
/// (malformed, an unsupported code, a failed authenticator) also ends the connection — the
/// peer is broken or holds the wrong secret, and the next frame cannot be trusted. `None`: the
/// packet goes on to be served.
pub fn must_close(packet: &[u8], client: &RadiusClientConfig) -> Option<String> {
    let secret = &client.secret;
    let raw = match RawPacket::parse(packet) {
        Ok(r) => r,
        Err(e) => return Some(format!("malformed packet: {e}")),
    };
    let authentic = match raw.code() {
        // Required: by the client's setting, and for EAP by RFC 3579 §3.2.
        ACCESS_REQUEST => match raw.message_authenticator_ok(secret) {
            Some(ok) => ok,
            None => !(client.require_message_authenticator || raw.has(ATTR_EAP_MESSAGE)),
        },
        STATUS_SERVER => raw.message_authenticator_ok(secret) == Some(true),
        ACCOUNTING_REQUEST => {
            raw.accounting_authenticator_ok(secret)
                && raw.message_authenticator_ok(secret) != Some(false)
        }
        code => return Some(format!("code {code} is not a request this server serves")),
    };
    (!authentic).then(|| {
        "a packet failed its authenticator check, or lacked a required Message-Authenticator (wrong shared secret?)".into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(bytes: &[u8]) -> Result<Vec<u8>, FrameError> {
        let mut r = bytes;
        read_packet(&mut r).await
    }

    fn packet(len: u16) -> Vec<u8> {
        let mut p = vec![0u8; len as usize];
        p[0] = ACCESS_REQUEST;
        p[2..4].copy_from_slice(&len.to_be_bytes());
        p
    }

    #[tokio::test]
    async fn packets_are_cut_at_their_length() {
        let mut two = packet(20);
        two.extend(packet(24));
        let mut r = two.as_slice();
        assert_eq!(read_packet(&mut r).await.unwrap().len(), 20);
        assert_eq!(read_packet(&mut r).await.unwrap().len(), 24);
        assert!(matches!(read_packet(&mut r).await, Err(FrameError::Closed)));
    }

    #[tokio::test]
    async fn hostile_lengths_are_refused_before_any_buffer_is_made() {
        let mut huge = packet(20);
        huge[2..4].copy_from_slice(&[0xff, 0xff]);
        assert!(matches!(
            read(&huge).await,
            Err(FrameError::BadLength(65535))
        ));
        assert!(matches!(
            read(&[1, 0, 0, 19]).await,
            Err(FrameError::BadLength(19))
        ));
        assert!(matches!(
            read(&[1, 0, 0x10, 0x01]).await,
            Err(FrameError::BadLength(4097))
        ));
        assert!(matches!(read(&[1, 0]).await, Err(FrameError::Truncated)));
        assert!(matches!(
            read(&packet(40)[..30]).await,
            Err(FrameError::Truncated)
        ));
    }

    fn client(require_message_authenticator: bool) -> RadiusClientConfig {
        RadiusClientConfig {
            name: "nas".into(),
            network: None,
            secret: b"radsec".to_vec(),
            endpoint: crate::verify::Endpoint {
                kind: crate::verify::EndpointKind::OnPrem,
                admin_actions: false,
            },
            require_message_authenticator,
            reply_message: false,
            mfa: false,
            tls_identity: Some("nas".into()),
        }
    }

    #[test]
    fn codes_a_server_does_not_serve_close_the_connection() {
        let mut p = packet(20);
        p[0] = 2; // Access-Accept
        assert!(must_close(&p, &client(false)).unwrap().contains("code 2"));
        assert!(must_close(&packet(20), &client(false)).is_none());
    }

    #[test]
    fn a_missing_message_authenticator_closes_only_where_one_is_required() {
        assert!(must_close(&packet(20), &client(true)).is_some());
        let mut eap = packet(20);
        eap.extend_from_slice(&[ATTR_EAP_MESSAGE, 6, 2, 1, 0, 4]);
        eap[2..4].copy_from_slice(&26u16.to_be_bytes());
        assert!(
            must_close(&eap, &client(false)).is_some(),
            "EAP always needs one"
        );
    }
}
