//! rustls server configurations from PEM files, for the LDAP listeners (LDAPS, StartTLS), the
//! EAP tunnels (TTLS, PEAP) and RADIUS over TLS (mutual TLS, with a verifier of its own).

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

type CertChain = Vec<rustls::pki_types::CertificateDer<'static>>;
type PrivateKey = rustls::pki_types::PrivateKeyDer<'static>;

fn read(p: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
}

/// Certificates in a PEM file (at least one).
pub fn load_certs(path: &Path) -> Result<CertChain, String> {
    let pem = read(path)?;
    let certs: CertChain = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not a PEM certificate: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", path.display()));
    }
    Ok(certs)
}

fn load_pair(cert: &Path, key: &Path) -> Result<(CertChain, PrivateKey), String> {
    let certs = load_certs(cert)?;
    let key_pem = read(key)?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| format!("{}: not a PEM private key: {e}", key.display()))?
        .ok_or_else(|| format!("{}: no private key found", key.display()))?;
    Ok((certs, key))
}

/// The trust anchors a CA file names (client certificates must chain to one of them).
pub fn load_roots(ca: &Path) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in load_certs(ca)? {
        roots
            .add(c)
            .map_err(|e| format!("{}: not a usable CA certificate: {e}", ca.display()))?;
    }
    Ok(roots)
}

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub fn server_config(
    cert: &Path,
    key: &Path,
    versions: Versions,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let (certs, key) = load_pair(cert, key)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider());
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

/// TLS 1.2 and 1.3 with a client certificate required and checked by `verifier`.
pub fn mutual_server_config(
    cert: &Path,
    key: &Path,
    verifier: Arc<dyn rustls::server::danger::ClientCertVerifier>,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let (certs, key) = load_pair(cert, key)?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key do not fit together: {e}"))?;
    Ok(Arc::new(config))
}

/// Whether a mutual-TLS listener could start with these files: the pair loads and fits, and
/// the CA file holds certificates a client verifier can use (`config check`).
pub fn check_mutual(cert: &Path, key: &Path, ca: &Path) -> Result<(), String> {
    let roots = load_roots(ca)?;
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| format!("{}: the CA cannot verify clients: {e}", ca.display()))?;
    mutual_server_config(cert, key, verifier).map(|_| ())
}
