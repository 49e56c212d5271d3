//! The directory as LDAP clients read it (issue 10), over the wire: group entries consistent
//! with memberOf, AD's identities, the rootDSE a domain controller shows, and a directory
//! larger than one page read with and without the paged results control.

mod common;
use common::daemon::Daemon;
use common::ldap::*;

use futures::{SinkExt, StreamExt};
use ldap3_proto::control::LdapControl;
use ldap3_proto::proto::*;

const BASE: &str = "DC=contoso,DC=com";

fn eq(a: &str, v: &str) -> LdapFilter {
    LdapFilter::Equality(a.into(), v.into())
}

/// One search: the entries (DN and attributes) and the SearchResultDone with its controls.
async fn read(
    c: &mut Conn,
    base: &str,
    scope: LdapSearchScope,
    filter: LdapFilter,
    attrs: &[&str],
    ctrl: Vec<LdapControl>,
) -> (Vec<LdapSearchResultEntry>, LdapResultCode, Vec<LdapControl>) {
    let mut m = search_msg(7, base, scope, filter);
    if let LdapOp::SearchRequest(r) = &mut m.op {
        r.attrs = attrs.iter().map(|a| a.to_string()).collect();
    }
    m.ctrl = ctrl;
    c.send(m).await.unwrap();
    let mut entries = vec![];
    loop {
        let msg = c.next().await.unwrap().unwrap();
        match msg.op {
            LdapOp::SearchResultEntry(e) => entries.push(e),
            LdapOp::SearchResultDone(r) => return (entries, r.code, msg.ctrl),
            other => panic!("{other:?}"),
        }
    }
}

fn values<'a>(e: &'a LdapSearchResultEntry, attr: &str) -> Vec<&'a [u8]> {
    e.attributes
        .iter()
        .filter(|a| a.atype.eq_ignore_ascii_case(attr))
        .flat_map(|a| a.vals.iter().map(|v| v.as_slice()))
        .collect()
}

fn texts(e: &LdapSearchResultEntry, attr: &str) -> Vec<String> {
    values(e, attr)
        .into_iter()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_are_entries_whose_members_match_the_users_member_of() {
    let d = Daemon::start();
    d.cli(&[
        "user",
        "add",
        "alice",
        "--password",
        "Winter2026!",
        "--groups",
        "VPN Users,staff",
    ]);
    d.cli(&[
        "user",
        "add",
        "bob",
        "--password",
        "Bob-pass-1",
        "--groups",
        "VPN Users",
    ]);
    d.cli(&["user", "add", "carol", "--password", "Carol-pass-1"]);
    let mut c = connect(d.ldap).await;
    assert_eq!(
        bind(&mut c, 1, "carol", "Carol-pass-1").await.code,
        LdapResultCode::Success
    );
    let sub = LdapSearchScope::Subtree;
    let (groups, code, _) = read(
        &mut c,
        BASE,
        sub.clone(),
        eq("objectClass", "group"),
        &["*"],
        vec![],
    )
    .await;
    assert_eq!(code, LdapResultCode::Success);
    let dns: Vec<&str> = groups.iter().map(|e| e.dn.as_str()).collect();
    assert_eq!(
        dns,
        [
            "CN=staff,CN=Users,DC=contoso,DC=com",
            "CN=VPN Users,CN=Users,DC=contoso,DC=com"
        ]
    );
    let vpn = &groups[1];
    assert_eq!(
        texts(vpn, "member"),
        [
            "CN=alice,CN=Users,DC=contoso,DC=com",
            "CN=bob,CN=Users,DC=contoso,DC=com"
        ]
    );
    assert_eq!(texts(vpn, "sAMAccountName"), ["VPN Users"]);
    // Every member's memberOf names the group back.
    let (alice, _, _) = read(
        &mut c,
        BASE,
        sub.clone(),
        eq("sAMAccountName", "alice"),
        &["memberOf"],
        vec![],
    )
    .await;
    assert!(
        texts(&alice[0], "memberOf").contains(&vpn.dn),
        "{:?}",
        alice[0]
    );
    // (member=<dn>): the groups a user is in.
    let (of_bob, _, _) = read(
        &mut c,
        BASE,
        sub.clone(),
        eq("member", "cn=bob,cn=users,dc=contoso,dc=com"),
        &["cn"],
        vec![],
    )
    .await;
    assert_eq!(of_bob.len(), 1);
    assert_eq!(of_bob[0].dn, vpn.dn);
    // A group as the base, as applications read a group's members.
    let (one, code, _) = read(
        &mut c,
        &vpn.dn,
        LdapSearchScope::Base,
        LdapFilter::Present("objectClass".into()),
        &["member"],
        vec![],
    )
    .await;
    assert_eq!(code, LdapResultCode::Success);
    assert_eq!(texts(&one[0], "member").len(), 2);
    // A user search never returns groups.
    let (people, _, _) = read(
        &mut c,
        BASE,
        sub.clone(),
        eq("objectCategory", "person"),
        &["cn"],
        vec![],
    )
    .await;
    assert_eq!(people.len(), 3);
    // objectGUID (16 bytes) and objectSid (S-1-5-21-a-b-c-rid, 28 bytes) on users and groups,
    // the same domain SID in both, different objects different values.
    let (all, _, _) = read(
        &mut c,
        BASE,
        sub,
        LdapFilter::Present("objectSid".into()),
        &["objectGUID", "objectSid"],
        vec![],
    )
    .await;
    let users_and_groups: Vec<_> = all
        .iter()
        .filter(|e| e.dn.starts_with("CN=") && e.dn.contains(",CN=Users,"))
        .collect();
    assert_eq!(users_and_groups.len(), 5, "3 users and 2 groups");
    let mut guids = std::collections::HashSet::new();
    for e in &users_and_groups {
        let guid = values(e, "objectGUID");
        let sid = values(e, "objectSid");
        assert_eq!(guid[0].len(), 16, "{}", e.dn);
        assert_eq!(sid[0].len(), 28, "{}", e.dn);
        assert_eq!(&sid[0][..12], &[1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0]);
        assert_eq!(
            &sid[0][12..24],
            &values(users_and_groups[0], "objectSid")[0][12..24]
        );
        assert!(guids.insert(guid[0].to_vec()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_root_dse_shows_what_a_domain_controller_shows() {
    let d = Daemon::start();
    let mut c = connect(d.ldap).await;
    let (root, code, _) = read(
        &mut c,
        "",
        LdapSearchScope::Base,
        LdapFilter::Present("objectClass".into()),
        &["*"],
        vec![],
    )
    .await;
    assert_eq!(code, LdapResultCode::Success);
    let r = &root[0];
    assert!(texts(r, "supportedControl").contains(&"1.2.840.113556.1.4.319".to_string()));
    assert!(texts(r, "supportedCapabilities").contains(&"1.2.840.113556.1.4.800".to_string()));
    assert_eq!(texts(r, "supportedLDAPVersion"), ["3"]);
    assert_eq!(texts(r, "defaultNamingContext"), [BASE]);
    assert_eq!(
        texts(r, "subschemaSubentry"),
        ["CN=Aggregate,CN=Schema,CN=Configuration,DC=contoso,DC=com"]
    );
    assert!(
        texts(r, "dnsHostName")[0].ends_with(".contoso.com"),
        "{:?}",
        texts(r, "dnsHostName")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_users_than_max_page_size_are_read_by_paging_and_cut_at_1000_without() {
    let d = Daemon::start();
    d.cli(&["user", "add", "reader", "--password", "Reader-pass-1"]);
    // 1200 users from one pre-hashed CSV import (no Argon2 per user).
    let hash = d
        .store()
        .user_by_sam("reader")
        .unwrap()
        .unwrap()
        .password_hash;
    let mut csv = String::from("sam,password_hash,groups\n");
    for i in 0..1200 {
        csv.push_str(&format!(
            "user{i:04},\"{hash}\",{}\n",
            if i % 2 == 0 { "even" } else { "" }
        ));
    }
    let file = d.dir.path().join("many.csv");
    std::fs::write(&file, csv).unwrap();
    let out = d.cli(&["user", "import", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut c = connect(d.ldap).await;
    assert_eq!(
        bind(&mut c, 1, "reader", "Reader-pass-1").await.code,
        LdapResultCode::Success
    );
    let users = || eq("objectClass", "user");
    // No paging: AD's MaxPageSize, then sizeLimitExceeded.
    let (first, code, _) = read(
        &mut c,
        BASE,
        LdapSearchScope::Subtree,
        users(),
        &["1.1"],
        vec![],
    )
    .await;
    assert_eq!(first.len(), 1000);
    assert_eq!(code, LdapResultCode::SizeLimitExceeded);
    // Paging by 333: every user once, the cookie empty on the last page.
    let mut seen = std::collections::BTreeSet::new();
    let mut cookie = vec![];
    let mut pages = 0;
    loop {
        let ctrl = vec![LdapControl::SimplePagedResults {
            size: 333,
            cookie: cookie.clone(),
        }];
        let (page, code, ctrls) = read(
            &mut c,
            BASE,
            LdapSearchScope::Subtree,
            users(),
            &["sAMAccountName"],
            ctrl,
        )
        .await;
        assert_eq!(code, LdapResultCode::Success);
        assert!(page.len() <= 333);
        pages += 1;
        for e in page {
            assert!(seen.insert(e.dn.clone()), "{} twice", e.dn);
        }
        cookie = match ctrls.first() {
            Some(LdapControl::SimplePagedResults { cookie, .. }) => cookie.clone(),
            other => panic!("no paged results control in the reply: {other:?}"),
        };
        if cookie.is_empty() {
            break;
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(seen.len(), 1201);
    assert_eq!(pages, 4);
    // A filter matching few users still pages correctly (a group of 600).
    let (evens, code, _) = read(
        &mut c,
        BASE,
        LdapSearchScope::Subtree,
        eq("memberOf", "CN=even,CN=Users,DC=contoso,DC=com"),
        &["1.1"],
        vec![LdapControl::SimplePagedResults {
            size: 1000,
            cookie: vec![],
        }],
    )
    .await;
    assert_eq!(code, LdapResultCode::Success);
    assert_eq!(evens.len(), 600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_listener_shows_the_cloud_copy_as_of_the_last_object_sync() {
    let d = Daemon::start();
    d.cli(&["clock", "set", "2026-01-05T10:00:00Z"]);
    d.cli(&[
        "user",
        "add",
        "alice",
        "--password",
        "Winter2026!",
        "--mail",
        "alice@contoso.com",
        "--groups",
        "staff",
    ]);
    d.cli(&["sync", "now"]);
    // On-prem changes after the sync: a new user, a new mail and group, a disabled account.
    d.cli(&["clock", "advance", "5m"]);
    d.cli(&["user", "add", "bob", "--password", "Bob-pass-1"]);
    d.cli(&[
        "user",
        "set",
        "alice",
        "--mail",
        "alice.new@contoso.com",
        "--groups",
        "vpn",
    ]);
    let sub = LdapSearchScope::Subtree;
    let users = || eq("objectClass", "user");
    let attrs = ["sAMAccountName", "mail", "memberOf"];
    let mut cloud = connect(d.ldap_cloud).await;
    assert_eq!(
        bind(&mut cloud, 1, "alice@contoso.com", "Winter2026!")
            .await
            .code,
        LdapResultCode::Success
    );
    let (seen, _, _) = read(&mut cloud, BASE, sub.clone(), users(), &attrs, vec![]).await;
    assert_eq!(seen.len(), 1, "bob is not in the cloud yet");
    assert_eq!(
        texts(&seen[0], "mail"),
        ["alice@contoso.com"],
        "the synced mail"
    );
    assert!(texts(&seen[0], "memberOf")[0].starts_with("CN=staff,"));
    let (groups, _, _) = read(
        &mut cloud,
        BASE,
        sub.clone(),
        eq("objectClass", "group"),
        &["cn"],
        vec![],
    )
    .await;
    assert_eq!(
        groups.iter().map(|g| g.dn.as_str()).collect::<Vec<_>>(),
        ["CN=staff,CN=Users,DC=contoso,DC=com"]
    );
    let (named, _, _) = read(
        &mut cloud,
        BASE,
        sub.clone(),
        eq("sAMAccountName", "bob"),
        &attrs,
        vec![],
    )
    .await;
    assert!(named.is_empty());
    // The on-prem listener shows the live directory.
    let mut onprem = connect(d.ldap).await;
    assert_eq!(
        bind(&mut onprem, 1, "alice", "Winter2026!").await.code,
        LdapResultCode::Success
    );
    let (live, _, _) = read(&mut onprem, BASE, sub.clone(), users(), &attrs, vec![]).await;
    assert_eq!(live.len(), 2);
    // After the next sync the cloud listener shows the changes.
    d.cli(&["sync", "now"]);
    let (seen, _, _) = read(&mut cloud, BASE, sub, users(), &attrs, vec![]).await;
    assert_eq!(seen.len(), 2);
    let alice = seen.iter().find(|e| e.dn.starts_with("CN=alice")).unwrap();
    assert_eq!(texts(alice, "mail"), ["alice.new@contoso.com"]);
}
