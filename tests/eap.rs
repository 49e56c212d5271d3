//! EAP conversations on the wire: bounded in number and idle time, retransmissions answered
//! from the duplicate cache, hostile or stray packets refused, fragments of the configured size
//! (with wpa_supplicant's eapol_test, a supplicant nobody here wrote). The four methods'
//! accept/reject/key checks with eapol_test are in the interop suite.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::daemon::{Daemon, Options, SECRET};
use common::radius::{exchange, hmac_md5};

fn eap_toml(extra: &str) -> String {
    format!(
        "[radius.eap]\nmethods = [\"ttls\", \"peap\"]\ncert = \"{{dir}}/cert.pem\"\nkey = \"{{dir}}/key.pem\"\n{extra}"
    )
}

fn start(extra: &str) -> Daemon {
    Options {
        extra_toml: eap_toml(extra),
        before: Some(common::tls::lab_cert),
        ..Default::default()
    }
    .start()
}

/// An Access-Request carrying one EAP packet (and a State), signed unless `sign` is false.
fn request(id: u8, eap: &[u8], state: Option<&[u8]>, sign: bool) -> Vec<u8> {
    request_via_proxy(id, eap, state, sign, &[])
}

/// As `request`, with the Proxy-States a chain of proxies added.
fn request_via_proxy(
    id: u8,
    eap: &[u8],
    state: Option<&[u8]>,
    sign: bool,
    proxy_states: &[Vec<u8>],
) -> Vec<u8> {
    let mut p = vec![1, id, 0, 0];
    p.extend_from_slice(&[id; 16]);
    let mut push = |t: u8, v: &[u8]| {
        p.push(t);
        p.push(v.len() as u8 + 2);
        p.extend_from_slice(v);
    };
    push(1, b"anonymous@contoso.com");
    for chunk in eap.chunks(253) {
        push(79, chunk);
    }
    if let Some(s) = state {
        push(24, s);
    }
    for ps in proxy_states {
        push(33, ps);
    }
    if sign {
        push(80, &[0u8; 16]);
    }
    let len = p.len() as u16;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    if sign {
        let ma = hmac_md5(SECRET.as_bytes(), &p);
        let at = p.len() - 16;
        p[at..].copy_from_slice(&ma);
    }
    p
}

fn identity(eap_id: u8) -> Vec<u8> {
    let name = b"anonymous@contoso.com";
    let mut e = vec![2, eap_id, 0, (5 + name.len()) as u8, 1];
    e.extend_from_slice(name);
    e
}

fn attr(p: &[u8], t: u8) -> Option<Vec<u8>> {
    let mut i = 20;
    while i + 2 <= p.len() {
        let (ty, l) = (p[i], p[i + 1] as usize);
        if ty == t {
            return Some(p[i + 2..i + l].to_vec());
        }
        i += l;
    }
    None
}

/// Every value of attribute `t`, in order.
fn attrs(p: &[u8], t: u8) -> Vec<Vec<u8>> {
    let mut out = vec![];
    let mut i = 20;
    while i + 2 <= p.len() {
        let (ty, l) = (p[i], p[i + 1] as usize);
        if ty == t {
            out.push(p[i + 2..i + l].to_vec());
        }
        i += l;
    }
    out
}

/// The EAP packet of a reply, whole: its EAP-Message attributes joined.
fn eap_of(p: &[u8]) -> Vec<u8> {
    attrs(p, 79).concat()
}

/// A TLS ClientHello from rustls (a client nobody here wrote), trusting the lab certificate.
fn client_hello(d: &Daemon) -> Vec<u8> {
    let pem = std::fs::read(d.dir.path().join("cert.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut c =
        rustls::ClientConnection::new(std::sync::Arc::new(config), common::tls::localhost())
            .unwrap();
    let mut out = vec![];
    while c.wants_write() {
        c.write_tls(&mut out).unwrap();
    }
    out
}

/// An EAP-TTLS response carrying `tls` whole (no fragmentation flags).
fn ttls_response(eap_id: u8, tls: &[u8]) -> Vec<u8> {
    let len = (6 + tls.len()) as u16;
    let mut e = vec![2, eap_id, 0, 0, 21, 0];
    e[2..4].copy_from_slice(&len.to_be_bytes());
    e.extend_from_slice(tls);
    e
}

/// The EAP Identifier of a reply's EAP-Request.
fn eap_id(reply: &[u8]) -> u8 {
    eap_of(reply)[1]
}

fn send(d: &Daemon, pkt: &[u8]) -> Option<Vec<u8>> {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    exchange(&s, d.radius, "127.0.0.1", pkt)
}

#[test]
fn an_identity_starts_the_preferred_method_and_a_retransmission_gets_the_same_answer() {
    let d = start("");
    let pkt = request(1, &identity(7), None, true);
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let first = exchange(&s, d.radius, "127.0.0.1", &pkt).unwrap();
    assert_eq!(first[0], 11, "Access-Challenge");
    let eap = attr(&first, 79).unwrap();
    // EAP-Request, identifier 8, type TTLS (21), flags Start.
    assert_eq!((eap[0], eap[1], eap[4], eap[5]), (1, 8, 21, 0x20));
    assert_eq!(attr(&first, 24).map(|s| s.len()), Some(16), "State");
    let again = exchange(&s, d.radius, "127.0.0.1", &pkt).unwrap();
    assert_eq!(
        again, first,
        "the duplicate cache answers, no second conversation"
    );
}

#[test]
fn half_finished_conversations_are_bounded_and_expire() {
    let d = start("max_sessions = 2\nsession_timeout = \"1s\"\n");
    for id in 1..=2 {
        let r = send(&d, &request(id, &identity(id), None, true)).unwrap();
        assert_eq!(r[0], 11);
    }
    let metrics = common::admin::get(d.admin, "/metrics").1;
    assert_eq!(
        common::admin::sample(&metrics, "hybridauth_eap_conversations"),
        Some(2.0),
        "{metrics}"
    );
    // The table is full of live conversations: a new one is refused, those in progress stay.
    let r = send(&d, &request(3, &identity(3), None, true)).unwrap();
    assert_eq!(r[0], 3, "Access-Reject");
    assert_eq!(attr(&r, 79).unwrap()[0], 4, "EAP-Failure");
    // Once they have been idle for session_timeout, room is made again.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut id = 10u8;
    loop {
        let r = send(&d, &request(id, &identity(id), None, true)).unwrap();
        if r[0] == 11 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "expired conversations never made room"
        );
        id = id.wrapping_add(1);
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn stray_and_hostile_eap_packets_get_a_clear_answer_or_none() {
    let d = start("");
    // No Message-Authenticator: dropped (RFC 3579 §3.2), whatever the client's setting.
    assert!(send(&d, &request(1, &identity(1), None, false)).is_none());
    // A State nobody issued: EAP-Failure.
    let ttls_ack = [2u8, 5, 0, 6, 21, 0];
    let r = send(&d, &request(2, &ttls_ack, Some(&[9u8; 16]), true)).unwrap();
    assert_eq!(r[0], 3);
    assert_eq!(attr(&r, 79).unwrap()[0], 4);
    // A truncated EAP packet: dropped.
    assert!(send(&d, &request(3, &[2, 1, 0, 40, 1], None, true)).is_none());
    // Garbage where the ClientHello should be: the conversation ends with EAP-Failure.
    let r = send(&d, &request(4, &identity(4), None, true)).unwrap();
    let state = attr(&r, 24).unwrap();
    // A whole TLS record (handshake, 4 octets) holding a message type that does not exist.
    let junk = [2u8, 5, 0, 15, 21, 0, 0x16, 3, 1, 0, 4, 0xff, 0, 0, 0];
    let r = send(&d, &request(5, &junk, Some(&state), true)).unwrap();
    assert_eq!(r[0], 3, "Access-Reject");
    assert_eq!(attr(&r, 79).unwrap()[0], 4);
    assert!(d.log().contains("EAP failed"), "{}", d.log());
}

#[test]
fn without_methods_eap_is_refused_with_reason_66() {
    let d = Daemon::start();
    let r = send(&d, &request(1, &identity(1), None, true)).unwrap();
    assert_eq!(r[0], 3);
    let rec = d.signin_log("onprem").pop().unwrap();
    assert_eq!(rec["rule"], "radius.method-not-allowed");
    assert_eq!(rec["codes"]["nps"], 66);
}

#[test]
fn fragments_follow_fragment_size_and_eapol_test_reassembles_them() {
    if std::process::Command::new("eapol_test")
        .arg("-v")
        .output()
        .is_err()
    {
        panic!("eapol_test is missing: scripts/test.sh installs the eapoltest package");
    }
    let d = start("fragment_size = 200\n");
    d.cli(&["user", "add", "alice", "--password", "Winter2026!"]);
    let conf = d.dir.path().join("ttls.conf");
    std::fs::write(
        &conf,
        format!(
            "network={{\n key_mgmt=WPA-EAP\n eap=TTLS\n identity=\"alice\"\n password=\"Winter2026!\"\n phase2=\"auth=PAP\"\n ca_cert=\"{}\"\n}}\n",
            d.dir.path().join("cert.pem").display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new("eapol_test")
        .args([
            "-c",
            conf.to_str().unwrap(),
            "-a",
            "127.0.0.1",
            "-s",
            SECRET,
            "-r",
            "0",
            "-t",
            "10",
        ])
        .args(["-p", &d.radius.to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("MPPE keys OK: 1  mismatch: 0"),
        "{}",
        &text[text.len().saturating_sub(3000)..]
    );
    // Every Access-Challenge's EAP-Message: at most 200 octets of TLS data plus the EAP
    // header, the flags and the 4-octet length of a first fragment.
    let mut challenges = 0;
    for block in text.split("(Access-Challenge)").skip(1) {
        challenges += 1;
        let eap_len: usize = block
            .lines()
            .take_while(|l| !l.contains("RADIUS message:"))
            .filter_map(|l| l.trim().strip_prefix("Attribute 79 (EAP-Message) length="))
            .map(|n| n.trim().parse::<usize>().unwrap() - 2)
            .sum();
        assert!(eap_len <= 200 + 10, "an EAP-Request of {eap_len} octets");
    }
    assert!(
        challenges >= 5,
        "the server's flight came in several fragments: {challenges}"
    );
}

/// A captured Access-Request replayed from another source port (so the duplicate cache does not
/// recognise it) must not end the real client's conversation: its EAP Identifier is no longer
/// the outstanding one, so it is discarded (RFC 3748 §4.1) and the client carries on.
#[test]
fn a_replayed_response_from_another_port_is_discarded_and_the_conversation_goes_on() {
    let d = start("fragment_size = 300\n");
    let nas = UdpSocket::bind("127.0.0.1:0").unwrap();
    let r = exchange(
        &nas,
        d.radius,
        "127.0.0.1",
        &request(1, &identity(7), None, true),
    )
    .unwrap();
    let state = attr(&r, 24).unwrap();
    assert_eq!(eap_id(&r), 8);
    // The ClientHello: the server's flight comes back in fragments of 300 octets.
    let hello = request(2, &ttls_response(8, &client_hello(&d)), Some(&state), true);
    let r = exchange(&nas, d.radius, "127.0.0.1", &hello).unwrap();
    assert_eq!(r[0], 11, "Access-Challenge");
    let first = eap_of(&r);
    assert_eq!(
        (first[1], first[5] & 0xc0),
        (9, 0xc0),
        "first of several fragments"
    );
    // The attacker replays the ClientHello request from another port.
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let replay = exchange(&attacker, d.radius, "127.0.0.1", &hello);
    assert!(
        replay.is_none(),
        "a replay is silently discarded: {replay:?}"
    );
    // The real client acknowledges the fragment and gets the next one.
    let ack = request(3, &[2, 9, 0, 6, 21, 0], Some(&state), true);
    let r = exchange(&nas, d.radius, "127.0.0.1", &ack).unwrap();
    assert_eq!(r[0], 11, "the conversation goes on: {:?}", eap_of(&r));
    assert_eq!(eap_id(&r), 10);
    // A stale acknowledgement (the Identifier of an earlier request) changes nothing either.
    let stale = request(4, &[2, 9, 0, 6, 21, 0], Some(&state), true);
    assert!(exchange(&attacker, d.radius, "127.0.0.1", &stale).is_none());
    let ack = request(5, &[2, 10, 0, 6, 21, 0], Some(&state), true);
    let r = exchange(&nas, d.radius, "127.0.0.1", &ack).unwrap();
    assert_eq!((r[0], eap_id(&r)), (11, 11));
    assert!(
        d.log().contains("does not match the outstanding request"),
        "{}",
        d.log()
    );
}

/// Conversations idle past session_timeout are reclaimed on a timer, not only when the table
/// is full: the gauge falls to zero with no new conversation arriving.
#[test]
fn idle_conversations_are_reclaimed_without_new_ones_arriving() {
    let d = start("session_timeout = \"1s\"\nfragment_size = 300\n");
    for id in 1..=5u8 {
        let nas = UdpSocket::bind("127.0.0.1:0").unwrap();
        let r = exchange(
            &nas,
            d.radius,
            "127.0.0.1",
            &request(id, &identity(id), None, true),
        )
        .unwrap();
        let state = attr(&r, 24).unwrap();
        // Each holds TLS state and a queue of fragments to send.
        let hello = request(
            id + 100,
            &ttls_response(id + 1, &client_hello(&d)),
            Some(&state),
            true,
        );
        assert_eq!(
            exchange(&nas, d.radius, "127.0.0.1", &hello).unwrap()[0],
            11
        );
    }
    let gauge = || {
        common::admin::sample(
            &common::admin::get(d.admin, "/metrics").1,
            "hybridauth_eap_conversations",
        )
    };
    assert_eq!(gauge(), Some(5.0));
    let deadline = Instant::now() + Duration::from_secs(15);
    while gauge() != Some(0.0) {
        assert!(
            Instant::now() < deadline,
            "idle conversations kept: {:?}",
            gauge()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Behind a chain of proxies the request carries many Proxy-States, all of which the reply
/// must carry too: the EAP fragment shrinks to what is left, and the EAP packet is never cut.
#[test]
fn many_proxy_states_shrink_the_fragment_and_never_cut_an_eap_packet() {
    let d = start("fragment_size = 3000\n");
    let proxies: Vec<Vec<u8>> = (0..14u8).map(|i| vec![i; 253]).collect();
    let nas = UdpSocket::bind("127.0.0.1:0").unwrap();
    let r = exchange(
        &nas,
        d.radius,
        "127.0.0.1",
        &request_via_proxy(1, &identity(7), None, true, &proxies),
    )
    .unwrap();
    let state = attr(&r, 24).unwrap();
    let hello = request_via_proxy(
        2,
        &ttls_response(8, &client_hello(&d)),
        Some(&state),
        true,
        &proxies,
    );
    let r = exchange(&nas, d.radius, "127.0.0.1", &hello).unwrap();
    assert_eq!(r[0], 11, "Access-Challenge");
    assert!(r.len() <= 4096);
    assert_eq!(attrs(&r, 33), proxies, "every Proxy-State, in order");
    let eap = eap_of(&r);
    let declared = u16::from_be_bytes([eap[2], eap[3]]) as usize;
    assert_eq!(
        declared,
        eap.len(),
        "the whole EAP packet, never part of it"
    );
    assert_eq!(
        eap[5] & 0x40,
        0x40,
        "more fragments follow (the flight is larger): {}",
        eap.len()
    );
    assert_eq!(attr(&r, 24).unwrap(), state);
}

/// PEAP's inner MS-CHAPv2 needs NT hashes: the daemon says at start when it cannot work
/// (store_nt_hash off) or how many users have none (passwords set before it was on).
#[test]
fn peap_without_nt_hashes_is_warned_about_at_start() {
    let off = start("");
    assert!(
        off.log().contains(
            "offers PEAP, whose inner method is MS-CHAPv2, but hashing.store_nt_hash is off"
        ),
        "{}",
        off.log()
    );
    fn before(dir: &std::path::Path) {
        common::tls::lab_cert(dir);
        // A user whose password was set while no NT hash was kept.
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hybridauth"))
            .args(["user", "add", "legacy", "--password", "Winter2026!"])
            .env("HYBRIDAUTH_STORE__PATH", dir.join("store.sqlite3"))
            .env("HYBRIDAUTH_HASHING__MEMORY_KIB", "64")
            .env("HYBRIDAUTH_HASHING__ITERATIONS", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let on = Options {
        extra_toml: eap_toml(""),
        before: Some(before),
        // The user is added to the SQLite file before the daemon starts.
        sqlite_only: true,
        ..Default::default()
    }
    .env("HYBRIDAUTH_HASHING__STORE_NT_HASH", "true")
    .start();
    assert!(
        on.log()
            .contains("PEAP is offered but 1 of 1 enabled users have no NT hash"),
        "{}",
        on.log()
    );
}
