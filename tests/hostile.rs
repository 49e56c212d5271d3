//! Hostile peers against a running daemon, over real sockets: each test is one way an attacker
//! without credentials tried to exhaust, flood or read the server (issue 8), and the behaviour
//! that must hold instead.

mod common;
use common::daemon::{free_tcp, Daemon, Options, SECRET};
use common::ldap::*;
use common::radius::*;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use ldap3_proto::proto::*;
use ldap3_proto::LdapCodec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::{Encoder, Framed};

fn encode(m: LdapMsg) -> Vec<u8> {
    let mut out = bytes::BytesMut::new();
    LdapCodec::default().encode(m, &mut out).unwrap();
    out.to_vec()
}

fn root_dse_search(id: i32) -> LdapMsg {
    search_msg(
        id,
        "",
        LdapSearchScope::Base,
        LdapFilter::Present("objectClass".into()),
    )
}

/// Polls until a fresh connection is served (an anonymous bind answered), or the deadline.
async fn served_within(port: u16, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)).await {
            let mut c = Framed::new(s, LdapCodec::default());
            if c.send(bind_msg(1, "", "")).await.is_ok() {
                if let Ok(Some(Ok(m))) =
                    tokio::time::timeout(Duration::from_secs(2), c.next()).await
                {
                    if matches!(m.op, LdapOp::BindResponse(_)) {
                        return true;
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

fn file_len(p: &std::path::Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_its_replies_is_disconnected_and_frees_its_slot() {
    // The default write timeout (10 s) is in force, so the same test runs against builds
    // that predate the key (HYBRIDAUTH_TEST_SERVE_BIN, for before/after figures).
    let d = Daemon::start_with_env(&[("HYBRIDAUTH_LDAP__MAX_CONNECTIONS", "2")]);
    let request = encode(root_dse_search(2));
    let mut hogs = vec![];
    for _ in 0..2 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut s = socket
            .connect(format!("127.0.0.1:{}", d.ldap).parse().unwrap())
            .await
            .unwrap();
        // Pipeline searches and never read: the server's replies back up until its writes
        // block, then it stops reading and ours block too (or fail once it hangs up).
        let mut sent = 0u32;
        loop {
            match tokio::time::timeout(Duration::from_secs(3), s.write_all(&request)).await {
                Ok(Ok(())) => sent += 1,
                _ => break,
            }
            assert!(sent < 500_000, "the server never stopped reading");
        }
        hogs.push(s);
    }
    // Both slots were taken by peers that do not read. The write deadline must free them.
    let t0 = Instant::now();
    let served = served_within(d.ldap, Duration::from_secs(30)).await;
    println!(
        "2 write-blocked clients, limit 2: a new client served after {:.1} s ({served})",
        t0.elapsed().as_secs_f64()
    );
    assert!(
        served,
        "write-blocked clients still hold every slot: {}",
        d.log()
    );
    drop(hogs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_slow_connections_add_at_most_64_mib() {
    hybridauth::runtime::process::raise_nofile_limit();
    let d = Daemon::start();
    assert!(served_within(d.ldap, Duration::from_secs(5)).await);
    let before = d.rss_kib();
    // Each peer announces a 1,000,000-octet message and sends 200 KiB of it, then stalls.
    let size: u32 = 1_000_000;
    let mut head = vec![0x30u8, 0x84];
    head.extend_from_slice(&size.to_be_bytes());
    let payload = Arc::new([head, vec![0x04; 200 * 1024]].concat());
    let mut tasks = tokio::task::JoinSet::new();
    let mut conns = Vec::new();
    for _ in 0..1000 {
        let s = TcpStream::connect(("127.0.0.1", d.ldap)).await.unwrap();
        let (r, mut w) = s.into_split();
        conns.push(r);
        let payload = payload.clone();
        tasks.spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), w.write_all(&payload)).await;
            w
        });
    }
    let mut writers = Vec::new();
    while let Some(w) = tasks.join_next().await {
        writers.push(w.unwrap());
    }
    // The server reads what it may; take the highest of a few samples.
    let mut peak = 0;
    for _ in 0..10 {
        peak = peak.max(d.rss_kib());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let added_mib = (peak.saturating_sub(before)) as f64 / 1024.0;
    println!("1000 slow connections: RSS {before} KiB -> {peak} KiB (+{added_mib:.1} MiB)");
    assert!(
        added_mib <= 64.0,
        "1000 slow connections added {added_mib:.1} MiB"
    );
    drop((conns, writers));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_descriptors_the_listener_backs_off_and_radius_still_answers_and_logs() {
    let mut d = Options {
        nofile: Some(64),
        ..Options::default()
    }
    .start();
    d.cli(&["user", "add", "alice", "--password", "Winter2026!"]);
    // More connections than the daemon has descriptors.
    let mut conns = Vec::new();
    for _ in 0..100 {
        conns.push(TcpStream::connect(("127.0.0.1", d.ldap)).await.unwrap());
    }
    // Wait until the daemon holds every descriptor it may.
    let open_fds = |pid: u32| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while open_fds(d.pid()) < 64 {
        assert!(Instant::now() < deadline, "never ran out: {}", d.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Over two seconds a spinning accept loop burns a whole core (200 ticks).
    let t0 = d.cpu_ticks();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = d.cpu_ticks() - t0;
    println!("CPU while out of descriptors: {used} ticks in 2 s");
    assert!(used < 50, "the listener spins: {used} ticks in 2 s");
    // RADIUS is still served, and the decision is in the sign-in log (opened at start).
    let s = client("127.0.0.1");
    let pkt = access_request(1, [7; 16], "alice", b"Winter2026!", SECRET, true, &[]);
    let r = exchange(&s, d.radius, "127.0.0.1", &pkt).expect("RADIUS answered");
    assert_eq!(r[0], 2);
    assert_eq!(d.signin_log("onprem").len(), 1, "the record was written");
    assert!(d.alive());
    drop(conns);
    assert!(
        served_within(d.ldap, Duration::from_secs(10)).await,
        "LDAP recovers once descriptors are free"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_limit_ldaps_peers_are_closed_before_any_tls_work() {
    let port = free_tcp();
    let d = Options {
        env: vec![("HYBRIDAUTH_LDAP__MAX_CONNECTIONS".into(), "1".into())],
        extra_toml: format!(
            "[[ldap.listeners]]\naddress = \"127.0.0.1:{port}\"\nendpoint = \"on-prem\"\ntls = \"ldaps\"\ncert = \"{{dir}}/cert.pem\"\nkey = \"{{dir}}/key.pem\"\n"
        ),
        before: Some(common::tls::lab_cert),
        ..Options::default()
    }
    .start();
    let connector = common::tls::connector(&d.dir.path().join("cert.pem"));
    // Within the limit, LDAPS works.
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let tls = connector
        .connect(common::tls::localhost(), tcp)
        .await
        .expect("handshake within the limit");
    let mut held = Framed::new(tls, LdapCodec::default());
    assert_eq!(
        bind(&mut held, 1, "", "").await.code,
        LdapResultCode::Success
    );
    // Over it: closed before a ServerHello.
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let over = tokio::time::timeout(
        Duration::from_secs(5),
        connector.connect(common::tls::localhost(), tcp),
    )
    .await
    .expect("refused at once, not after a handshake timeout");
    assert!(over.is_err(), "an over-limit peer got a TLS session");
    drop(held);
}

/// A message whose body is `depth` nested SEQUENCEs, padded to about `size` octets.
fn nested_ber(depth: usize) -> Vec<u8> {
    let mut inner: Vec<u8> = vec![0x02, 0x01, 0x01];
    for _ in 0..depth {
        let mut v = vec![0x30u8, 0x84];
        v.extend_from_slice(&(inner.len() as u32).to_be_bytes());
        v.extend_from_slice(&inner);
        inner = v;
    }
    let mut msg = vec![0x30u8, 0x84];
    let body = [vec![0x02, 0x01, 0x01], inner].concat();
    msg.extend_from_slice(&(body.len() as u32).to_be_bytes());
    msg.extend_from_slice(&body);
    msg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_ber_does_not_grow_the_log() {
    let d = Daemon::start();
    let log = d.dir.path().join("serve.log");
    let before = file_len(&log);
    let msg = nested_ber(33_000);
    assert!(msg.len() > 190_000);
    for _ in 0..40 {
        let mut s = TcpStream::connect(("127.0.0.1", d.ldap)).await.unwrap();
        s.write_all(&msg).await.unwrap();
        let mut c = Framed::new(s, LdapCodec::default());
        assert_eq!(expect_notice(&mut c).await, LdapResultCode::ProtocolError);
    }
    let grew = file_len(&log) - before;
    println!(
        "40 nested messages of {} octets: log +{grew} bytes",
        msg.len()
    );
    assert!(grew < 16 * 1024, "the log grew by {grew} bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bind_names_are_refused_as_invalid_names_and_logged_capped() {
    let d = Daemon::start();
    d.cli(&["user", "add", "alice", "--password", "Winter2026!"]);
    let signin = d.dir.path().join("signin-onprem.jsonl");
    let serve = d.dir.path().join("serve.log");
    let (s0, l0) = (file_len(&signin), file_len(&serve));
    let name = "a".repeat(1_000_000);
    let mut c = connect(d.ldap).await;
    let mut answers = vec![];
    for i in 0..60 {
        answers.push(bind(&mut c, i + 1, &name, "whatever").await);
    }
    println!(
        "60 binds with 1 MB names: sign-in log +{} bytes, daemon log +{} bytes",
        file_len(&signin) - s0,
        file_len(&serve) - l0
    );
    for r in answers {
        assert_eq!(r.code, LdapResultCode::InvalidDNSyntax);
        assert!(r.message.starts_with("0000208F"), "{}", r.message);
    }
    // Within the limits, a name that is merely unknown is still 49 / 525.
    let r = bind(&mut c, 100, &"b".repeat(20), "whatever").await;
    assert_eq!(r.code, LdapResultCode::InvalidCredentials);
    assert!(r.message.contains("data 525"));
    let added = file_len(&signin) - s0;
    assert!(added < 100 * 1024, "sign-in log grew by {added}");
    assert!(file_len(&serve) - l0 < 16 * 1024);
    let records = d.signin_log("onprem");
    let first = &records[records.len() - 61];
    assert_eq!(first["rule"], "login.invalid-name");
    assert!(first["login"]
        .as_str()
        .unwrap()
        .ends_with("[1000000 bytes in all]"));
    // RADIUS: a sAMAccountName of 21 characters names nobody AD could hold.
    let s = client("127.0.0.1");
    let pkt = access_request(3, [3; 16], &"c".repeat(21), b"x", SECRET, true, &[]);
    let r = exchange(&s, d.radius, "127.0.0.1", &pkt).unwrap();
    assert_eq!(r[0], 3);
    let last = d.signin_log("onprem").pop().unwrap();
    assert_eq!(last["rule"], "login.invalid-name");
    assert_eq!(last["codes"]["nps"], 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_any_log_at_trace() {
    let d = Daemon::start_with_env(&[("HYBRIDAUTH_LOG", "trace")]);
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
    let ap = d.app_password("alice", "Laptop");
    d.cli(&["sync", "now"]);
    let wrong = "Wrong-guess-7";
    let mut c = connect(d.ldap).await;
    assert_eq!(
        bind(&mut c, 1, "alice", "Winter2026!").await.code,
        LdapResultCode::Success
    );
    bind(&mut c, 2, "alice", wrong).await;
    let mut cloud = connect(d.ldap_cloud).await;
    assert_eq!(
        bind(&mut cloud, 1, "alice@contoso.com", &ap).await.code,
        LdapResultCode::Success
    );
    bind(&mut cloud, 2, "alice@contoso.com", wrong).await;
    let s = client("127.0.0.1");
    for (id, pw) in [(1u8, "Winter2026!"), (2, wrong)] {
        let pkt = access_request(id, [id; 16], "alice", pw.as_bytes(), SECRET, true, &[]);
        exchange(&s, d.radius, "127.0.0.1", &pkt).unwrap();
    }
    let v6 = client("::1");
    let pkt = access_request(
        3,
        [3; 16],
        "alice@contoso.com",
        ap.as_bytes(),
        SECRET,
        false,
        &[],
    );
    assert_eq!(exchange(&v6, d.radius, "::1", &pkt).unwrap()[0], 2);
    let mut all = String::new();
    for entry in std::fs::read_dir(d.dir.path()).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".log") || name.ends_with(".jsonl") {
            all.push_str(&String::from_utf8_lossy(&std::fs::read(&p).unwrap()));
        }
    }
    assert!(all.contains("TRACE"), "the daemon logged at trace");
    for secret in ["Winter2026!", wrong, ap.as_str(), SECRET] {
        assert!(!all.contains(secret), "{secret:?} is in a log");
    }
    // Nor anything derived from them: the stored hashes (a database driver logging its
    // statements' parameters would show them; on PostgreSQL this test runs with one).
    let store = d.store();
    let alice = store.user_by_sam("alice").unwrap().unwrap();
    let mut derived = vec![alice.password_hash.clone()];
    derived.extend(alice.syncable_hash.clone());
    derived.extend(
        store
            .app_passwords(alice.id)
            .unwrap()
            .into_iter()
            .flat_map(|a| [a.hash, a.tag]),
    );
    for d in derived {
        // The salt and digest part of a PHC string (its parameters are not secret).
        let tail = d.rsplit('$').next().unwrap_or(&d).to_string();
        assert!(!all.contains(&tail), "a stored hash is in a log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_files_are_private_whatever_the_umask_and_hold_no_wrong_password_fingerprints() {
    // The SQLite file's own modes (a PostgreSQL store has none here).
    let d = Options {
        store: Some("data/store.sqlite3".into()),
        umask: Some(0),
        sqlite_only: true,
        ..Options::default()
    }
    .start();
    d.cli(&["user", "add", "alice", "--password", "Winter2026!"]);
    d.cli(&["sync", "now"]);
    let v6 = client("::1");
    for id in 1..=3u8 {
        let pkt = access_request(
            id,
            [id; 16],
            "alice@contoso.com",
            b"Winter2027!",
            SECRET,
            false,
            &[],
        );
        assert_eq!(exchange(&v6, d.radius, "::1", &pkt).unwrap()[0], 3);
    }
    let data = d.dir.path().join("data");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "data directory");
    let mut seen = vec![];
    for entry in std::fs::read_dir(&data).unwrap() {
        let p = entry.unwrap().path();
        assert_eq!(mode(&p), 0o600, "{}", p.display());
        seen.push(p.file_name().unwrap().to_string_lossy().to_string());
    }
    for f in [
        "store.sqlite3",
        "store.sqlite3-wal",
        "signin-cloud.jsonl",
        "accounting.jsonl",
    ] {
        assert!(seen.iter().any(|s| s == f), "{f} missing from {seen:?}");
    }
    // Smart lockout counted the failures, and kept no fingerprint of the wrong password.
    let db = rusqlite::Connection::open_with_flags(
        data.join("store.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let states: Vec<String> = db
        .prepare("SELECT state FROM smart_lockout WHERE user_id > 0")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        states.iter().any(|s| s.contains("\"failures\":1")),
        "{states:?}"
    );
    assert!(states.iter().all(|s| !s.contains("recent")), "{states:?}");
}

fn starttls_options() -> (Options, u16, u16) {
    let (strict, lax) = (free_tcp(), free_tcp());
    let o = Options {
        extra_toml: format!(
            "[[ldap.listeners]]\naddress = \"127.0.0.1:{strict}\"\ntls = \"starttls\"\ncert = \"{{dir}}/cert.pem\"\nkey = \"{{dir}}/key.pem\"\n\
             [[ldap.listeners]]\naddress = \"127.0.0.1:{lax}\"\ntls = \"starttls\"\nrequire_tls = false\ncert = \"{{dir}}/cert.pem\"\nkey = \"{{dir}}/key.pem\"\n"
        ),
        before: Some(common::tls::lab_cert),
        ..Options::default()
    };
    (o, strict, lax)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_listeners_refuse_cleartext_simple_binds_unless_require_tls_is_off() {
    let (o, strict, lax) = starttls_options();
    let d = o.start();
    d.cli(&["user", "add", "alice", "--password", "Winter2026!"]);
    let mut c = connect(strict).await;
    let r = bind(&mut c, 1, "alice", "Winter2026!").await;
    assert_eq!(r.code, LdapResultCode::StrongerAuthRequired);
    assert!(r.message.starts_with("00002028"), "{}", r.message);
    assert_eq!(bind(&mut c, 2, "", "").await.code, LdapResultCode::Success);
    c.send(extended_msg(3, "1.3.6.1.4.1.1466.20037"))
        .await
        .unwrap();
    match c.next().await.unwrap().unwrap().op {
        LdapOp::ExtendedResponse(r) => assert_eq!(r.res.code, LdapResultCode::Success),
        other => panic!("{other:?}"),
    }
    let tcp = c.into_parts().io;
    let tls = common::tls::connector(&d.dir.path().join("cert.pem"))
        .connect(common::tls::localhost(), tcp)
        .await
        .unwrap();
    let mut c = Framed::new(tls, LdapCodec::default());
    assert_eq!(
        bind(&mut c, 4, "alice", "Winter2026!").await.code,
        LdapResultCode::Success
    );
    // require_tls = false: the operator's explicit choice.
    let mut c = connect(lax).await;
    assert_eq!(
        bind(&mut c, 1, "alice", "Winter2026!").await.code,
        LdapResultCode::Success
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unexpected_operation_gets_a_notice_and_the_connection_is_closed() {
    let d = Daemon::start();
    let mut c = connect(d.ldap).await;
    c.send(LdapMsg {
        msgid: 1,
        op: LdapOp::BindResponse(LdapBindResponse {
            res: LdapResult {
                code: LdapResultCode::Success,
                matcheddn: String::new(),
                message: String::new(),
                referral: vec![],
            },
            saslcreds: None,
        }),
        ctrl: vec![],
    })
    .await
    .unwrap();
    assert_eq!(expect_notice(&mut c).await, LdapResultCode::ProtocolError);
    expect_closed(&mut c).await;
    // The same after a malformed message.
    let mut s = TcpStream::connect(("127.0.0.1", d.ldap)).await.unwrap();
    s.write_all(&[0x30, 0x03, 0x02, 0x01]).await.unwrap();
    s.write_all(&[0xff]).await.unwrap();
    let mut c = Framed::new(s, LdapCodec::default());
    assert_eq!(expect_notice(&mut c).await, LdapResultCode::ProtocolError);
    expect_closed(&mut c).await;
    let mut rest = vec![];
    let _ = c.into_parts().io.read_to_end(&mut rest).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_messages_wait_for_the_shared_buffer_budget() {
    let d = Daemon::start_with_env(&[
        ("HYBRIDAUTH_LDAP__MAX_MESSAGE_BYTES", "65536"),
        ("HYBRIDAUTH_LDAP__MAX_BUFFERED_BYTES", "65536"),
        (
            "HYBRIDAUTH_LOG",
            "info,hybridauth::protocol::ldap_framing=trace",
        ),
    ]);
    // A stalls half-way through a 60,000-octet message: it holds 60,000 of the 65,536 octets.
    let mut a = TcpStream::connect(("127.0.0.1", d.ldap)).await.unwrap();
    let mut head = vec![0x30u8, 0x82];
    head.extend_from_slice(&(60_000u16 - 4).to_be_bytes());
    a.write_all(&head).await.unwrap();
    a.write_all(&vec![0x04; 30_000]).await.unwrap();
    // Only once the server has granted A its budget does B send.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.log().contains("buffer budget granted bytes=60000") {
        assert!(Instant::now() < deadline, "{}", d.log());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // B's 30,000-octet bind must wait for budget; a small bind (C) needs none.
    let mut b = connect(d.ldap).await;
    b.send(bind_msg(
        1,
        &format!("CN={},DC=x", "b".repeat(29_000)),
        "pw",
    ))
    .await
    .unwrap();
    let mut c = connect(d.ldap).await;
    assert_eq!(bind(&mut c, 1, "", "").await.code, LdapResultCode::Success);
    assert!(
        tokio::time::timeout(Duration::from_secs(1), b.next())
            .await
            .is_err(),
        "B was read without budget"
    );
    // A gives up; its budget returns and B is answered.
    drop(a);
    let answer = tokio::time::timeout(Duration::from_secs(10), b.next())
        .await
        .expect("B answered once the budget is free")
        .unwrap()
        .unwrap();
    assert!(matches!(answer.op, LdapOp::BindResponse(_)), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_is_one_limit_across_every_listener() {
    let d = Daemon::start_with_env(&[("HYBRIDAUTH_LDAP__MAX_CONNECTIONS", "1")]);
    let mut first = connect(d.ldap).await;
    assert_eq!(
        bind(&mut first, 1, "", "").await.code,
        LdapResultCode::Success
    );
    // The other listener has no room of its own.
    let mut other = connect(d.ldap_cloud).await;
    assert_eq!(expect_notice(&mut other).await, LdapResultCode::Busy);
    expect_closed(&mut other).await;
    drop(first);
    assert!(served_within(d.ldap_cloud, Duration::from_secs(10)).await);
}
