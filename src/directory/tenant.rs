//! Tenant settings (docs/model.md §8), their defaults, and `tenant set KEY VALUE` parsing.

use std::time::Duration;

use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Serialize};

use super::conditional_access::CaPolicy;
use super::model::MAX_TRUSTED_IPS;
use crate::time::{format_duration, parse_duration};

/// Settings missing from a stored tenant (saved by an older version) take their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tenant {
    pub allow_app_passwords: bool,
    pub security_defaults: bool,
    pub trusted_ips: Vec<Ipv4Net>,
    pub named_locations: Vec<IpNet>,
    pub federation: bool,
    #[serde(with = "secs")]
    pub object_sync_interval: Duration,
    #[serde(with = "secs")]
    pub password_hash_sync_interval: Duration,
    pub ad_lockout_threshold: u32,
    #[serde(with = "secs")]
    pub ad_lockout_duration: Duration,
    #[serde(with = "secs")]
    pub ad_lockout_window: Duration,
    pub smart_lockout_threshold: u32,
    #[serde(with = "secs")]
    pub smart_lockout_duration: Duration,
    /// E-mail as an alternative sign-in identifier for the cloud (off: UPN only).
    pub email_sign_in: bool,
    /// Conditional Access (§4c).
    pub ca_require_mfa: CaPolicy,
    pub ca_block_legacy: CaPolicy,
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs(u64::deserialize(d)?))
    }
}

impl Default for Tenant {
    fn default() -> Self {
        Tenant {
            allow_app_passwords: false,
            security_defaults: false,
            trusted_ips: vec![],
            named_locations: vec![],
            federation: false,
            object_sync_interval: Duration::from_secs(30 * 60),
            password_hash_sync_interval: Duration::from_secs(2 * 60),
            ad_lockout_threshold: 0,
            ad_lockout_duration: Duration::from_secs(30 * 60),
            ad_lockout_window: Duration::from_secs(30 * 60),
            smart_lockout_threshold: 10,
            smart_lockout_duration: Duration::from_secs(60),
            email_sign_in: false,
            ca_require_mfa: CaPolicy::default(),
            ca_block_legacy: CaPolicy::default(),
        }
    }
}

pub const KEYS: &[&str] = &[
    "allow-app-passwords",
    "security-defaults",
    "trusted-ips",
    "named-locations",
    "federation",
    "object-sync-interval",
    "password-hash-sync-interval",
    "ad-lockout-threshold",
    "ad-lockout-duration",
    "ad-lockout-window",
    "smart-lockout-threshold",
    "smart-lockout-duration",
    "email-sign-in",
    "ca-require-mfa",
    "ca-require-mfa-groups",
    "ca-require-mfa-exclude-groups",
    "ca-require-mfa-exclude-named-locations",
    "ca-block-legacy",
    "ca-block-legacy-groups",
    "ca-block-legacy-exclude-groups",
    "ca-block-legacy-exclude-named-locations",
];

/// Group names for a policy scope: a comma-separated list, `none` for nothing.
fn groups(v: &str) -> Result<Vec<String>, String> {
    let out: Vec<String> = v
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case("none"))
        .map(str::to_string)
        .collect();
    if out
        .iter()
        .any(|g| g.chars().count() > 256 || g.chars().any(char::is_control))
    {
        return Err("a group name is at most 256 characters, without control characters".into());
    }
    Ok(out)
}

/// A policy's keys: on/off, scope groups, excluded groups, excluded named locations.
const REQUIRE_MFA_KEYS: [&str; 4] = [
    "ca-require-mfa",
    "ca-require-mfa-groups",
    "ca-require-mfa-exclude-groups",
    "ca-require-mfa-exclude-named-locations",
];
const BLOCK_LEGACY_KEYS: [&str; 4] = [
    "ca-block-legacy",
    "ca-block-legacy-groups",
    "ca-block-legacy-exclude-groups",
    "ca-block-legacy-exclude-named-locations",
];

fn policy_entries(keys: [&'static str; 4], p: &CaPolicy) -> [(&'static str, serde_json::Value); 4] {
    use serde_json::json;
    [
        (keys[0], json!(p.on)),
        (keys[1], json!(p.groups)),
        (keys[2], json!(p.exclude_groups)),
        (keys[3], json!(p.exclude_named_locations)),
    ]
}

const EXCLUSIVE: &str = "Security Defaults and Conditional Access are mutually exclusive";

fn parse_bool(v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Ok(true),
        "false" | "off" | "no" | "0" => Ok(false),
        _ => Err(format!("expected on or off (true/false), got {v:?}")),
    }
}

/// A comma- or space-separated list; `none` (or nothing) clears it.
fn list(v: &str) -> impl Iterator<Item = &str> {
    v.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case("none"))
}

fn parse_net(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map(|n| n.trunc())
        .map_err(|_| format!("{s:?} is not an IP range in CIDR notation (e.g. 203.0.113.0/24)"))
}

/// A duration with a unit (`30m`, `90s`, `3h`), or a bare number in the unit the real product
/// uses for that setting: minutes for AD lockout and sync intervals, seconds for smart lockout.
const MINUTE: Duration = Duration::from_secs(60);

fn bounded(
    v: &str,
    bare_unit: Duration,
    min: Duration,
    max: Duration,
    what: &str,
) -> Result<Duration, String> {
    let d = match v.trim().parse::<u32>() {
        Ok(n) => bare_unit * n,
        Err(_) => parse_duration(v)?,
    };
    if d < min || d > max {
        return Err(format!(
            "{what} must be between {} and {}, got {}",
            format_duration(min),
            format_duration(max),
            format_duration(d)
        ));
    }
    Ok(d)
}

impl Tenant {
    /// Applies `tenant set KEY VALUE`; the whole value is validated before anything changes.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "allow-app-passwords" => self.allow_app_passwords = parse_bool(value)?,
            "security-defaults" => {
                let on = parse_bool(value)?;
                if on && (self.ca_require_mfa.on || self.ca_block_legacy.on) {
                    return Err(format!(
                        "{EXCLUSIVE}: turn off the Conditional Access policies first (ca-require-mfa, ca-block-legacy)"
                    ));
                }
                self.security_defaults = on;
            }
            "ca-require-mfa" | "ca-block-legacy" => {
                let on = parse_bool(value)?;
                if on && self.security_defaults {
                    return Err(format!(
                        "{EXCLUSIVE}: turn Security Defaults off first (tenant set security-defaults off)"
                    ));
                }
                self.policy_mut(key).on = on;
            }
            "ca-require-mfa-groups" | "ca-block-legacy-groups" => {
                self.policy_mut(key).groups = groups(value)?
            }
            "ca-require-mfa-exclude-groups" | "ca-block-legacy-exclude-groups" => {
                self.policy_mut(key).exclude_groups = groups(value)?
            }
            "ca-require-mfa-exclude-named-locations"
            | "ca-block-legacy-exclude-named-locations" => {
                self.policy_mut(key).exclude_named_locations = parse_bool(value)?
            }
            "federation" => self.federation = parse_bool(value)?,
            "email-sign-in" => self.email_sign_in = parse_bool(value)?,
            "trusted-ips" => {
                let mut nets = Vec::new();
                for s in list(value) {
                    match parse_net(s)? {
                        IpNet::V4(n) => nets.push(n),
                        IpNet::V6(_) => {
                            return Err(format!(
                                "trusted IPs accept IPv4 ranges only; {s} is IPv6 (use named-locations for IPv6)"
                            ))
                        }
                    }
                }
                if nets.len() > MAX_TRUSTED_IPS {
                    return Err(format!(
                        "at most {MAX_TRUSTED_IPS} trusted IP ranges, got {}",
                        nets.len()
                    ));
                }
                self.trusted_ips = nets;
            }
            "named-locations" => {
                self.named_locations = list(value).map(parse_net).collect::<Result<_, _>>()?;
            }
            "object-sync-interval" => {
                self.object_sync_interval = bounded(
                    value,
                    MINUTE,
                    Duration::from_secs(30 * 60),
                    Duration::from_secs(24 * 3600),
                    "object-sync-interval (Entra Connect's minimum is 30m)",
                )?
            }
            "password-hash-sync-interval" => {
                self.password_hash_sync_interval = bounded(
                    value,
                    MINUTE,
                    Duration::from_secs(60),
                    Duration::from_secs(24 * 3600),
                    "password-hash-sync-interval",
                )?
            }
            "ad-lockout-threshold" => {
                let n: u32 = value
                    .trim()
                    .parse()
                    .map_err(|_| format!("expected a number from 0 to 999, got {value:?}"))?;
                if n > 999 {
                    return Err(format!(
                        "expected a number from 0 (never lock) to 999, got {n}"
                    ));
                }
                self.ad_lockout_threshold = n;
            }
            "ad-lockout-duration" => {
                self.ad_lockout_duration = bounded(
                    value,
                    MINUTE,
                    Duration::ZERO,
                    Duration::from_secs(99_999 * 60),
                    "ad-lockout-duration (0 = until an administrator unlocks)",
                )?
            }
            "ad-lockout-window" => {
                self.ad_lockout_window = bounded(
                    value,
                    MINUTE,
                    Duration::from_secs(60),
                    Duration::from_secs(99_999 * 60),
                    "ad-lockout-window",
                )?
            }
            "smart-lockout-threshold" => {
                let n: u32 = value
                    .trim()
                    .parse()
                    .map_err(|_| format!("expected a number from 1 to 100, got {value:?}"))?;
                if !(1..=100).contains(&n) {
                    return Err(format!("expected a number from 1 to 100, got {n}"));
                }
                self.smart_lockout_threshold = n;
            }
            "smart-lockout-duration" => {
                self.smart_lockout_duration = bounded(
                    value,
                    Duration::from_secs(1),
                    Duration::from_secs(1),
                    Duration::from_secs(24 * 3600),
                    "smart-lockout-duration",
                )?
            }
            other => {
                return Err(format!(
                    "unknown tenant setting {other:?}; known settings: {}",
                    KEYS.join(", ")
                ))
            }
        }
        Ok(())
    }

    /// Every setting as (key, display value), in the reference's order.
    pub fn entries(&self) -> Vec<(&'static str, serde_json::Value)> {
        use serde_json::json;
        let nets = |v: Vec<String>| json!(v);
        vec![
            ("allow-app-passwords", json!(self.allow_app_passwords)),
            ("security-defaults", json!(self.security_defaults)),
            (
                "trusted-ips",
                nets(self.trusted_ips.iter().map(|n| n.to_string()).collect()),
            ),
            (
                "named-locations",
                nets(self.named_locations.iter().map(|n| n.to_string()).collect()),
            ),
            ("federation", json!(self.federation)),
            (
                "object-sync-interval",
                json!(format_duration(self.object_sync_interval)),
            ),
            (
                "password-hash-sync-interval",
                json!(format_duration(self.password_hash_sync_interval)),
            ),
            ("ad-lockout-threshold", json!(self.ad_lockout_threshold)),
            (
                "ad-lockout-duration",
                json!(format_duration(self.ad_lockout_duration)),
            ),
            (
                "ad-lockout-window",
                json!(format_duration(self.ad_lockout_window)),
            ),
            (
                "smart-lockout-threshold",
                json!(self.smart_lockout_threshold),
            ),
            (
                "smart-lockout-duration",
                json!(format_duration(self.smart_lockout_duration)),
            ),
            ("email-sign-in", json!(self.email_sign_in)),
        ]
        .into_iter()
        .chain(policy_entries(REQUIRE_MFA_KEYS, &self.ca_require_mfa))
        .chain(policy_entries(BLOCK_LEGACY_KEYS, &self.ca_block_legacy))
        .collect()
    }

    fn policy_mut(&mut self, key: &str) -> &mut CaPolicy {
        if key.starts_with("ca-require-mfa") {
            &mut self.ca_require_mfa
        } else {
            &mut self.ca_block_legacy
        }
    }

    pub fn is_trusted(&self, ip: Option<std::net::IpAddr>) -> bool {
        let ip = match ip {
            Some(std::net::IpAddr::V4(v4)) => v4,
            Some(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => v4,
                None => return false,
            },
            None => return false,
        };
        self.trusted_ips.iter().any(|n| n.contains(&ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_trusted_ip_is_refused() {
        let mut t = Tenant::default();
        let e = t.set("trusted-ips", "2001:db8::/32").unwrap_err();
        assert!(e.contains("IPv4"), "{e}");
        assert!(t.trusted_ips.is_empty());
    }

    #[test]
    fn fifty_one_trusted_ranges_are_refused() {
        let mut t = Tenant::default();
        let many: Vec<String> = (0..51).map(|i| format!("198.51.{i}.0/24")).collect();
        assert!(t
            .set("trusted-ips", &many.join(","))
            .unwrap_err()
            .contains("50"));
        t.set("trusted-ips", &many[..50].join(",")).unwrap();
        assert_eq!(t.trusted_ips.len(), 50);
    }

    #[test]
    fn none_clears_a_list() {
        let mut t = Tenant::default();
        t.set("trusted-ips", "203.0.113.0/24").unwrap();
        t.set("trusted-ips", "none").unwrap();
        assert!(t.trusted_ips.is_empty());
    }

    #[test]
    fn object_sync_below_thirty_minutes_is_refused() {
        let mut t = Tenant::default();
        assert!(t.set("object-sync-interval", "10m").is_err());
        t.set("object-sync-interval", "3h").unwrap();
        assert_eq!(t.object_sync_interval, Duration::from_secs(3 * 3600));
    }

    #[test]
    fn bare_numbers_use_the_products_units() {
        let mut t = Tenant::default();
        t.set("ad-lockout-duration", "15").unwrap();
        assert_eq!(t.ad_lockout_duration, Duration::from_secs(15 * 60));
        t.set("smart-lockout-duration", "120").unwrap();
        assert_eq!(t.smart_lockout_duration, Duration::from_secs(120));
        t.set("ad-lockout-duration", "0").unwrap();
        assert!(t.ad_lockout_duration.is_zero());
    }

    #[test]
    fn unknown_key_lists_known_ones() {
        let e = Tenant::default().set("colour", "blue").unwrap_err();
        assert!(e.contains("allow-app-passwords"));
    }
}
