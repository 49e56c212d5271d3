//! Lines a peer can cause (refused handshakes, broken framing, limits): a few a second per
//! source address, with how many were held back (see `runtime::logging`).

use std::net::SocketAddr;
use std::sync::LazyLock;

use crate::runtime::logging::{cap, SourceLimiter, MAX_LOGGED_CHARS};

static PEER_LINES: LazyLock<SourceLimiter> = LazyLock::new(SourceLimiter::default);

pub fn warn_peer(from: SocketAddr, what: &str, detail: &str) {
    if let Some(suppressed) = PEER_LINES.allow(from.ip()) {
        tracing::warn!(%from, suppressed, "{what}: {}", cap(detail, MAX_LOGGED_CHARS));
    }
}
