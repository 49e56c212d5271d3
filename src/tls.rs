//! rustls server configurations from PEM files, for the LDAP listeners (LDAPS, StartTLS) and
//! the EAP tunnels (TTLS, PEAP).

use std::path::Path;
use std::sync::Arc;

/// Which TLS versions a configuration offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versions {
    /// TLS 1.2 and 1.3.
    Safe,
    /// TLS 1.2 only: EAP-TTLS (RFC 5281) and PEAPv0 derive their keys as TLS 1.2 does.
    Tls12,
}

pub fn server_config(
    cert: &Path,
    key: &Path,
    versions: Versions,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not a PEM certificate: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", cert.display()));
    }
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| format!("{}: not a PEM private key: {e}", key.display()))?
        .ok_or_else(|| format!("{}: no private key found", key.display()))?;
    let builder = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ));
    let builder = match versions {
        Versions::Safe => builder.with_safe_default_protocol_versions(),
        Versions::Tls12 => builder.with_protocol_versions(&[&rustls::version::TLS12]),
    }
    .map_err(|e| e.to_string())?;
    let config = builder
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key do not fit together: {e}"))?;
    Ok(Arc::new(config))
}
