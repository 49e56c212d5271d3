//! The admin HTTP listener on the wire: `/metrics` counts what the front doors did, `/healthz`
//! and `hybridauth health` say whether the daemon can serve, and the listener refuses what it
//! does not serve.

mod common;

use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::daemon::{Daemon, SECRET};
use common::radius::{access_request, exchange};

use common::admin::{get, http, sample};

fn metric(d: &Daemon, key: &str) -> f64 {
    sample(&get(d.admin, "/metrics").1, key).unwrap_or(0.0)
}

/// Scrapes until `key` reads `want` (a drop has no answer to wait for), within 10 s.
fn wait_metric(d: &Daemon, key: &str, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = get(d.admin, "/metrics").1;
        if sample(&body, key) == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{key} never reached {want}:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn udp() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

#[test]
fn metrics_count_decisions_by_door_endpoint_outcome_and_rule() {
    let d = Daemon::start();
    d.cli(&["user", "add", "alice", "--password", "Winter2026!"]);
    let s = udp();
    for (id, pw, code) in [(1, "Winter2026!", 2), (2, "wrong", 3), (3, "wrong", 3)] {
        let pkt = access_request(id, [id; 16], "alice", pw.as_bytes(), SECRET, true, &[]);
        assert_eq!(exchange(&s, d.radius, "127.0.0.1", &pkt).unwrap()[0], code);
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut c = common::ldap::connect(d.ldap_cloud).await;
        common::ldap::bind(&mut c, 1, "alice@contoso.com", "Winter2026!").await;
    });
    let (status, body) = get(d.admin, "/metrics");
    assert_eq!(status, 200);
    let at = |k: &str| sample(&body, k);
    assert_eq!(
        at(
            r#"hybridauth_decisions_total{door="radius",endpoint="on-prem",outcome="accept",rule="onprem.accept"}"#
        ),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        at(
            r#"hybridauth_decisions_total{door="radius",endpoint="on-prem",outcome="reject",rule="onprem.bad-password"}"#
        ),
        Some(2.0),
        "{body}"
    );
    // The cloud listener: alice reached the cloud at the first object-sync cycle (10:00).
    let cloud = r#"hybridauth_decisions_total{door="ldap",endpoint="cloud","#;
    let cloud_total: f64 = body
        .lines()
        .filter(|l| l.starts_with(cloud))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(cloud_total, 1.0, "{body}");
    // Latency per door: as many observations as answered authentication requests.
    assert_eq!(
        at(r#"hybridauth_request_duration_seconds_count{door="radius"}"#),
        Some(3.0),
        "{body}"
    );
    assert_eq!(
        at(r#"hybridauth_request_duration_seconds_count{door="ldap"}"#),
        Some(1.0)
    );
    assert_eq!(
        at(r#"hybridauth_request_duration_seconds_bucket{le="+Inf",door="radius"}"#),
        Some(3.0)
    );
    // Hash work: three Argon2 runs for the domain password at most, and the repeated correct
    // secret (none here) would be a cache hit; the wrong ones never are.
    assert!(at("hybridauth_argon2_verifications_total").unwrap() >= 3.0);
    assert_eq!(at("hybridauth_hashing_queue_depth"), Some(0.0));
    let build = format!(
        "hybridauth_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(at(&build), Some(1.0), "{body}");
}

#[test]
fn metrics_count_cache_hits_and_retransmissions() {
    let d = Daemon::start();
    d.cli(&["user", "add", "alice", "--password", "Winter2026!"]);
    let s = udp();
    let first = access_request(7, [7; 16], "alice", b"Winter2026!", SECRET, true, &[]);
    assert_eq!(exchange(&s, d.radius, "127.0.0.1", &first).unwrap()[0], 2);
    // The same packet again: a retransmission, answered from the duplicate cache.
    assert_eq!(exchange(&s, d.radius, "127.0.0.1", &first).unwrap()[0], 2);
    // A new request with the same secret: every rule runs, the hash comparison is a cache hit.
    let again = access_request(8, [8; 16], "alice", b"Winter2026!", SECRET, true, &[]);
    assert_eq!(exchange(&s, d.radius, "127.0.0.1", &again).unwrap()[0], 2);
    assert_eq!(metric(&d, "hybridauth_radius_retransmissions_total"), 1.0);
    assert_eq!(
        metric(&d, "hybridauth_verified_secret_cache_hits_total"),
        1.0
    );
    assert_eq!(
        metric(
            &d,
            r#"hybridauth_decisions_total{door="radius",endpoint="on-prem",outcome="accept",rule="onprem.accept"}"#
        ),
        2.0
    );
}

#[test]
fn metrics_count_drops_by_reason() {
    let d = Daemon::start();
    let s = udp();
    // Wrong shared secret: the Message-Authenticator does not verify.
    let bad = access_request(1, [1; 16], "alice", b"x", "not-the-secret", true, &[]);
    assert!(exchange(&s, d.radius, "127.0.0.1", &bad).is_none());
    wait_metric(
        &d,
        r#"hybridauth_dropped_total{door="radius",reason="bad-authenticator"}"#,
        1.0,
    );
    // Not a RADIUS packet at all.
    s.send_to(b"\x01\x02\x00", ("127.0.0.1", d.radius)).unwrap();
    wait_metric(
        &d,
        r#"hybridauth_dropped_total{door="radius",reason="malformed"}"#,
        1.0,
    );
    // From an address no client covers (127.0.0.2 is loopback, not in the table).
    let stranger = UdpSocket::bind("127.0.0.2:0").unwrap();
    let pkt = access_request(2, [2; 16], "alice", b"x", SECRET, true, &[]);
    stranger.send_to(&pkt, ("127.0.0.1", d.radius)).unwrap();
    wait_metric(
        &d,
        r#"hybridauth_dropped_total{door="radius",reason="unknown-client"}"#,
        1.0,
    );
}

#[test]
fn metrics_show_open_ldap_connections() {
    let d = Daemon::start();
    let conns: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(("127.0.0.1", d.ldap)).unwrap())
        .collect();
    wait_metric(&d, "hybridauth_ldap_connections_open", 3.0);
    assert_eq!(metric(&d, "hybridauth_ldap_connections_total"), 3.0);
    drop(conns);
    wait_metric(&d, "hybridauth_ldap_connections_open", 0.0);
}

#[test]
fn sync_cycles_follow_the_simulated_clock() {
    let d = Daemon::start();
    let object = r#"hybridauth_sync_cycles_total{kind="object"}"#;
    let phs = r#"hybridauth_sync_cycles_total{kind="password-hash"}"#;
    assert_eq!(metric(&d, object), 0.0);
    // 10:00 -> 11:00: the 10:30 and 11:00 object cycles, thirty 2-minute hash cycles.
    d.cli(&["clock", "advance", "1h"]);
    let body = get(d.admin, "/metrics").1;
    assert_eq!(sample(&body, object), Some(2.0), "{body}");
    assert_eq!(sample(&body, phs), Some(30.0), "{body}");
    // 2026-01-05T11:00:00Z and the next object cycle at 11:30.
    assert_eq!(
        sample(
            &body,
            r#"hybridauth_sync_last_cycle_timestamp_seconds{kind="object"}"#
        ),
        Some(1_767_610_800.0)
    );
    assert_eq!(
        sample(
            &body,
            r#"hybridauth_sync_next_cycle_timestamp_seconds{kind="object"}"#
        ),
        Some(1_767_612_600.0)
    );
    // Counted once: a second scrape at the same time adds nothing.
    assert_eq!(metric(&d, object), 2.0);
}

#[test]
fn healthz_reports_every_listener_and_the_store() {
    let d = Daemon::start();
    let (status, head, body) = http(d.admin, "GET", "/healthz", "");
    assert_eq!(status, 200, "{body}");
    assert!(head.to_ascii_lowercase().contains("text/plain"), "{head}");
    assert!(body.starts_with("healthy\n"), "{body}");
    for line in [
        format!(
            "listener radius authentication 127.0.0.1:{}: serving",
            d.radius
        ),
        format!("listener radius authentication [::1]:{}: serving", d.radius),
        format!(
            "listener radius accounting 127.0.0.1:{}: serving",
            d.accounting
        ),
        format!("listener ldap on-prem 127.0.0.1:{}: serving", d.ldap),
        format!("listener ldap cloud 127.0.0.1:{}: serving", d.ldap_cloud),
        "store: readable".into(),
        "store: writable".into(),
    ] {
        assert!(body.contains(&line), "{line} in {body}");
    }
    let (status, head, body) = http(d.admin, "GET", "/healthz", "Accept: application/json\r\n");
    assert_eq!(status, 200);
    assert!(head.contains("application/json"), "{head}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["healthy"], true);
    assert_eq!(v["store"]["writable"], true);
    assert_eq!(v["listeners"].as_array().unwrap().len(), 6, "{v}");
    assert!(v["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["serving"] == true));
}

#[test]
fn health_command_exits_0_healthy_1_unhealthy_3_unreachable() {
    /// Another session holding the lock every write of the health probe needs: SQLite's write
    /// lock, or, on PostgreSQL, the heartbeat table locked inside an open transaction of psql.
    enum WriteLock {
        Sqlite(rusqlite::Connection),
        Postgres(std::process::Child),
    }
    impl WriteLock {
        fn hold(d: &Daemon) -> WriteLock {
            match &d.store_url {
                None => {
                    let c = rusqlite::Connection::open(d.dir.path().join("store.sqlite3")).unwrap();
                    c.execute_batch("BEGIN IMMEDIATE").unwrap();
                    WriteLock::Sqlite(c)
                }
                Some(url) => {
                    use std::io::Write;
                    let mut psql = std::process::Command::new(common::postgres::psql_path())
                        .args([url.as_str(), "-X", "-q", "-v", "ON_ERROR_STOP=1"])
                        .stdin(std::process::Stdio::piped())
                        .stdout(std::process::Stdio::piped())
                        .spawn()
                        .unwrap();
                    let stdin = psql.stdin.as_mut().unwrap();
                    stdin
                        .write_all(b"BEGIN; LOCK TABLE health IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n")
                        .unwrap();
                    stdin.flush().unwrap();
                    // The lock is held once psql printed the answer of the SELECT after it.
                    let mut out = psql.stdout.take().unwrap();
                    let mut seen = Vec::new();
                    let mut byte = [0u8; 1];
                    while !String::from_utf8_lossy(&seen).contains("locked") {
                        assert_eq!(std::io::Read::read(&mut out, &mut byte).unwrap(), 1);
                        seen.push(byte[0]);
                    }
                    WriteLock::Postgres(psql)
                }
            }
        }
    }
    impl Drop for WriteLock {
        fn drop(&mut self) {
            match self {
                WriteLock::Sqlite(c) => c.execute_batch("ROLLBACK").unwrap(),
                WriteLock::Postgres(psql) => {
                    drop(psql.stdin.take());
                    let _ = psql.wait();
                }
            }
        }
    }
    let d = Daemon::start();
    let bin = env!("CARGO_BIN_EXE_hybridauth");
    let run = |args: &[&str]| {
        std::process::Command::new(bin)
            .arg("--config")
            .arg(&d.config)
            .args(args)
            .output()
            .unwrap()
    };
    let ok = run(&["health"]);
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(
        text.starts_with("healthy\n") && text.contains("store: writable"),
        "{text}"
    );
    let ok = run(&["--json", "health", "--timeout", "5s"]);
    assert_eq!(ok.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(v["healthy"], true);

    // The store cannot be written: a writer holds its lock (as another process would).
    let lock = WriteLock::hold(&d);
    // The result of a check is reused for up to 1 s: ask until a fresh check has run.
    let deadline = Instant::now() + Duration::from_secs(20);
    let sick = loop {
        let out = run(&["health"]);
        if out.status.code() != Some(0) || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(sick.status.code(), Some(1), "{sick:?}");
    let text = String::from_utf8_lossy(&sick.stdout);
    assert!(text.starts_with("unhealthy\n"), "{text}");
    assert!(
        text.contains("store: readable") && text.contains("store: NOT writable"),
        "{text}"
    );
    assert!(String::from_utf8_lossy(&sick.stderr).contains("unhealthy"));
    let (status, _) = get(d.admin, "/healthz");
    assert_eq!(status, 503);
    drop(lock);
    // Healthy again once the lock is gone (each check is reused for at most 1 s).
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(d.admin, "/healthz").0 != 200 {
        assert!(Instant::now() < deadline, "never healthy again");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Nobody listening there: exit 3 and say so.
    let cfg = d.dir.path().join("elsewhere.toml");
    let port = common::daemon::free_tcp();
    std::fs::write(&cfg, format!("[admin]\nlisten = \"127.0.0.1:{port}\"\n")).unwrap();
    let gone = std::process::Command::new(bin)
        .args(["--config", cfg.to_str().unwrap(), "health"])
        .output()
        .unwrap();
    assert_eq!(gone.status.code(), Some(3), "{gone:?}");
    assert!(String::from_utf8_lossy(&gone.stderr).contains("cannot connect"));
    // The listener disabled: nothing to ask.
    std::fs::write(&cfg, "[admin]\nlisten = \"\"\n").unwrap();
    let off = std::process::Command::new(bin)
        .args(["--config", cfg.to_str().unwrap(), "health"])
        .output()
        .unwrap();
    assert_eq!(off.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&off.stderr).contains("disabled"));
}

#[test]
fn the_admin_listener_serves_get_and_head_only_and_nothing_else() {
    let d = Daemon::start();
    let (status, head, _) = http(d.admin, "POST", "/metrics", "Content-Length: 0\r\n");
    assert_eq!(status, 405);
    assert!(head.contains("GET, HEAD"), "{head}");
    let (status, _, body) = http(d.admin, "GET", "/users", "");
    assert_eq!(status, 404);
    assert!(body.contains("/metrics and /healthz"));
    let (status, head, body) = http(d.admin, "HEAD", "/metrics", "");
    assert_eq!(status, 200);
    assert!(head.contains("version=0.0.4"), "{head}");
    assert!(body.is_empty());
    // An oversized request head is refused, and the listener keeps serving.
    let big = format!("X-Filler: {}\r\n", "a".repeat(64 * 1024));
    let (status, _, _) = http(d.admin, "GET", "/metrics", &big);
    assert!(status == 431 || status == 0 || status == 400, "{status}");
    assert_eq!(get(d.admin, "/healthz").0, 200);
}

#[test]
fn no_secret_reaches_the_admin_listener() {
    let d = Daemon::start();
    d.cli(&["user", "add", "alice", "--password", "Winter2026!"]);
    let s = udp();
    let pkt = access_request(1, [1; 16], "alice", b"Winter2026!", SECRET, true, &[]);
    assert_eq!(exchange(&s, d.radius, "127.0.0.1", &pkt).unwrap()[0], 2);
    let all = get(d.admin, "/metrics").1 + &get(d.admin, "/healthz?format=json").1;
    for secret in ["Winter2026!", SECRET, "alice"] {
        assert!(!all.contains(secret), "{secret} exposed:\n{all}");
    }
}
