//! Who a RADIUS over TLS client is: the names in its certificate, and the handshake's check
//! that the certificate chains to the configured CA *and* names a configured client, so an
//! unknown certificate is refused during the handshake (RFC 6614 §2.3), not after it.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::radius::Clients;
use crate::runtime::logging::cap;

/// The names a client certificate is known by: the subject's common names, then its DNS and
/// URI subject alternative names (as FreeRADIUS and radsecproxy match `CN` or `SubjectAltName`).
pub fn names(der: &CertificateDer<'_>) -> Vec<String> {
    let Ok(cert) = webpki::EndEntityCert::try_from(der) else {
        return vec![];
    };
    let mut out = common_names(cert.subject());
    let alt = cert.valid_dns_names().chain(cert.valid_uri_names());
    for name in alt {
        if !out.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            out.push(name.to_string());
        }
    }
    out
}

fn certificate_problem(c: &CertificateError) -> String {
    let date = |t: &UnixTime| {
        chrono::DateTime::from_timestamp(t.as_secs() as i64, 0)
            .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default()
    };
    match c {
        CertificateError::Expired => "Expired".into(),
        CertificateError::ExpiredContext { not_after, .. } => {
            format!("Expired (valid until {})", date(not_after))
        }
        CertificateError::NotValidYetContext { not_before, .. } => {
            format!("NotValidYet (valid from {})", date(not_before))
        }
        CertificateError::UnknownIssuer => "UnknownIssuer (not signed by the configured ca)".into(),
        CertificateError::BadSignature => {
            "BadSignature (not signed by the configured ca, though it names it)".into()
        }
        other => format!("{other:?}"),
    }
}

/// A refused handshake in an operator's words (rustls's own Display of a verifier's error is
/// its Debug form).
pub fn describe_refusal(e: &std::io::Error) -> String {
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidCertificate(CertificateError::Other(other))) => {
            format!("client certificate refused: {}", other.0)
        }
        Some(rustls::Error::InvalidCertificate(c)) => {
            format!("client certificate refused: {}", certificate_problem(c))
        }
        Some(rustls::Error::NoCertificatesPresented) => {
            "the client presented no certificate".into()
        }
        _ => e.to_string(),
    }
}

/// One DER element: its tag, its content, and what follows it.
fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 3 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, &b| (a << 8) | b as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The commonName (2.5.4.3) values of a Name's RDN sequence (the content, without the outer
/// SEQUENCE, as webpki hands it over). Text types only; anything unreadable is skipped.
fn common_names(mut rdns: &[u8]) -> Vec<String> {
    const CN_OID: &[u8] = &[0x55, 0x04, 0x03];
    let mut out = vec![];
    while let Some((_set, mut set, rest)) = element(rdns) {
        rdns = rest;
        while let Some((_seq, atv, next)) = element(set) {
            set = next;
            let Some((0x06, oid, value)) = element(atv) else {
                continue;
            };
            // UTF8String, PrintableString, T61String, IA5String.
            if let (true, Some((0x0c | 0x13 | 0x14 | 0x16, text, _))) =
                (oid == CN_OID, element(value))
            {
                if let Ok(t) = std::str::from_utf8(text) {
                    out.push(t.to_string());
                }
            }
        }
    }
    out
}

/// Why the handshake refused a certificate that chains to the CA.
#[derive(Debug)]
struct NotAClient(String);

impl std::fmt::Display for NotAClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no [[radius.clients]] tls_identity names this certificate ({})",
            self.0
        )
    }
}

impl std::error::Error for NotAClient {}

/// The CA's verdict first (chain, validity dates, key usage), then the client table's: the
/// live one, so a client added on SIGHUP is known at its next handshake.
pub struct KnownClients {
    ca: Arc<dyn ClientCertVerifier>,
    clients: Clients,
}

impl std::fmt::Debug for KnownClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownClients").finish_non_exhaustive()
    }
}

impl KnownClients {
    pub fn new(roots: rustls::RootCertStore, clients: Clients) -> Result<KnownClients, String> {
        let ca = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            crate::tls::provider(),
        )
        .build()
        .map_err(|e| format!("the CA cannot verify clients: {e}"))?;
        Ok(KnownClients { ca, clients })
    }
}

impl ClientCertVerifier for KnownClients {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.ca.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.ca.verify_client_cert(end_entity, intermediates, now)?;
        let names = names(end_entity);
        if self.clients.current().knows_certificate(&names) {
            return Ok(ClientCertVerified::assertion());
        }
        // The names come from the peer: capped in the message that reaches the log.
        let shown = cap(&names.join(", "), 200);
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(
            rustls::OtherError(Arc::new(NotAClient(shown))),
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.ca.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.ca.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.ca.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(cn: &str, sans: &[&str]) -> CertificateDer<'static> {
        let mut p =
            rcgen::CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::OrganizationName, "lab");
        dn.push(rcgen::DnType::CommonName, cn);
        p.distinguished_name = dn;
        let key = rcgen::KeyPair::generate().unwrap();
        p.self_signed(&key).unwrap().der().clone()
    }

    #[test]
    fn a_certificate_is_known_by_its_common_name_and_its_dns_names() {
        let c = cert("nas1.lab", &["wifi.lab", "vpn.lab"]);
        assert_eq!(names(&c), ["nas1.lab", "wifi.lab", "vpn.lab"]);
        assert_eq!(
            names(&cert("nas1.lab", &["NAS1.lab"])),
            ["nas1.lab"],
            "each name once"
        );
    }

    #[test]
    fn garbage_gives_no_names() {
        assert!(names(&CertificateDer::from(vec![0x30, 0x82, 0xff])).is_empty());
        assert!(common_names(&[0x31, 0x85, 0, 0, 0, 0, 1]).is_empty());
        assert!(common_names(&[0x31, 0x10, 0x30]).is_empty());
    }
}
