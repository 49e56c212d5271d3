//! How the cloud (Microsoft Entra ID) finds the account a sign-in name names.
//!
//! Entra's sign-in identifier is the userPrincipalName, compared case-insensitively, as the
//! cloud copy holds it (so a renamed UPN changes in the cloud only at the object-sync cycle
//! that carries it). E-mail as an alternative identifier is a tenant option, off by default
//! (`email-sign-in`); when on, the `mail` attribute as synced also signs in. Nothing else does:
//! not a sAMAccountName, not `DOMAIN\user`, not a DN, and not the implicit
//! `sAMAccountName@domain` that Active Directory accepts — those are AD's forms.
//!
//! Choice: when one account's UPN and another's mail are the same address, the UPN wins (it is
//! the primary identifier); two accounts with the same mail make the name ambiguous.

use super::names::{Candidates, Resolution};

/// The names a cloud object answers to.
pub struct CloudNames<'a> {
    pub id: i64,
    pub upn: &'a str,
    pub mail: Option<&'a str>,
}

/// What the store must fetch: accounts whose synced UPN (or mail) is the name.
pub fn cloud_candidates(login: &str, email_sign_in: bool) -> Candidates {
    let lc = login.trim().to_lowercase();
    let mut c = Candidates::default();
    if lc.contains('@') && !lc.contains('=') && !lc.contains('\\') {
        c.upns.push(lc.clone());
        if email_sign_in {
            c.mails.push(lc);
        }
    }
    c
}

pub fn resolve_cloud<'a>(
    login: &str,
    email_sign_in: bool,
    names: impl IntoIterator<Item = CloudNames<'a>>,
) -> Resolution {
    let lc = login.trim().to_lowercase();
    if !lc.contains('@') {
        return Resolution::Unknown;
    }
    let mut by_upn = None;
    let mut by_mail: Option<i64> = None;
    let mut mail_ambiguous = false;
    for n in names {
        if n.upn.to_lowercase() == lc {
            by_upn = Some(n.id);
        } else if email_sign_in && n.mail.is_some_and(|m| m.to_lowercase() == lc) {
            match by_mail {
                Some(id) if id != n.id => mail_ambiguous = true,
                _ => by_mail = Some(n.id),
            }
        }
    }
    match (by_upn, by_mail) {
        (Some(id), _) => Resolution::Found(id),
        (None, Some(_)) if mail_ambiguous => Resolution::Ambiguous,
        (None, Some(id)) => Resolution::Found(id),
        (None, None) => Resolution::Unknown,
    }
}

/// Which Active Directory form a name is, when it is not an address at all.
pub fn ad_only_form(login: &str) -> Option<&'static str> {
    let lc = login.trim();
    if lc.contains('=') {
        Some("an LDAP distinguished name")
    } else if lc.contains('\\') {
        Some("a DOMAIN\\user name")
    } else if !lc.contains('@') {
        Some("a sAMAccountName")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<CloudNames<'static>> {
        vec![
            CloudNames {
                id: 1,
                upn: "Uma.Lee@contoso.com",
                mail: Some("uma@mail.contoso.com"),
            },
            CloudNames {
                id: 2,
                upn: "bo@contoso.com",
                mail: Some("shared@contoso.com"),
            },
            CloudNames {
                id: 3,
                upn: "cy@contoso.com",
                mail: Some("shared@contoso.com"),
            },
            CloudNames {
                id: 4,
                upn: "uma@mail.contoso.com",
                mail: None,
            },
        ]
    }

    #[test]
    fn only_the_upn_signs_in_unless_email_sign_in_is_on() {
        let r = |l: &str, e: bool| resolve_cloud(l, e, names());
        assert_eq!(r("uma.lee@CONTOSO.com", false), Resolution::Found(1));
        for ad_form in ["uma", "CONTOSO\\uma", "CN=uma,CN=Users,DC=contoso,DC=com"] {
            assert_eq!(r(ad_form, true), Resolution::Unknown, "{ad_form}");
        }
        assert_eq!(r("bo@contoso.com", false), Resolution::Found(2));
        assert_eq!(r("shared@contoso.com", false), Resolution::Unknown);
        assert_eq!(r("shared@contoso.com", true), Resolution::Ambiguous);
        // A UPN beats another account's mail.
        assert_eq!(r("uma@mail.contoso.com", true), Resolution::Found(4));
    }

    #[test]
    fn candidates_ask_for_mail_only_with_email_sign_in() {
        let c = cloud_candidates("Uma@Contoso.com", false);
        assert_eq!(c.upns, ["uma@contoso.com"]);
        assert!(c.mails.is_empty() && c.sams.is_empty());
        assert_eq!(
            cloud_candidates("uma@contoso.com", true).mails,
            ["uma@contoso.com"]
        );
        assert_eq!(
            cloud_candidates("CONTOSO\\uma", true),
            Candidates::default()
        );
    }
}
