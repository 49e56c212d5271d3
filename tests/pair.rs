//! Two nodes, one PostgreSQL store: two `hybridauth serve` processes on one database, as a NAS
//! with a primary and a secondary server sees them, driven by `radclient` (FreeRADIUS's client,
//! nobody here wrote it) and by the CLI of either node. The database is a private cluster this
//! binary starts; one test at a time, since one of them stops and starts it.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::daemon::{shared_store, Daemon, Options, SECRET};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Two daemons on one fresh database.
fn pair() -> (Daemon, Daemon) {
    let url = shared_store();
    let node = || {
        Options {
            store_url: Some(url.clone()),
            ..Options::default()
        }
        .start()
    };
    (node(), node())
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Answer {
    Accept,
    Reject,
    Silent,
}

/// One PAP Access-Request from radclient (one try, `wait` seconds for the answer), to the
/// node's on-prem client address.
fn radclient(port: u16, user: &str, password: &str, wait: u32) -> Answer {
    radclient_at("127.0.0.1", port, user, password, wait)
}

fn radclient_at(host: &str, port: u16, user: &str, password: &str, wait: u32) -> Answer {
    let mut child = Command::new("radclient")
        .args(["-r", "1", "-t", &wait.to_string(), "-x"])
        .arg(format!("{host}:{port}"))
        .args(["auth", SECRET])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("radclient (freeradius-utils) is installed by scripts/test.sh");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            format!("User-Name = \"{user}\", User-Password = \"{password}\", Message-Authenticator = 0x00\n")
                .as_bytes(),
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("Received Access-Accept") {
        Answer::Accept
    } else if text.contains("Received Access-Reject") {
        Answer::Reject
    } else {
        Answer::Silent
    }
}

fn show(d: &Daemon, sam: &str) -> serde_json::Value {
    let out = d.cli(&["--json", "user", "show", sam]);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn cli_changes_through_either_node_are_obeyed_by_both_at_their_next_request() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (a, b) = pair();
    a.cli(&["user", "add", "alice", "--password", "Winter2026!"]);
    // Both nodes warm (their memos and verified-secret caches hold alice).
    for _ in 0..3 {
        assert_eq!(
            radclient(a.radius, "alice", "Winter2026!", 3),
            Answer::Accept
        );
        assert_eq!(
            radclient(b.radius, "alice", "Winter2026!", 3),
            Answer::Accept
        );
    }
    b.cli(&["user", "disable", "alice"]);
    assert_eq!(
        radclient(a.radius, "alice", "Winter2026!", 3),
        Answer::Reject
    );
    assert_eq!(
        radclient(b.radius, "alice", "Winter2026!", 3),
        Answer::Reject
    );
    a.cli(&["user", "enable", "alice"]);
    assert_eq!(
        radclient(b.radius, "alice", "Winter2026!", 3),
        Answer::Accept
    );
    assert_eq!(
        radclient(a.radius, "alice", "Winter2026!", 3),
        Answer::Accept
    );
    a.cli(&[
        "user",
        "reset-password",
        "alice",
        "--password",
        "Spring2026!",
    ]);
    assert_eq!(
        radclient(b.radius, "alice", "Winter2026!", 3),
        Answer::Reject
    );
    assert_eq!(
        radclient(b.radius, "alice", "Spring2026!", 3),
        Answer::Accept
    );
    // An app password created through one node works through the other's cloud endpoint at
    // once (the test daemons' cloud client is ::1).
    a.cli(&["tenant", "set", "allow-app-passwords", "on"]);
    b.cli(&["user", "set", "alice", "--mfa", "enforced"]);
    // The cloud knows alice once a sync carried her (one clock and one set of cycles for both).
    a.cli(&["sync", "now"]);
    let ap = a.app_password("alice", "Mail");
    assert_eq!(
        radclient_at("[::1]", b.radius, "alice@contoso.com", &ap, 3),
        Answer::Accept,
        "{:?}",
        b.signin_log("cloud").pop()
    );
    a.cli(&["app-password", "delete", "alice", "--name", "Mail"]);
    assert_eq!(
        radclient_at("[::1]", b.radius, "alice@contoso.com", &ap, 3),
        Answer::Reject
    );
}

#[test]
fn smart_lockout_counts_add_up_across_nodes() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (a, b) = pair();
    a.cli(&["user", "add", "erin", "--password", "Erin-pass-1"]);
    a.cli(&["sync", "now"]);
    b.cli(&["tenant", "set", "smart-lockout-threshold", "4"]);
    // Four different wrong passwords (a repeat is remembered per node and not counted again),
    // two through each node's cloud endpoint.
    for i in 0..4 {
        let node = if i % 2 == 0 { &a } else { &b };
        let guess = format!("wrong-guess-{i}");
        assert_eq!(
            radclient_at("[::1]", node.radius, "erin@contoso.com", &guess, 3),
            Answer::Reject
        );
        let smart = &show(&b, "erin")["smart_lockout"];
        if i < 3 {
            assert_eq!(smart["failures"], i + 1, "{smart}");
            assert!(smart["locked_until"].is_null(), "{smart}");
        } else {
            // The fourth, counted with the three before it from both nodes, locks.
            assert!(!smart["locked_until"].is_null(), "{smart}");
        }
    }
    assert_eq!(
        radclient_at("[::1]", a.radius, "erin@contoso.com", "Erin-pass-1", 3),
        Answer::Reject
    );
    let last = a.signin_log("cloud").pop().unwrap();
    assert_eq!(last["rule"], "cloud.smart-lockout", "{last}");
}

#[test]
fn ad_lockout_counts_add_up_across_nodes() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (a, b) = pair();
    a.cli(&["user", "add", "bob", "--password", "Bob-pass-1"]);
    b.cli(&["tenant", "set", "ad-lockout-threshold", "4"]);
    for i in 0..4 {
        let node = if i % 2 == 0 { &a } else { &b };
        assert_eq!(
            radclient(node.radius, "bob", "wrong-guess", 3),
            Answer::Reject
        );
    }
    // Two wrong passwords on each node: four in the one count, and bob is locked out on both.
    let lock = &show(&a, "bob")["ad_lockout"];
    assert_eq!(lock["bad_count"], 4, "{lock}");
    assert_eq!(lock["locked"], true, "{lock}");
    assert_eq!(radclient(a.radius, "bob", "Bob-pass-1", 3), Answer::Reject);
    assert_eq!(radclient(b.radius, "bob", "Bob-pass-1", 3), Answer::Reject);
    let last = b.signin_log("onprem").pop().unwrap();
    assert_eq!(last["rule"], "onprem.locked-out", "{last}");
    a.cli(&["user", "unlock", "bob"]);
    assert_eq!(radclient(b.radius, "bob", "Bob-pass-1", 3), Answer::Accept);
}

#[test]
fn a_nas_fails_over_when_a_node_is_killed_and_no_acknowledged_count_is_lost() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (mut a, b) = pair();
    a.cli(&["user", "add", "carol", "--password", "Carol-pass-1"]);
    // A NAS with a primary (a) and a secondary (b): each request goes to the primary, and to
    // the secondary when the primary does not answer. Every request here is a wrong password,
    // so each acknowledged reject is one count that must survive.
    let mut acknowledged = 0;
    for i in 0..30 {
        if i == 15 {
            // SAFETY: signals the daemon this test started.
            unsafe { libc::kill(a.pid() as i32, libc::SIGKILL) };
            a.wait(Duration::from_secs(10)).expect("killed");
        }
        let mut answer = radclient(a.radius, "carol", "not-carols", 1);
        if answer == Answer::Silent {
            answer = radclient(b.radius, "carol", "not-carols", 3);
        }
        assert_eq!(
            answer,
            Answer::Reject,
            "request {i} unanswered by both nodes"
        );
        acknowledged += 1;
    }
    let lock = &show(&b, "carol")["ad_lockout"];
    assert_eq!(lock["bad_count"], acknowledged, "{lock}");
    assert_eq!(
        radclient(b.radius, "carol", "Carol-pass-1", 3),
        Answer::Accept
    );
}

#[test]
fn postgresql_stopped_and_started_under_load_silences_then_resumes_without_a_restart() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (a, b) = pair();
    a.cli(&["user", "add", "dave", "--password", "Dave-pass-1"]);
    assert_eq!(
        radclient(a.radius, "dave", "Dave-pass-1", 3),
        Answer::Accept
    );
    let cluster = common::postgres::cluster();
    cluster.stop();
    // A node that cannot decide stays silent, so that the NAS tries its other server (a
    // reject would lock the user out of both); its health says so.
    assert_eq!(
        radclient(a.radius, "dave", "Dave-pass-1", 3),
        Answer::Silent
    );
    assert_eq!(radclient(b.radius, "dave", "wrong", 3), Answer::Silent);
    let health = Command::new(env!("CARGO_BIN_EXE_hybridauth"))
        .arg("--config")
        .arg(&b.config)
        .args(["health", "--timeout", "10s"])
        .output()
        .unwrap();
    assert_eq!(health.status.code(), Some(1), "{health:?}");
    cluster.start();
    let back = Instant::now();
    let mut answers = vec![];
    while answers.len() < 2 {
        assert!(
            back.elapsed() < Duration::from_secs(20),
            "no answer after the database came back"
        );
        for d in [&a, &b] {
            if radclient(d.radius, "dave", "Dave-pass-1", 1) == Answer::Accept {
                answers.push(back.elapsed());
            }
        }
    }
    eprintln!(
        "answers resumed {:?} after PostgreSQL accepted connections",
        answers[0]
    );
    assert!(a.alive_pid() && b.alive_pid(), "no node restarted");
}

/// Every reject a client received is a count in the store, even when PostgreSQL itself is
/// killed (`kill -9` of the server and its backends: what a crash or the OOM killer does)
/// while counts are being written. Hot-path writes commit without waiting for the disk; the
/// answer waits for a flush that does (`postgres_durable`): were the flush not to reach the
/// disk, the counts acknowledged just before the crash would be missing here.
#[test]
fn acknowledged_counts_survive_kill_9_of_postgresql_under_load() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (a, _b) = pair();
    a.cli(&["user", "add", "erin", "--password", "Erin-pass-1"]);
    // Every wrong password is counted and none locks the account.
    a.cli(&["tenant", "set", "ad-lockout-threshold", "0"]);
    let load = Command::new(env!("CARGO_BIN_EXE_hybridauth"))
        .args([
            "load",
            "radius",
            "--server",
            &format!("127.0.0.1:{}", a.radius),
        ])
        .args([
            "--secret",
            SECRET,
            "--user",
            "erin",
            "--password",
            "not-erins",
        ])
        .args([
            "--requests",
            "600",
            "--concurrency",
            "8",
            "--retransmit",
            "300ms,0",
        ])
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Crash the database once counts are flowing.
    let deadline = Instant::now() + Duration::from_secs(60);
    while show(&a, "erin")["ad_lockout"]["bad_count"]
        .as_u64()
        .unwrap_or(0)
        < 40
    {
        assert!(Instant::now() < deadline, "no counts written");
    }
    let cluster = common::postgres::cluster();
    cluster.crash();
    cluster.start();
    let out = load.wait_with_output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let acknowledged = report["answered"].as_u64().unwrap();
    let counted = show(&a, "erin")["ad_lockout"]["bad_count"]
        .as_u64()
        .unwrap();
    eprintln!("{acknowledged} rejects acknowledged, {counted} counted");
    assert!(acknowledged >= 40, "{report}");
    // A count may land for a reject the node could not send (the database died between the
    // commit and the answer); never the reverse.
    assert!(
        counted >= acknowledged,
        "{acknowledged} acknowledged, {counted} counted"
    );
}
