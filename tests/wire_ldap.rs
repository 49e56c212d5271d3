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

#[tokio::test]
async fn compare_answers_true_false_and_refuses_unknown_attributes() {
    let d = setup();
    let mut c = connect(d.ldap).await;
    assert_eq!(
        bind(&mut c, 1, "svc-gitea", "Svc-pass-1").await.code,
        LdapResultCode::Success
    );
    let dn = "CN=alice,CN=Users,DC=contoso,DC=com";
    for (id, attr, val, want) in [
        (2, "mail", "alice@contoso.com", LdapResultCode::CompareTrue),
        (3, "mail", "bob@contoso.com", LdapResultCode::CompareFalse),
        (
            4,
            "favouriteColour",
            "blue",
            LdapResultCode::UnwillingToPerform,
        ),
    ] {
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
            LdapOp::CompareResult(r) => assert_eq!(r.code, want, "{attr}"),
            other => panic!("{other:?}"),
        }
    }
}
