//! The LDAP front door over real TCP against a running daemon, with ldap3_proto's codec as the
//! client's framing.

mod common;
use common::daemon::Daemon;
use common::ldap::*;

use futures::{SinkExt, StreamExt};
use ldap3_proto::proto::*;
use ldap3_proto::LdapCodec;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

fn setup() -> Daemon {
    let d = Daemon::start();
    d.cli(&["user", "add", "svc-gitea", "--password", "Svc-pass-1"]);
    d.cli(&[
        "user",
        "add",
        "alice",
        "--password",
        "Winter2026!",
        "--mail",
        "alice@contoso.com",
    ]);
    d.cli(&["user", "add", "bob", "--password", "Bob-pass-1"]);
    d
}

#[tokio::test]
async fn bind_forms_codes_and_rebind() {
    let d = setup();
    let mut c = connect(d.ldap).await;
    for (i, login) in [
        "alice",
        "alice@contoso.com",
        "CONTOSO\\alice",
        "CN=alice,CN=Users,DC=contoso,DC=com",
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(
            bind(&mut c, i as i32 + 1, login, "Winter2026!").await.code,
            LdapResultCode::Success,
            "{login}"
        );
    }
    assert_eq!(whoami(&mut c, 10).await, "u:CONTOSO\\alice");
    let r = bind(&mut c, 11, "alice", "wrong").await;
    assert_eq!(r.code, LdapResultCode::InvalidCredentials);
    assert!(r.message.contains("data 52e"), "{}", r.message);
    assert_eq!(
        whoami(&mut c, 12).await,
        "",
        "a failed bind leaves the connection anonymous"
    );
    assert!(bind(&mut c, 13, "nobody", "x")
        .await
        .message
        .contains("data 525"));
    let r = bind(&mut c, 14, "alice", "").await;
    assert_eq!(
        r.code,
        LdapResultCode::UnwillingToPerform,
        "unauthenticated bind"
    );
    assert_eq!(
        bind(&mut c, 15, "", "").await.code,
        LdapResultCode::Success,
        "anonymous"
    );
    d.cli(&["user", "disable", "bob"]);
    let r = bind(&mut c, 16, "bob", "Bob-pass-1").await;
    assert!(r.message.contains("data 533"), "{r:?}: {}", d.log());
}

#[tokio::test]
async fn search_then_bind_as_legacy_apps_do() {
    let d = setup();
    let mut c = connect(d.ldap).await;
    let (_, code) = search(&mut c, 1, LdapFilter::Present("objectClass".into())).await;
    assert_eq!(
        code,
        LdapResultCode::InsufficentAccessRights,
        "anonymous search refused"
    );
    assert_eq!(
        bind(&mut c, 2, "svc-gitea", "Svc-pass-1").await.code,
        LdapResultCode::Success
    );
    let filter = LdapFilter::And(vec![
        LdapFilter::Equality("objectClass".into(), "user".into()),
        LdapFilter::Equality("sAMAccountName".into(), "alice".into()),
    ]);
    let (dns, code) = search(&mut c, 3, filter).await;
    assert_eq!(code, LdapResultCode::Success);
    assert_eq!(dns, vec!["CN=alice,CN=Users,DC=contoso,DC=com".to_string()]);
    let (by_mail, _) = search(
        &mut c,
        4,
        LdapFilter::Equality("mail".into(), "ALICE@contoso.com".into()),
    )
    .await;
    assert_eq!(by_mail, dns);
    assert_eq!(
        bind(&mut c, 5, &dns[0], "Winter2026!").await.code,
        LdapResultCode::Success
    );
    assert_eq!(
        bind(&mut c, 6, "svc-gitea", "Svc-pass-1").await.code,
        LdapResultCode::Success
    );
    assert_eq!(whoami(&mut c, 7).await, "u:CONTOSO\\svc-gitea");
}

#[tokio::test]
async fn app_password_refused_on_prem_and_accepted_on_the_cloud_listener() {
    let d = setup();
    d.cli(&["user", "set", "alice", "--mfa", "enforced"]);
    d.cli(&["tenant", "set", "allow-app-passwords", "on"]);
    d.cli(&["sync", "now"]);
    let ap = d.app_password("alice", "Printer");
    let mut on = connect(d.ldap).await;
    assert!(bind(&mut on, 1, "alice", &ap)
        .await
        .message
        .contains("data 52e"));
    let mut cloud = connect(d.ldap_cloud).await;
    assert_eq!(
        bind(&mut cloud, 1, "alice@contoso.com", &ap).await.code,
        LdapResultCode::Success
    );
    let r = bind(&mut cloud, 2, "alice@contoso.com", "Winter2026!").await;
    assert!(r.message.contains("AADSTS50076"), "{}", r.message);
}

#[tokio::test]
async fn garbage_gets_a_notice_of_disconnection_and_others_are_still_served() {
    let d = setup();
    let mut raw = TcpStream::connect(("127.0.0.1", d.ldap)).await.unwrap();
    raw.write_all(&[0x30, 0x05, 0x02, 0x01, 0x01, 0x63, 0xff, 0xff])
        .await
        .unwrap();
    let mut c = Framed::new(raw, LdapCodec::default());
    assert_eq!(expect_notice(&mut c).await, LdapResultCode::ProtocolError);
    let mut ok = connect(d.ldap).await;
    assert_eq!(
        bind(&mut ok, 1, "alice", "Winter2026!").await.code,
        LdapResultCode::Success
    );
    // Writes are refused cleanly.
    ok.send(LdapMsg {
        msgid: 2,
        op: LdapOp::DelRequest("CN=alice,CN=Users,DC=contoso,DC=com".into()),
        ctrl: vec![],
    })
    .await
    .unwrap();
    match ok.next().await.unwrap().unwrap().op {
        LdapOp::DelResponse(r) => assert_eq!(r.code, LdapResultCode::UnwillingToPerform),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn version_2_and_sasl_binds_are_refused_with_the_rfc_codes() {
    let d = setup();
    let mut c = connect(d.ldap).await;
    c.send(LdapMsg {
        msgid: 1,
        op: LdapOp::BindRequest(LdapBindRequest {
            version: 2,
            dn: "alice".into(),
            cred: LdapBindCred::Simple("Winter2026!".into()),
        }),
        ctrl: vec![],
    })
    .await
    .unwrap();
    match c.next().await.unwrap().unwrap().op {
        LdapOp::BindResponse(r) => assert_eq!(r.res.code, LdapResultCode::ProtocolError),
        other => panic!("{other:?}"),
    }
    c.send(LdapMsg {
        msgid: 2,
        op: LdapOp::BindRequest(LdapBindRequest {
            version: 3,
            dn: String::new(),
            cred: LdapBindCred::SASL(SaslCredentials {
                mechanism: "GSSAPI".into(),
                credentials: vec![],
            }),
        }),
        ctrl: vec![],
    })
    .await
    .unwrap();
    match c.next().await.unwrap().unwrap().op {
        LdapOp::BindResponse(r) => assert_eq!(r.res.code, LdapResultCode::AuthMethodNotSupported),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn connection_limit_and_idle_timeout_say_goodbye() {
    let d = Daemon::start_with_env(&[
        ("HYBRIDAUTH_LDAP__MAX_CONNECTIONS", "1"),
        ("HYBRIDAUTH_LDAP__IDLE_TIMEOUT", "1s"),
    ]);
    d.cli(&["user", "add", "alice", "--password", "Winter2026!"]);
    let mut first = connect(d.ldap).await;
    assert_eq!(
        bind(&mut first, 1, "alice", "Winter2026!").await.code,
        LdapResultCode::Success
    );
    let mut second = connect(d.ldap).await;
    assert_eq!(expect_notice(&mut second).await, LdapResultCode::Busy);
    // The first connection, left idle, is told why it is closed.
    assert_eq!(expect_notice(&mut first).await, LdapResultCode::Unavailable);
}

async fn compare<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    c: &mut Conn<T>,
    id: i32,
    dn: &str,
    attr: &str,
    val: &str,
) -> LdapResultCode {
    c.send(LdapMsg {
        msgid: id,
        op: LdapOp::CompareRequest(LdapCompareRequest {
            dn: dn.into(),
            atype: attr.into(),
            val: val.as_bytes().to_vec(),
        }),
        ctrl: vec![],
    })
    .await
    .unwrap();
    match c.next().await.unwrap().unwrap().op {
        LdapOp::CompareResult(r) => r.code,
        other => panic!("{other:?}"),
    }
}

/// Compare works on every entry a search returns, with AD's answers: a group's `member`
/// (what web servers' `Require ldap-group` checks), users, containers and the rootDSE;
/// noSuchAttribute for an attribute the entry lacks; DN values compared as DNs.
#[tokio::test]
async fn compare_answers_on_users_groups_and_the_root_as_ad_does() {
    let d = setup();
    d.cli(&["user", "set", "alice", "--groups", "vpn-users,staff"]);
    let mut c = connect(d.ldap).await;
    assert_eq!(
        bind(&mut c, 1, "svc-gitea", "Svc-pass-1").await.code,
        LdapResultCode::Success
    );
    let alice = "CN=alice,CN=Users,DC=contoso,DC=com";
    let group = "CN=vpn-users,CN=Users,DC=contoso,DC=com";
    let cases = [
        (
            alice,
            "mail",
            "alice@contoso.com",
            LdapResultCode::CompareTrue,
        ),
        (
            alice,
            "mail",
            "bob@contoso.com",
            LdapResultCode::CompareFalse,
        ),
        (
            alice,
            "favouriteColour",
            "blue",
            LdapResultCode::NoSuchAttribute,
        ),
        (
            alice,
            "memberOf",
            "cn=VPN-Users, cn=users, dc=contoso, dc=com",
            LdapResultCode::CompareTrue,
        ),
        (group, "member", alice, LdapResultCode::CompareTrue),
        (
            group,
            "member",
            "cn=ALICE , CN=Users,DC=Contoso,DC=com",
            LdapResultCode::CompareTrue,
        ),
        (
            group,
            "member",
            "CN=bob,CN=Users,DC=contoso,DC=com",
            LdapResultCode::CompareFalse,
        ),
        (
            "cn=vpn-users,cn=users,dc=contoso,dc=com",
            "cn",
            "VPN-USERS",
            LdapResultCode::CompareTrue,
        ),
        (group, "objectClass", "group", LdapResultCode::CompareTrue),
        (group, "mail", "x", LdapResultCode::NoSuchAttribute),
        (
            "CN=nobody-group,CN=Users,DC=contoso,DC=com",
            "member",
            alice,
            LdapResultCode::NoSuchObject,
        ),
        (
            "CN=Users,DC=contoso,DC=com",
            "objectClass",
            "container",
            LdapResultCode::CompareTrue,
        ),
        (
            "",
            "defaultNamingContext",
            "DC=contoso,DC=com",
            LdapResultCode::CompareTrue,
        ),
    ];
    for (i, (dn, attr, val, want)) in cases.into_iter().enumerate() {
        assert_eq!(
            compare(&mut c, i as i32 + 2, dn, attr, val).await,
            want,
            "{dn} {attr}={val}"
        );
    }
    // Under the same authorisation as search: an anonymous connection is refused.
    let mut anon = connect(d.ldap).await;
    assert_eq!(
        compare(&mut anon, 1, group, "member", alice).await,
        LdapResultCode::InsufficentAccessRights
    );
}

/// docs/model.md §4d: on a cloud listener a search-then-bind application binds with the DN
/// the search gave it, and that DN stands for the entry's UPN; typed AD forms stay unknown.
#[tokio::test]
async fn a_cloud_listener_takes_the_bind_dn_its_own_search_returned() {
    let d = setup();
    d.cli(&["user", "set", "alice", "--mfa", "enforced"]);
    d.cli(&["tenant", "set", "allow-app-passwords", "on"]);
    let app = d.app_password("alice", "Gitea");
    d.cli(&["sync", "now"]);
    let mut c = connect(d.ldap_cloud).await;
    assert_eq!(
        bind(&mut c, 1, "svc-gitea@contoso.com", "Svc-pass-1")
            .await
            .code,
        LdapResultCode::Success
    );
    let (found, code) = search(
        &mut c,
        2,
        LdapFilter::Equality("userPrincipalName".into(), "alice@contoso.com".into()),
    )
    .await;
    assert_eq!(code, LdapResultCode::Success);
    let [dn] = found.as_slice() else {
        panic!("{found:?}")
    };
    let r = bind(&mut c, 3, dn, &app).await;
    assert_eq!(r.code, LdapResultCode::Success, "{}", r.message);
    assert_eq!(whoami(&mut c, 4).await, "u:CONTOSO\\alice");
    let rec = d.signin_log("cloud").pop().unwrap();
    assert_eq!(rec["login"], dn.as_str(), "the DN as sent");
    assert_eq!(rec["dn_stands_for"], "alice@contoso.com");
    assert_eq!(rec["credential"], "app-password");
    assert!(
        rec["explanation"]
            .as_str()
            .unwrap()
            .contains("stands for alice@contoso.com"),
        "{rec}"
    );
    // The same DN in another case and spacing is the same entry.
    let r = bind(&mut c, 5, "cn=Alice, cn=users, dc=contoso, dc=com", &app).await;
    assert_eq!(r.code, LdapResultCode::Success);
    // Typed AD forms are still unknown to the cloud (AADSTS50034 in the data slot).
    for (id, login) in [
        (6, "alice"),
        (7, "CONTOSO\\alice"),
        (8, "CN=nobody,CN=Users,DC=contoso,DC=com"),
    ] {
        let r = bind(&mut c, id, login, &app).await;
        assert_eq!(r.code, LdapResultCode::InvalidCredentials, "{login}");
        assert!(r.message.contains("AADSTS50034"), "{login}: {}", r.message);
    }
    // A DN sent to a cloud RADIUS client is still an AD name.
    let v: serde_json::Value = serde_json::from_slice(
        &d.cli(&[
            "--json",
            "check",
            "--endpoint",
            "cloud",
            "--user",
            dn,
            "--password",
            &app,
        ])
        .stdout,
    )
    .unwrap();
    assert_eq!(v["outcome"], "reject");
    assert_eq!(v["codes"]["aadsts"], "AADSTS50034");
    // Until the cloud knows an account, its on-prem DN names no cloud entry.
    d.cli(&["user", "add", "carol", "--password", "Winter2026!"]);
    let r = bind(
        &mut c,
        9,
        "CN=carol,CN=Users,DC=contoso,DC=com",
        "Winter2026!",
    )
    .await;
    assert_eq!(r.code, LdapResultCode::InvalidCredentials);
    d.cli(&["sync", "now"]);
    let r = bind(
        &mut c,
        10,
        "CN=carol,CN=Users,DC=contoso,DC=com",
        "Winter2026!",
    )
    .await;
    assert_eq!(r.code, LdapResultCode::Success, "{}", r.message);
}
