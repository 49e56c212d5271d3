//! LDAP messages on a byte stream, with memory a peer cannot grow at will.
//!
//! Each message is one BER SEQUENCE whose header says how long it is. The reader looks at that
//! header first, so it knows the size before buffering anything:
//! - a message larger than `ldap.max_message_bytes` is refused before its body is read;
//! - a message up to [`INLINE_BYTES`] is buffered freely (binds and searches are far smaller);
//! - a larger one first borrows its size from the listener-wide [`Budget`]
//!   (`ldap.max_buffered_bytes`), waiting while others hold it — the bytes wait in the kernel's
//!   socket buffer, not in ours — and gives it back once decoded.
//!
//! The decoder only ever sees a complete message, so a peer trickling one byte at a time
//! cannot make it re-parse a growing buffer. After a message the buffer shrinks back, so an idle
//! connection holds almost nothing. Every write carries a deadline (`ldap.write_timeout`): a
//! peer that does not read its replies is disconnected instead of holding the slot forever.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use ldap3_proto::proto::LdapMsg;
use ldap3_proto::LdapCodec;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::codec::{Decoder, Encoder};

/// Messages up to this size need no budget.
pub const INLINE_BYTES: usize = 8 * 1024;
/// A buffer that grew past this is released after use rather than kept for an idle peer.
const KEEP_BYTES: usize = 4 * 1024;
/// How much is asked of the socket at a time while the size is not known yet.
const HEADER_READ: usize = 512;
/// The deepest BER nesting accepted (LDAP filters nest; nothing legitimate comes close).
const MAX_BER_DEPTH: usize = 32;

/// The bytes all connections together may hold for messages larger than [`INLINE_BYTES`].
#[derive(Clone)]
pub struct Budget {
    bytes: Arc<Semaphore>,
}

impl Budget {
    pub fn new(bytes: usize) -> Budget {
        Budget {
            bytes: Arc::new(Semaphore::new(bytes.min(Semaphore::MAX_PERMITS))),
        }
    }

    async fn take(&self, n: usize) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(n).ok()?;
        self.bytes.clone().acquire_many_owned(n).await.ok()
    }

    pub fn available(&self) -> usize {
        self.bytes.available_permits()
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The peer closed the connection between messages.
    Closed,
    /// The peer closed the connection in the middle of a message.
    Truncated,
    TooLarge {
        size: u64,
        max: usize,
    },
    /// Not BER, indefinite length, nested too deep, or not an LDAP message.
    Malformed,
    Io(std::io::ErrorKind),
}

/// The size of the message at the head of `buf`, once its header is there.
/// `Ok(None)`: more bytes are needed to tell.
pub fn message_len(buf: &[u8]) -> Result<Option<u64>, ReadError> {
    let Some(&tag) = buf.first() else {
        return Ok(None);
    };
    // LDAPMessage ::= SEQUENCE (universal, constructed, 16).
    if tag != 0x30 {
        return Err(ReadError::Malformed);
    }
    let Some(&first) = buf.get(1) else {
        return Ok(None);
    };
    if first < 0x80 {
        return Ok(Some(2 + u64::from(first)));
    }
    let n = usize::from(first & 0x7f);
    // 0x80 is the indefinite form, which LDAP forbids (RFC 4511 §5.1); more than 8 length
    // octets cannot describe anything we would accept.
    if n == 0 || n > 8 {
        return Err(ReadError::Malformed);
    }
    let Some(octets) = buf.get(2..2 + n) else {
        return Ok(None);
    };
    let body = octets
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    Ok(Some((2 + n as u64).saturating_add(body)))
}

pub struct Reader {
    buf: BytesMut,
    codec: LdapCodec,
    max: usize,
    budget: Budget,
}

impl Reader {
    pub fn new(max: usize, budget: Budget) -> Reader {
        Reader {
            buf: BytesMut::new(),
            codec: LdapCodec::new(Some(max), Some(MAX_BER_DEPTH)),
            max,
            budget,
        }
    }

    /// Bytes received but not yet decoded (a client that spoke ahead of a StartTLS answer).
    pub fn has_pending(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Buffer capacity held right now (for tests of the memory bound).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    async fn fill<R: AsyncRead + Unpin + ?Sized>(
        &mut self,
        io: &mut R,
        want: usize,
    ) -> Result<usize, ReadError> {
        self.buf.reserve(want);
        io.read_buf(&mut self.buf)
            .await
            .map_err(|e| ReadError::Io(e.kind()))
    }

    /// The next complete message.
    pub async fn next<R: AsyncRead + Unpin + ?Sized>(
        &mut self,
        io: &mut R,
    ) -> Result<LdapMsg, ReadError> {
        let size = loop {
            if let Some(size) = message_len(&self.buf)? {
                break size;
            }
            if self.fill(io, HEADER_READ).await? == 0 {
                return Err(if self.buf.is_empty() {
                    ReadError::Closed
                } else {
                    ReadError::Truncated
                });
            }
        };
        if size > self.max as u64 {
            return Err(ReadError::TooLarge {
                size,
                max: self.max,
            });
        }
        let size = size as usize;
        let _borrowed = if size > INLINE_BYTES {
            tracing::trace!(
                bytes = size,
                "message larger than the inline buffer: borrowing from ldap.max_buffered_bytes"
            );
            let permit = self.budget.take(size).await.ok_or(ReadError::Malformed)?;
            tracing::trace!(bytes = size, "buffer budget granted");
            Some(permit)
        } else {
            None
        };
        while self.buf.len() < size {
            let missing = size - self.buf.len();
            if self.fill(io, missing).await? == 0 {
                return Err(ReadError::Truncated);
            }
        }
        let mut frame = self.buf.split_to(size);
        // An operation the codec does not know would make it print to stdout (see ldap_op_tag).
        let decoded = if super::ldap_op_tag::codec_knows(&frame) {
            self.codec.decode(&mut frame)
        } else {
            Ok(None)
        };
        if self.buf.capacity() > KEEP_BYTES {
            // Keep what the peer already sent after this message, in a right-sized buffer.
            self.buf = BytesMut::from(&self.buf[..]);
        }
        match decoded {
            Ok(Some(m)) => Ok(m),
            _ => Err(ReadError::Malformed),
        }
    }
}

#[derive(Debug)]
pub enum WriteError {
    TimedOut,
    Io(std::io::Error),
}

/// Writes each message with its own deadline, encoding one at a time so that a large search
/// answer is never held twice in memory.
pub async fn write_all<W: AsyncWrite + Unpin + ?Sized>(
    io: &mut W,
    msgs: Vec<LdapMsg>,
    deadline: Duration,
) -> Result<(), WriteError> {
    let mut codec = LdapCodec::default();
    let mut out = BytesMut::new();
    for m in msgs {
        out.clear();
        codec.encode(m, &mut out).map_err(WriteError::Io)?;
        match tokio::time::timeout(deadline, io.write_all(&out)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(WriteError::Io(e)),
            Err(_) => return Err(WriteError::TimedOut),
        }
    }
    match tokio::time::timeout(deadline, io.flush()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(WriteError::Io(e)),
        Err(_) => Err(WriteError::TimedOut),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3_proto::proto::{LdapBindCred, LdapBindRequest, LdapOp};

    fn bind_bytes(dn: &str) -> Vec<u8> {
        let msg = LdapMsg {
            msgid: 1,
            op: LdapOp::BindRequest(LdapBindRequest {
                dn: dn.into(),
                cred: LdapBindCred::Simple("pw".into()),
                version: 3,
            }),
            ctrl: vec![],
        };
        let mut out = BytesMut::new();
        LdapCodec::default().encode(msg, &mut out).unwrap();
        out.to_vec()
    }

    #[test]
    fn header_gives_the_size_before_the_body() {
        assert_eq!(message_len(&[]), Ok(None));
        assert_eq!(message_len(&[0x30]), Ok(None));
        assert_eq!(message_len(&[0x30, 0x05]), Ok(Some(7)));
        assert_eq!(message_len(&[0x30, 0x82, 0x01]), Ok(None));
        assert_eq!(message_len(&[0x30, 0x82, 0x01, 0x00]), Ok(Some(4 + 256)));
        assert_eq!(message_len(&[0x30, 0x80]), Err(ReadError::Malformed));
        assert_eq!(message_len(&[0x04, 0x01]), Err(ReadError::Malformed));
        let b = bind_bytes("cn=x");
        assert_eq!(message_len(&b), Ok(Some(b.len() as u64)));
    }

    #[tokio::test]
    async fn an_oversized_message_is_refused_from_its_header() {
        // Only the header arrives: the size alone decides.
        let header = [0x30u8, 0x84, 0x7f, 0xff, 0xff, 0xff];
        let mut r = Reader::new(1024 * 1024, Budget::new(1 << 20));
        let err = r.next(&mut &header[..]).await.unwrap_err();
        assert!(matches!(err, ReadError::TooLarge { .. }), "{err:?}");
        assert!(r.capacity() < 4096);
    }

    #[tokio::test]
    async fn large_messages_borrow_from_the_budget_and_give_it_back() {
        let big = bind_bytes(&"a".repeat(100_000));
        let budget = Budget::new(1 << 20);
        let mut r = Reader::new(1 << 20, budget.clone());
        let mut input = [big.clone(), bind_bytes("cn=small")].concat();
        let mut src = &input[..];
        let m = r.next(&mut src).await.unwrap();
        assert_eq!(m.msgid, 1);
        assert_eq!(budget.available(), 1 << 20);
        // The buffer shrank back after the large message.
        assert!(r.capacity() <= KEEP_BYTES, "{}", r.capacity());
        r.next(&mut src).await.unwrap();
        assert_eq!(r.next(&mut src).await.unwrap_err(), ReadError::Closed);
        input.truncate(10);
        let mut r = Reader::new(1 << 20, budget);
        assert_eq!(
            r.next(&mut &input[..]).await.unwrap_err(),
            ReadError::Truncated
        );
    }

    #[tokio::test]
    async fn a_message_waits_for_budget_held_by_others() {
        let budget = Budget::new(200_000);
        let held = budget.take(150_000).await.unwrap();
        let big = bind_bytes(&"a".repeat(100_000));
        let mut r = Reader::new(1 << 20, budget.clone());
        let mut src = &big[..];
        // The whole message is there to read, so one poll runs the reader until it blocks.
        let mut reading = Box::pin(r.next(&mut src));
        assert!(
            futures::poll!(&mut reading).is_pending(),
            "read without budget"
        );
        drop(held);
        assert!(reading.await.is_ok());
    }

    #[tokio::test]
    async fn deep_nesting_is_malformed_not_a_crash() {
        // A SEQUENCE nested 10,000 deep inside an LDAPMessage.
        let depth = 10_000usize;
        let mut inner: Vec<u8> = vec![];
        for _ in 0..depth {
            let mut v = vec![0x30u8, 0x84];
            v.extend_from_slice(&(inner.len() as u32).to_be_bytes());
            v.extend_from_slice(&inner);
            inner = v;
        }
        let mut r = Reader::new(1 << 20, Budget::new(1 << 20));
        assert_eq!(
            r.next(&mut &inner[..]).await.unwrap_err(),
            ReadError::Malformed
        );
    }
}
