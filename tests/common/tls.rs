//! TLS for wire tests: a lab certificate made by `hybridauth cert`, and a client that trusts it.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

/// Writes `cert.pem` and `key.pem` into `dir` with the real binary.
pub fn lab_cert(dir: &Path) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hybridauth"))
        .arg("cert")
        .arg("--cert")
        .arg(dir.join("cert.pem"))
        .arg("--key")
        .arg(dir.join("key.pem"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

pub fn connector(cert: &Path) -> tokio_rustls::TlsConnector {
    let pem = std::fs::read(cert).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

pub fn localhost() -> rustls::pki_types::ServerName<'static> {
    rustls::pki_types::ServerName::try_from("localhost").unwrap()
}
