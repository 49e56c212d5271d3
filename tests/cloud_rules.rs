//! docs/model.md §4, §5 and §7: the cloud path, the sync delay and the app-password lifecycle.

mod common;
use common::*;
use hybridauth::directory::service::UserChanges;
use hybridauth::directory::MfaState;
use hybridauth::verify::{Credential, EndpointKind, Secret};

#[test]
fn rule1_a_user_not_yet_synced_is_50034() {
    let lab = Lab::new();
    lab.add("alice", "Winter2026!", MfaState::Disabled);
    let d = lab.cloud("alice@contoso.com", "Winter2026!");
    assert_decision(&d, false, "cloud.unknown-user");
    assert_eq!(d.codes.aadsts, Some("AADSTS50034"));
    assert!(d.explanation.contains("10:30"), "{}", d.explanation);
    lab.set_time("2026-01-05T10:30:00Z");
    assert_decision(
        &lab.cloud("alice@contoso.com", "Winter2026!"),
        true,
        "cloud.password.accept",
    );
}

#[test]
fn disabled_on_prem_app_password_works_until_the_object_sync_boundary() {
    let lab = Lab::new();
    let ap = lab.enforced_user_with_app_password("alice");
    lab.set_time("2026-01-05T10:05:00Z");
    lab.app.directory.set_enabled("alice", false).unwrap();
    assert_decision(
        &lab.onprem("alice", "Winter2026!"),
        false,
        "onprem.disabled",
    );
    lab.set_time("2026-01-05T10:29:59Z");
    let d = lab.cloud("alice@contoso.com", &ap);
    assert_decision(&d, true, "cloud.app-password.accept");
    assert!(
        d.explanation.contains("disabled on-prem at 10:05"),
        "{}",
        d.explanation
    );
    assert!(d.explanation.contains("10:30"), "{}", d.explanation);
    lab.set_time("2026-01-05T10:30:00Z");
    let d = lab.cloud("alice@contoso.com", &ap);
    assert_decision(&d, false, "cloud.disabled");
    assert_eq!(d.codes.aadsts, Some("AADSTS50057"));
}

#[test]
fn a_change_at_the_cycle_instant_waits_for_the_next_cycle() {
    let lab = Lab::new();
    let ap = lab.enforced_user_with_app_password("alice");
    lab.set_time("2026-01-05T10:30:00Z");
    lab.app.directory.set_enabled("alice", false).unwrap();
    assert_decision(
        &lab.cloud("alice@contoso.com", &ap),
        true,
        "cloud.app-password.accept",
    );
    lab.set_time("2026-01-05T11:00:00Z");
    assert_decision(
        &lab.cloud("alice@contoso.com", &ap),
        false,
        "cloud.disabled",
    );
}

#[test]
fn a_deleted_account_keeps_working_in_the_cloud_until_the_deletion_syncs() {
    let lab = Lab::new();
    let ap = lab.enforced_user_with_app_password("alice");
    lab.app.directory.delete("alice").unwrap();
    assert_decision(
        &lab.onprem("alice", "Winter2026!"),
        false,
        "onprem.unknown-user",
    );
    assert_decision(
        &lab.cloud("alice@contoso.com", &ap),
        true,
        "cloud.app-password.accept",
    );
    lab.sync_now();
    assert_decision(
        &lab.cloud("alice@contoso.com", &ap),
        false,
        "cloud.unknown-user",
    );
}

#[test]
fn object_sync_interval_of_hours_delays_the_disable_that_long() {
    let lab = Lab::new();
    let ap = lab.enforced_user_with_app_password("alice");
    lab.tenant("object-sync-interval", "3h");
    lab.set_time("2026-01-05T10:05:00Z");
    lab.app.directory.set_enabled("alice", false).unwrap();
    lab.set_time("2026-01-05T11:59:59Z");
    assert_decision(
        &lab.cloud("alice@contoso.com", &ap),
        true,
        "cloud.app-password.accept",
    );
    lab.set_time("2026-01-05T12:00:00Z");
    assert_decision(
        &lab.cloud("alice@contoso.com", &ap),
        false,
        "cloud.disabled",
    );
}

#[test]
fn rule3_smart_lockout_after_ten_failures_and_repeats_do_not_count() {
    let lab = Lab::new();
    lab.add("alice", "Winter2026!", MfaState::Disabled);
    lab.sync_now();
    for _ in 0..20 {
        let d = lab.cloud("alice@contoso.com", "same-wrong");
        assert_decision(&d, false, "cloud.bad-password");
        assert_eq!(d.codes.aadsts, Some("AADSTS50126"));
    }
    assert_decision(
        &lab.cloud("alice@contoso.com", "Winter2026!"),
        true,
        "cloud.password.accept",
    );
    for i in 0..10 {
        lab.cloud("alice@contoso.com", &format!("wrong-{i}"));
    }
    let d = lab.cloud("alice@contoso.com", "Winter2026!");
    assert_decision(&d, false, "cloud.smart-lockout");
    assert_eq!(d.codes.aadsts, Some("AADSTS50053"));
    lab.advance("60s");
    assert_decision(
        &lab.cloud("alice@contoso.com", "Winter2026!"),
        true,
        "cloud.password.accept",
    );
}

/// Nine failures, a success with `secret`, nine more: locked only if the success did not start
/// the count afresh.
fn nine_nine(lab: &Lab, sam: &str, secret: &str, accepted_rule: &str) {
    for i in 0..9 {
        lab.cloud(&format!("{sam}@contoso.com"), &format!("before-{i}"));
    }
    assert_decision(
        &lab.cloud(&format!("{sam}@contoso.com"), secret),
        true,
        accepted_rule,
    );
    for i in 0..9 {
        assert_decision(
            &lab.cloud(&format!("{sam}@contoso.com"), &format!("after-{i}")),
            false,
            "cloud.bad-password",
        );
    }
    assert_decision(
        &lab.cloud(&format!("{sam}@contoso.com"), secret),
        true,
        accepted_rule,
    );
}

#[test]
fn a_correct_domain_password_resets_smart_lockout_as_an_app_password_does() {
    let lab = Lab::new();
    lab.add("dora", "Pw-dora-1", MfaState::Disabled);
    let ap = lab.enforced_user_with_app_password("alice");
    nine_nine(&lab, "dora", "Pw-dora-1", "cloud.password.accept");
    nine_nine(&lab, "alice", &ap, "cloud.app-password.accept");
}

#[test]
fn a_repeated_wrong_password_counts_again_once_the_smart_lockout_duration_has_passed() {
    let lab = Lab::new();
    lab.tenant("smart-lockout-threshold", "2");
    lab.add("alice", "Winter2026!", MfaState::Disabled);
    lab.sync_now();
    lab.cloud("alice@contoso.com", "typo");
    lab.cloud("alice@contoso.com", "typo");
    assert_decision(
        &lab.cloud("alice@contoso.com", "Winter2026!"),
        true,
        "cloud.password.accept",
    );
    lab.cloud("alice@contoso.com", "typo");
    lab.advance("61s");
    let d = lab.cloud("alice@contoso.com", "typo");
    assert!(d.explanation.contains("locked until"), "{d:#?}");
}

#[test]
fn smart_lockout_is_not_ad_lockout_and_on_prem_lockout_is_not_synced() {
    let lab = Lab::new();
    lab.tenant("ad-lockout-threshold", "1");
    lab.add("alice", "Winter2026!", MfaState::Disabled);
    lab.sync_now();
    lab.onprem("alice", "bad");
    assert_decision(
        &lab.onprem("alice", "Winter2026!"),
        false,
        "onprem.locked-out",
    );
    lab.advance("1h");
    assert_decision(
        &lab.cloud("alice@contoso.com", "Winter2026!"),
        true,
        "cloud.password.accept",
    );
}

#[test]
fn expired_account_and_expired_password_still_sign_in_to_the_cloud() {
    let lab = Lab::new();
    lab.add("alice", "Winter2026!", MfaState::Disabled);
    lab.sync_now();
    let changes = UserChanges {
        expires: Some(Some(t("2026-01-05T10:00:00Z"))),
        password_expired: Some(true),
        ..Default::default()
    };
    lab.app.directory.set_user("alice", changes).unwrap();
    lab.advance("1h");
    assert_decision(
        &lab.onprem("alice", "Winter2026!"),
        false,
        "onprem.account-expired",
    );
    assert_decision(
        &lab.cloud("alice@contoso.com", "Winter2026!"),
        true,
        "cloud.password.accept",
    );
}

#[test]
fn rule4_security_defaults_block_legacy_auth_app_passwords_included() {
    let lab = Lab::new();
    let ap = lab.enforced_user_with_app_password("alice");
    lab.tenant("security-defaults", "on");
    let d = lab.cloud("alice@contoso.com", &ap);
    assert_decision(&d, false, "cloud.legacy-auth-blocked");
    assert_eq!(d.codes.aadsts, Some("AADSTS53003"));
}

#[test]
fn rule4_modern_auth_only_users_cannot_use_app_passwords() {
    let lab = Lab::new();
    let ap = lab.enforced_user_with_app_password("alice");
    let c = UserChanges {
        modern_auth_only: Some(true),
        ..Default::default()
    };
    lab.app.directory.set_user("alice", c).unwrap();
    assert_decision(
        &lab.cloud("alice@contoso.com", &ap),
        false,
        "cloud.legacy-auth-blocked",
    );
}

#[test]
fn rule5_app_password_accepted_and_last_use_recorded() {
    let lab = Lab::new();
    let ap = lab.enforced_user_with_app_password("alice");
    let d = lab.cloud("alice@contoso.com", &ap);
    assert_decision(&d, true, "cloud.app-password.accept");
    assert_eq!(d.credential, Credential::AppPassword);
    assert_eq!(d.app_password.as_deref(), Some("Laptop"));
    let list = lab.app.directory.app_passwords("alice").unwrap();
    assert!(list[0].last_used.is_some());
    // Grouped input with spaces or hyphens is accepted.
    let grouped = format!("{} {}-{} {}", &ap[..4], &ap[4..8], &ap[8..12], &ap[12..]);
    assert_decision(
        &lab.cloud("alice@contoso.com", &grouped),
        true,
        "cloud.app-password.accept",
    );
}

#[test]
fn rule5_app_password_refused_on_an_admin_actions_endpoint() {
    let lab = Lab::new();
    let ap = lab.enforced_user_with_app_password("alice");
    let d = lab.check_from(EndpointKind::Cloud, true, "alice@contoso.com", &ap, None);
    assert_decision(&d, false, "cloud.app-password.admin-action");
}

#[test]
fn rule5_app_password_refused_for_an_administrator() {
    let lab = Lab::new();
    let ap = lab.enforced_user_with_app_password("alice");
    let c = UserChanges {
        admin: Some(true),
        ..Default::default()
    };
    lab.app.directory.set_user("alice", c).unwrap();
    assert_decision(
        &lab.cloud("alice@contoso.com", &ap),
        false,
        "cloud.app-password.admin-user",
    );
}

#[test]
fn rule5_an_existing_app_password_keeps_working_when_per_user_mfa_is_removed() {
    // The reference's revised §4a: enforce, create, then remove the per-user requirement.
    let lab = Lab::new();
    let ap = lab.enforced_user_with_app_password("alice");
    for state in [MfaState::Enabled, MfaState::Disabled] {
        let c = UserChanges {
            mfa: Some(state),
            ..Default::default()
        };
        lab.app.directory.set_user("alice", c).unwrap();
        let d = lab.cloud("alice@contoso.com", &ap);
        assert_decision(&d, true, "cloud.app-password.accept");
        assert!(
            d.explanation.contains("does not revoke"),
            "{}",
            d.explanation
        );
    }
}

#[test]
fn rule6_domain_password_by_mfa_state() {
    let lab = Lab::new();
    lab.add("dora", "Pw-dora-1", MfaState::Disabled);
    lab.add("emil", "Pw-emil-1", MfaState::Enabled);
    lab.add("enzo", "Pw-enzo-1", MfaState::Enforced);
    lab.sync_now();
    assert_decision(
        &lab.cloud("dora@contoso.com", "Pw-dora-1"),
        true,
        "cloud.password.accept",
    );
    assert_decision(
        &lab.cloud("emil@contoso.com", "Pw-emil-1"),
        true,
        "cloud.password.accept",
    );
    let d = lab.cloud("enzo@contoso.com", "Pw-enzo-1");
    assert_decision(&d, false, "cloud.password.mfa-required");
    assert_eq!(d.codes.aadsts, Some("AADSTS50076"));
    assert_eq!(d.credential, Credential::DomainPassword);
}

#[test]
fn trusted_ips_let_the_domain_password_through_only_for_users_without_app_passwords() {
    let lab = Lab::new();
    lab.tenant("allow-app-passwords", "on");
    lab.tenant("trusted-ips", "203.0.113.0/24");
    lab.add("enzo", "Pw-enzo-1", MfaState::Enforced);
    lab.add("alice", "Winter2026!", MfaState::Enforced);
    lab.app_password("alice", "Laptop");
    lab.sync_now();
    let inside = Some("203.0.113.7");
    let d = lab.check_from(
        EndpointKind::Cloud,
        false,
        "enzo@contoso.com",
        "Pw-enzo-1",
        inside,
    );
    assert_decision(&d, true, "cloud.password.trusted-ip");
    let d = lab.check_from(
        EndpointKind::Cloud,
        false,
        "enzo@contoso.com",
        "Pw-enzo-1",
        Some("198.51.100.1"),
    );
    assert_decision(&d, false, "cloud.password.mfa-required");
    let d = lab.check_from(
        EndpointKind::Cloud,
        false,
        "alice@contoso.com",
        "Winter2026!",
        inside,
    );
    assert_decision(&d, false, "cloud.password.mfa-required");
    // Deleting every app password does not restore the exemption.
    lab.app
        .directory
        .delete_app_password("alice", "Laptop", false)
        .unwrap();
    let d = lab.check_from(
        EndpointKind::Cloud,
        false,
        "alice@contoso.com",
        "Winter2026!",
        inside,
    );
    assert_decision(&d, false, "cloud.password.mfa-required");
}

#[test]
fn old_password_works_in_the_cloud_until_the_next_password_hash_sync() {
    let lab = Lab::new();
    lab.add("alice", "Winter2026!", MfaState::Disabled);
    lab.sync_now();
    lab.set_time("2026-01-05T10:03:00Z");
    lab.app
        .directory
        .reset_password("alice", &Secret::new("Spring2026!"), false)
        .unwrap();
    let d = lab.cloud("alice@contoso.com", "Winter2026!");
    assert_decision(&d, true, "cloud.password.accept");
    assert!(d.explanation.contains("10:04"), "{}", d.explanation);
    assert_decision(
        &lab.cloud("alice@contoso.com", "Spring2026!"),
        false,
        "cloud.bad-password",
    );
    lab.set_time("2026-01-05T10:03:59Z");
    assert_decision(
        &lab.cloud("alice@contoso.com", "Winter2026!"),
        true,
        "cloud.password.accept",
    );
    lab.set_time("2026-01-05T10:04:00Z");
    assert_decision(
        &lab.cloud("alice@contoso.com", "Winter2026!"),
        false,
        "cloud.bad-password",
    );
    assert_decision(
        &lab.cloud("alice@contoso.com", "Spring2026!"),
        true,
        "cloud.password.accept",
    );
}

#[test]
fn a_must_change_password_is_never_synced() {
    let lab = Lab::new();
    lab.add("alice", "Winter2026!", MfaState::Disabled);
    lab.sync_now();
    lab.app
        .directory
        .reset_password("alice", &Secret::new("Temp2026!"), true)
        .unwrap();
    lab.advance("1h");
    assert_decision(
        &lab.cloud("alice@contoso.com", "Winter2026!"),
        true,
        "cloud.password.accept",
    );
    assert_decision(
        &lab.cloud("alice@contoso.com", "Temp2026!"),
        false,
        "cloud.bad-password",
    );
}

#[test]
fn app_passwords_survive_a_password_reset() {
    let lab = Lab::new();
    let ap = lab.enforced_user_with_app_password("alice");
    lab.app
        .directory
        .reset_password("alice", &Secret::new("Spring2026!"), false)
        .unwrap();
    lab.advance("1h");
    assert_decision(
        &lab.cloud("alice@contoso.com", &ap),
        true,
        "cloud.app-password.accept",
    );
}

#[test]
fn turning_the_tenant_switch_off_keeps_existing_app_passwords_working() {
    let lab = Lab::new();
    let ap = lab.enforced_user_with_app_password("alice");
    lab.tenant("allow-app-passwords", "off");
    assert_decision(
        &lab.cloud("alice@contoso.com", &ap),
        true,
        "cloud.app-password.accept",
    );
    let e = lab
        .app
        .directory
        .create_app_password("alice", "Phone")
        .unwrap_err();
    assert!(e.to_string().contains("allow-app-passwords"), "{e}");
    let e = lab
        .app
        .directory
        .delete_app_password("alice", "Laptop", false)
        .unwrap_err();
    assert!(e.to_string().contains("--as-admin"), "{e}");
    lab.app
        .directory
        .delete_app_password("alice", "Laptop", true)
        .unwrap();
    assert_decision(
        &lab.cloud("alice@contoso.com", &ap),
        false,
        "cloud.bad-password",
    );
}

#[test]
fn the_forty_first_app_password_is_refused() {
    let lab = Lab::new();
    lab.enforced_user_with_app_password("alice");
    for i in 2..=40 {
        lab.app_password("alice", &format!("Device {i}"));
    }
    let e = lab
        .app
        .directory
        .create_app_password("alice", "Device 41")
        .unwrap_err();
    assert!(e.to_string().contains("delete one first"), "{e}");
    assert_eq!(lab.app.directory.app_passwords("alice").unwrap().len(), 40);
}

#[test]
fn creation_is_refused_for_admins_and_users_not_enforced() {
    let lab = Lab::new();
    lab.tenant("allow-app-passwords", "on");
    lab.add("emil", "Pw-emil-1", MfaState::Enabled);
    assert!(lab
        .app
        .directory
        .create_app_password("emil", "Laptop")
        .unwrap_err()
        .to_string()
        .contains("enforced"));
    lab.add("root", "Pw-root-1", MfaState::Enforced);
    let c = UserChanges {
        admin: Some(true),
        ..Default::default()
    };
    lab.app.directory.set_user("root", c).unwrap();
    assert!(lab
        .app
        .directory
        .create_app_password("root", "Laptop")
        .unwrap_err()
        .to_string()
        .contains("admin"));
}

#[test]
fn the_hybrid_endpoint_rejects_app_passwords_and_needs_a_secret_both_sides_accept() {
    let lab = Lab::new();
    let ap = lab.enforced_user_with_app_password("alice");
    let d = lab.hybrid("alice@contoso.com", &ap);
    assert_decision(&d, false, "onprem.bad-password");
    assert!(
        d.explanation.starts_with("hybrid endpoint"),
        "{}",
        d.explanation
    );
    lab.add("dora", "Pw-dora-1", MfaState::Disabled);
    lab.sync_now();
    assert_decision(
        &lab.hybrid("dora@contoso.com", "Pw-dora-1"),
        true,
        "hybrid.accept",
    );
    // Enforced MFA: on-prem accepts, the cloud demands MFA: the hybrid client fails.
    assert_decision(
        &lab.hybrid("alice@contoso.com", "Winter2026!"),
        false,
        "cloud.password.mfa-required",
    );
}

#[test]
fn jumping_the_clock_gives_the_answers_waiting_would_have_given() {
    // A story on both sync schedules: a disable (object sync, every 30 min) and a password
    // change (password hash sync, every 2 min), both at 10:04:30.
    let stepped = Lab::new();
    let jumped = Lab::new();
    for lab in [&stepped, &jumped] {
        lab.add("alice", "Winter2026!", MfaState::Disabled);
        lab.add("bob", "Bob-pass-1", MfaState::Disabled);
        lab.sync_now();
        lab.set_time("2026-01-05T10:04:30Z");
        lab.app.directory.set_enabled("alice", false).unwrap();
        lab.app
            .directory
            .reset_password("bob", &hybridauth::verify::Secret::new("Bob-pass-2"), false)
            .unwrap();
    }
    // Each sign-in uses the secret that is (or will be) right, so deciding changes no state a
    // later answer depends on, except through the rules under test.
    let answers = |lab: &Lab| {
        [
            lab.cloud("alice@contoso.com", "Winter2026!"),
            lab.cloud("bob@contoso.com", "Bob-pass-2"),
        ]
        .map(|d| d.rule)
    };
    // The stepped lab decides every minute, as a busy server would; the jumped lab only at the
    // instants compared.
    let mut stepped_at = std::collections::HashMap::new();
    for minute in 5..=65 {
        let at = format!("2026-01-05T{:02}:{:02}:00Z", 10 + minute / 60, minute % 60);
        stepped.set_time(&at);
        stepped_at.insert(at, answers(&stepped));
    }
    for at in [
        "2026-01-05T10:05:00Z",
        "2026-01-05T10:06:00Z",
        "2026-01-05T10:29:00Z",
        "2026-01-05T10:30:00Z",
        "2026-01-05T11:05:00Z",
    ] {
        jumped.set_time(at);
        assert_eq!(stepped_at[at], answers(&jumped), "at {at}");
    }
    // The answers do change along the story, so the comparison is not vacuous.
    let at = |t: &str| stepped_at[&format!("2026-01-05T{t}:00Z")];
    assert_eq!(at("10:05"), ["cloud.password.accept", "cloud.bad-password"]);
    assert_eq!(
        at("10:06"),
        ["cloud.password.accept", "cloud.password.accept"]
    );
    assert_eq!(
        at("10:29"),
        ["cloud.password.accept", "cloud.password.accept"]
    );
    assert_eq!(at("10:30"), ["cloud.disabled", "cloud.password.accept"]);
}

#[test]
fn app_password_sign_ins_appear_only_in_the_cloud_log_and_no_secret_is_logged() {
    let lab = Lab::new();
    let ap = lab.enforced_user_with_app_password("alice");
    lab.tenant("federation", "on");
    lab.cloud("alice@contoso.com", &ap);
    assert!(
        lab.log("signin-onprem.jsonl").is_empty(),
        "no on-prem record of an app-password sign-in"
    );
    let cloud = lab.log("signin-cloud.jsonl");
    assert_eq!(cloud.len(), 1);
    assert_eq!(cloud[0]["app_password"], "Laptop");
    // With federation a domain-password cloud sign-in goes through AD FS: both logs.
    lab.add("dora", "Pw-dora-1", MfaState::Disabled);
    lab.sync_now();
    lab.cloud("dora@contoso.com", "Pw-dora-1");
    assert_eq!(lab.log("signin-onprem.jsonl").len(), 1);
    lab.onprem("alice", "Winter2026!");
    // An app password presented on-prem is, to AD, just a wrong password.
    lab.onprem("alice", &ap);
    lab.hybrid("alice@contoso.com", &ap);
    let onprem = lab.log("signin-onprem.jsonl");
    assert!(
        onprem
            .iter()
            .all(|r| r["credential"] != "app-password" && r["app_password"].is_null()),
        "{onprem:?}"
    );
    let all = format!(
        "{}{}",
        std::fs::read_to_string(lab.dir.path().join("signin-onprem.jsonl")).unwrap(),
        std::fs::read_to_string(lab.dir.path().join("signin-cloud.jsonl")).unwrap()
    );
    for secret in [ap.as_str(), "Winter2026!", "Pw-dora-1"] {
        assert!(!all.contains(secret), "a secret reached the sign-in log");
    }
}

#[test]
fn a_upn_change_reaches_the_cloud_with_object_sync() {
    let lab = Lab::new();
    lab.add("alice", "Winter2026!", MfaState::Disabled);
    lab.sync_now();
    lab.set_time("2026-01-05T10:10:00Z");
    let c = UserChanges {
        upn: Some("alice.smith@contoso.com".into()),
        ..Default::default()
    };
    lab.app.directory.set_user("alice", c).unwrap();
    assert_decision(
        &lab.onprem("alice.smith@contoso.com", "Winter2026!"),
        true,
        "onprem.accept",
    );
    assert_decision(
        &lab.cloud("alice.smith@contoso.com", "Winter2026!"),
        false,
        "cloud.unknown-user",
    );
    lab.set_time("2026-01-05T10:30:00Z");
    assert_decision(
        &lab.cloud("alice.smith@contoso.com", "Winter2026!"),
        true,
        "cloud.password.accept",
    );
}
