//! `hybridauth cert --radsec`: what a RADIUS over TLS lab needs in one command — a small CA, a
//! server certificate and client certificates signed by it, under fixed names in one directory
//! (`ca.pem`, `ca-key.pem`, `server.pem`, `server-key.pem`, `client-NAME.pem`,
//! `client-NAME-key.pem`). Run again with more `--client` names, it signs them with the CA
//! already there and keeps the server pair.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::cert_files::{names, set_validity, write_private};
use super::output::{CliError, Out};

/// The lab CA's subject: fixed, so that a CA found in the directory can sign again.
const CA_NAME: &str = "hybridauth lab RadSec CA";
const ORGANISATION: &str = "hybridauth lab";

fn fail(e: &dyn std::fmt::Display) -> CliError {
    CliError::Failure(format!("cannot make a certificate: {e}"))
}

/// A client name is also a file name: letters, digits, dots and hyphens.
fn valid_client_name(n: &str) -> bool {
    (1..=63).contains(&n.len())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && n.starts_with(|c: char| c.is_ascii_alphanumeric())
}

fn ca_params() -> Result<rcgen::CertificateParams, CliError> {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| fail(&e))?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, CA_NAME);
    dn.push(rcgen::DnType::OrganizationName, ORGANISATION);
    p.distinguished_name = dn;
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut p);
    Ok(p)
}

fn leaf_params(
    cn: &str,
    sans: Vec<String>,
    usage: rcgen::ExtendedKeyUsagePurpose,
) -> Result<rcgen::CertificateParams, CliError> {
    let mut p = rcgen::CertificateParams::new(sans).map_err(|e| fail(&e))?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, cn);
    dn.push(rcgen::DnType::OrganizationName, ORGANISATION);
    p.distinguished_name = dn;
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![usage];
    p.use_authority_key_identifier_extension = true;
    set_validity(&mut p);
    Ok(p)
}

/// The CA in `dir` (made now if absent), as an issuer: its certificate as rcgen holds it and
/// its key. A CA file that hybridauth did not make is refused (its subject would not match).
fn ca(dir: &Path, force: bool) -> Result<(rcgen::Certificate, rcgen::KeyPair, bool), CliError> {
    let (cert_path, key_path) = (dir.join("ca.pem"), dir.join("ca-key.pem"));
    if !force && cert_path.exists() && key_path.exists() {
        let key_pem = std::fs::read_to_string(&key_path)
            .map_err(|e| fail(&format!("{}: {e}", key_path.display())))?;
        let key = rcgen::KeyPair::from_pem(&key_pem)
            .map_err(|e| fail(&format!("{}: {e}", key_path.display())))?;
        let issuer = ca_params()?.self_signed(&key).map_err(|e| fail(&e))?;
        let on_disk = crate::tls::load_certs(&cert_path).map_err(|e| fail(&e))?;
        let same = |a: &rustls::pki_types::CertificateDer<'_>,
                    b: &rustls::pki_types::CertificateDer<'_>| {
            match (
                webpki::EndEntityCert::try_from(a),
                webpki::EndEntityCert::try_from(b),
            ) {
                (Ok(a), Ok(b)) => {
                    a.subject() == b.subject()
                        && a.subject_public_key_info() == b.subject_public_key_info()
                }
                _ => false,
            }
        };
        if !same(&on_disk[0], issuer.der()) {
            return Err(CliError::Refused(format!(
                "{} is not a CA this command made with {}; sign client certificates with that CA's own tools, or use another --dir",
                cert_path.display(),
                key_path.display()
            )));
        }
        return Ok((issuer, key, false));
    }
    let key = rcgen::KeyPair::generate().map_err(|e| fail(&e))?;
    let cert = ca_params()?.self_signed(&key).map_err(|e| fail(&e))?;
    write(&cert_path, &key_path, &cert, &key)?;
    Ok((cert, key, true))
}

fn write(
    cert_path: &Path,
    key_path: &Path,
    cert: &rcgen::Certificate,
    key: &rcgen::KeyPair,
) -> Result<(), CliError> {
    std::fs::write(cert_path, cert.pem()).map_err(|e| fail(&e))?;
    write_private(key_path, key.serialize_pem().as_bytes()).map_err(|e| fail(&e))?;
    // Run as root into the service's directory (/etc/hybridauth): readable by the service.
    for p in [cert_path, key_path] {
        crate::service_user::hand_over(p).map_err(|e| fail(&format!("{}: {e}", p.display())))?;
    }
    Ok(())
}

fn issue(
    cert_path: &Path,
    key_path: &Path,
    params: rcgen::CertificateParams,
    issuer: &(rcgen::Certificate, rcgen::KeyPair, bool),
) -> Result<(), CliError> {
    let key = rcgen::KeyPair::generate().map_err(|e| fail(&e))?;
    let cert = params
        .signed_by(&key, &issuer.0, &issuer.1)
        .map_err(|e| fail(&e))?;
    write(cert_path, key_path, &cert, &key)
}

/// What `cert --radsec` was asked for.
pub struct RadsecSet<'a> {
    pub dir: &'a Path,
    pub clients: &'a [String],
    /// `--name`: the server certificate's names besides localhost.
    pub server_names: &'a [String],
    pub force: bool,
}

pub fn run(set: &RadsecSet<'_>, out: &Out) -> Result<(), CliError> {
    let (dir, clients) = (set.dir, set.clients);
    for c in clients {
        if !valid_client_name(c) {
            return Err(CliError::Usage(format!(
                "--client {c:?}: a client name is letters, digits, dots and hyphens (it names files and the certificate)"
            )));
        }
    }
    let client_files: Vec<(String, PathBuf, PathBuf)> = clients
        .iter()
        .map(|c| {
            (
                c.clone(),
                dir.join(format!("client-{c}.pem")),
                dir.join(format!("client-{c}-key.pem")),
            )
        })
        .collect();
    for (_, cert, key) in &client_files {
        for p in [cert, key] {
            if p.exists() && !set.force {
                return Err(CliError::Refused(format!(
                    "{} exists; not overwriting it without --force",
                    p.display()
                )));
            }
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| fail(&format!("{}: {e}", dir.display())))?;
    let issuer = ca(dir, set.force)?;
    let (server_cert, server_key) = (dir.join("server.pem"), dir.join("server-key.pem"));
    let names = names(set.server_names);
    // A new CA invalidates a server certificate signed by an old one.
    let server_made = issuer.2 || set.force || !server_cert.exists() || !server_key.exists();
    if server_made {
        let params = leaf_params(
            &names[0],
            names.clone(),
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        )?;
        issue(&server_cert, &server_key, params, &issuer)?;
    }
    for (name, cert, key) in &client_files {
        let params = leaf_params(
            name,
            vec![name.clone()],
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        )?;
        issue(cert, key, params, &issuer)?;
    }
    let shown = |p: &Path| p.display().to_string();
    out.emit(
        json!({
            "dir": shown(dir),
            "ca": { "cert": shown(&dir.join("ca.pem")), "key": shown(&dir.join("ca-key.pem")), "made": issuer.2 },
            "server": { "cert": shown(&server_cert), "key": shown(&server_key), "names": if server_made { json!(names) } else { json!(null) }, "made": server_made },
            "clients": client_files.iter().map(|(n, c, k)| json!({ "name": n, "cert": shown(c), "key": shown(k) })).collect::<Vec<_>>(),
        }),
        || {
            let mut lines = vec![format!(
                "{} the CA {} ({})",
                if issuer.2 { "made" } else { "kept" },
                dir.join("ca.pem").display(),
                CA_NAME
            )];
            lines.push(if server_made {
                format!("made the server certificate {} for {}", server_cert.display(), names.join(", "))
            } else {
                format!("kept the server certificate {}", server_cert.display())
            });
            for (n, c, _) in &client_files {
                lines.push(format!("made the client certificate {} (tls_identity = \"{n}\")", c.display()));
            }
            lines.join("\n")
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names_are_safe_file_names() {
        assert!(valid_client_name("nas1.lab-2"));
        for bad in ["", "../x", "a/b", "-x", "a b", &"x".repeat(64)] {
            assert!(!valid_client_name(bad), "{bad:?}");
        }
    }
}
