//! What every lab certificate shares: the names a server certificate is for, its validity,
//! and how its private key is written.

/// Names every lab server certificate is for; `--name` adds to them.
pub const ALWAYS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];
/// How long a lab certificate is valid: long enough for a lab, short enough to be noticed.
const VALID_YEARS: i32 = 2;

/// The names a server certificate is for: `extra` first (the first one is the CN), then
/// localhost and the loopback addresses, each once.
pub fn names(extra: &[String]) -> Vec<String> {
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
pub fn set_validity(params: &mut rcgen::CertificateParams) {
    let today = chrono::Utc::now().date_naive();
    let ymd = |d: chrono::NaiveDate| {
        use chrono::Datelike;
        // Day 28 at most: a certificate made on 29 February still has a valid end date.
        rcgen::date_time_ymd(d.year(), d.month() as u8, d.day().min(28) as u8)
    };
    params.not_before = ymd(today - chrono::Duration::days(1));
    params.not_after = ymd(today.with_year_saturating(VALID_YEARS));
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

pub fn write_private(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    opts.open(path)?.write_all(data)
}
