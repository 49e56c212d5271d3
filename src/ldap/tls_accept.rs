//! rustls server configuration from PEM files.

use std::path::Path;

use tokio_rustls::TlsAcceptor;

pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, String> {
    crate::tls::server_config(cert, key, crate::tls::Versions::Safe).map(TlsAcceptor::from)
}

/// A TLS handshake that does not finish in this time is abandoned, so a client that connects
/// and says nothing cannot hold a connection slot.
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub async fn handshake<IO>(
    acceptor: &TlsAcceptor,
    io: IO,
) -> Result<tokio_rustls::server::TlsStream<IO>, String>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(io)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("TLS handshake timed out".into()),
    }
}
