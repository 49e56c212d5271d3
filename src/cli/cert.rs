//! `hybridauth cert`: a self-signed certificate and key for a lab LDAPS/StartTLS listener.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::{CliError, Out};

#[derive(Args, Debug)]
pub struct CertArgs {
    /// Where to write the PEM certificate.
    #[arg(long, default_value = "hybridauth-data/ldap-cert.pem")]
    cert: PathBuf,
    /// Where to write the PEM private key (mode 0600).
    #[arg(long, default_value = "hybridauth-data/ldap-key.pem")]
    key: PathBuf,
    /// Host names (and IP addresses) the certificate is for.
    #[arg(long, default_values_t = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()])]
    name: Vec<String>,
}

pub fn run(args: &CertArgs, out: &Out) -> Result<(), CliError> {
    let fail =
        |e: &dyn std::fmt::Display| CliError::Failure(format!("cannot make a certificate: {e}"));
    let ck = rcgen::generate_simple_self_signed(args.name.clone()).map_err(|e| fail(&e))?;
    for p in [&args.cert, &args.key] {
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
        }
    }
    std::fs::write(&args.cert, ck.cert.pem()).map_err(|e| fail(&e))?;
    write_private(&args.key, ck.key_pair.serialize_pem().as_bytes()).map_err(|e| fail(&e))?;
    out.emit(
        json!({ "cert": args.cert.display().to_string(), "key": args.key.display().to_string(), "names": args.name }),
        || format!("wrote {} and {} for {}", args.cert.display(), args.key.display(), args.name.join(", ")),
    );
    Ok(())
}

fn write_private(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    opts.open(path)?.write_all(data)
}
