//! The cloud signs users in by UPN, as Entra does (issue 14): AD's forms fail the cloud side
//! with AADSTS50034 and an explanation of what the cloud expects; e-mail signs in only with the
//! tenant's `email-sign-in`; a renamed UPN changes in the cloud at the object-sync cycle.

mod common;
use common::*;

use hybridauth::directory::service::{NewUser, UserChanges};
use hybridauth::directory::MfaState;
use hybridauth::verify::Secret;

/// uma: sAMAccountName `uma`, UPN `uma.lee@contoso.com`, mail `uma@mail.contoso.com`.
fn lab_with_uma() -> Lab {
    let lab = Lab::new();
    lab.app
        .directory
        .add_user(NewUser {
            sam: "uma".into(),
            upn: Some("uma.lee@contoso.com".into()),
            password: Secret::new("Uma-pass-1"),
            display_name: None,
            mail: Some("uma@mail.contoso.com".into()),
            groups: vec![],
            mfa: MfaState::Disabled,
            admin: false,
            modern_auth_only: false,
        })
        .unwrap();
    lab.sync_now();
    lab
}

const AD_ONLY: [&str; 4] = [
    "uma",
    "CONTOSO\\uma",
    "CN=uma,CN=Users,DC=contoso,DC=com",
    "uma@contoso.com",
];

#[test]
fn the_cloud_refuses_every_ad_only_form_and_says_what_it_expects() {
    let lab = lab_with_uma();
    for login in AD_ONLY {
        assert_decision(&lab.onprem(login, "Uma-pass-1"), true, "onprem.accept");
        let d = lab.cloud(login, "Uma-pass-1");
        assert_decision(&d, false, "cloud.unknown-user");
        assert_eq!(d.codes.aadsts, Some("AADSTS50034"));
        assert_eq!(d.codes.nps, Some(8));
        assert!(
            d.explanation.contains("the cloud signs users in by")
                && d.explanation.contains("uma.lee@contoso.com"),
            "{login}: {}",
            d.explanation
        );
    }
    let d = lab.cloud("CONTOSO\\uma", "Uma-pass-1");
    assert!(
        d.explanation
            .contains("is a DOMAIN\\user name, an Active Directory name"),
        "{}",
        d.explanation
    );
    let d = lab.cloud("uma@contoso.com", "Uma-pass-1");
    assert!(d.explanation.contains("implicit UPN"), "{}", d.explanation);
}

#[test]
fn the_cloud_accepts_the_upn_in_any_case() {
    let lab = lab_with_uma();
    for login in ["uma.lee@contoso.com", "UMA.LEE@Contoso.COM"] {
        assert_decision(
            &lab.cloud(login, "Uma-pass-1"),
            true,
            "cloud.password.accept",
        );
    }
}

#[test]
fn a_hybrid_endpoint_fails_the_cloud_side_for_names_only_ad_understands() {
    let lab = lab_with_uma();
    for login in AD_ONLY {
        let d = lab.hybrid(login, "Uma-pass-1");
        assert_decision(&d, false, "cloud.unknown-user");
        assert!(
            d.explanation.contains("on-prem accepts it"),
            "{}",
            d.explanation
        );
    }
    assert_decision(
        &lab.hybrid("uma.lee@contoso.com", "Uma-pass-1"),
        true,
        "hybrid.accept",
    );
}

#[test]
fn mail_signs_in_to_the_cloud_only_with_email_sign_in_on() {
    let lab = lab_with_uma();
    let d = lab.cloud("uma@mail.contoso.com", "Uma-pass-1");
    assert_decision(&d, false, "cloud.unknown-user");
    assert!(d.explanation.contains("email-sign-in"), "{}", d.explanation);
    lab.tenant("email-sign-in", "on");
    assert_decision(
        &lab.cloud("uma@mail.contoso.com", "Uma-pass-1"),
        true,
        "cloud.password.accept",
    );
    // On-prem never signs in by mail.
    assert_decision(
        &lab.onprem("uma@mail.contoso.com", "Uma-pass-1"),
        false,
        "onprem.unknown-user",
    );
    // The mail as synced: a change reaches the cloud with object sync.
    lab.set_time("2026-01-05T10:05:00Z");
    lab.app
        .directory
        .set_user(
            "uma",
            UserChanges {
                mail: Some(Some("uma.new@mail.contoso.com".into())),
                ..UserChanges::default()
            },
        )
        .unwrap();
    assert_decision(
        &lab.cloud("uma@mail.contoso.com", "Uma-pass-1"),
        true,
        "cloud.password.accept",
    );
    assert_decision(
        &lab.cloud("uma.new@mail.contoso.com", "Uma-pass-1"),
        false,
        "cloud.unknown-user",
    );
    lab.set_time("2026-01-05T10:30:00Z");
    assert_decision(
        &lab.cloud("uma.new@mail.contoso.com", "Uma-pass-1"),
        true,
        "cloud.password.accept",
    );
    assert_decision(
        &lab.cloud("uma@mail.contoso.com", "Uma-pass-1"),
        false,
        "cloud.unknown-user",
    );
}

#[test]
fn an_old_upn_works_in_the_cloud_until_the_rename_syncs_then_is_unknown() {
    let lab = lab_with_uma();
    lab.set_time("2026-01-05T10:05:00Z");
    lab.app
        .directory
        .set_user(
            "uma",
            UserChanges {
                upn: Some("uma.khan@contoso.com".into()),
                ..UserChanges::default()
            },
        )
        .unwrap();
    lab.set_time("2026-01-05T10:29:59Z");
    assert_decision(
        &lab.cloud("uma.lee@contoso.com", "Uma-pass-1"),
        true,
        "cloud.password.accept",
    );
    let d = lab.cloud("uma.khan@contoso.com", "Uma-pass-1");
    assert_decision(&d, false, "cloud.unknown-user");
    assert!(
        d.explanation
            .contains("still knows it as uma.lee@contoso.com")
            && d.explanation.contains("10:30"),
        "{}",
        d.explanation
    );
    // On-prem follows the live directory at once.
    assert_decision(
        &lab.onprem("uma.khan@contoso.com", "Uma-pass-1"),
        true,
        "onprem.accept",
    );
    lab.set_time("2026-01-05T10:30:00Z");
    let d = lab.cloud("uma.lee@contoso.com", "Uma-pass-1");
    assert_decision(&d, false, "cloud.unknown-user");
    assert_eq!(d.codes.aadsts, Some("AADSTS50034"));
    assert!(
        d.explanation.contains("no longer a UPN") && d.explanation.contains("uma.khan@contoso.com"),
        "{}",
        d.explanation
    );
    assert_decision(
        &lab.cloud("uma.khan@contoso.com", "Uma-pass-1"),
        true,
        "cloud.password.accept",
    );
}

mod wire {
    use super::common::daemon::{Daemon, SECRET};
    use super::common::ldap::*;
    use super::common::radius::*;
    use ldap3_proto::proto::LdapResultCode;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn radius_ldap_and_check_apply_the_cloud_naming_rules() {
        let d = Daemon::start();
        d.cli(&[
            "user",
            "add",
            "uma",
            "--upn",
            "uma.lee@contoso.com",
            "--mail",
            "uma@mail.contoso.com",
            "--password",
            "Uma-pass-1",
        ]);
        d.cli(&["sync", "now"]);
        // RADIUS: the IPv6 client is a cloud NAS.
        let v6 = client("::1");
        for (id, login, want) in [
            (1u8, "CONTOSO\\uma", 3u8),
            (2, "uma", 3),
            (3, "uma@contoso.com", 3),
            (4, "uma.lee@contoso.com", 2),
        ] {
            let pkt = access_request(id, [id; 16], login, b"Uma-pass-1", SECRET, false, &[]);
            let r = exchange(&v6, d.radius, "::1", &pkt).unwrap();
            assert_eq!(r[0], want, "{login}");
            let rec = d.signin_log("cloud").pop().unwrap();
            if want == 3 {
                assert_eq!(rec["codes"]["aadsts"], "AADSTS50034", "{login}: {rec}");
                assert_eq!(rec["codes"]["nps"], 8);
            }
        }
        // LDAP: a cloud listener refuses AD's typed bind forms; on-prem accepts them. A DN
        // naming an entry of the cloud listener's own view stands for its UPN (reference §4d:
        // it is how search-then-bind applications bind).
        let mut cloud = connect(d.ldap_cloud).await;
        let mut onprem = connect(d.ldap).await;
        let r = bind(
            &mut cloud,
            20,
            "CN=uma,CN=Users,DC=contoso,DC=com",
            "Uma-pass-1",
        )
        .await;
        assert_eq!(r.code, LdapResultCode::Success, "{}", r.message);
        let rec = d.signin_log("cloud").pop().unwrap();
        assert_eq!(rec["dn_stands_for"], "uma.lee@contoso.com", "{rec}");
        for (i, dn) in ["CONTOSO\\uma", "uma"].iter().enumerate() {
            let r = bind(&mut cloud, i as i32 + 1, dn, "Uma-pass-1").await;
            assert_eq!(r.code, LdapResultCode::InvalidCredentials, "{dn}");
            assert!(
                r.message.contains("data AADSTS50034"),
                "{dn}: {}",
                r.message
            );
            let r = bind(&mut onprem, i as i32 + 1, dn, "Uma-pass-1").await;
            assert_eq!(r.code, LdapResultCode::Success, "{dn}");
        }
        assert_eq!(
            bind(&mut cloud, 10, "uma.lee@contoso.com", "Uma-pass-1")
                .await
                .code,
            LdapResultCode::Success
        );
        assert_eq!(
            bind(&mut cloud, 11, "uma@mail.contoso.com", "Uma-pass-1")
                .await
                .code,
            LdapResultCode::InvalidCredentials
        );
        d.cli(&["tenant", "set", "email-sign-in", "on"]);
        assert_eq!(
            bind(&mut cloud, 12, "uma@mail.contoso.com", "Uma-pass-1")
                .await
                .code,
            LdapResultCode::Success
        );
        // check, the third front door.
        let out = d.cli(&[
            "check",
            "--endpoint",
            "cloud",
            "--user",
            "uma",
            "--password",
            "Uma-pass-1",
            "--json",
        ]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["rule"], "cloud.unknown-user");
        assert!(v["explanation"]
            .as_str()
            .unwrap()
            .contains("uma.lee@contoso.com"));
        let shown = d.cli(&["tenant", "show", "--json"]);
        assert!(String::from_utf8_lossy(&shown.stdout).contains("email-sign-in"));
    }
}
