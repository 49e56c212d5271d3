//! What every request of one LDAP connection needs: the verifier and the read layer behind
//! it, the listener's endpoint and TLS mode, the limits, the peer. Its own file, so that the
//! operations (`ops`) and the search (`search`) both read it without naming each other.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::{LdapConfig, TlsMode};
use crate::directory::reader::DirectoryReader;
use crate::runtime::logging::SourceLimiter;
use crate::verify::{Endpoint, Verifier};

pub struct ConnCtx {
    pub verifier: Arc<Verifier>,
    /// Searches and compares read through this, never the store itself.
    pub reader: Arc<DirectoryReader>,
    pub endpoint: Endpoint,
    pub tls: TlsMode,
    /// Simple binds need TLS on this listener (`require_tls`).
    pub require_tls: bool,
    pub config: Arc<LdapConfig>,
    pub peer: SocketAddr,
    /// Shared by every connection: lines a peer can trigger are rate-limited per source.
    pub log_limit: Arc<SourceLimiter>,
    /// Where searches run (below sign-ins, see `search_pool`).
    pub searches: Arc<super::search_pool::SearchPool>,
}

impl ConnCtx {
    /// Why a connection was closed, at debug, rate-limited per peer address. `why` is ours,
    /// never client input.
    pub fn log_close(&self, why: &str) {
        if let Some(suppressed) = self.log_limit.allow(self.peer.ip()) {
            tracing::debug!(peer = %self.peer, suppressed, "closing LDAP connection: {why}");
        }
    }
}
