//! docs/model.md §3: the on-prem path, one test per rule row.

mod common;
use common::*;
use hybridauth::directory::service::UserChanges;
use hybridauth::directory::MfaState;
use hybridauth::verify::Credential;

#[test]
fn rule1_unknown_user_is_525_no_such_user() {
    let lab = Lab::new();
    let d = lab.onprem("nobody", "whatever");
    assert_decision(&d, false, "onprem.unknown-user");
    assert_eq!((d.codes.ad, d.codes.nps), (Some("525"), Some(8)));
}

#[test]
fn every_ad_login_form_reaches_the_same_account() {
    let lab = Lab::new();
    lab.add("alice", "Winter2026!", MfaState::Disabled);
    for login in [
        "alice",
        "ALICE",
        "alice@contoso.com",
        "CONTOSO\\alice",
        "CN=alice,CN=Users,DC=contoso,DC=com",
        "cn=alice, cn=users, dc=contoso, dc=com",
    ] {
        assert_decision(&lab.onprem(login, "Winter2026!"), true, "onprem.accept");
    }
    assert_decision(
        &lab.onprem("FABRIKAM\\alice", "Winter2026!"),
        false,
        "onprem.unknown-user",
    );
}

#[test]
fn an_ambiguous_login_is_an_unknown_user() {
    let lab = Lab::new();
    lab.add("bob", "Winter2026!", MfaState::Disabled);
    // bob's default UPN is bob@contoso.com already: a second one is refused.
    assert!(lab
        .try_add(
            "carol",
            Some("bob@contoso.com"),
            "Winter2026!",
            MfaState::Disabled
        )
        .is_err());
    let upn = UserChanges {
        upn: Some("robert@contoso.com".into()),
        ..Default::default()
    };
    lab.app.directory.set_user("bob", upn).unwrap();
    lab.try_add(
        "carol",
        Some("bob@contoso.com"),
        "Winter2026!",
        MfaState::Disabled,
    )
    .unwrap();
    // "bob@contoso.com" is carol's UPN and bob's implicit UPN.
    let d = lab.onprem("bob@contoso.com", "Winter2026!");
    assert_decision(&d, false, "onprem.unknown-user");
    assert!(d.explanation.contains("more than one"), "{}", d.explanation);
}

#[test]
fn rule2_lockout_at_threshold_then_775_even_with_the_right_password() {
    let lab = Lab::new();
    lab.tenant("ad-lockout-threshold", "3");
    lab.add("alice", "Winter2026!", MfaState::Disabled);
    for i in 1..=3 {
        let d = lab.onprem("alice", &format!("wrong{i}"));
        assert_decision(&d, false, "onprem.bad-password");
        assert_eq!(d.codes.ad, Some("52e"));
    }
    let d = lab.onprem("alice", "Winter2026!");
    assert_decision(&d, false, "onprem.locked-out");
    assert_eq!((d.codes.ad, d.codes.nps), (Some("775"), Some(36)));
    let d = lab.onprem("alice", "still wrong");
    assert_eq!(
        d.codes.ad,
        Some("775"),
        "locked out regardless of the password"
    );
}

#[test]
fn lockout_ends_after_its_duration_or_an_unlock() {
    let lab = Lab::new();
    lab.tenant("ad-lockout-threshold", "2");
    lab.tenant("ad-lockout-duration", "15m");
    lab.tenant("ad-lockout-window", "15m");
    lab.add("alice", "Winter2026!", MfaState::Disabled);
    lab.onprem("alice", "a");
    lab.onprem("alice", "b");
    lab.advance("14m 59s");
    assert_decision(
        &lab.onprem("alice", "Winter2026!"),
        false,
        "onprem.locked-out",
    );
    lab.advance("1s");
    assert_decision(&lab.onprem("alice", "Winter2026!"), true, "onprem.accept");
    lab.onprem("alice", "a");
    lab.onprem("alice", "b");
    assert_decision(
        &lab.onprem("alice", "Winter2026!"),
        false,
        "onprem.locked-out",
    );
    lab.app.directory.unlock("alice", false).unwrap();
    assert_decision(&lab.onprem("alice", "Winter2026!"), true, "onprem.accept");
}

#[test]
fn lockout_duration_zero_lasts_until_an_administrator_unlocks() {
    let lab = Lab::new();
    lab.tenant("ad-lockout-threshold", "1");
    lab.tenant("ad-lockout-duration", "0");
    lab.add("alice", "Winter2026!", MfaState::Disabled);
    lab.onprem("alice", "bad");
    lab.advance("48h");
    assert_decision(
        &lab.onprem("alice", "Winter2026!"),
        false,
        "onprem.locked-out",
    );
}

#[test]
fn bad_count_resets_after_the_window_and_after_success() {
    let lab = Lab::new();
    lab.tenant("ad-lockout-threshold", "2");
    lab.add("alice", "Winter2026!", MfaState::Disabled);
    lab.onprem("alice", "bad");
    lab.advance("31m");
    lab.onprem("alice", "bad");
    assert_decision(&lab.onprem("alice", "Winter2026!"), true, "onprem.accept");
    lab.onprem("alice", "bad");
    assert_decision(&lab.onprem("alice", "Winter2026!"), true, "onprem.accept");
}

#[test]
fn rule3_wrong_password_is_52e_and_hides_account_state() {
    let lab = Lab::new();
    lab.add("alice", "Winter2026!", MfaState::Disabled);
    lab.app.directory.set_enabled("alice", false).unwrap();
    let d = lab.onprem("alice", "wrong");
    assert_decision(&d, false, "onprem.bad-password");
    assert_eq!((d.codes.ad, d.codes.nps), (Some("52e"), Some(16)));
}

#[test]
fn rule3_app_password_is_rejected_on_prem_with_52e_and_explained() {
    let lab = Lab::new();
    let ap = lab.enforced_user_with_app_password("alice");
    let d = lab.onprem("alice", &ap);
    assert_decision(&d, false, "onprem.bad-password");
    assert_eq!((d.codes.ad, d.codes.nps), (Some("52e"), Some(16)));
    assert_eq!(d.credential, Credential::AppPassword);
    assert!(
        d.explanation.contains("known only to the cloud"),
        "{}",
        d.explanation
    );
}

#[test]
fn rule4_disabled_with_the_right_password_is_533() {
    let lab = Lab::new();
    lab.add("alice", "Winter2026!", MfaState::Disabled);
    lab.app.directory.set_enabled("alice", false).unwrap();
    let d = lab.onprem("alice", "Winter2026!");
    assert_decision(&d, false, "onprem.disabled");
    assert_eq!((d.codes.ad, d.codes.nps), (Some("533"), Some(34)));
}

#[test]
fn rule5_expired_account_is_701() {
    let lab = Lab::new();
    lab.add("alice", "Winter2026!", MfaState::Disabled);
    let changes = UserChanges {
        expires: Some(Some(t("2026-01-05T11:00:00Z"))),
        ..Default::default()
    };
    lab.app.directory.set_user("alice", changes).unwrap();
    assert_decision(&lab.onprem("alice", "Winter2026!"), true, "onprem.accept");
    lab.set_time("2026-01-05T11:00:00Z");
    let d = lab.onprem("alice", "Winter2026!");
    assert_decision(&d, false, "onprem.account-expired");
    assert_eq!((d.codes.ad, d.codes.nps), (Some("701"), Some(35)));
}

#[test]
fn rule6_password_expired_is_532() {
    let lab = Lab::new();
    lab.add("alice", "Winter2026!", MfaState::Disabled);
    let changes = UserChanges {
        password_expired: Some(true),
        ..Default::default()
    };
    lab.app.directory.set_user("alice", changes).unwrap();
    let d = lab.onprem("alice", "Winter2026!");
    assert_decision(&d, false, "onprem.password-expired");
    assert_eq!((d.codes.ad, d.codes.nps), (Some("532"), Some(33)));
}

#[test]
fn rule7_must_change_is_773() {
    let lab = Lab::new();
    lab.add("alice", "Winter2026!", MfaState::Disabled);
    let p = hybridauth::verify::Secret::new("Temp2026!");
    lab.app.directory.reset_password("alice", &p, true).unwrap();
    let d = lab.onprem("alice", "Temp2026!");
    assert_decision(&d, false, "onprem.must-change");
    assert_eq!((d.codes.ad, d.codes.nps), (Some("773"), Some(33)));
}

#[test]
fn rule8_accept_uses_the_live_account() {
    let lab = Lab::new();
    lab.add("alice", "Winter2026!", MfaState::Enforced);
    // No sync needed on-prem, and per-user MFA is a cloud matter.
    let d = lab.onprem("alice", "Winter2026!");
    assert_decision(&d, true, "onprem.accept");
    assert_eq!(d.credential, Credential::DomainPassword);
    let p = hybridauth::verify::Secret::new("Spring2026!");
    lab.app
        .directory
        .reset_password("alice", &p, false)
        .unwrap();
    assert_decision(&lab.onprem("alice", "Spring2026!"), true, "onprem.accept");
    assert_decision(
        &lab.onprem("alice", "Winter2026!"),
        false,
        "onprem.bad-password",
    );
}
