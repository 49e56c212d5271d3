//! The directory as LDAP entries: the domain object, the users container and one entry per
//! user, with the attributes legacy applications search on, and filter matching over them.

use ldap3_proto::proto::{
    LdapFilter, LdapPartialAttribute, LdapSearchResultEntry, LdapSubstringFilter,
};

use crate::config::DirectoryConfig;
use crate::directory::{normalize_dn, user_dn, User};

pub struct Entry {
    pub dn: String,
    /// (attribute name as AD spells it, values)
    pub attrs: Vec<(&'static str, Vec<String>)>,
}

impl Entry {
    fn get(&self, name: &str) -> Option<&Vec<String>> {
        self.attrs
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    pub fn has_value(&self, name: &str, value: &str) -> Option<bool> {
        let vals = self.get(name)?;
        let dn_valued =
            name.eq_ignore_ascii_case("memberOf") || name.eq_ignore_ascii_case("distinguishedName");
        Some(vals.iter().any(|v| {
            if dn_valued {
                normalize_dn(v) == normalize_dn(value)
            } else {
                v.eq_ignore_ascii_case(value)
            }
        }))
    }
}

fn group_dn(dir: &DirectoryConfig, group: &str) -> String {
    if group.contains('=') {
        group.to_string()
    } else {
        format!("CN={group},{},{}", dir.users_container, dir.base_dn)
    }
}

pub fn user_entry(dir: &DirectoryConfig, u: &User) -> Entry {
    let dn = user_dn(dir, &u.sam);
    let mut attrs: Vec<(&'static str, Vec<String>)> = vec![
        (
            "objectClass",
            vec![
                "top".into(),
                "person".into(),
                "organizationalPerson".into(),
                "user".into(),
            ],
        ),
        ("cn", vec![u.sam.clone()]),
        ("sAMAccountName", vec![u.sam.clone()]),
        ("uid", vec![u.sam.clone()]),
        ("userPrincipalName", vec![u.upn.clone()]),
        ("displayName", vec![u.display_name.clone()]),
        ("distinguishedName", vec![dn.clone()]),
        (
            "memberOf",
            u.groups.iter().map(|g| group_dn(dir, g)).collect(),
        ),
        // userAccountControl: NORMAL_ACCOUNT (0x200), plus ACCOUNTDISABLE (0x2).
        (
            "userAccountControl",
            vec![(if u.enabled { 0x200 } else { 0x202 }).to_string()],
        ),
    ];
    if let Some(m) = &u.mail {
        attrs.push(("mail", vec![m.clone()]));
    }
    attrs.retain(|(_, v)| !v.is_empty());
    Entry { dn, attrs }
}

/// The domain object and the users container, so that base and one-level searches on them work.
pub fn container_entries(dir: &DirectoryConfig) -> Vec<Entry> {
    let users_dn = format!("{},{}", dir.users_container, dir.base_dn);
    let cn = dir
        .users_container
        .split_once('=')
        .map(|(_, v)| v.split(',').next().unwrap_or(v).to_string())
        .unwrap_or_default();
    vec![
        Entry {
            dn: dir.base_dn.clone(),
            attrs: vec![
                (
                    "objectClass",
                    vec!["top".into(), "domain".into(), "domainDNS".into()],
                ),
                ("distinguishedName", vec![dir.base_dn.clone()]),
            ],
        },
        Entry {
            dn: users_dn.clone(),
            attrs: vec![
                ("objectClass", vec!["top".into(), "container".into()]),
                ("cn", vec![cn]),
                ("distinguishedName", vec![users_dn]),
            ],
        },
    ]
}

fn substring_match(value: &str, f: &LdapSubstringFilter) -> bool {
    let v = value.to_lowercase();
    let mut rest = v.as_str();
    if let Some(init) = &f.initial {
        let init = init.to_lowercase();
        match rest.strip_prefix(init.as_str()) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    for any in &f.any {
        let any = any.to_lowercase();
        match rest.find(any.as_str()) {
            Some(pos) => rest = &rest[pos + any.len()..],
            None => return false,
        }
    }
    match &f.final_ {
        Some(fin) => rest.ends_with(fin.to_lowercase().as_str()),
        None => true,
    }
}

/// RFC 4511 filter evaluation, simplified to two values: an attribute the entry lacks makes an
/// assertion false (so `!(mail=x)` matches an entry without mail, as in AD).
pub fn matches(e: &Entry, f: &LdapFilter) -> bool {
    match f {
        LdapFilter::And(fs) => fs.iter().all(|f| matches(e, f)),
        LdapFilter::Or(fs) => fs.iter().any(|f| matches(e, f)),
        LdapFilter::Not(f) => !matches(e, f),
        LdapFilter::Equality(a, v) => e.has_value(a, v).unwrap_or(false),
        LdapFilter::Present(a) => e.get(a).is_some(),
        LdapFilter::Substring(a, sf) => e
            .get(a)
            .is_some_and(|vals| vals.iter().any(|v| substring_match(v, sf))),
        LdapFilter::Approx(a, v) => e.has_value(a, v).unwrap_or(false),
        LdapFilter::GreaterOrEqual(a, v) => e
            .get(a)
            .is_some_and(|vals| vals.iter().any(|x| x.to_lowercase() >= v.to_lowercase())),
        LdapFilter::LessOrEqual(a, v) => e
            .get(a)
            .is_some_and(|vals| vals.iter().any(|x| x.to_lowercase() <= v.to_lowercase())),
        LdapFilter::Extensible(_) => false,
    }
}

/// The entry as sent: only the requested attributes (`*` or none: all; `1.1`: none).
pub fn to_result(e: &Entry, requested: &[String], types_only: bool) -> LdapSearchResultEntry {
    let all = requested.is_empty() || requested.iter().any(|a| a == "*");
    let none = !all && requested.iter().all(|a| a == "1.1" || a == "+");
    let attributes = e
        .attrs
        .iter()
        .filter(|(name, vals)| {
            !vals.is_empty()
                && !none
                && (all || requested.iter().any(|r| r.eq_ignore_ascii_case(name)))
        })
        .map(|(name, vals)| LdapPartialAttribute {
            atype: name.to_string(),
            vals: if types_only {
                vec![]
            } else {
                vals.iter().map(|v| v.as_bytes().to_vec()).collect()
            },
        })
        .collect();
    LdapSearchResultEntry {
        dn: e.dn.clone(),
        attributes,
    }
}

/// Where `dn` sits relative to `base`: None if outside it, Some(depth) below it (0: itself).
pub fn depth_below(dn: &str, base: &str) -> Option<usize> {
    let dn = normalize_dn(dn);
    let base = normalize_dn(base);
    if base.is_empty() {
        return Some(dn.split(',').count());
    }
    if dn == base {
        return Some(0);
    }
    let prefix = dn.strip_suffix(&base)?.strip_suffix(',')?;
    Some(prefix.split(',').count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substring_and_depth() {
        let f = LdapSubstringFilter {
            initial: Some("al".into()),
            any: vec!["i".into()],
            final_: Some("e".into()),
        };
        assert!(substring_match("Alice", &f));
        assert!(!substring_match("Bob", &f));
        assert_eq!(
            depth_below("CN=a,CN=Users,DC=x,DC=y", "dc=x, dc=y"),
            Some(2)
        );
        assert_eq!(
            depth_below("CN=a,CN=Users,DC=x,DC=y", "CN=Users,DC=x,DC=y"),
            Some(1)
        );
        assert_eq!(depth_below("CN=a,CN=Users,DC=x,DC=y", "DC=other"), None);
    }
}
