//! Conditional Access, simplified to what legacy sign-ins meet (the reference's §4c): two
//! tenant policies, *require MFA* and *block legacy authentication*, each off by default, each
//! scoped to all users or listed groups, with excluded groups and, optionally, the tenant's
//! named locations excluded. Whether a policy covers a sign-in is decided here; what follows
//! from it is the cloud path's business (`verify::cloud`).

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CaPolicy {
    pub on: bool,
    /// Empty: all users.
    pub groups: Vec<String>,
    pub exclude_groups: Vec<String>,
    /// Sign-ins from the tenant's named locations are not covered.
    pub exclude_named_locations: bool,
}

/// Why a policy covers a sign-in, for the explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    /// "all users", or "group vpn-users".
    pub scope: String,
}

fn member(groups: &[String], of: &[String]) -> Option<String> {
    of.iter()
        .find(|g| groups.iter().any(|u| u.eq_ignore_ascii_case(g)))
        .cloned()
}

impl CaPolicy {
    /// Whether the policy covers a user (by the groups the cloud holds for them) signing in from
    /// `client`. `client = None` (no sign-in address, e.g. app-password creation) is covered
    /// unless a group excludes the user.
    pub fn covers(
        &self,
        user_groups: &[String],
        client: Option<IpAddr>,
        named_locations: &[IpNet],
    ) -> Option<Coverage> {
        if !self.on || member(user_groups, &self.exclude_groups).is_some() {
            return None;
        }
        let scope = if self.groups.is_empty() {
            "all users".to_string()
        } else {
            format!("group {}", member(user_groups, &self.groups)?)
        };
        if self.exclude_named_locations {
            let ip = client.map(|ip| match ip {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
                v4 => v4,
            });
            if ip.is_some_and(|ip| named_locations.iter().any(|n| n.contains(&ip))) {
                return None;
            }
        }
        Some(Coverage { scope })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn scope_exclusions_and_named_locations() {
        let locations: Vec<IpNet> = vec!["198.51.100.0/24".parse().unwrap()];
        let inside: Option<IpAddr> = Some("198.51.100.7".parse().unwrap());
        let outside: Option<IpAddr> = Some("203.0.113.9".parse().unwrap());
        let mut p = CaPolicy::default();
        assert_eq!(p.covers(&g(&["vpn"]), outside, &locations), None, "off");
        p.on = true;
        assert_eq!(
            p.covers(&[], outside, &locations).unwrap().scope,
            "all users"
        );
        p.groups = g(&["VPN-users"]);
        assert_eq!(p.covers(&g(&["staff"]), outside, &locations), None);
        assert_eq!(
            p.covers(&g(&["vpn-users"]), outside, &locations)
                .unwrap()
                .scope,
            "group VPN-users"
        );
        p.exclude_groups = g(&["break-glass"]);
        assert_eq!(
            p.covers(&g(&["vpn-users", "break-glass"]), outside, &locations),
            None
        );
        // Named locations exclude only when the policy says so.
        assert!(p.covers(&g(&["vpn-users"]), inside, &locations).is_some());
        p.exclude_named_locations = true;
        assert_eq!(p.covers(&g(&["vpn-users"]), inside, &locations), None);
        let mapped: Option<IpAddr> = Some("::ffff:198.51.100.7".parse().unwrap());
        assert_eq!(p.covers(&g(&["vpn-users"]), mapped, &locations), None);
        assert!(p.covers(&g(&["vpn-users"]), outside, &locations).is_some());
    }
}
