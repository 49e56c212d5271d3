//! Conditional Access in the model (the reference's §4c, issue 15): MFA by policy, legacy
//! blocking, group scopes and exclusions, named locations, the mutual exclusion with Security
//! Defaults, and the revised §4a — through the verifier, `check`, a cloud RADIUS client and a
//! cloud LDAP listener.

mod common;
use common::*;

use hybridauth::directory::service::{NewUser, UserChanges};
use hybridauth::directory::MfaState;
use hybridauth::verify::{EndpointKind, Secret};

const OUTSIDE: Option<&str> = Some("203.0.113.9");
const OFFICE: Option<&str> = Some("198.51.100.7");

fn add(lab: &Lab, sam: &str, mfa: MfaState, groups: &[&str]) {
    lab.app
        .directory
        .add_user(NewUser {
            sam: sam.into(),
            upn: None,
            password: Secret::new(format!("{sam}-Pass-1")),
            display_name: None,
            mail: None,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            mfa,
            admin: false,
            modern_auth_only: false,
        })
        .unwrap();
}

fn cloud(lab: &Lab, sam: &str, secret: &str, from: Option<&str>) -> hybridauth::verify::Decision {
    lab.check_from(
        EndpointKind::Cloud,
        false,
        &format!("{sam}@contoso.com"),
        secret,
        from,
    )
}

fn password(sam: &str) -> String {
    format!("{sam}-Pass-1")
}

#[test]
fn security_defaults_and_conditional_access_are_mutually_exclusive() {
    let lab = Lab::new();
    lab.tenant("ca-require-mfa", "on");
    let e = lab
        .app
        .directory
        .set_tenant("security-defaults", "on")
        .unwrap_err()
        .to_string();
    assert!(e.contains("mutually exclusive"), "{e}");
    lab.tenant("ca-require-mfa", "off");
    lab.tenant("security-defaults", "on");
    for key in ["ca-require-mfa", "ca-block-legacy"] {
        let e = lab
            .app
            .directory
            .set_tenant(key, "on")
            .unwrap_err()
            .to_string();
        assert!(e.contains("Security Defaults off first"), "{e}");
    }
    // Scopes may still be prepared while the policy is off.
    lab.tenant("ca-block-legacy-groups", "legacy-users");
}

#[test]
fn block_legacy_refuses_what_it_covers_app_passwords_included() {
    let lab = Lab::new();
    let ap = lab.enforced_user_with_app_password("alice");
    add(&lab, "dora", MfaState::Disabled, &[]);
    lab.sync_now();
    lab.tenant("ca-block-legacy", "on");
    for secret in [ap.as_str(), "Winter2026!"] {
        let d = cloud(&lab, "alice", secret, OUTSIDE);
        assert_decision(&d, false, "cloud.ca.block-legacy");
        assert_eq!(
            (d.codes.aadsts, d.codes.nps),
            (Some("AADSTS53003"), Some(65))
        );
        assert!(
            d.explanation
                .contains("'block legacy authentication' covers alice@contoso.com (all users) from 203.0.113.9"),
            "{}",
            d.explanation
        );
    }
    assert_decision(
        &cloud(&lab, "dora", &password("dora"), None),
        false,
        "cloud.ca.block-legacy",
    );
    // On-prem is untouched; a hybrid endpoint fails on its cloud side.
    assert_decision(&lab.onprem("alice", "Winter2026!"), true, "onprem.accept");
    assert_decision(
        &lab.hybrid("alice@contoso.com", "Winter2026!"),
        false,
        "cloud.ca.block-legacy",
    );
}

#[test]
fn a_policy_scoped_to_groups_covers_members_as_synced_and_spares_the_excluded() {
    let lab = Lab::new();
    add(&lab, "vic", MfaState::Disabled, &["legacy-users"]);
    add(
        &lab,
        "ned",
        MfaState::Disabled,
        &["legacy-users", "break-glass"],
    );
    add(&lab, "oli", MfaState::Disabled, &["staff"]);
    lab.sync_now();
    lab.tenant("ca-block-legacy", "on");
    lab.tenant("ca-block-legacy-groups", "legacy-users");
    lab.tenant("ca-block-legacy-exclude-groups", "break-glass");
    let d = cloud(&lab, "vic", &password("vic"), None);
    assert_decision(&d, false, "cloud.ca.block-legacy");
    assert!(
        d.explanation.contains("(group legacy-users)"),
        "{}",
        d.explanation
    );
    assert_decision(
        &cloud(&lab, "ned", &password("ned"), None),
        true,
        "cloud.password.accept",
    );
    assert_decision(
        &cloud(&lab, "oli", &password("oli"), None),
        true,
        "cloud.password.accept",
    );
    // Joining the group on-prem counts in the cloud once object sync carries it.
    lab.set_time("2026-01-05T10:05:00Z");
    lab.app
        .directory
        .set_user(
            "oli",
            UserChanges {
                groups: Some(vec!["staff".into(), "legacy-users".into()]),
                ..UserChanges::default()
            },
        )
        .unwrap();
    assert_decision(
        &cloud(&lab, "oli", &password("oli"), None),
        true,
        "cloud.password.accept",
    );
    lab.set_time("2026-01-05T10:30:00Z");
    assert_decision(
        &cloud(&lab, "oli", &password("oli"), None),
        false,
        "cloud.ca.block-legacy",
    );
}

#[test]
fn excluded_named_locations_are_not_covered_and_only_when_the_policy_says_so() {
    let lab = Lab::new();
    add(&lab, "dora", MfaState::Disabled, &[]);
    lab.sync_now();
    lab.tenant("named-locations", "198.51.100.0/24, 2001:db8::/32");
    lab.tenant("ca-block-legacy", "on");
    assert_decision(
        &cloud(&lab, "dora", &password("dora"), OFFICE),
        false,
        "cloud.ca.block-legacy",
    );
    lab.tenant("ca-block-legacy-exclude-named-locations", "on");
    assert_decision(
        &cloud(&lab, "dora", &password("dora"), OFFICE),
        true,
        "cloud.password.accept",
    );
    assert_decision(
        &cloud(&lab, "dora", &password("dora"), Some("2001:db8::7")),
        true,
        "cloud.password.accept",
    );
    assert_decision(
        &cloud(&lab, "dora", &password("dora"), OUTSIDE),
        false,
        "cloud.ca.block-legacy",
    );
}

#[test]
fn require_mfa_refuses_the_domain_password_unless_per_user_enforced_or_excluded() {
    let lab = Lab::new();
    add(&lab, "dora", MfaState::Disabled, &["vpn-users"]);
    add(&lab, "emil", MfaState::Enabled, &["vpn-users"]);
    add(&lab, "enzo", MfaState::Enforced, &["vpn-users"]);
    lab.sync_now();
    lab.tenant("trusted-ips", "198.51.100.0/24");
    lab.tenant("named-locations", "192.0.2.0/24");
    lab.tenant("ca-require-mfa", "on");
    lab.tenant("ca-require-mfa-groups", "vpn-users");
    lab.tenant("ca-require-mfa-exclude-named-locations", "on");
    for sam in ["dora", "emil"] {
        let d = cloud(&lab, sam, &password(sam), OUTSIDE);
        assert_decision(&d, false, "cloud.ca.require-mfa");
        assert_eq!(d.codes.aadsts, Some("AADSTS50076"));
        assert!(
            d.explanation.contains(&format!(
                "Conditional Access 'require MFA' covers {sam}@contoso.com (group vpn-users) from 203.0.113.9; a legacy client cannot satisfy MFA"
            )),
            "{}",
            d.explanation
        );
        // Trusted IPs are a per-user MFA feature: no exemption from the policy.
        assert_decision(
            &cloud(&lab, sam, &password(sam), OFFICE),
            false,
            "cloud.ca.require-mfa",
        );
        // An excluded named location is.
        assert_decision(
            &cloud(&lab, sam, &password(sam), Some("192.0.2.9")),
            true,
            "cloud.password.accept",
        );
    }
    // Per-user enforcement overrides the policy: §4b, trusted IP exemption included.
    assert_decision(
        &cloud(&lab, "enzo", &password("enzo"), OUTSIDE),
        false,
        "cloud.password.mfa-required",
    );
    assert_decision(
        &cloud(&lab, "enzo", &password("enzo"), OFFICE),
        true,
        "cloud.password.trusted-ip",
    );
    // On-prem is untouched.
    assert_decision(
        &lab.onprem("dora", &password("dora")),
        true,
        "onprem.accept",
    );
}

#[test]
fn the_articles_procedure_enforce_create_then_rely_on_conditional_access() {
    // "App Passwords are only available to users with a non-Conditional Access MFA requirement".
    let lab = Lab::new();
    lab.tenant("allow-app-passwords", "on");
    add(&lab, "cara", MfaState::Disabled, &["staff"]);
    lab.sync_now();
    lab.tenant("ca-require-mfa", "on");
    // Covered only by Conditional Access: the drop-down offers no app password.
    let e = lab
        .app
        .directory
        .create_app_password("cara", "Outlook 2010")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("Conditional Access policy 'require MFA' (all users)")
            && e.contains("per-user MFA enforced")
            && e.contains("user set cara --mfa enforced"),
        "{e}"
    );
    // The cure: enforce per-user MFA, create, then remove the per-user requirement.
    let set = |mfa| {
        lab.app
            .directory
            .set_user(
                "cara",
                UserChanges {
                    mfa: Some(mfa),
                    ..UserChanges::default()
                },
            )
            .unwrap()
    };
    set(MfaState::Enforced);
    let ap = lab.app_password("cara", "Outlook 2010");
    set(MfaState::Disabled);
    assert_decision(
        &cloud(&lab, "cara", &ap, OUTSIDE),
        true,
        "cloud.app-password.accept",
    );
    assert_decision(
        &cloud(&lab, "cara", &password("cara"), OUTSIDE),
        false,
        "cloud.ca.require-mfa",
    );
}

#[test]
fn security_defaults_explain_app_password_creation_too() {
    let lab = Lab::new();
    lab.tenant("allow-app-passwords", "on");
    lab.tenant("security-defaults", "on");
    add(&lab, "sam1", MfaState::Enabled, &[]);
    let e = lab
        .app
        .directory
        .create_app_password("sam1", "Printer")
        .unwrap_err()
        .to_string();
    assert!(e.contains("comes from Security Defaults"), "{e}");
}

mod wire {
    use super::common::daemon::{Daemon, SECRET};
    use super::common::ldap::*;
    use super::common::radius::*;
    use ldap3_proto::proto::LdapResultCode;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cloud_radius_ldap_and_check_follow_the_policies() {
        let d = Daemon::start();
        d.cli(&[
            "user",
            "add",
            "dora",
            "--password",
            "Dora-pass-1",
            "--groups",
            "vpn-users",
        ]);
        d.cli(&["sync", "now"]);
        // tenant show lists every Conditional Access key with its default.
        let shown: serde_json::Value =
            serde_json::from_slice(&d.cli(&["tenant", "show", "--json"]).stdout).unwrap();
        for (key, default) in [
            ("ca-require-mfa", serde_json::json!(false)),
            ("ca-require-mfa-groups", serde_json::json!([])),
            ("ca-require-mfa-exclude-groups", serde_json::json!([])),
            (
                "ca-require-mfa-exclude-named-locations",
                serde_json::json!(false),
            ),
            ("ca-block-legacy", serde_json::json!(false)),
            ("ca-block-legacy-groups", serde_json::json!([])),
            ("ca-block-legacy-exclude-groups", serde_json::json!([])),
            (
                "ca-block-legacy-exclude-named-locations",
                serde_json::json!(false),
            ),
        ] {
            assert_eq!(shown[key], default, "{key}");
        }
        d.cli(&["tenant", "set", "ca-require-mfa", "on"]);
        d.cli(&["tenant", "set", "ca-require-mfa-groups", "vpn-users"]);
        // The refusal of Security Defaults, through the binary.
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hybridauth"))
            .args([
                "--config",
                d.config.to_str().unwrap(),
                "tenant",
                "set",
                "security-defaults",
                "on",
            ])
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("mutually exclusive"));
        // RADIUS: the IPv6 client is a cloud NAS.
        let v6 = client("::1");
        let pkt = access_request(
            1,
            [1; 16],
            "dora@contoso.com",
            b"Dora-pass-1",
            SECRET,
            false,
            &[],
        );
        assert_eq!(exchange(&v6, d.radius, "::1", &pkt).unwrap()[0], 3);
        let rec = d.signin_log("cloud").pop().unwrap();
        assert_eq!(rec["rule"], "cloud.ca.require-mfa");
        assert_eq!(rec["codes"]["aadsts"], "AADSTS50076");
        assert!(rec["explanation"].as_str().unwrap().contains("from ::1"));
        // LDAP cloud listener.
        let mut c = connect(d.ldap_cloud).await;
        let r = bind(&mut c, 1, "dora@contoso.com", "Dora-pass-1").await;
        assert_eq!(r.code, LdapResultCode::InvalidCredentials);
        assert!(r.message.contains("data AADSTS50076"), "{}", r.message);
        // Block legacy, and check.
        d.cli(&["tenant", "set", "ca-block-legacy", "on"]);
        let r = bind(&mut c, 2, "dora@contoso.com", "Dora-pass-1").await;
        assert!(r.message.contains("data AADSTS53003"), "{}", r.message);
        let pkt = access_request(
            2,
            [2; 16],
            "dora@contoso.com",
            b"Dora-pass-1",
            SECRET,
            false,
            &[],
        );
        assert_eq!(exchange(&v6, d.radius, "::1", &pkt).unwrap()[0], 3);
        assert_eq!(d.signin_log("cloud").pop().unwrap()["codes"]["nps"], 65);
        let out = d.cli(&[
            "check",
            "--endpoint",
            "cloud",
            "--user",
            "dora@contoso.com",
            "--password",
            "Dora-pass-1",
            "--from",
            "203.0.113.9",
            "--json",
        ]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["rule"], "cloud.ca.block-legacy");
        // The on-prem listener is untouched.
        let mut onprem = connect(d.ldap).await;
        assert_eq!(
            bind(&mut onprem, 1, "dora", "Dora-pass-1").await.code,
            LdapResultCode::Success
        );
    }
}
