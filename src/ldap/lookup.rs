//! Translates an LDAP filter into the directory read layer's [`Lookup`]: which indexed names a
//! search needs, or that it needs every user. The lookup only narrows the candidates — every
//! candidate is still tested against the whole filter — so it must never leave out a user the
//! filter could match; anything it cannot narrow safely becomes `Lookup::All`.

use ldap3_proto::proto::LdapFilter;

use crate::config::DirectoryConfig;
use crate::directory::reader::Lookup;

pub fn plan(f: &LdapFilter, dir: &DirectoryConfig) -> Lookup {
    match f {
        LdapFilter::Equality(attr, value) => match attr.to_ascii_lowercase().as_str() {
            // cn and uid carry the sAMAccountName on every user entry (ldap::entries).
            "samaccountname" | "cn" | "uid" => Lookup::sam(value),
            "userprincipalname" => Lookup::upn(value),
            "mail" => Lookup::mail(value),
            // A group's members: through the memberships index.
            "memberof" => sam_of_dn(value, dir).map_or(Lookup::All, |g| {
                g.map_or_else(Lookup::none, |name| Lookup::MemberOf(vec![name]))
            }),
            // Only groups are groups.
            "objectclass" | "objectcategory" if is_group_class(value) => Lookup::none(),
            "distinguishedname" => sam_of_dn(value, dir).map_or(Lookup::All, |s| {
                s.map_or_else(Lookup::none, |sam| Lookup::sam(&sam))
            }),
            _ => Lookup::All,
        },
        // An empty `(&)` is true: every user.
        LdapFilter::And(fs) => fs
            .iter()
            .fold(Lookup::All, |acc, f| acc.narrower(plan(f, dir))),
        // An empty `(|)` is false: no user.
        LdapFilter::Or(fs) => {
            let mut terms = fs.iter().map(|f| plan(f, dir));
            match terms.next() {
                None => Lookup::none(),
                Some(first) => terms.fold(first, Lookup::union),
            }
        }
        _ => Lookup::All,
    }
}

fn is_group_class(v: &str) -> bool {
    let v = v.to_ascii_lowercase();
    v == "group" || v.starts_with("cn=group,")
}

/// Attributes only user entries carry.
fn user_only(attr: &str) -> bool {
    matches!(
        attr.to_ascii_lowercase().as_str(),
        "userprincipalname" | "mail" | "uid" | "useraccountcontrol" | "memberof" | "displayname"
    )
}

/// Which groups a filter could match, by name (a group's sAMAccountName, cn and name are its
/// name) when it says, none when it requires what only users have — so that a search for
/// users never reads the memberships, and `(sAMAccountName=x)` costs two index lookups.
pub fn plan_groups(f: &LdapFilter, dir: &DirectoryConfig) -> Lookup {
    match f {
        LdapFilter::Equality(a, v) => match a.to_ascii_lowercase().as_str() {
            "objectclass" => {
                if matches!(
                    v.to_ascii_lowercase().as_str(),
                    "user" | "person" | "organizationalperson"
                ) {
                    Lookup::none()
                } else {
                    Lookup::All
                }
            }
            "objectcategory" => {
                let v = v.to_ascii_lowercase();
                if v == "person" || v.starts_with("cn=person,") {
                    Lookup::none()
                } else {
                    Lookup::All
                }
            }
            "samaccountname" | "cn" | "name" => Lookup::sam(v),
            "distinguishedname" => sam_of_dn(v, dir).map_or(Lookup::All, |s| {
                s.map_or_else(Lookup::none, |name| Lookup::sam(&name))
            }),
            attr if user_only(attr) => Lookup::none(),
            _ => Lookup::All,
        },
        LdapFilter::Present(a) | LdapFilter::Substring(a, _) if user_only(a) => Lookup::none(),
        LdapFilter::And(fs) => fs
            .iter()
            .fold(Lookup::All, |acc, f| acc.narrower(plan_groups(f, dir))),
        LdapFilter::Or(fs) => {
            let mut terms = fs.iter().map(|f| plan_groups(f, dir));
            match terms.next() {
                None => Lookup::none(),
                Some(first) => terms.fold(first, Lookup::union),
            }
        }
        _ => Lookup::All,
    }
}

/// The sAMAccountName a user DN names: `Some(Some(sam))`; `Some(None)` when the DN cannot be a
/// user's (outside the users container); `None` when it is not simple enough to read safely
/// (escapes), so the caller falls back to reading every user.
pub fn sam_of_dn(dn: &str, dir: &DirectoryConfig) -> Option<Option<String>> {
    let lc = dn.trim().to_lowercase();
    let suffix = format!(",{},{}", dir.users_container, dir.base_dn)
        .to_lowercase()
        .replace(", ", ",");
    let lc = lc.replace(", ", ",");
    let Some(rdn) = lc.strip_suffix(&suffix) else {
        return Some(None);
    };
    let Some(value) = rdn.strip_prefix("cn=").or_else(|| rdn.strip_prefix("cn =")) else {
        return Some(None);
    };
    if value.contains('\\') || value.contains(',') || value.contains('=') {
        return None;
    }
    Some(Some(value.trim().to_string()))
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

    fn eq(a: &str, v: &str) -> LdapFilter {
        LdapFilter::Equality(a.into(), v.into())
    }

    #[test]
    fn names_are_looked_up_by_index_and_anything_else_reads_all() {
        let d = dir();
        assert_eq!(
            plan(&eq("sAMAccountName", "Alice"), &d),
            Lookup::sam("alice")
        );
        assert_eq!(plan(&eq("CN", "alice"), &d), Lookup::sam("alice"));
        assert_eq!(plan(&eq("mail", "A@X.com"), &d), Lookup::mail("a@x.com"));
        assert_eq!(plan(&eq("description", "x"), &d), Lookup::All);
        assert_eq!(
            plan(&LdapFilter::Present("objectClass".into()), &d),
            Lookup::All
        );
        // (&(objectClass=user)(mail=x)): the mail narrows.
        let and = LdapFilter::And(vec![eq("objectClass", "user"), eq("mail", "x@y")]);
        assert_eq!(plan(&and, &d), Lookup::mail("x@y"));
        // (|(sAMAccountName=a)(description=b)) needs every user.
        let or = LdapFilter::Or(vec![eq("sAMAccountName", "a"), eq("description", "b")]);
        assert_eq!(plan(&or, &d), Lookup::All);
        assert_eq!(plan(&LdapFilter::Or(vec![]), &d), Lookup::none());
        // Groups are not users; users are not groups.
        assert_eq!(plan(&eq("objectClass", "group"), &d), Lookup::none());
        assert_eq!(plan_groups(&eq("objectClass", "group"), &d), Lookup::All);
        assert_eq!(plan_groups(&and, &d), Lookup::none());
        assert_eq!(
            plan_groups(&eq("objectCategory", "person"), &d),
            Lookup::none()
        );
        assert_eq!(
            plan_groups(&eq("sAMAccountName", "VPN Users"), &d),
            Lookup::sam("vpn users")
        );
        let group_and_name = LdapFilter::And(vec![eq("objectClass", "group"), eq("cn", "staff")]);
        assert_eq!(plan_groups(&group_and_name, &d), Lookup::sam("staff"));
        assert_eq!(
            plan_groups(&LdapFilter::Present("objectClass".into()), &d),
            Lookup::All
        );
        // memberOf reads the group's members by index; with a named account, the account.
        let vpn = "CN=VPN Users,CN=Users,DC=contoso,DC=com";
        assert_eq!(
            plan(&eq("memberOf", vpn), &d),
            Lookup::MemberOf(vec!["vpn users".into()])
        );
        let both = LdapFilter::And(vec![eq("memberOf", vpn), eq("sAMAccountName", "a")]);
        assert_eq!(plan(&both, &d), Lookup::sam("a"));
        // A negation is never narrowed.
        let not = LdapFilter::Not(Box::new(eq("sAMAccountName", "a")));
        assert_eq!(plan(&not, &d), Lookup::All);
    }

    #[test]
    fn a_user_dn_names_its_account_and_an_escaped_one_reads_all() {
        let d = dir();
        let dn = crate::directory::user_dn(&d, "alice");
        assert_eq!(
            plan(&eq("distinguishedName", &dn), &d),
            Lookup::sam("alice")
        );
        assert_eq!(
            plan(&eq("distinguishedName", &dn.to_uppercase()), &d),
            Lookup::sam("alice")
        );
        let escaped = crate::directory::user_dn(&d, "a,b");
        assert_eq!(plan(&eq("distinguishedName", &escaped), &d), Lookup::All);
        assert_eq!(
            plan(
                &eq("distinguishedName", "CN=x,OU=Elsewhere,DC=example,DC=org"),
                &d
            ),
            Lookup::none()
        );
    }
}
