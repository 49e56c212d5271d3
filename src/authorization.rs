//! Authorisation policies (`[[radius.policies]]`): after an accept, which reply attributes a
//! NAS gets — a VLAN, a filter, a role, a session limit — chosen by the user's groups, the
//! RADIUS client and the endpoint kind.
//!
//! Order of precedence: every policy that matches applies, in the order of the configuration
//! file; when two set the same attribute, the earlier one wins. Put specific policies (a
//! group on one client) before general ones (everyone). Rejects never carry policy attributes.
//! The groups are those the deciding side sees: the live on-prem groups for an on-prem or
//! hybrid endpoint, the synced cloud copy's for a cloud endpoint.

use crate::endpoint::EndpointKind;
use crate::protocol::radius_dictionary::Value;

/// One reply attribute, validated and encoded when the configuration was loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyAttribute {
    /// The canonical dictionary name (`Tunnel-Private-Group-Id`).
    pub name: &'static str,
    pub value: Value,
    /// Its RADIUS (type, value) octets.
    pub wire: (u8, Vec<u8>),
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    /// Lower-cased; a member of any of them matches. Empty: every user.
    pub groups: Vec<String>,
    /// RADIUS client names; empty: every client.
    pub clients: Vec<String>,
    /// `None`: every endpoint kind.
    pub endpoint: Option<EndpointKind>,
    pub reply: Vec<ReplyAttribute>,
}

impl Policy {
    fn matches(&self, groups: &[String], client: Option<&str>, endpoint: EndpointKind) -> bool {
        let group_ok = self.groups.is_empty()
            || groups
                .iter()
                .any(|g| self.groups.iter().any(|p| p.eq_ignore_ascii_case(g)));
        let client_ok =
            self.clients.is_empty() || client.is_some_and(|c| self.clients.iter().any(|n| n == c));
        let endpoint_ok = self.endpoint.is_none_or(|e| e == endpoint);
        group_ok && client_ok && endpoint_ok
    }
}

/// What an accept carries: the policies that applied, in order, and the attributes they set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authorization {
    pub policies: Vec<String>,
    pub reply: Vec<ReplyAttribute>,
}

impl Authorization {
    /// For the explanation: `policy vpn-vlan: Tunnel-Type = "VLAN", Session-Timeout = 3600`.
    pub fn describe(&self) -> String {
        let attrs: Vec<String> = self
            .reply
            .iter()
            .map(|a| format!("{} = {}", a.name, a.value))
            .collect();
        let which = if self.policies.len() == 1 {
            "policy"
        } else {
            "policies"
        };
        format!(
            "authorisation {which} {}: {}",
            self.policies.join(", "),
            attrs.join(", ")
        )
    }
}

#[derive(Debug, Clone, Default)]
pub struct Policies(Vec<Policy>);

impl Policies {
    pub fn new(policies: Vec<Policy>) -> Policies {
        Policies(policies)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The attributes for an accepted user; `None` when no policy matches.
    pub fn authorize(
        &self,
        groups: &[String],
        client: Option<&str>,
        endpoint: EndpointKind,
    ) -> Option<Authorization> {
        let mut out = Authorization::default();
        for p in self
            .0
            .iter()
            .filter(|p| p.matches(groups, client, endpoint))
        {
            out.policies.push(p.name.clone());
            for attr in &p.reply {
                // The earlier policy's value stands.
                if !out.reply.iter().any(|a| a.name == attr.name) {
                    out.reply.push(attr.clone());
                }
            }
        }
        (!out.policies.is_empty()).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(name: &str, v: Value) -> ReplyAttribute {
        let (name, wire) = crate::protocol::radius_dictionary::encode(name, &v).unwrap();
        ReplyAttribute {
            name,
            value: v,
            wire,
        }
    }

    fn policy(name: &str, groups: &[&str], clients: &[&str], reply: Vec<ReplyAttribute>) -> Policy {
        Policy {
            name: name.into(),
            groups: groups.iter().map(|g| g.to_lowercase()).collect(),
            clients: clients.iter().map(|c| c.to_string()).collect(),
            endpoint: None,
            reply,
        }
    }

    #[test]
    fn earlier_policies_win_each_attribute_and_all_matching_policies_apply() {
        let p = Policies::new(vec![
            policy(
                "admins-vlan",
                &["Net-Admins"],
                &["wifi"],
                vec![attr("Tunnel-Private-Group-Id", Value::Text("10".into()))],
            ),
            policy(
                "staff-vlan",
                &["staff"],
                &[],
                vec![
                    attr("Tunnel-Private-Group-Id", Value::Text("42".into())),
                    attr("Session-Timeout", Value::Integer(3600)),
                ],
            ),
        ]);
        let groups = vec!["staff".to_string(), "net-admins".to_string()];
        let a = p
            .authorize(&groups, Some("wifi"), EndpointKind::OnPrem)
            .unwrap();
        assert_eq!(a.policies, ["admins-vlan", "staff-vlan"]);
        assert_eq!(a.reply[0].value, Value::Text("10".into()));
        assert_eq!(a.reply[1].name, "Session-Timeout");
        assert_eq!(a.reply.len(), 2);
        // Another client: only the general policy.
        let a = p
            .authorize(&groups, Some("vpn"), EndpointKind::OnPrem)
            .unwrap();
        assert_eq!(a.policies, ["staff-vlan"]);
        assert_eq!(a.reply[0].value, Value::Text("42".into()));
        // No group in common: nothing.
        assert!(p
            .authorize(&["sales".into()], Some("vpn"), EndpointKind::OnPrem)
            .is_none());
    }

    #[test]
    fn an_endpoint_restricted_policy_applies_to_that_kind_only() {
        let mut only_cloud = policy(
            "cloud",
            &[],
            &[],
            vec![attr("Filter-Id", Value::Text("c".into()))],
        );
        only_cloud.endpoint = Some(EndpointKind::Cloud);
        let p = Policies::new(vec![only_cloud]);
        assert!(p.authorize(&[], None, EndpointKind::OnPrem).is_none());
        assert!(p.authorize(&[], None, EndpointKind::Cloud).is_some());
    }
}
