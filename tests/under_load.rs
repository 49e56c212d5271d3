//! Under load (issue 9): hash work that cannot start in time is shed, rejects wait out the
//! reject delay without holding anything, retransmissions of a delayed reject are absorbed, and
//! a verified secret skips only the hash — over real sockets, plus the cache's rules in-process.

mod common;
use common::daemon::{Daemon, SECRET};
use common::ldap::*;
use common::radius::*;
use common::*;

use std::time::{Duration, Instant};

use hybridauth::directory::service::UserChanges;
use hybridauth::directory::MfaState;
use hybridauth::verify::Secret;
use ldap3_proto::proto::LdapResultCode;

/// Argon2 slow enough (about 0.1–0.3 s here) to build a queue with a handful of requests.
const SLOW: [(&str, &str); 3] = [
    ("HYBRIDAUTH_HASHING__MEMORY_KIB", "65536"),
    ("HYBRIDAUTH_HASHING__ITERATIONS", "3"),
    ("HYBRIDAUTH_HASHING__MAX_CONCURRENT", "1"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binds_that_cannot_start_within_max_wait_are_shed_never_answered_late() {
    let mut env = SLOW.to_vec();
    env.push(("HYBRIDAUTH_HASHING__MAX_WAIT", "500ms"));
    let d = Daemon::start_with_env(&env);
    d.cli_with_env(
        &["user", "add", "alice", "--password", "Winter2026!"],
        &SLOW,
    );
    // Twenty wrong-password binds at once (never cached): seconds of hash work, one slot.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let port = d.ldap;
        tasks.spawn(async move {
            let mut c = connect(port).await;
            let t0 = Instant::now();
            let r = bind(&mut c, 1, "alice", &format!("wrong-{i}")).await;
            (r.code, t0.elapsed())
        });
    }
    let mut answered = 0;
    let mut busy = 0;
    while let Some(r) = tasks.join_next().await {
        let (code, took) = r.unwrap();
        match code {
            LdapResultCode::InvalidCredentials => answered += 1,
            LdapResultCode::Busy => busy += 1,
            other => panic!("{other:?}"),
        }
        // Nothing waits past the deadline: admitted within 500 ms, then one hash.
        assert!(took < Duration::from_secs(3), "answered after {took:?}");
    }
    println!("20 binds at once, 1 slot, max_wait 500 ms: {answered} decided, {busy} shed");
    assert!(
        answered >= 1 && busy >= 1,
        "{answered} decided, {busy} shed"
    );
    // Once the flood is over a request is served as on an idle server.
    let mut c = connect(d.ldap).await;
    assert_eq!(
        bind(&mut c, 1, "alice", "Winter2026!").await.code,
        LdapResultCode::Success
    );
}

#[test]
fn a_delayed_reject_holds_no_slot_and_its_retransmissions_are_absorbed() {
    let mut env = SLOW.to_vec();
    env.push(("HYBRIDAUTH_RADIUS__REJECT_DELAY", "1s"));
    let d = Daemon::start_with_env(&env);
    d.cli_with_env(
        &["user", "add", "alice", "--password", "Winter2026!"],
        &SLOW,
    );
    let guesser = client("127.0.0.1");
    let user = client("127.0.0.1");
    let wrong = access_request(1, [1; 16], "alice", b"guess", SECRET, true, &[]);
    let right = access_request(2, [2; 16], "alice", b"Winter2026!", SECRET, true, &[]);
    let t0 = Instant::now();
    guesser.send_to(&wrong, ("127.0.0.1", d.radius)).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    user.send_to(&right, ("127.0.0.1", d.radius)).unwrap();
    // The guesser retransmits while its reject is held back.
    std::thread::sleep(Duration::from_millis(300));
    guesser.send_to(&wrong, ("127.0.0.1", d.radius)).unwrap();
    let mut buf = [0u8; 4096];
    user.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (n, _) = user.recv_from(&mut buf).unwrap();
    assert_eq!(buf[0], 2, "Access-Accept ({n} octets)");
    let accepted_at = t0.elapsed();
    guesser
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (n, _) = guesser.recv_from(&mut buf).unwrap();
    let rejected_at = t0.elapsed();
    let reject = buf[..n].to_vec();
    assert_eq!(reject[0], 3);
    println!("accept after {accepted_at:?}, delayed reject after {rejected_at:?}");
    assert!(rejected_at >= Duration::from_millis(950), "{rejected_at:?}");
    // The one slot was free for the legitimate user while the reject waited.
    assert!(accepted_at < rejected_at);
    // One answer for two transmissions: nothing more arrives.
    guesser
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    assert!(guesser.recv_from(&mut buf).is_err(), "answered twice");
    // A retransmission after the answer gets the same octets back, at once.
    let again = exchange(&guesser, d.radius, "127.0.0.1", &wrong).unwrap();
    assert_eq!(again, reject);
    let rejects = d
        .signin_log("onprem")
        .iter()
        .filter(|r| r["outcome"] == "reject")
        .count();
    assert_eq!(rejects, 1, "one decision for three transmissions");
}

#[test]
fn a_retransmission_of_a_shed_request_is_shed_again_not_answered_late() {
    let mut env = SLOW.to_vec();
    env.push(("HYBRIDAUTH_HASHING__MAX_WAIT", "20ms"));
    let d = Daemon::start_with_env(&env);
    d.cli_with_env(
        &["user", "add", "alice", "--password", "Winter2026!"],
        &SLOW,
    );
    let (nas, c) = (client("127.0.0.1"), client("127.0.0.1"));
    let req_a = access_request(1, [1; 16], "alice", b"guess-a", SECRET, true, &[]);
    let req_b = access_request(2, [2; 16], "alice", b"guess-b", SECRET, true, &[]);
    let req_c = access_request(3, [3; 16], "alice", b"Winter2026!", SECRET, true, &[]);
    // One of A and B takes the one slot for a hash of 0.1 s or more; the other cannot start
    // within 20 ms: shed.
    nas.send_to(&req_a, ("127.0.0.1", d.radius)).unwrap();
    nas.send_to(&req_b, ("127.0.0.1", d.radius)).unwrap();
    let mut buf = [0u8; 4096];
    nas.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    nas.recv_from(&mut buf).unwrap();
    assert_eq!(buf[0], 3, "the first is rejected");
    let shed = if buf[1] == 1 { &req_b } else { &req_a };
    assert!(
        d.log().contains("(overload; 1 shed since start)"),
        "one was shed"
    );
    // The slot is free again. The NAS retransmits the shed one: shed again at once, the slot
    // left free ...
    nas.send_to(shed, ("127.0.0.1", d.radius)).unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    while !d.log().contains("(overload; 2 shed since start)") {
        assert!(Instant::now() < until, "the retransmission was not shed");
        std::thread::sleep(Duration::from_millis(20));
    }
    // ... for C, a fresh request.
    c.send_to(&req_c, ("127.0.0.1", d.radius)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.recv_from(&mut buf).unwrap();
    assert_eq!(buf[0], 2, "C is accepted");
    nas.set_nonblocking(true).unwrap();
    assert!(
        nas.recv_from(&mut buf).is_err(),
        "the shed request was answered late"
    );
    let decided: Vec<_> = d
        .signin_log("onprem")
        .iter()
        .map(|r| r["outcome"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        decided,
        ["reject", "accept"],
        "only the first and C were decided"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldap_answers_failed_binds_at_once_unless_ldap_reject_delay_is_set() {
    let d = Daemon::start_with_env(&[("HYBRIDAUTH_LDAP__REJECT_DELAY", "1s")]);
    d.cli(&["user", "add", "alice", "--password", "Winter2026!"]);
    let mut c = connect(d.ldap).await;
    let t0 = Instant::now();
    assert_eq!(
        bind(&mut c, 1, "alice", "wrong").await.code,
        LdapResultCode::InvalidCredentials
    );
    assert!(
        t0.elapsed() >= Duration::from_millis(950),
        "{:?}",
        t0.elapsed()
    );
}

#[test]
fn a_cached_verification_skips_only_the_hash_and_every_change_counts_at_once() {
    let lab = Lab::new();
    let ap = lab.enforced_user_with_app_password("alice");
    lab.add("dora", "Pw-dora-1", MfaState::Disabled);
    lab.sync_now();
    let runs = || lab.app.hasher.argon2_runs();
    // Accept twice: the second skips Argon2.
    assert_decision(&lab.onprem("dora", "Pw-dora-1"), true, "onprem.accept");
    let before = runs();
    assert_decision(&lab.onprem("dora", "Pw-dora-1"), true, "onprem.accept");
    assert_eq!(runs(), before, "a cache hit");
    // Every rule still runs: disabled at once, with the same sign-in record.
    lab.app.directory.set_enabled("dora", false).unwrap();
    let d = lab.onprem("dora", "Pw-dora-1");
    assert_decision(&d, false, "onprem.disabled");
    lab.app.directory.set_enabled("dora", true).unwrap();
    // A password reset: the old password fails on the very next request, the new one verifies.
    lab.app
        .directory
        .reset_password("dora", &Secret::new("Pw-dora-2"), false)
        .unwrap();
    assert_decision(
        &lab.onprem("dora", "Pw-dora-1"),
        false,
        "onprem.bad-password",
    );
    assert_decision(&lab.onprem("dora", "Pw-dora-2"), true, "onprem.accept");
    // The cloud keeps the old password until the password-hash-sync cycle, then not a request longer.
    assert_decision(
        &lab.cloud("dora@contoso.com", "Pw-dora-1"),
        true,
        "cloud.password.accept",
    );
    lab.advance("2m");
    assert_decision(
        &lab.cloud("dora@contoso.com", "Pw-dora-1"),
        false,
        "cloud.bad-password",
    );
    // App passwords: cached, then deleted — refused on the next request.
    assert_decision(
        &lab.cloud("alice@contoso.com", &ap),
        true,
        "cloud.app-password.accept",
    );
    let before = runs();
    assert_decision(
        &lab.cloud("alice@contoso.com", &ap),
        true,
        "cloud.app-password.accept",
    );
    assert!(
        runs() - before <= 1,
        "the app password itself was not re-hashed"
    );
    lab.app
        .directory
        .delete_app_password("alice", "Laptop", true)
        .unwrap();
    assert_decision(
        &lab.cloud("alice@contoso.com", &ap),
        false,
        "cloud.bad-password",
    );
    // MFA state changes apply at once too.
    lab.app
        .directory
        .set_user(
            "dora",
            UserChanges {
                mfa: Some(MfaState::Enforced),
                ..UserChanges::default()
            },
        )
        .unwrap();
    lab.advance("2m");
    assert_decision(
        &lab.cloud("dora@contoso.com", "Pw-dora-2"),
        false,
        "cloud.password.mfa-required",
    );
    // Unknown users always cost a full run.
    let before = runs();
    lab.onprem("nobody", "Pw-dora-2");
    lab.onprem("nobody", "Pw-dora-2");
    assert_eq!(runs() - before, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashing_cache_ttl_decides_whether_a_repeated_bind_runs_argon2_again() {
    for (ttl, runs) in [("5m", 1), ("0s", 2)] {
        let d = Daemon::start_with_env(&[
            ("HYBRIDAUTH_HASHING__CACHE_TTL", ttl),
            ("HYBRIDAUTH_LOG", "info,hybridauth::verify::hashing=trace"),
        ]);
        d.cli(&["user", "add", "alice", "--password", "Winter2026!"]);
        let mut c = connect(d.ldap).await;
        for i in 1..=2 {
            assert_eq!(
                bind(&mut c, i, "alice", "Winter2026!").await.code,
                LdapResultCode::Success
            );
        }
        let seen = d.log().matches("argon2 verification").count();
        assert_eq!(seen, runs, "cache_ttl {ttl}: {}", d.log());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_secret_does_not_wait_behind_argon2_work() {
    let mut env = SLOW.to_vec();
    env.push(("HYBRIDAUTH_LOG", "info,hybridauth::verify=debug"));
    let d = Daemon::start_with_env(&env);
    d.cli_with_env(
        &["user", "add", "alice", "--password", "Winter2026!"],
        &SLOW,
    );
    let mut legit = connect(d.ldap).await;
    // First sign-in: Argon2, then the secret is cached.
    assert_eq!(
        bind(&mut legit, 1, "alice", "Winter2026!").await.code,
        LdapResultCode::Success
    );
    // Three guesses hold the one hashing slot for about a second...
    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..3 {
        let port = d.ldap;
        guesses.spawn(async move {
            let mut c = connect(port).await;
            bind(&mut c, 1, "alice", &format!("guess-{i}")).await;
            Instant::now()
        });
    }
    // Once a guess holds the slot (its hash work has started: the second such line)...
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.log().matches("verification started").count() < 2 {
        assert!(Instant::now() < deadline, "{}", d.log());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // ...the legitimate user, whose secret is cached, is answered before any of them.
    assert_eq!(
        bind(&mut legit, 2, "alice", "Winter2026!").await.code,
        LdapResultCode::Success
    );
    let answered = Instant::now();
    while let Some(done) = guesses.join_next().await {
        assert!(
            answered < done.unwrap(),
            "the cached bind waited behind a guess"
        );
    }
}
