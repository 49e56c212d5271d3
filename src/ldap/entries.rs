//! The directory as LDAP entries: the domain object, the users container and one entry per
//! user, with the attributes legacy applications search on, and filter matching over them.

use ldap3_proto::proto::{
    LdapFilter, LdapMatchingRuleAssertion, LdapPartialAttribute, LdapSearchResultEntry,
    LdapSubstringFilter,
};

use crate::config::DirectoryConfig;
use crate::directory::{ids, normalize_dn, user_dn, User};

pub struct Entry {
    pub dn: String,
    /// (attribute name as AD spells it, values)
    pub attrs: Vec<(&'static str, Vec<String>)>,
    /// Binary attributes (objectGUID, objectSid): returned as they are; a filter can only
    /// test their presence (ldap3_proto refuses filter values that are not UTF-8).
    pub binary: Vec<(&'static str, Vec<u8>)>,
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
        if name.eq_ignore_ascii_case("objectCategory") {
            // AD accepts the short form: (objectCategory=person) means CN=Person,CN=Schema,…
            return Some(vals.iter().any(|v| {
                normalize_dn(v) == normalize_dn(value)
                    || v.get(3..)
                        .and_then(|r| r.split(',').next())
                        .is_some_and(|cn| cn.eq_ignore_ascii_case(value))
            }));
        }
        let dn_valued = name.eq_ignore_ascii_case("memberOf")
            || name.eq_ignore_ascii_case("member")
            || name.eq_ignore_ascii_case("distinguishedName");
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
        (
            "objectCategory",
            vec![format!(
                "CN=Person,CN=Schema,CN=Configuration,{}",
                dir.base_dn
            )],
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
    Entry {
        dn,
        attrs,
        binary: vec![
            ("objectGUID", ids::user_guid(&dir.base_dn, u.id)),
            (
                "objectSid",
                ids::sid_bytes(&dir.base_dn, ids::user_rid(u.id)),
            ),
        ],
    }
}

/// A group entry, `CN=<group>,<users container>`, listing the DNs of its members (the users
/// whose memberOf names it), as AD's global security groups look.
pub fn group_entry(dir: &DirectoryConfig, name: &str, member_sams: &[String]) -> Entry {
    let dn = group_dn(dir, name);
    let rid = ids::group_rid(name);
    Entry {
        attrs: vec![
            ("objectClass", vec!["top".into(), "group".into()]),
            (
                "objectCategory",
                vec![format!(
                    "CN=Group,CN=Schema,CN=Configuration,{}",
                    dir.base_dn
                )],
            ),
            ("cn", vec![name.to_string()]),
            ("sAMAccountName", vec![name.to_string()]),
            ("name", vec![name.to_string()]),
            ("distinguishedName", vec![dn.clone()]),
            // ADS_GROUP_TYPE_GLOBAL_GROUP | ADS_GROUP_TYPE_SECURITY_ENABLED
            ("groupType", vec!["-2147483646".into()]),
            (
                "member",
                member_sams.iter().map(|s| user_dn(dir, s)).collect(),
            ),
        ]
        .into_iter()
        .filter(|(_, v): &(&str, Vec<String>)| !v.is_empty())
        .collect(),
        binary: vec![
            ("objectGUID", ids::group_guid(&dir.base_dn, name)),
            ("objectSid", ids::sid_bytes(&dir.base_dn, rid)),
        ],
        dn,
    }
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
            binary: vec![("objectSid", ids::domain_sid_bytes(&dir.base_dn))],
        },
        Entry {
            dn: users_dn.clone(),
            attrs: vec![
                ("objectClass", vec!["top".into(), "container".into()]),
                ("cn", vec![cn]),
                ("distinguishedName", vec![users_dn]),
            ],
            binary: vec![],
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
        LdapFilter::Present(a) => {
            e.get(a).is_some() || e.binary.iter().any(|(n, _)| n.eq_ignore_ascii_case(a))
        }
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
        LdapFilter::Extensible(m) => extensible(e, m),
    }
}

const LDAP_MATCHING_RULE_BIT_AND: &str = "1.2.840.113556.1.4.803";
const LDAP_MATCHING_RULE_BIT_OR: &str = "1.2.840.113556.1.4.804";

/// AD's bitwise matching rules, as in `(!(userAccountControl:1.2.840.113556.1.4.803:=2))`
/// (enabled accounts only); other extensible matches match nothing.
fn extensible(e: &Entry, m: &LdapMatchingRuleAssertion) -> bool {
    let (Some(rule), Some(attr)) = (m.matching_rule.as_deref(), m.type_.as_deref()) else {
        return false;
    };
    let Ok(mask) = m.match_value.trim().parse::<u64>() else {
        return false;
    };
    let bits = |f: &dyn Fn(u64) -> bool| {
        e.get(attr)
            .is_some_and(|vals| vals.iter().filter_map(|v| v.parse::<u64>().ok()).any(f))
    };
    match rule {
        LDAP_MATCHING_RULE_BIT_AND => bits(&|v| v & mask == mask),
        LDAP_MATCHING_RULE_BIT_OR => bits(&|v| v & mask != 0),
        _ => false,
    }
}

/// AD's `MaxValRange`: the most values of one attribute a search result carries. A larger
/// attribute (a group's `member`) is sent as `member;range=0-1499`, and the client asks for
/// `member;range=1500-*` and so on, as it does against a domain controller.
pub const MAX_VAL_RANGE: usize = 1500;

/// A requested `NAME;range=LOW-HIGH` or `NAME;range=LOW-*` (RFC-less, AD's range retrieval).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    low: usize,
    high: Option<usize>,
}

/// Splits `member;range=1500-*` into its name and range.
fn parse_range(requested: &str) -> Option<(&str, Range)> {
    let (name, opts) = requested.split_once(';')?;
    let spec = opts.split(';').find_map(|o| {
        o.get(..6)
            .filter(|p| p.eq_ignore_ascii_case("range="))
            .map(|_| &o[6..])
    })?;
    let (low, high) = spec.split_once('-')?;
    let low = low.parse().ok()?;
    let high = match high {
        "*" => None,
        h => Some(h.parse().ok()?),
    };
    (high.is_none_or(|h| h >= low)).then_some((name, Range { low, high }))
}

/// The values of a multi-valued attribute a reply carries and the name they go under: all of
/// them under the plain name when they fit in `MAX_VAL_RANGE` and no range was asked for,
/// otherwise one range, named `;range=LOW-HIGH`, or `;range=LOW-*` when it reaches the end.
/// `None` when the range starts past the last value.
fn ranged<'a>(
    name: &str,
    vals: &'a [String],
    range: Option<Range>,
) -> Option<(String, &'a [String])> {
    if range.is_none() && vals.len() <= MAX_VAL_RANGE {
        return Some((name.to_string(), vals));
    }
    let r = range.unwrap_or(Range { low: 0, high: None });
    if r.low >= vals.len() {
        return None;
    }
    let asked_end = r.high.map_or(usize::MAX, |h| h.saturating_add(1));
    let end = asked_end.min(r.low + MAX_VAL_RANGE).min(vals.len());
    let label = if end == vals.len() {
        format!("{name};range={}-*", r.low)
    } else {
        format!("{name};range={}-{}", r.low, end - 1)
    };
    Some((label, &vals[r.low..end]))
}

/// The entry as sent: only the requested attributes (`*` or none: all; `1.1`: none), each
/// within `MAX_VAL_RANGE` values (see `ranged`).
pub fn to_result(e: &Entry, requested: &[String], types_only: bool) -> LdapSearchResultEntry {
    let all = requested.is_empty() || requested.iter().any(|a| a == "*");
    let none = !all && requested.iter().all(|a| a == "1.1" || a == "+");
    let plain = |name: &str| requested.iter().any(|r| r.eq_ignore_ascii_case(name));
    let range_of = |name: &str| {
        requested
            .iter()
            .filter_map(|r| parse_range(r))
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, r)| r)
    };
    let values = |vals: Vec<Vec<u8>>| if types_only { vec![] } else { vals };
    let mut attributes = Vec::new();
    for (name, vals) in &e.attrs {
        if vals.is_empty() || none {
            continue;
        }
        let range = range_of(name);
        if !(all || plain(name) || range.is_some()) {
            continue;
        }
        if let Some((label, slice)) = ranged(name, vals, range) {
            attributes.push(LdapPartialAttribute {
                atype: label,
                vals: values(slice.iter().map(|v| v.as_bytes().to_vec()).collect()),
            });
        }
    }
    for (name, val) in &e.binary {
        if !none && (all || plain(name)) {
            attributes.push(LdapPartialAttribute {
                atype: name.to_string(),
                vals: values(vec![val.clone()]),
            });
        }
    }
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

    fn user(enabled: bool) -> Entry {
        let dir = DirectoryConfig {
            base_dn: "DC=contoso,DC=com".into(),
            netbios_name: "CONTOSO".into(),
            upn_suffix: "contoso.com".into(),
            users_container: "CN=Users".into(),
        };
        let t = chrono::Utc::now();
        let u = User {
            id: 1,
            sam: "alice".into(),
            upn: "alice@contoso.com".into(),
            display_name: "Alice".into(),
            mail: None,
            groups: vec![],
            enabled,
            account_expires: None,
            password_hash: String::new(),
            syncable_hash: None,
            nt_hash: None,
            password_set_at: t,
            password_expired: false,
            must_change: false,
            admin: false,
            mfa: crate::directory::MfaState::Disabled,
            modern_auth_only: false,
            created_at: t,
            enabled_changed_at: t,
            ever_had_app_password: false,
            deleted_at: None,
        };
        user_entry(&dir, &u)
    }

    #[test]
    fn ad_filters_legacy_apps_use() {
        let f = ldap3_proto::parse_ldap_filter_str(
            "(&(objectCategory=person)(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2))(sAMAccountName=alice))",
        )
        .unwrap();
        assert!(matches(&user(true), &f));
        assert!(
            !matches(&user(false), &f),
            "disabled accounts are filtered out"
        );
    }

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

    #[test]
    fn large_attributes_are_sent_in_ranges_as_ad_does() {
        let members: Vec<String> = (0..4000)
            .map(|i| format!("CN=u{i},CN=Users,DC=x"))
            .collect();
        let e = Entry {
            dn: "CN=big,CN=Users,DC=x".into(),
            attrs: vec![("cn", vec!["big".into()]), ("member", members)],
            binary: vec![],
        };
        let got = |req: &[&str]| {
            let r = to_result(
                &e,
                &req.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                false,
            );
            r.attributes
                .into_iter()
                .map(|a| (a.atype, a.vals.len()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            got(&["member"]),
            [("member;range=0-1499".to_string(), 1500)]
        );
        assert_eq!(
            got(&[]),
            [("cn".to_string(), 1), ("member;range=0-1499".into(), 1500)]
        );
        assert_eq!(
            got(&["member;range=1500-*"]),
            [("member;range=1500-2999".to_string(), 1500)]
        );
        assert_eq!(
            got(&["Member;Range=3000-*"]),
            [("member;range=3000-*".to_string(), 1000)]
        );
        assert_eq!(
            got(&["member;range=10-19"]),
            [("member;range=10-19".to_string(), 10)]
        );
        assert_eq!(
            got(&["member;range=3990-5000"]),
            [("member;range=3990-*".to_string(), 10)]
        );
        assert!(got(&["member;range=4000-*"]).is_empty());
        assert!(
            got(&["member;range=9-3"]).is_empty(),
            "a backwards range names nothing"
        );
        // Small attributes keep their plain name unless a range is asked for.
        assert_eq!(got(&["cn"]), [("cn".to_string(), 1)]);
        assert_eq!(got(&["cn;range=0-*"]), [("cn;range=0-*".to_string(), 1)]);
    }
}
