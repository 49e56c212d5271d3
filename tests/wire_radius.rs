//! The RADIUS front door over real UDP sockets against a running daemon.

mod common;
use common::daemon::{Daemon, SECRET};
use common::radius::*;

use std::time::Duration;

use md5::{Digest, Md5};

/// Checks the Response Authenticator and that Message-Authenticator comes first and is valid.
fn check_response(resp: &[u8], req_auth: &[u8; 16]) {
    assert_eq!(resp[20], 80, "Message-Authenticator is the first attribute");
    let mut copy = resp.to_vec();
    copy[4..20].copy_from_slice(req_auth);
    let ma = copy[22..38].to_vec();
    copy[22..38].fill(0);
    assert_eq!(
        hmac_md5(SECRET.as_bytes(), &copy),
        ma,
        "Message-Authenticator"
    );
    let mut h = Md5::new();
    let mut with_ma = resp.to_vec();
    with_ma[4..20].copy_from_slice(req_auth);
    h.update(&with_ma);
    h.update(SECRET.as_bytes());
    assert_eq!(
        h.finalize().as_slice(),
        &resp[4..20],
        "Response Authenticator"
    );
}

fn setup() -> Daemon {
    let d = Daemon::start();
    d.cli(&[
        "user",
        "add",
        "alice",
        "--password",
        "Winter2026!",
        "--mfa",
        "enforced",
    ]);
    d.cli(&["tenant", "set", "allow-app-passwords", "on"]);
    d.cli(&["sync", "now"]);
    d
}

#[test]
fn pap_accept_and_reject_with_valid_authenticators() {
    let d = setup();
    let s = client("127.0.0.1");
    let auth = [7u8; 16];
    let r = exchange(
        &s,
        d.radius,
        "127.0.0.1",
        &access_request(1, auth, "alice", b"Winter2026!", SECRET, true, &[]),
    )
    .expect("answer");
    assert_eq!(r[0], 2, "Access-Accept");
    check_response(&r, &auth);
    let auth = [8u8; 16];
    let r = exchange(
        &s,
        d.radius,
        "127.0.0.1",
        &access_request(2, auth, "CONTOSO\\alice", b"nope", SECRET, true, &[]),
    )
    .expect("answer");
    assert_eq!(r[0], 3, "Access-Reject");
    check_response(&r, &auth);
    let text = String::from_utf8_lossy(&r);
    assert!(
        text.contains("not the current domain password"),
        "Reply-Message carries the reason"
    );
}

#[test]
fn app_password_rejected_by_on_prem_nas_and_accepted_by_cloud_nas_over_ipv6() {
    let d = setup();
    let ap = d.app_password("alice", "Laptop");
    let r = exchange(
        &client("127.0.0.1"),
        d.radius,
        "127.0.0.1",
        &access_request(3, [1; 16], "alice", ap.as_bytes(), SECRET, true, &[]),
    )
    .unwrap();
    assert_eq!(r[0], 3);
    let r = exchange(
        &client("::1"),
        d.radius,
        "::1",
        &access_request(
            3,
            [1; 16],
            "alice@contoso.com",
            ap.as_bytes(),
            SECRET,
            false,
            &[],
        ),
    )
    .unwrap();
    assert_eq!(r[0], 2, "cloud NAS accepts the app password");
    let onprem = d.signin_log("onprem");
    assert_eq!(onprem.last().unwrap()["codes"]["nps"], 16);
}

#[test]
fn silent_drops_missing_message_authenticator_wrong_secret_unknown_client_malformed() {
    let d = setup();
    let s = client("127.0.0.1");
    let pkt = access_request(4, [2; 16], "alice", b"Winter2026!", SECRET, false, &[]);
    assert!(
        exchange(&s, d.radius, "127.0.0.1", &pkt).is_none(),
        "required Message-Authenticator missing"
    );
    let pkt = access_request(
        5,
        [3; 16],
        "alice",
        b"Winter2026!",
        "wrong-secret",
        true,
        &[],
    );
    assert!(
        exchange(&s, d.radius, "127.0.0.1", &pkt).is_none(),
        "wrong shared secret"
    );
    let stranger = client("127.0.0.2");
    let pkt = access_request(6, [4; 16], "alice", b"Winter2026!", SECRET, true, &[]);
    assert!(
        exchange(&stranger, d.radius, "127.0.0.1", &pkt).is_none(),
        "unknown client"
    );
    let mut bad = access_request(7, [5; 16], "alice", b"Winter2026!", SECRET, true, &[]);
    bad[21] = 1; // attribute length 1
    assert!(
        exchange(&s, d.radius, "127.0.0.1", &bad).is_none(),
        "malformed"
    );
    assert!(
        exchange(&s, d.radius, "127.0.0.1", &[1, 2, 0]).is_none(),
        "runt"
    );
    let mut huge = access_request(8, [6; 16], "alice", b"Winter2026!", SECRET, true, &[]);
    huge[2..4].copy_from_slice(&5000u16.to_be_bytes());
    assert!(
        exchange(&s, d.radius, "127.0.0.1", &huge).is_none(),
        "length over 4096"
    );
    // Still serving.
    let r = exchange(
        &s,
        d.radius,
        "127.0.0.1",
        &access_request(9, [7; 16], "alice", b"Winter2026!", SECRET, true, &[]),
    );
    assert_eq!(r.unwrap()[0], 2);
}

#[test]
fn a_retransmission_gets_the_same_answer_without_a_second_decision() {
    let d = setup();
    let s = client("127.0.0.1");
    let pkt = access_request(10, [9; 16], "alice", b"Winter2026!", SECRET, true, &[]);
    let a = exchange(&s, d.radius, "127.0.0.1", &pkt).unwrap();
    let b = exchange(&s, d.radius, "127.0.0.1", &pkt).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        d.signin_log("onprem").len(),
        1,
        "one decision, one log entry"
    );
    // Same Identifier, new authenticator: a new request.
    let pkt = access_request(10, [10; 16], "alice", b"Winter2026!", SECRET, true, &[]);
    exchange(&s, d.radius, "127.0.0.1", &pkt).unwrap();
    assert_eq!(d.signin_log("onprem").len(), 2);
}

#[test]
fn chap_is_rejected_as_method_not_allowed_and_logged() {
    let d = setup();
    let s = client("127.0.0.1");
    let mut pkt = access_request(11, [11; 16], "alice", b"x", SECRET, false, &[]);
    // Replace User-Password with CHAP-Password, then sign.
    pkt.truncate(20);
    pkt.extend_from_slice(&[1, 7, b'a', b'l', b'i', b'c', b'e']);
    pkt.push(3);
    pkt.push(19);
    pkt.extend_from_slice(&[0u8; 17]);
    pkt.extend_from_slice(&[80, 18]);
    pkt.extend_from_slice(&[0u8; 16]);
    let len = pkt.len() as u16;
    pkt[2..4].copy_from_slice(&len.to_be_bytes());
    let ma = hmac_md5(SECRET.as_bytes(), &pkt);
    let n = pkt.len();
    pkt[n - 16..].copy_from_slice(&ma);
    let r = exchange(&s, d.radius, "127.0.0.1", &pkt).unwrap();
    assert_eq!(r[0], 3);
    let log = d.signin_log("onprem");
    assert_eq!(log.last().unwrap()["codes"]["nps"], 66);
}

#[test]
fn a_cli_change_reaches_the_running_server_at_its_next_request() {
    let d = setup();
    let s = client("127.0.0.1");
    d.cli(&["user", "disable", "alice"]);
    let r = exchange(
        &s,
        d.radius,
        "127.0.0.1",
        &access_request(12, [12; 16], "alice", b"Winter2026!", SECRET, true, &[]),
    )
    .unwrap();
    assert_eq!(r[0], 3);
    assert_eq!(d.signin_log("onprem").last().unwrap()["codes"]["nps"], 34);
}

/// The daemon keeps what its cached decisions read (see `sqlite_memo`): a change the CLI
/// commits from its own process must still count at the very next request of a warm server.
#[test]
fn a_cli_change_reaches_a_warm_server_at_its_very_next_request() {
    let d = setup();
    let s = client("127.0.0.1");
    let mut id = 100u8;
    let mut ask = |password: &[u8]| {
        id += 1;
        let pkt = access_request(id, [id; 16], "alice", password, SECRET, true, &[]);
        let code = exchange(&s, d.radius, "127.0.0.1", &pkt).unwrap()[0];
        let nps = d.signin_log("onprem").last().unwrap()["codes"]["nps"].clone();
        (code, nps)
    };
    // Warm: the secret is cached and the read connections hold alice, her lockout state and
    // the tenant.
    for _ in 0..4 {
        assert_eq!(ask(b"Winter2026!").0, 2);
    }
    d.cli(&["user", "disable", "alice"]);
    assert_eq!(ask(b"Winter2026!"), (3, serde_json::json!(34)));
    d.cli(&["user", "enable", "alice"]);
    assert_eq!(ask(b"Winter2026!").0, 2);
    assert_eq!(ask(b"Winter2026!").0, 2);
    d.cli(&[
        "user",
        "reset-password",
        "alice",
        "--password",
        "Spring2027!",
    ]);
    assert_eq!(ask(b"Winter2026!"), (3, serde_json::json!(16)));
    assert_eq!(ask(b"Spring2027!").0, 2);
    assert_eq!(ask(b"Spring2027!").0, 2);
    // A lockout threshold set from the CLI counts for the next wrong password and the next
    // right one.
    d.cli(&["tenant", "set", "ad-lockout-threshold", "1"]);
    assert_eq!(ask(b"wrong-guess").0, 3);
    assert_eq!(ask(b"Spring2027!").0, 3, "locked out after one bad attempt");
    d.cli(&["user", "unlock", "alice"]);
    assert_eq!(ask(b"Spring2027!").0, 2);
}

#[test]
fn sighup_reloads_the_client_table() {
    let d = setup();
    let newcomer = client("127.0.0.2");
    let pkt = access_request(13, [13; 16], "alice", b"Winter2026!", SECRET, true, &[]);
    assert!(
        exchange(&newcomer, d.radius, "127.0.0.1", &pkt).is_none(),
        "not a client yet"
    );
    let mut cfg = std::fs::read_to_string(&d.config).unwrap();
    cfg.push_str(&format!("\n[[radius.clients]]\nname = \"ap-2\"\nnetwork = \"127.0.0.2/32\"\nsecret = \"{SECRET}\"\n"));
    std::fs::write(&d.config, cfg).unwrap();
    std::process::Command::new("kill")
        .args(["-HUP", &d.pid().to_string()])
        .status()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let pkt = access_request(14, [14; 16], "alice", b"Winter2026!", SECRET, true, &[]);
        if let Some(r) = exchange(&newcomer, d.radius, "127.0.0.1", &pkt) {
            assert_eq!(r[0], 2);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "reload not applied: {}",
            d.log()
        );
    }
}

#[test]
fn sighup_moves_the_sign_in_and_accounting_logs_to_fresh_files() {
    let d = setup();
    let s = client("127.0.0.1");
    let ask = |id: u8| {
        let pkt = access_request(id, [id; 16], "alice", b"Winter2026!", SECRET, true, &[]);
        assert_eq!(exchange(&s, d.radius, "127.0.0.1", &pkt).unwrap()[0], 2);
    };
    ask(40);
    let log = d.dir.path().join("signin-onprem.jsonl");
    let accounting = d.dir.path().join("accounting.jsonl");
    assert!(accounting.is_file(), "opened at start");
    // What logrotate does: rename, then signal.
    std::fs::rename(&log, d.dir.path().join("signin-onprem.jsonl.1")).unwrap();
    std::fs::rename(&accounting, d.dir.path().join("accounting.jsonl.1")).unwrap();
    std::process::Command::new("kill")
        .args(["-HUP", &d.pid().to_string()])
        .status()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !d.log().contains("logs reopened") {
        assert!(std::time::Instant::now() < deadline, "{}", d.log());
        std::thread::sleep(Duration::from_millis(10));
    }
    ask(41);
    let rotated = std::fs::read_to_string(d.dir.path().join("signin-onprem.jsonl.1")).unwrap();
    assert_eq!(
        rotated.lines().count(),
        1,
        "nothing more in the rotated file"
    );
    assert_eq!(
        d.signin_log("onprem").len(),
        1,
        "the new record in the fresh file"
    );
    assert!(accounting.is_file(), "a fresh accounting log");
}

#[test]
fn sigterm_stops_the_daemon_cleanly() {
    let mut d = setup();
    let s = client("127.0.0.1");
    let pkt = access_request(15, [15; 16], "alice", b"Winter2026!", SECRET, true, &[]);
    s.send_to(&pkt, ("127.0.0.1", d.radius)).unwrap();
    std::process::Command::new("kill")
        .args(["-TERM", &d.pid().to_string()])
        .status()
        .unwrap();
    let status = d
        .wait(Duration::from_secs(10))
        .expect("the daemon exits after SIGTERM");
    assert!(status.success(), "exit status {status:?}: {}", d.log());
    assert!(d.log().contains("shutting down"), "{}", d.log());
}

#[test]
fn sigterm_still_answers_a_request_being_verified() {
    // Slow hashing keeps the request in flight; the daemon's debug log says when its
    // verification has started, and the signal is sent only after that.
    let slow = [
        ("HYBRIDAUTH_HASHING__MEMORY_KIB", "262144"),
        ("HYBRIDAUTH_HASHING__ITERATIONS", "4"),
    ];
    let mut d = Daemon::start_with_env(&[
        slow[0],
        slow[1],
        (
            "HYBRIDAUTH_LOG",
            "info,hybridauth::verify=debug,hybridauth::radius=debug",
        ),
    ]);
    // The hash carries its own parameters: the user must be made with the slow ones too.
    d.cli_with_env(
        &["user", "add", "alice", "--password", "Winter2026!"],
        &slow,
    );
    let s = client("127.0.0.1");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let pkt = access_request(16, [16; 16], "alice", b"Winter2026!", SECRET, true, &[]);
    s.send_to(&pkt, ("127.0.0.1", d.radius)).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !d.log().contains("verification started") {
        assert!(std::time::Instant::now() < deadline, "{}", d.log());
        std::thread::sleep(Duration::from_millis(5));
    }
    std::process::Command::new("kill")
        .args(["-TERM", &d.pid().to_string()])
        .status()
        .unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = s
        .recv_from(&mut buf)
        .expect("the in-flight request is answered");
    assert_eq!(buf[0], 2, "Access-Accept ({n} octets)");
    let status = d
        .wait(Duration::from_secs(30))
        .expect("exits after answering");
    assert!(status.success());
    // The order in the log proves the request was in flight when the signal arrived: begun
    // before shutdown started, decided after.
    let log = d.log();
    let started = log.find("verification started").unwrap();
    let stopping = log.find("shutting down").expect("the signal was handled");
    let decided = log.find("access-request").expect("the decision was logged");
    assert!(started < stopping && stopping < decided, "{log}");
    // Readable by people: user=alice, not user=Some("alice").
    assert!(
        log.contains("user=alice") && log.contains("outcome=accept"),
        "{log}"
    );
    assert!(!log.contains("Some("), "{log}");
}

#[test]
fn proxy_state_is_copied_in_order_into_every_reply() {
    let d = setup();
    let s = client("127.0.0.1");
    let states = vec![
        (33u8, b"proxy-one".to_vec()),
        (33u8, b"\x00\x01two".to_vec()),
    ];
    let mut auth = [21u8; 16];
    for (i, password) in [b"Winter2026!".as_slice(), b"wrong"].iter().enumerate() {
        auth[0] = i as u8;
        let pkt = access_request(21 + i as u8, auth, "alice", password, SECRET, true, &states);
        let r = exchange(&s, d.radius, "127.0.0.1", &pkt).unwrap();
        check_response(&r, &auth);
        assert_eq!(
            proxy_states(&r),
            ["proxy-one".as_bytes(), b"\x00\x01two"],
            "reply code {}",
            r[0]
        );
    }
}

/// An Accounting-Request (RFC 2866) with these attributes, signed with the shared secret.
fn accounting_request(id: u8, attrs: &[(u8, Vec<u8>)]) -> Vec<u8> {
    common::radius::accounting_request(id, attrs, SECRET)
}

/// RFC 5080 §2.2.2: a retransmission (the same octets from the same port) gets the same
/// Accounting-Response and is recorded once; a new request (another Identifier) is recorded.
#[test]
fn an_accounting_retransmission_is_answered_again_and_recorded_once() {
    let d = setup();
    let log = d.dir.path().join("accounting.jsonl");
    let records = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let start = |id: u8| {
        accounting_request(
            id,
            &[
                (40u8, vec![0, 0, 0, 1]),
                (44, b"sess-dup".to_vec()),
                (1, b"alice".to_vec()),
            ],
        )
    };
    let nas = client("127.0.0.1");
    let first = exchange(&nas, d.accounting, "127.0.0.1", &start(7)).unwrap();
    assert_eq!(first[0], 5);
    assert_eq!(records(), 1);
    for _ in 0..3 {
        let again = exchange(&nas, d.accounting, "127.0.0.1", &start(7)).unwrap();
        assert_eq!(again, first, "the same octets again");
    }
    assert_eq!(records(), 1, "a retransmission is not a second record");
    let next = exchange(&nas, d.accounting, "127.0.0.1", &start(8)).unwrap();
    assert_eq!(next[0], 5);
    assert_eq!(records(), 2, "another Identifier is another request");
}

#[test]
fn proxy_state_is_copied_into_the_accounting_response() {
    let d = setup();
    // Accounting-Request: Acct-Status-Type Start, Acct-Session-Id, two Proxy-States.
    let p = accounting_request(
        31,
        &[
            (40u8, vec![0, 0, 0, 1]),
            (44, b"sess-1".to_vec()),
            (33, b"first".to_vec()),
            (33, b"second".to_vec()),
        ],
    );
    let r = exchange(&client("127.0.0.1"), d.accounting, "127.0.0.1", &p).unwrap();
    assert_eq!(r[0], 5, "Accounting-Response");
    assert_eq!(proxy_states(&r), [b"first".to_vec(), b"second".to_vec()]);
}

/// The values of the Proxy-State attributes of a packet, in order.
fn proxy_states(p: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![];
    let mut i = 20;
    while i + 2 <= p.len() {
        let (t, l) = (p[i], p[i + 1] as usize);
        if t == 33 {
            out.push(p[i + 2..i + l].to_vec());
        }
        i += l;
    }
    out
}

#[test]
fn serve_debug_shows_each_request_as_radiusd_x_with_secrets_masked() {
    let d = common::daemon::Options {
        serve_args: vec!["--debug".into()],
        ..Default::default()
    }
    .start();
    d.cli(&["user", "add", "alice", "--password", "Winter2026!"]);
    let s = client("127.0.0.1");
    let pkt = access_request(50, [50; 16], "alice", b"Winter2026!", SECRET, true, &[]);
    assert_eq!(exchange(&s, d.radius, "127.0.0.1", &pkt).unwrap()[0], 2);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !d.log().contains("Access-Accept sent") {
        assert!(std::time::Instant::now() < deadline, "{}", d.log());
        std::thread::sleep(Duration::from_millis(10));
    }
    let log = d.log();
    assert!(
        log.contains(
            "Access-Request received: User-Name = \"alice\", User-Password = <hidden, 16 octets>"
        ),
        "{log}"
    );
    assert!(
        log.contains("client=vpn") && log.contains("rule=onprem.accept"),
        "{log}"
    );
    assert!(log.contains("explanation="), "{log}");
    // Every rule evaluated, in order, with its result (as radiusd -X shows each module).
    let steps = [
        "rule 1: onprem.unknown-user passes",
        "rule 2: onprem.locked-out passes",
        "rule 3: onprem.bad-password passes",
        "rule 4: onprem.disabled passes",
        "rule 5: onprem.account-expired passes",
        "rule 6: onprem.password-expired passes",
        "rule 7: onprem.must-change passes",
        "rule 8: onprem.accept decides: accept",
    ];
    let mut at = 0;
    for step in steps {
        let found = log[at..]
            .find(step)
            .unwrap_or_else(|| panic!("{step} in {log}"));
        at += found;
    }
    assert!(
        log.contains("Access-Accept sent: Message-Authenticator = <hidden, 16 octets>"),
        "{log}"
    );
    assert!(!log.contains("Winter2026!"), "a password in the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_debug_shows_each_ldap_bind_too() {
    let d = common::daemon::Options {
        serve_args: vec!["--debug".into()],
        ..Default::default()
    }
    .start();
    d.cli(&["user", "add", "alice", "--password", "Winter2026!"]);
    let mut c = common::ldap::connect(d.ldap).await;
    let r = common::ldap::bind(&mut c, 1, "CONTOSO\\nobody", "Winter2026!").await;
    assert_eq!(
        r.code,
        ldap3_proto::proto::LdapResultCode::InvalidCredentials
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !d.log().contains(" bind ") {
        assert!(std::time::Instant::now() < deadline, "{}", d.log());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let log = d.log();
    assert!(
        log.contains("user=CONTOSO\\\\nobody") || log.contains("user=CONTOSO\\nobody"),
        "{log}"
    );
    assert!(
        log.contains("outcome=reject") && log.contains("rule=onprem.unknown-user"),
        "{log}"
    );
    assert!(
        log.contains("rule 1: onprem.unknown-user decides: reject"),
        "{log}"
    );
    assert!(!log.contains("Winter2026!"));
}

#[test]
fn logging_format_json_writes_one_json_object_per_line() {
    let d = Daemon::start_with_env(&[
        ("HYBRIDAUTH_LOGGING__FORMAT", "json"),
        ("HYBRIDAUTH_LOG", "info,hybridauth::radius=debug"),
    ]);
    d.cli(&["user", "add", "alice", "--password", "Winter2026!"]);
    let s = client("127.0.0.1");
    let pkt = access_request(51, [51; 16], "alice", b"Winter2026!", SECRET, true, &[]);
    assert_eq!(exchange(&s, d.radius, "127.0.0.1", &pkt).unwrap()[0], 2);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !d.log().contains("access-request") {
        assert!(std::time::Instant::now() < deadline, "{}", d.log());
        std::thread::sleep(Duration::from_millis(10));
    }
    let lines: Vec<serde_json::Value> = d
        .log()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let decided = lines
        .iter()
        .find(|v| v["message"] == "access-request")
        .expect("the decision line");
    assert_eq!(decided["user"], "alice");
    assert_eq!(decided["outcome"], "accept");
    assert_eq!(decided["level"], "DEBUG");
}
