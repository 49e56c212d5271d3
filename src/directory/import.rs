//! Reading an import file into rows: CSV with a header, or LDIF as an AD export writes it
//! (`ldifde -f`, `ldapsearch -LLL`). Parsing only; the directory service validates the rows
//! against the directory and inserts them all or none.

use std::io::BufRead;

use base64::Engine;

use super::model::MfaState;
use crate::secret::Secret;
use crate::textfile::{self, Lines};

/// One user to import, with the line of the file it came from (for error messages).
#[derive(Debug)]
pub struct ImportRow {
    pub line: usize,
    pub sam: String,
    pub upn: Option<String>,
    pub password: Option<Secret>,
    /// An Argon2id PHC string, stored as it is (no hashing at import).
    pub password_hash: Option<String>,
    pub display_name: Option<String>,
    pub mail: Option<String>,
    pub groups: Vec<String>,
    pub mfa: MfaState,
    pub admin: bool,
    pub enabled: bool,
}

impl ImportRow {
    fn new(line: usize, sam: String) -> ImportRow {
        ImportRow {
            line,
            sam,
            upn: None,
            password: None,
            password_hash: None,
            display_name: None,
            mail: None,
            groups: vec![],
            mfa: MfaState::Disabled,
            admin: false,
            enabled: true,
        }
    }
}

/// The rows read, and the problems found on the way (the rows of a bad line are kept when
/// they can be, so that the directory's checks can report on them too).
#[derive(Debug)]
pub struct Parsed {
    pub rows: Vec<ImportRow>,
    pub errors: Vec<LineError>,
}

/// A problem with one line of the file.
#[derive(Debug, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

fn err(line: usize, message: impl Into<String>) -> LineError {
    LineError {
        line,
        message: message.into(),
    }
}

const CSV_COLUMNS: &[&str] = &[
    "sam",
    "upn",
    "password",
    "password_hash",
    "display_name",
    "mail",
    "groups",
    "mfa",
    "admin",
    "enabled",
];

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "" | "false" | "no" | "0" | "off" => Some(false),
        "true" | "yes" | "1" | "on" => Some(true),
        _ => None,
    }
}

fn non_empty(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// CSV with a header naming its columns (any order; `sam` required; `password` or
/// `password_hash` per row). Every bad line is reported, not just the first. Read row by row
/// through `textfile::Lines` (size, line length and UTF-8 checked as it streams); a problem
/// with the file itself ends the reading there.
pub fn parse_csv(input: impl BufRead) -> Parsed {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::Headers)
        .from_reader(Lines::new(input, textfile::IMPORT));
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|c| c.to_ascii_lowercase()).collect(),
        Err(e) => {
            return Parsed {
                rows: vec![],
                errors: vec![csv_error(&e, 1)],
            }
        }
    };
    let mut errors = vec![];
    if !headers.iter().any(|h| CSV_COLUMNS.contains(&h.as_str())) {
        // Not an import file at all (`user import /etc/shadow`): its content is not quoted.
        errors.push(err(
            1,
            format!(
                "this is not a CSV import file: its first line names none of the columns {}",
                CSV_COLUMNS.join(", ")
            ),
        ));
        return Parsed {
            rows: vec![],
            errors,
        };
    }
    for h in &headers {
        if !CSV_COLUMNS.contains(&h.as_str()) {
            errors.push(err(
                1,
                format!("unknown column {h:?} (columns: {})", CSV_COLUMNS.join(", ")),
            ));
        }
    }
    if !headers.iter().any(|h| h == "sam") {
        errors.push(err(1, "the header has no \"sam\" column"));
    }
    if !errors.is_empty() {
        return Parsed {
            rows: vec![],
            errors,
        };
    }
    let col = |name: &str| headers.iter().position(|h| h == name);
    let mut rows = vec![];
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                let fatal = matches!(e.kind(), csv::ErrorKind::Io(_));
                errors.push(csv_error(&e, line));
                if fatal {
                    break;
                }
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line() as usize);
        let get = |name: &str| col(name).and_then(|i| record.get(i)).unwrap_or("");
        let Some(sam) = non_empty(get("sam")) else {
            errors.push(err(line, "sam is empty"));
            continue;
        };
        let mut row = ImportRow::new(line, sam);
        row.upn = non_empty(get("upn"));
        row.password = non_empty(get("password")).map(Secret::new);
        row.password_hash = non_empty(get("password_hash"));
        row.display_name = non_empty(get("display_name"));
        row.mail = non_empty(get("mail"));
        row.groups = get("groups").split(';').filter_map(non_empty).collect();
        let mfa = get("mfa");
        match non_empty(mfa).map(|m| MfaState::parse(&m)) {
            None => {}
            Some(Some(m)) => row.mfa = m,
            Some(None) => errors.push(err(
                line,
                format!("mfa is {mfa:?}; expected disabled, enabled or enforced"),
            )),
        }
        for (name, slot) in [("admin", &mut row.admin), ("enabled", &mut row.enabled)] {
            let v = get(name);
            if v.trim().is_empty() {
                continue;
            }
            match parse_bool(v) {
                Some(b) => *slot = b,
                None => errors.push(err(
                    line,
                    format!("{name} is {v:?}; expected true or false"),
                )),
            }
        }
        match (&row.password, &row.password_hash) {
            (Some(_), Some(_)) => {
                errors.push(err(line, "give password or password_hash, not both"));
            }
            (None, None) => errors.push(err(line, "no password and no password_hash")),
            _ => {}
        }
        rows.push(row);
    }
    Parsed { rows, errors }
}

/// A CSV reader's error as a line error: a limit of the file (see `textfile`) by its own
/// line number and message, anything else as CSV it could not read.
fn csv_error(e: &csv::Error, line: usize) -> LineError {
    if let csv::ErrorKind::Io(io) = e.kind() {
        if let Some(t) = textfile::text_error(io) {
            return err(t.line().max(line), t.message());
        }
        return err(line, format!("cannot read the file: {io}"));
    }
    err(line, format!("unreadable CSV: {e}"))
}

/// The first RDN's value of a DN: `CN=VPN Users,CN=Users,DC=x` → `VPN Users`.
fn first_rdn_value(dn: &str) -> Option<String> {
    let first = dn.split(',').next()?;
    let (_, v) = first.split_once('=')?;
    non_empty(v)
}

/// LDIF records of user objects (others — groups, OUs, computers — are skipped): the
/// attributes an AD export carries. AD never exports passwords, so an account imported from
/// LDIF has none until `user reset-password` (a `userPassword` holding `{ARGON2}` and a PHC
/// string is taken as its hash). Read record by record; a problem with the file itself (see
/// `textfile`) ends the reading there.
pub fn parse_ldif(input: impl BufRead) -> Parsed {
    let mut lines = Lines::new(input, textfile::IMPORT);
    let mut parsed = Parsed {
        rows: vec![],
        errors: vec![],
    };
    // The logical line being unfolded (a leading space continues the previous line), with the
    // line number where it started, and the record it belongs to.
    let mut current: Option<(usize, String)> = None;
    let mut record: Vec<(usize, String, String)> = vec![];
    loop {
        let next = match lines.next_line() {
            Ok(n) => n,
            Err(e) => {
                parsed.errors.push(err(e.line(), e.message()));
                return parsed;
            }
        };
        if let Some((_, raw)) = &next {
            if let (Some(cont), Some((_, last))) = (raw.strip_prefix(' '), current.as_mut()) {
                last.push_str(cont);
                continue;
            }
        }
        if let Some((line, l)) = current.take() {
            ldif_line(line, &l, &mut record, &mut parsed);
        }
        match next {
            Some(n) => current = Some(n),
            None => break,
        }
    }
    ldif_record(std::mem::take(&mut record), &mut parsed);
    parsed
}

/// One logical LDIF line: an attribute of the record, or the blank line that ends it.
fn ldif_line(line: usize, l: &str, record: &mut Vec<(usize, String, String)>, parsed: &mut Parsed) {
    if l.trim().is_empty() {
        ldif_record(std::mem::take(record), parsed);
        return;
    }
    if l.starts_with('#') || l.starts_with("version:") {
        return;
    }
    let Some((attr, rest)) = l.split_once(':') else {
        parsed
            .errors
            .push(err(line, "not an \"attribute: value\" line"));
        return;
    };
    let value = if let Some(b64) = rest.strip_prefix(':') {
        match base64::engine::general_purpose::STANDARD.decode(b64.trim()) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) => {
                parsed
                    .errors
                    .push(err(line, "the value after \"::\" is not valid base64"));
                return;
            }
        }
    } else {
        rest.trim().to_string()
    };
    record.push((line, attr.trim().to_ascii_lowercase(), value));
}

/// A finished LDIF record: a row when it is a user object.
fn ldif_record(rec: Vec<(usize, String, String)>, parsed: &mut Parsed) {
    let Some(first_line) = rec.first().map(|r| r.0) else {
        return;
    };
    let errors = &mut parsed.errors;
    let values = |name: &'static str| {
        rec.iter()
            .filter(move |(_, a, _)| a == name)
            .map(|(_, _, v)| v.as_str())
    };
    let is_user = values("objectclass").any(|c| c.eq_ignore_ascii_case("user"))
        && !values("objectclass").any(|c| c.eq_ignore_ascii_case("computer"));
    if !is_user {
        return;
    }
    let Some(sam) = values("samaccountname").next().and_then(non_empty) else {
        errors.push(err(first_line, "a user record without sAMAccountName"));
        return;
    };
    let mut row = ImportRow::new(first_line, sam);
    row.upn = values("userprincipalname").next().and_then(non_empty);
    row.display_name = values("displayname").next().and_then(non_empty);
    row.mail = values("mail").next().and_then(non_empty);
    row.groups = values("memberof").filter_map(first_rdn_value).collect();
    if let Some(uac) = values("useraccountcontrol").next() {
        match uac.trim().parse::<u32>() {
            Ok(v) => row.enabled = v & 0x2 == 0,
            Err(_) => errors.push(err(
                first_line,
                format!("userAccountControl {uac:?} is not a number"),
            )),
        }
    }
    if let Some(p) = values("userpassword").next() {
        match p.strip_prefix("{ARGON2}") {
            Some(phc) => row.password_hash = non_empty(phc),
            None => errors.push(err(
                first_line,
                "userPassword must be {ARGON2} and an Argon2id PHC string",
            )),
        }
    }
    parsed.rows.push(row);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_reads_every_column_and_reports_every_bad_line() {
        let ok = "sam,upn,password,display_name,mail,groups,mfa,admin,enabled\n\
                  alice,alice@contoso.com,Winter2026!,Alice A,alice@contoso.com,VPN Users;staff,enforced,true,false\n\
                  \"bob, jr\",,\"pa,ss\",,,,,,\n";
        let Parsed { rows, errors } = parse_csv(ok.as_bytes());
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].groups, ["VPN Users", "staff"]);
        assert_eq!(rows[0].mfa, MfaState::Enforced);
        assert!(rows[0].admin && !rows[0].enabled);
        assert_eq!(rows[1].sam, "bob, jr");
        assert_eq!(rows[1].password.as_ref().unwrap().expose(), b"pa,ss");
        assert_eq!(rows[1].line, 3);
        let bad = "sam,password,mfa\n,x,\ncarol,,\ndave,x,sometimes\n";
        let errors = parse_csv(bad.as_bytes()).errors;
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 4], "{errors:?}");
        assert_eq!(parse_csv(&b"sam,colour\nx,red\n"[..]).errors[0].line, 1);
    }

    #[test]
    fn ldif_reads_an_ad_export_and_skips_what_is_not_a_user() {
        let ldif = "version: 1\n\
            dn: CN=Alice,CN=Users,DC=contoso,DC=com\n\
            objectClass: top\nobjectClass: person\nobjectClass: user\n\
            sAMAccountName: alice\nuserPrincipalName: alice@contoso.com\n\
            displayName:: QWxpY2UgQW5kZXJzZW4=\n\
            memberOf: CN=VPN Users,CN=Users,DC=contoso,DC=com\n\
            userAccountControl: 514\n\
            mail: alice@cont\n oso.com\n\
            \n\
            dn: CN=VPN Users,CN=Users,DC=contoso,DC=com\nobjectClass: group\nsAMAccountName: VPN Users\n\
            \n\
            dn: CN=PC1,CN=Computers,DC=contoso,DC=com\nobjectClass: user\nobjectClass: computer\nsAMAccountName: PC1$\n";
        let Parsed { rows, errors } = parse_ldif(ldif.as_bytes());
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(rows.len(), 1);
        let a = &rows[0];
        assert_eq!(a.sam, "alice");
        assert_eq!(a.display_name.as_deref(), Some("Alice Andersen"));
        assert_eq!(a.mail.as_deref(), Some("alice@contoso.com"));
        assert_eq!(a.groups, ["VPN Users"]);
        assert!(!a.enabled, "514 = NORMAL_ACCOUNT | ACCOUNTDISABLE");
        assert!(a.password.is_none() && a.password_hash.is_none());
        assert_eq!(a.line, 2);
        let bad = "dn: CN=x\nobjectClass: user\n\ndn: CN=y\nobjectClass: user\nsAMAccountName: y\nuserAccountControl: many\n";
        assert_eq!(
            parse_ldif(bad.as_bytes()).errors.len(),
            2,
            "no sAMAccountName; bad UAC"
        );
    }

    #[test]
    fn a_file_that_is_not_an_import_file_is_never_quoted() {
        let shadow =
            "root:$y$j9T$secretsalt$secrethash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n";
        let e = parse_csv(shadow.as_bytes()).errors;
        assert_eq!(e.len(), 1);
        assert!(e[0].message.contains("not a CSV import file"), "{e:?}");
        assert!(!e[0].message.contains("root") && !e[0].message.contains("secret"));
        let e = parse_ldif("root::c2VjcmV0 garbage\n".as_bytes()).errors;
        assert!(!e[0].message.contains("root"), "{e:?}");
    }

    #[test]
    fn limits_of_the_file_end_the_reading_with_the_line() {
        let zeros = vec![0u8; 200 << 10];
        let e = parse_csv(&zeros[..]).errors;
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].line, 1);
        assert!(e[0].message.contains("longer than"), "{e:?}");
        let mut bad = b"sam,password\nalice,x\nbob,".to_vec();
        bad.extend_from_slice(b"\xff\xfe\n");
        let e = parse_csv(&bad[..]).errors;
        assert_eq!(
            (e[0].line, e[0].message.as_str()),
            (3, "the line is not UTF-8 text")
        );
        let long = format!("dn: CN=x\ndisplayName: {}\n", "x".repeat(70_000));
        let e = parse_ldif(long.as_bytes()).errors;
        assert_eq!(e[0].line, 2, "{e:?}");
    }
}
