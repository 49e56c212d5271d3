//! Hostile input, round two (issue 22), against a running daemon over real sockets: a stored
//! hash with hostile costs, and searches that would starve sign-ins.

mod common;
use common::daemon::Daemon;
use common::ldap::*;

use std::time::Duration;

use ldap3_proto::proto::*;

/// A PHC string claiming m = 2 GiB and t = 100,000: about a day of Argon2, never computed.
const HOSTILE_PHC: &str = "$argon2id$v=19$m=2097152,t=100000,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";

/// Writes `hash` as the user's password hash straight into the store, as a store written
/// before imports were checked may hold it.
fn plant_hash(d: &Daemon, sam: &str, hash: &str) {
    let db = rusqlite::Connection::open(d.dir.path().join("store.sqlite3")).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    let n = db
        .execute(
            "UPDATE users SET password_hash = ?1, syncable_hash = ?1 WHERE sam = ?2",
            rusqlite::params![hash, sam],
        )
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_hash_above_the_cost_cap_is_never_run_and_shutdown_does_not_wait() {
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
