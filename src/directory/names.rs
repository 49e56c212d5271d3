//! How a typed login name finds a user, as Active Directory resolves it: the name forms
//! (sAMAccountName, UPN, `DOMAIN\\user`, DN), the candidates a store must fetch, the DN of a
//! user entry, and the limits of each form.

use crate::directory::domain::DirectoryConfig;

/// Escapes a value for use in an RDN (RFC 4514 §2.4).
fn escape_rdn_value(v: &str) -> String {
    let last = v.chars().count().saturating_sub(1);
    let mut out = String::with_capacity(v.len() + 2);
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The distinguished name of a user entry: `CN=<sAMAccountName>,<users container>,<base DN>`.
pub fn user_dn(dir: &DirectoryConfig, sam: &str) -> String {
    // Every decision names its user's DN: built by pushes, not `format!` (it showed in
    // warm-path profiles).
    let value = escape_rdn_value(sam);
    let mut dn =
        String::with_capacity(4 + value.len() + dir.users_container.len() + dir.base_dn.len());
    dn.push_str("CN=");
    dn.push_str(&value);
    dn.push(',');
    dn.push_str(&dir.users_container);
    dn.push(',');
    dn.push_str(&dir.base_dn);
    dn
}

/// A DN folded for comparison: attribute types and values case-insensitive, spaces around
/// separators ignored, escapes kept.
pub fn normalize_dn(dn: &str) -> String {
    let mut rdns = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in dn.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            cur.push(c);
            escaped = true;
        } else if c == ',' || c == ';' {
            rdns.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    rdns.push(cur);
    rdns.iter()
        .map(|rdn| match rdn.split_once('=') {
            Some((a, v)) => format!("{}={}", a.trim().to_lowercase(), v.trim().to_lowercase()),
            None => rdn.trim().to_lowercase(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The sAMAccountNames and UPNs (lower-case) a login could name, so the store can fetch just
/// those accounts; [`resolve`] then decides among them with the full rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Candidates {
    pub sams: Vec<String>,
    pub upns: Vec<String>,
    /// Lower-case `mail` values (the cloud's e-mail sign-in only; AD never signs in by mail).
    pub mails: Vec<String>,
}

pub fn candidates(login: &str, dir: &DirectoryConfig) -> Candidates {
    let lc = login.trim().to_lowercase();
    let mut c = Candidates::default();
    if lc.is_empty() {
        return c;
    }
    if lc.contains('=') {
        // A user DN starts with CN=<sAMAccountName>.
        let normalized = normalize_dn(&lc);
        if let Some(value) = first_rdn(&normalized).strip_prefix("cn=") {
            c.sams.push(unescape_rdn_value(value));
        }
    } else if let Some((_, sam)) = lc.split_once('\\') {
        c.sams.push(sam.to_string());
    }
    if lc.contains('@') {
        c.upns.push(lc.clone());
        if let Some((sam, domain)) = lc.rsplit_once('@') {
            if domain == dir.upn_suffix {
                c.sams.push(sam.to_string());
            }
        }
    }
    if !lc.contains('@') && !lc.contains('\\') && !lc.contains('=') {
        c.sams.push(lc);
    }
    c
}

/// The longest login names accepted, as Active Directory bounds them: a sAMAccountName has at
/// most 20 characters, a userPrincipalName is capped here at 1 KiB, and a distinguished name at
/// 4 KiB (AD's own DN limit is far below what a 1 MiB LDAP message could carry).
pub const MAX_SAM_CHARS: usize = 20;
pub const MAX_UPN_BYTES: usize = 1024;
pub const MAX_DN_BYTES: usize = 4096;

/// Why a login name cannot name any account, whatever the directory holds: `None` when its
/// length is within the limits of its form.
pub fn invalid_login(login: &str) -> Option<String> {
    let login = login.trim();
    if login.len() > MAX_DN_BYTES {
        return Some(format!(
            "the login name is {} bytes long; no Active Directory name is longer than {MAX_DN_BYTES}",
            login.len()
        ));
    }
    if login.contains('=') {
        return None;
    }
    if login.contains('@') {
        return (login.len() > MAX_UPN_BYTES).then(|| {
            format!(
                "the login name is {} bytes long; a userPrincipalName is at most {MAX_UPN_BYTES}",
                login.len()
            )
        });
    }
    let sam = login.rsplit_once('\\').map_or(login, |(_, sam)| sam);
    let n = sam.chars().count();
    (n > MAX_SAM_CHARS).then(|| {
        format!("the sAMAccountName in the login name has {n} characters; AD allows at most {MAX_SAM_CHARS}")
    })
}

/// The first RDN of a DN, up to the first comma that is not escaped.
fn first_rdn(dn: &str) -> &str {
    let mut escaped = false;
    for (i, ch) in dn.char_indices() {
        match ch {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' => return &dn[..i],
            _ => {}
        }
    }
    dn
}

fn unescape_rdn_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut escaped = false;
    for ch in v.chars() {
        if escaped || ch != '\\' {
            out.push(ch);
            escaped = false;
        } else {
            escaped = true;
        }
    }
    out
}

/// What a login name as typed resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Found(i64),
    Unknown,
    /// More than one object answers to the name: AD fails the bind as if nobody did.
    Ambiguous,
}

/// The names a directory object answers to.
pub struct Names<'a> {
    pub id: i64,
    pub sam: &'a str,
    pub upn: &'a str,
}

/// Resolves a login as AD does for a simple bind (MS-ADTS 5.1.1.1.1): a full DN, a UPN, an
/// implicit UPN (`sAMAccountName@dns-domain`), `NETBIOS\sAMAccountName`, or a bare
/// sAMAccountName. Every form the name could be is tried; if they point at different objects
/// the name is ambiguous (a documented choice: AD refuses ambiguous names rather than guessing).
pub fn resolve<'a>(
    login: &str,
    dir: &DirectoryConfig,
    names: impl IntoIterator<Item = Names<'a>>,
) -> Resolution {
    let login = login.trim();
    if login.is_empty() {
        return Resolution::Unknown;
    }
    let lc = login.to_lowercase();
    let dn_form = login.contains('=').then(|| normalize_dn(login));
    let upn_form = lc.contains('@').then_some(lc.as_str());
    let implicit_upn = lc
        .rsplit_once('@')
        .filter(|(_, domain)| *domain == dir.upn_suffix)
        .map(|(sam, _)| sam.to_string());
    let down_level = lc.split_once('\\').and_then(|(domain, sam)| {
        let netbios = dir.netbios_name.to_lowercase();
        (domain == netbios || domain == dir.upn_suffix).then(|| sam.to_string())
    });
    let bare =
        (!lc.contains('@') && !lc.contains('\\') && !lc.contains('=')).then_some(lc.as_str());

    let mut found: Option<i64> = None;
    for n in names {
        let sam_lc = n.sam.to_lowercase();
        let hit = dn_form
            .as_deref()
            .is_some_and(|dn| dn == normalize_dn(&user_dn(dir, n.sam)))
            || upn_form.is_some_and(|u| u == n.upn.to_lowercase())
            || implicit_upn.as_deref() == Some(sam_lc.as_str())
            || down_level.as_deref() == Some(sam_lc.as_str())
            || bare == Some(sam_lc.as_str());
        if hit {
            match found {
                Some(id) if id != n.id => return Resolution::Ambiguous,
                _ => found = Some(n.id),
            }
        }
    }
    found.map_or(Resolution::Unknown, Resolution::Found)
}

#[cfg(test)]
mod login_limits {
    use super::*;

    #[test]
    fn each_form_has_its_limit() {
        assert_eq!(invalid_login(&"a".repeat(20)), None);
        assert!(invalid_login(&"a".repeat(21)).is_some());
        assert!(invalid_login(&format!("CONTOSO\\{}", "a".repeat(21))).is_some());
        assert_eq!(
            invalid_login(&format!("{}@contoso.com", "a".repeat(100))),
            None
        );
        assert!(invalid_login(&format!("{}@contoso.com", "a".repeat(1100))).is_some());
        assert_eq!(
            invalid_login(&format!("CN={},DC=x", "a".repeat(3000))),
            None
        );
        assert!(invalid_login(&format!("CN={},DC=x", "a".repeat(5000))).is_some());
        // Characters, not bytes, for a sAMAccountName.
        assert_eq!(invalid_login(&"é".repeat(20)), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> DirectoryConfig {
        DirectoryConfig {
            base_dn: "DC=contoso,DC=com".into(),
            netbios_name: "CONTOSO".into(),
            upn_suffix: "contoso.com".into(),
            users_container: "CN=Users".into(),
        }
    }

    fn users() -> Vec<(i64, &'static str, &'static str)> {
        vec![
            (1, "alice", "alice@contoso.com"),
            (2, "bob", "robert@contoso.com"),
            (3, "carol", "bob@contoso.com"),
        ]
    }

    #[test]
    fn a_user_dn_escapes_what_rfc_4514_asks_to() {
        let d = dir();
        assert_eq!(user_dn(&d, "alice"), "CN=alice,CN=Users,DC=contoso,DC=com");
        assert_eq!(
            user_dn(&d, "a,b+c"),
            "CN=a\\,b\\+c,CN=Users,DC=contoso,DC=com"
        );
        // A leading '#' or space and a trailing space; spaces inside stay as they are.
        assert_eq!(
            user_dn(&d, "#a b "),
            "CN=\\#a b\\ ,CN=Users,DC=contoso,DC=com"
        );
        assert_eq!(user_dn(&d, " "), "CN=\\ ,CN=Users,DC=contoso,DC=com");
        assert_eq!(user_dn(&d, "é "), "CN=é\\ ,CN=Users,DC=contoso,DC=com");
    }

    fn r(login: &str) -> Resolution {
        let u = users();
        resolve(
            login,
            &dir(),
            u.iter().map(|(id, sam, upn)| Names { id: *id, sam, upn }),
        )
    }

    #[test]
    fn every_ad_login_form_finds_the_user() {
        assert_eq!(r("alice"), Resolution::Found(1));
        assert_eq!(r("ALICE@contoso.com"), Resolution::Found(1));
        assert_eq!(r("CONTOSO\\alice"), Resolution::Found(1));
        assert_eq!(r("contoso\\Alice"), Resolution::Found(1));
        assert_eq!(
            r("cn=alice, cn=users, dc=contoso, dc=com"),
            Resolution::Found(1)
        );
        assert_eq!(r("robert@contoso.com"), Resolution::Found(2));
    }

    #[test]
    fn wrong_domain_or_unknown_name_is_unknown() {
        assert_eq!(r("FABRIKAM\\alice"), Resolution::Unknown);
        assert_eq!(r("alice@fabrikam.com"), Resolution::Unknown);
        assert_eq!(r("nobody"), Resolution::Unknown);
        assert_eq!(r(""), Resolution::Unknown);
    }

    #[test]
    fn candidates_cover_every_form() {
        let d = dir();
        assert_eq!(candidates("Alice", &d).sams, vec!["alice"]);
        assert_eq!(candidates("CONTOSO\\alice", &d).sams, vec!["alice"]);
        let c = candidates("alice@contoso.com", &d);
        assert_eq!(
            (c.sams, c.upns),
            (
                vec!["alice".to_string()],
                vec!["alice@contoso.com".to_string()]
            )
        );
        assert_eq!(
            candidates("CN=a\\,b,CN=Users,DC=contoso,DC=com", &d).sams,
            vec!["a,b"]
        );
        assert_eq!(candidates("", &d), Candidates::default());
    }

    #[test]
    fn a_name_answering_for_two_objects_is_ambiguous() {
        // bob@contoso.com is carol's UPN and bob's implicit UPN.
        assert_eq!(r("bob@contoso.com"), Resolution::Ambiguous);
    }
}
