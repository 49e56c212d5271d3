//! Authorisation attributes on the wire: `[[radius.policies]]` put a group's members on their
//! VLAN, in the documented order of precedence, by client and endpoint kind; the NAS's echo of
//! `Class` reaches the accounting log; SIGHUP reloads the policies with the client table.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::daemon::{Daemon, Options, SECRET};
use common::radius::{access_request, exchange};

const POLICIES: &str = r#"
[[radius.policies]]
name = "vpn-vlan"
groups = ["VPN-Users"]
clients = ["vpn"]
endpoint = "on-prem"
reply = { "Tunnel-Type" = "VLAN", "Tunnel-Medium-Type" = "IEEE-802", "Tunnel-Private-Group-Id" = "42", "Session-Timeout" = 3600, "Class" = "vpn-vlan-42" }

[[radius.policies]]
name = "everyone"
reply = { "Session-Timeout" = 600, "Filter-Id" = "standard" }
"#;

fn start() -> Daemon {
    let d = Options {
        extra_toml: POLICIES.into(),
        ..Default::default()
    }
    .start();
    d.cli(&[
        "user",
        "add",
        "bob",
        "--password",
        "Winter2026!",
        "--groups",
        "vpn-users,staff",
    ]);
    d.cli(&[
        "user",
        "add",
        "carol",
        "--password",
        "Winter2026!",
        "--groups",
        "sales",
    ]);
    d
}

/// Every (type, value) of a reply, in order.
fn attributes(p: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = vec![];
    let mut i = 20;
    while i + 2 <= p.len() {
        let (t, l) = (p[i], p[i + 1] as usize);
        out.push((t, p[i + 2..i + l].to_vec()));
        i += l;
    }
    out
}

fn value(p: &[u8], t: u8) -> Option<Vec<u8>> {
    attributes(p)
        .into_iter()
        .find(|(ty, _)| *ty == t)
        .map(|(_, v)| v)
}

fn ask(d: &Daemon, host: &str, id: u8, user: &str, pw: &str) -> Vec<u8> {
    let s = UdpSocket::bind((host, 0)).unwrap();
    let pkt = access_request(id, [id; 16], user, pw.as_bytes(), SECRET, true, &[]);
    exchange(&s, d.radius, host, &pkt).expect("an answer")
}

#[test]
fn a_group_member_gets_the_vlan_and_the_explanation_names_the_policy() {
    let d = start();
    let r = ask(&d, "127.0.0.1", 1, "bob", "Winter2026!");
    assert_eq!(r[0], 2, "Access-Accept");
    // RFC 3580 VLAN assignment: tagged integers with tag 0, the VLAN id as text.
    assert_eq!(value(&r, 64), Some(vec![0, 0, 0, 13]), "Tunnel-Type = VLAN");
    assert_eq!(
        value(&r, 65),
        Some(vec![0, 0, 0, 6]),
        "Tunnel-Medium-Type = IEEE-802"
    );
    assert_eq!(value(&r, 81), Some(b"42".to_vec()));
    assert_eq!(value(&r, 25), Some(b"vpn-vlan-42".to_vec()), "Class");
    // Both policies apply; the earlier one's Session-Timeout stands.
    assert_eq!(value(&r, 27), Some(3600u32.to_be_bytes().to_vec()));
    assert_eq!(value(&r, 11), Some(b"standard".to_vec()), "Filter-Id");
    let last = d.signin_log("onprem").pop().unwrap();
    let why = last["explanation"].as_str().unwrap();
    assert!(
        why.contains("authorisation policies vpn-vlan, everyone")
            && why.contains("Tunnel-Private-Group-Id = \"42\""),
        "{why}"
    );
}

#[test]
fn others_get_only_the_general_policy_and_rejects_get_none() {
    let d = start();
    let r = ask(&d, "127.0.0.1", 2, "carol", "Winter2026!");
    assert_eq!(r[0], 2);
    assert_eq!(value(&r, 81), None, "not a VPN user: no VLAN");
    assert_eq!(value(&r, 27), Some(600u32.to_be_bytes().to_vec()));
    let r = ask(&d, "127.0.0.1", 3, "bob", "wrong");
    assert_eq!(r[0], 3, "Access-Reject");
    let types: Vec<u8> = attributes(&r).iter().map(|(t, _)| *t).collect();
    assert!(
        !types.iter().any(|t| [25, 27, 11, 64, 65, 81].contains(t)),
        "a reject carries no policy attribute: {types:?}"
    );
}

#[test]
fn a_policy_limited_to_a_client_and_endpoint_does_not_apply_elsewhere() {
    let d = start();
    // The cloud client (::1): bob reaches the cloud at the 10:30 object-sync cycle.
    d.cli(&["clock", "advance", "30m"]);
    let r = ask(&d, "::1", 4, "bob@contoso.com", "Winter2026!");
    assert_eq!(r[0], 2, "{:?}", d.signin_log("cloud").pop());
    assert_eq!(
        value(&r, 81),
        None,
        "vpn-vlan is for the on-prem client vpn only"
    );
    assert_eq!(value(&r, 27), Some(600u32.to_be_bytes().to_vec()));
    assert_eq!(value(&r, 11), Some(b"standard".to_vec()));
}

#[test]
fn the_accounting_log_records_the_class_the_nas_echoes() {
    let d = start();
    let r = ask(&d, "127.0.0.1", 5, "bob", "Winter2026!");
    let class = value(&r, 25).unwrap();
    // The NAS's Accounting-Request (Start) echoes the Class it was given.
    let p = common::radius::accounting_request(
        9,
        &[
            (40u8, vec![0, 0, 0, 1]),
            (44, b"sess-9".to_vec()),
            (1, b"bob".to_vec()),
            (25, class),
        ],
        SECRET,
    );
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    assert_eq!(exchange(&s, d.accounting, "127.0.0.1", &p).unwrap()[0], 5);
    let log = std::fs::read_to_string(d.dir.path().join("accounting.jsonl")).unwrap();
    let rec: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(rec["class"], serde_json::json!(["vpn-vlan-42"]), "{rec}");
}

#[test]
fn sighup_reloads_the_policies_with_the_client_table() {
    let d = start();
    let r = ask(&d, "127.0.0.1", 6, "bob", "Winter2026!");
    assert_eq!(value(&r, 81), Some(b"42".to_vec()));
    let cfg = std::fs::read_to_string(&d.config).unwrap();
    std::fs::write(
        &d.config,
        cfg.replace(
            "\"Tunnel-Private-Group-Id\" = \"42\"",
            "\"Tunnel-Private-Group-Id\" = \"77\"",
        ),
    )
    .unwrap();
    let before = d.log().matches("authorisation policies reloaded").count();
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(d.pid() as i32, libc::SIGHUP) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.log().matches("authorisation policies reloaded").count() == before {
        assert!(Instant::now() < deadline, "{}", d.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = ask(&d, "127.0.0.1", 7, "bob", "Winter2026!");
    assert_eq!(value(&r, 81), Some(b"77".to_vec()));
}
