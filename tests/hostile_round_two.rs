//! Hostile input, round two (issue 22), against a running daemon over real sockets: a stored
//! hash with hostile costs, and searches that would starve sign-ins.

mod common;
use common::daemon::Daemon;
use common::ldap::*;

use std::time::Duration;

use ldap3_proto::proto::*;

/// These tests load the daemon (searches over 20,000 users, production Argon2) and watch its
/// CPU: one at a time, so that they never measure each other.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A PHC string claiming m = 2 GiB and t = 100,000: about a day of Argon2, never computed.
const HOSTILE_PHC: &str = "$argon2id$v=19$m=2097152,t=100000,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";

/// Writes `hash` as the user's password hash straight into the store, as a store written
/// before imports were checked may hold it.
fn plant_hash(d: &Daemon, sam: &str, hash: &str) {
    let store = d.store();
    let mut user = store.user_by_sam(sam).unwrap().unwrap();
    user.password_hash = hash.into();
    user.syncable_hash = Some(hash.into());
    // The store's own write: it takes any hash (the checks are the import's).
    store.update_user(&user, user.password_set_at).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_hash_above_the_cost_cap_is_never_run_and_shutdown_does_not_wait() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let mut d = Daemon::start();
    for sam in ["alice", "bob"] {
        d.cli(&["user", "add", sam, "--password", "Winter2026!"]);
    }
    plant_hash(&d, "alice", HOSTILE_PHC);
    let rss_before = d.rss_kib();
    // Two unauthenticated binds naming that user, at once (each held a hashing slot and 2 GiB
    // before): both answer, as a wrong password.
    let port = d.ldap;
    let binds: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(async move {
                let mut c = connect(port).await;
                tokio::time::timeout(
                    Duration::from_secs(20),
                    bind(&mut c, 1, "alice", "Winter2026!"),
                )
                .await
            })
        })
        .collect();
    for b in binds {
        let r = b
            .await
            .unwrap()
            .expect("no answer within 20 s: the hostile hash ran");
        assert_eq!(r.code, LdapResultCode::InvalidCredentials);
        assert!(r.message.contains("data 52e"), "{}", r.message);
    }
    // Hashing slots are free: another user's uncached sign-in is served.
    let mut c = connect(d.ldap).await;
    assert_eq!(
        bind(&mut c, 1, "bob", "Winter2026!").await.code,
        LdapResultCode::Success
    );
    let grown_mib = d.rss_kib().saturating_sub(rss_before) / 1024;
    assert!(grown_mib < 64, "RSS grew by {grown_mib} MiB");
    // The decision says why.
    let rec = d
        .signin_log("onprem")
        .into_iter()
        .rfind(|r| r["login"] == "alice")
        .unwrap();
    assert_eq!(rec["rule"], "onprem.bad-password");
    let why = rec["explanation"].as_str().unwrap();
    assert!(
        why.contains("the stored password hash was not run")
            && why.contains("m=2097152 KiB is above the cap of 256 KiB"),
        "{why}"
    );
    // check (the third front door) says the same.
    let out = d.cli(&[
        "--json",
        "check",
        "--endpoint",
        "on-prem",
        "--user",
        "alice",
        "--password",
        "Winter2026!",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outcome"], "reject");
    assert!(
        v["explanation"].as_str().unwrap().contains("not run"),
        "{v}"
    );
    // SIGTERM stops the daemon.
    unsafe { libc::kill(d.pid() as i32, libc::SIGTERM) };
    assert!(
        d.wait(Duration::from_secs(15)).is_some(),
        "still running 15 s after SIGTERM"
    );
}

/// Imports `n` users `u0`…, all with `hash` as their password hash (pre-hashed: fast), in the
/// given groups.
fn import_users(d: &Daemon, n: usize, hash: &str, groups: &str) {
    import_users_with(d, n, hash, groups, &[]);
}

fn import_users_with(d: &Daemon, n: usize, hash: &str, groups: &str, env: &[(&str, &str)]) {
    import_hashes(d, n, |_| hash.to_string(), groups, env);
}

/// As `import_users`, with user `i`'s hash from `hash(i)`.
fn import_hashes(
    d: &Daemon,
    n: usize,
    hash: impl Fn(usize) -> String,
    groups: &str,
    env: &[(&str, &str)],
) {
    let mut csv = String::from("sam,password_hash,groups,mail\n");
    for i in 0..n {
        let hash = hash(i);
        csv.push_str(&format!("u{i},\"{hash}\",{groups},u{i}@contoso.com\n"));
    }
    let file = d.dir.path().join("import.csv");
    std::fs::write(&file, csv).unwrap();
    d.cli_with_env(&["user", "import", file.to_str().unwrap()], env);
}

/// An Argon2id hash of "Winter2026!" with these costs.
fn hash_of(m: u32, t: u32) -> String {
    salted_hash_of(m, t, 0)
}

/// As `hash_of`, with a salt of its own for each `n`: users with equal hashes would share
/// one entry of the verified-secret cache, and only the first sign-in would run Argon2.
fn salted_hash_of(m: u32, t: u32, n: usize) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let params = argon2::Params::new(m, t, 1, None).unwrap();
    let salt = SaltString::encode_b64(format!("salt-{n:010}").as_bytes()).unwrap();
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(b"Winter2026!", &salt)
        .unwrap()
        .to_string()
}

/// A filter of `n` substring terms that matches nobody: every candidate is tested against all.
/// (30,000 of them make a message of about 750 KB, as in the report.)
fn costly_filter(n: usize) -> LdapFilter {
    LdapFilter::Or(
        (0..n)
            .map(|i| {
                LdapFilter::Substring(
                    "description".into(),
                    LdapSubstringFilter {
                        initial: None,
                        any: vec![format!("zz{i}")],
                        final_: None,
                    },
                )
            })
            .collect(),
    )
}

fn metric(d: &Daemon, key: &str) -> f64 {
    common::admin::sample(&common::admin::get(d.admin, "/metrics").1, key).unwrap_or(0.0)
}

/// Waits until `metric` reaches `want`, or fails after `limit`.
async fn metric_reaches(d: &Daemon, key: &str, want: f64, limit: Duration) {
    let deadline = std::time::Instant::now() + limit;
    while metric(d, key) < want {
        assert!(
            std::time::Instant::now() < deadline,
            "{key} stayed at {} (wanted {want})",
            metric(d, key)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The daemon's CPU ticks over `window`.
async fn cpu_over(d: &Daemon, window: Duration) -> u64 {
    let before = d.cpu_ticks();
    tokio::time::sleep(window).await;
    d.cpu_ticks() - before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_stops_when_its_client_hangs_up_or_abandons_it() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let d = Daemon::start();
    d.cli(&["user", "add", "reader", "--password", "Winter2026!"]);
    import_users(&d, 20_000, &hash_of(64, 1), "staff");
    let heavy = search_msg(
        2,
        "DC=contoso,DC=com",
        LdapSearchScope::Subtree,
        costly_filter(900),
    );
    // Hang up right after asking: the search stops, nothing keeps running.
    let mut c = connect(d.ldap).await;
    assert_eq!(
        bind(&mut c, 1, "reader", "Winter2026!").await.code,
        LdapResultCode::Success
    );
    use futures::SinkExt;
    c.send(heavy.clone()).await.unwrap();
    // Until the search is under way (the daemon is busy), then hang up.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while cpu_over(&d, Duration::from_millis(100)).await < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the search never started"
        );
    }
    drop(c);
    let key = "hybridauth_ldap_searches_stopped_total{reason=\"abandoned\"}";
    metric_reaches(&d, key, 1.0, Duration::from_secs(10)).await;
    // And the daemon is idle again: the search thread stopped, not just its answer.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while cpu_over(&d, Duration::from_millis(500)).await > 10 {
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon kept working after the client left"
        );
    }
    // Abandon: no answer to the search; the next request is answered at once.
    let mut c = connect(d.ldap).await;
    bind(&mut c, 1, "reader", "Winter2026!").await;
    c.send(heavy).await.unwrap();
    c.send(LdapMsg {
        msgid: 3,
        op: LdapOp::AbandonRequest(2),
        ctrl: vec![],
    })
    .await
    .unwrap();
    metric_reaches(&d, key, 2.0, Duration::from_secs(10)).await;
    assert_eq!(whoami(&mut c, 4).await, "u:CONTOSO\\reader");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_filters_are_refused_and_long_searches_stop_at_max_search_time() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let d = Daemon::start_with_env(&[("HYBRIDAUTH_LDAP__MAX_SEARCH_TIME", "1s")]);
    d.cli(&["user", "add", "reader", "--password", "Winter2026!"]);
    import_users(&d, 20_000, &hash_of(64, 1), "staff");
    let mut c = connect(d.ldap).await;
    bind(&mut c, 1, "reader", "Winter2026!").await;
    // 30,000 terms (the 750 KB filter of the report): refused before any work.
    let (found, code) = search(&mut c, 2, costly_filter(30_000)).await;
    assert_eq!((found.len(), code), (0, LdapResultCode::AdminLimitExceeded));
    let mut deep = LdapFilter::Present("cn".into());
    for _ in 0..20 {
        deep = LdapFilter::Not(Box::new(deep));
    }
    let (_, code) = search(&mut c, 3, deep).await;
    assert_eq!(code, LdapResultCode::AdminLimitExceeded);
    // Within the limits but slow: stopped by the server's time limit.
    let (_, code) = search(&mut c, 4, costly_filter(900)).await;
    assert_eq!(code, LdapResultCode::TimeLimitExceeded);
    assert_eq!(
        metric(
            &d,
            "hybridauth_ldap_searches_stopped_total{reason=\"time\"}"
        ),
        1.0
    );
    // The connection goes on.
    assert_eq!(whoami(&mut c, 5).await, "u:CONTOSO\\reader");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_of_thousands_is_read_in_ranges_of_1500_members() {
    let d = Daemon::start();
    d.cli(&["user", "add", "reader", "--password", "Winter2026!"]);
    import_users(&d, 4000, &hash_of(64, 1), "big");
    // A client codec that takes replies of any size (ldap3_proto's default stops at 64 KiB).
    let mut c = tokio_util::codec::Framed::new(
        tokio::net::TcpStream::connect(("127.0.0.1", d.ldap))
            .await
            .unwrap(),
        ldap3_proto::LdapCodec::new(Some(64 << 20), None),
    );
    bind(&mut c, 1, "reader", "Winter2026!").await;
    let mut members = std::collections::BTreeSet::new();
    let mut asked = "member".to_string();
    let mut rounds = vec![];
    for id in 2..10 {
        use futures::{SinkExt, StreamExt};
        c.send(LdapMsg {
            msgid: id,
            op: LdapOp::SearchRequest(LdapSearchRequest {
                base: "CN=big,CN=Users,DC=contoso,DC=com".into(),
                scope: LdapSearchScope::Base,
                aliases: LdapDerefAliases::Never,
                sizelimit: 0,
                timelimit: 0,
                typesonly: false,
                filter: LdapFilter::Present("objectClass".into()),
                attrs: vec![asked.clone()],
            }),
            ctrl: vec![],
        })
        .await
        .unwrap();
        let entry = match c.next().await.unwrap().unwrap().op {
            LdapOp::SearchResultEntry(e) => e,
            other => panic!("{other:?}"),
        };
        assert!(matches!(
            c.next().await.unwrap().unwrap().op,
            LdapOp::SearchResultDone(_)
        ));
        let [attr] = entry.attributes.as_slice() else {
            panic!("{:?}", entry.attributes)
        };
        rounds.push((attr.atype.clone(), attr.vals.len()));
        members.extend(attr.vals.iter().cloned());
        // As AD clients do: ask from one past the range's end until it ends in "*".
        let Some(high) = attr.atype.rsplit('-').next().filter(|h| *h != "*") else {
            break;
        };
        asked = format!("member;range={}-*", high.parse::<usize>().unwrap() + 1);
    }
    assert_eq!(
        rounds,
        [
            ("member;range=0-1499".to_string(), 1500),
            ("member;range=1500-2999".to_string(), 1500),
            ("member;range=3000-*".to_string(), 1000),
        ]
    );
    assert_eq!(members.len(), 4000, "every member once");
}

/// 50 uncached sign-ins at once (production Argon2 costs) on their own, then beside 12
/// clients looping subtree searches over 20,000 users; the answers counted by kind. Before,
/// the searches took every core from the SCHED_IDLE hashing threads and 48 of 50 answered
/// busy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searching_clients_never_push_sign_ins_past_max_wait() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let production = [
        ("HYBRIDAUTH_HASHING__MEMORY_KIB", "19456"),
        ("HYBRIDAUTH_HASHING__ITERATIONS", "2"),
    ];
    let d = Daemon::start_with_env(&production);
    // u0..u99 sign in, each with a hash of its own; the rest only make the directory large.
    let own: Vec<String> = (0..100).map(|i| salted_hash_of(19456, 2, i)).collect();
    let shared = hash_of(19456, 2);
    import_hashes(
        &d,
        20_000,
        |i| own.get(i).unwrap_or(&shared).clone(),
        "staff",
        &production,
    );
    d.cli(&["sync", "now"]);
    let port = d.ldap;
    // Each user's first sign-in: Argon2 every time (the verified-secret cache is cold).
    let sign_in_burst = |first: usize| async move {
        let tasks: Vec<_> = (first..first + 50)
            .map(|i| {
                tokio::spawn(async move {
                    let mut c = connect(port).await;
                    bind(&mut c, 1, &format!("u{i}"), "Winter2026!").await.code
                })
            })
            .collect();
        let mut codes = vec![];
        for t in tasks {
            codes.push(t.await.unwrap());
        }
        codes
    };
    let alone = sign_in_burst(0).await;
    let busy_alone = alone.iter().filter(|c| **c == LdapResultCode::Busy).count();
    // 12 clients searching the whole directory over and over.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let searchers: Vec<_> = (0..12)
        .map(|_| {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut c = connect(port).await;
                bind(&mut c, 1, "u19999", "Winter2026!").await;
                let mut n = 0;
                let mut id = 2;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let filter = LdapFilter::And(vec![
                        LdapFilter::Equality("objectClass".into(), "user".into()),
                        LdapFilter::Substring(
                            "mail".into(),
                            LdapSubstringFilter {
                                initial: None,
                                any: vec!["nobody-has-this".into()],
                                final_: None,
                            },
                        ),
                    ]);
                    let (_, code) = search(&mut c, id, filter).await;
                    assert_eq!(code, LdapResultCode::Success);
                    id += 1;
                    n += 1;
                }
                n
            })
        })
        .collect();
    // The searches are under way when the sign-ins come: the daemon is busy.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while cpu_over(&d, Duration::from_millis(200)).await < 10 {
        assert!(
            std::time::Instant::now() < deadline,
            "the searches never loaded the daemon"
        );
    }
    let beside = sign_in_burst(50).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut searches = 0;
    for s in searchers {
        searches += s.await.unwrap();
    }
    let count = |v: &[LdapResultCode], c: LdapResultCode| v.iter().filter(|x| **x == c).count();
    eprintln!(
        "50 uncached sign-ins alone: {} accepted, {busy_alone} busy; beside 12 searching clients ({searches} searches): {} accepted, {} busy",
        count(&alone, LdapResultCode::Success),
        count(&beside, LdapResultCode::Success),
        count(&beside, LdapResultCode::Busy)
    );
    assert_eq!(
        busy_alone, 0,
        "this machine cannot hash 50 sign-ins within max_wait at all"
    );
    assert_eq!(count(&beside, LdapResultCode::Success), 50, "{beside:?}");
    assert!(searches >= 12, "the searches ran");
}

/// Bytes the daemon's socket for this client holds unsent or unacknowledged (tx_queue of
/// /proc/net/tcp, the server side: local port `server`, remote port `client`).
fn send_queue(server: u16, client: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let port = |a: &str| u16::from_str_radix(a.rsplit(':').next()?, 16).ok();
        (port(f[1])? == server && port(f[2])? == client)
            .then(|| u64::from_str_radix(f[4].split(':').next()?, 16).ok())
            .flatten()
    })
}

/// A client that pipelines searches and never reads its replies holds at most the connection's
/// send buffer in kernel memory (ldap.send_buffer_bytes, doubled by the kernel), not the
/// megabytes TCP autotuning allowed, until ldap.write_timeout closes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_holds_at_most_the_send_buffer_in_the_kernel() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let d = Daemon::start_with_env(&[("HYBRIDAUTH_LDAP__SEND_BUFFER_BYTES", "131072")]);
    d.cli(&["user", "add", "reader", "--password", "Winter2026!"]);
    import_users(&d, 2000, &hash_of(64, 1), "staff");
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket
        .connect(([127, 0, 0, 1], d.ldap).into())
        .await
        .unwrap();
    let client_port = stream.local_addr().unwrap().port();
    let mut c = tokio_util::codec::Framed::new(stream, ldap3_proto::LdapCodec::default());
    bind(&mut c, 1, "reader", "Winter2026!").await;
    // 50 searches of every user with every attribute (about 1 MB each), never read.
    use futures::SinkExt;
    for id in 2..52 {
        let mut m = search_msg(
            id,
            "DC=contoso,DC=com",
            LdapSearchScope::Subtree,
            LdapFilter::Present("objectClass".into()),
        );
        if let LdapOp::SearchRequest(r) = &mut m.op {
            r.attrs = vec![];
        }
        c.send(m).await.unwrap();
    }
    // Until the queue stops growing (the buffer is full), within the write timeout.
    let mut last = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(8);
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = send_queue(d.ldap, client_port).unwrap_or(0);
        if now > 0 && now == last {
            break;
        }
        last = now;
        assert!(
            std::time::Instant::now() < deadline,
            "the queue kept growing: {now}"
        );
    }
    // The kernel doubles SO_SNDBUF for its bookkeeping; allow that and one segment's slack.
    assert!(
        last <= 2 * 131_072 + 65_536,
        "{last} bytes held in the kernel for a client that does not read"
    );
    eprintln!("send queue of a non-reading client: {last} bytes (send_buffer_bytes = 131072)");
}

/// Found by the `ldap_message` fuzz target: the LDAP codec prints `unknown op -> N` on standard
/// output for every message naming an operation it does not know, so a peer could write to the
/// daemon's stdout at will, past every log limit. Such messages are refused before the codec:
/// stdout stays empty, and the listener goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ldap_operations_never_reach_standard_output() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let d = common::daemon::Options {
        keep_stdout: true,
        ..Default::default()
    }
    .start();
    d.cli(&["user", "add", "alice", "--password", "Winter2026!"]);
    // messageID 1, then [APPLICATION 18] (no such operation), and a DelRequest in the wrong form.
    for op in [[0x72u8, 0x00], [0x6a, 0x00]] {
        for _ in 0..20 {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", d.ldap))
                .await
                .unwrap();
            s.write_all(&[0x30, 0x05, 0x02, 0x01, 0x01, op[0], op[1]])
                .await
                .unwrap();
            let mut buf = [0u8; 256];
            let _ = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
        }
    }
    let mut c = connect(d.ldap).await;
    assert_eq!(
        bind(&mut c, 1, "alice", "Winter2026!").await.code,
        LdapResultCode::Success
    );
    let stdout = std::fs::read_to_string(d.dir.path().join("stdout.log")).unwrap();
    assert!(stdout.is_empty(), "the daemon's stdout: {stdout:?}");
}
