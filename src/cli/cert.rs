//! `hybridauth cert`: a self-signed certificate and key for a lab LDAPS/StartTLS listener or
//! EAP; with `--radsec`, a CA and the certificates RADIUS over TLS needs (`cert_radsec`).

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::output::{CliError, Out};

/// Names every lab certificate is for; `--name` adds to them.
pub(super) const ALWAYS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];
/// How long a lab certificate is valid: long enough for a lab, short enough to be noticed.
const VALID_YEARS: i32 = 2;

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
    pub(super) name: Vec<String>,
    /// Overwrite an existing certificate and key (with --radsec: make a new CA too).
    #[arg(long)]
    pub(super) force: bool,
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

/// The names a server certificate is for: `extra` first (the first one is the CN), then
/// localhost and the loopback addresses, each once.
pub(super) fn names(extra: &[String]) -> Vec<String> {
    let mut names: Vec<String> = vec![];
    for n in extra.iter().map(String::as_str).chain(ALWAYS) {
        let n = n.trim();
        if !n.is_empty() && !names.iter().any(|m| m.eq_ignore_ascii_case(n)) {
            names.push(n.to_string());
        }
    }
    names
}

/// Valid from yesterday (a peer whose clock is a little behind accepts it) for `VALID_YEARS`.
pub(super) fn set_validity(params: &mut rcgen::CertificateParams) {
    let today = chrono::Utc::now().date_naive();
    let ymd = |d: chrono::NaiveDate| {
        use chrono::Datelike;
        // Day 28 at most: a certificate made on 29 February still has a valid end date.
        rcgen::date_time_ymd(d.year(), d.month() as u8, d.day().min(28) as u8)
    };
    params.not_before = ymd(today - chrono::Duration::days(1));
    params.not_after = ymd(today.with_year_saturating(VALID_YEARS));
}

pub fn run(args: &CertArgs, out: &Out) -> Result<(), CliError> {
    if args.radsec {
        return super::cert_radsec::run(args, &args.dir, &args.client, out);
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

/// `today` plus whole years.
trait AddYears {
    fn with_year_saturating(self, years: i32) -> chrono::NaiveDate;
}

impl AddYears for chrono::NaiveDate {
    fn with_year_saturating(self, years: i32) -> chrono::NaiveDate {
        use chrono::Datelike;
        self.with_day(self.day().min(28))
            .and_then(|d| d.with_year(d.year() + years))
            .unwrap_or(self)
    }
}

pub(super) fn write_private(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    opts.open(path)?.write_all(data)
}
