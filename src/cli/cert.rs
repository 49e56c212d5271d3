//! `hybridauth cert`: a self-signed certificate and key for a lab LDAPS/StartTLS listener or
//! EAP; with `--radsec`, a CA and the certificates RADIUS over TLS needs (`cert_radsec`).

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::cert_files::{names, set_validity, write_private};
use super::output::{CliError, Out};

#[derive(Args, Debug)]
pub struct CertArgs {
    /// Where to write the PEM certificate.
    #[arg(long, default_value = "hybridauth-data/ldap-cert.pem")]
    cert: PathBuf,
    /// Where to write the PEM private key (mode 0600).
    #[arg(long, default_value = "hybridauth-data/ldap-key.pem")]
    key: PathBuf,
    /// A host name or IP address the certificate is also for (repeatable), besides
    /// localhost, 127.0.0.1 and ::1; the first one given is the subject's CN.
    #[arg(long)]
    name: Vec<String>,
    /// Overwrite an existing certificate and key (with --radsec: make a new CA too).
    #[arg(long)]
    force: bool,
    /// Make a RADIUS over TLS set instead: a CA (kept if --dir has one), a server certificate
    /// (for --name and localhost) and a certificate per --client, all in --dir.
    #[arg(long)]
    radsec: bool,
    /// With --radsec: the directory for ca.pem, server.pem, client-NAME.pem and their keys.
    #[arg(long, default_value = "hybridauth-data/radsec", requires = "radsec")]
    dir: PathBuf,
    /// With --radsec: a client certificate for this name (repeatable); the name is its CN and
    /// DNS name, to be the client's tls_identity.
    #[arg(long, requires = "radsec")]
    client: Vec<String>,
}

pub fn run(args: &CertArgs, out: &Out) -> Result<(), CliError> {
    if args.radsec {
        let set = super::cert_radsec::RadsecSet {
            dir: &args.dir,
            clients: &args.client,
            server_names: &args.name,
            force: args.force,
        };
        return super::cert_radsec::run(&set, out);
    }
    for p in [&args.cert, &args.key] {
        if p.exists() && !args.force {
            return Err(CliError::Refused(format!(
                "{} exists; not overwriting it without --force",
                p.display()
            )));
        }
    }
    let fail =
        |e: &dyn std::fmt::Display| CliError::Failure(format!("cannot make a certificate: {e}"));
    let names = names(&args.name);
    let mut params = rcgen::CertificateParams::new(names.clone()).map_err(|e| fail(&e))?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, names[0].clone());
    dn.push(rcgen::DnType::OrganizationName, "hybridauth lab");
    params.distinguished_name = dn;
    set_validity(&mut params);
    let key_pair = rcgen::KeyPair::generate().map_err(|e| fail(&e))?;
    let cert = params.self_signed(&key_pair).map_err(|e| fail(&e))?;
    for p in [&args.cert, &args.key] {
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
        }
    }
    std::fs::write(&args.cert, cert.pem()).map_err(|e| fail(&e))?;
    write_private(&args.key, key_pair.serialize_pem().as_bytes()).map_err(|e| fail(&e))?;
    // Run as root into the service's directory (/etc/hybridauth): readable by the service.
    for p in [&args.cert, &args.key] {
        crate::service_user::hand_over(p).map_err(|e| fail(&format!("{}: {e}", p.display())))?;
    }
    out.emit(
        json!({ "cert": args.cert.display().to_string(), "key": args.key.display().to_string(), "names": names }),
        || format!("wrote {} and {} for {}", args.cert.display(), args.key.display(), names.join(", ")),
    );
    Ok(())
}
