//! The embedded store: durable across reopen, and a killed writer loses nothing it acknowledged.

mod common;
use common::*;
use hybridauth::app::App;
use hybridauth::config::Config;
use hybridauth::directory::MfaState;

#[test]
fn a_write_survives_reopening_the_store() {
    let lab = Lab::new();
    lab.add("alice", "Winter2026!", MfaState::Enforced);
    lab.tenant("allow-app-passwords", "on");
    let ap = lab.app_password("alice", "Laptop");
    lab.advance("45m");
    let path = lab.dir.path().to_path_buf();
    let Lab { app, dir } = lab;
    drop(app);
    let again = App::open(Config::validate(raw_config(&path)).unwrap()).unwrap();
    let lab = Lab { app: again, dir };
    let u = lab.app.directory.get("alice").unwrap();
    assert_eq!(u.mfa, MfaState::Enforced);
    assert_eq!(
        lab.app.clock.now().unwrap(),
        t("2026-01-05T10:45:00Z"),
        "the simulated time is persisted"
    );
    assert_decision(
        &lab.cloud("alice@contoso.com", &ap),
        true,
        "cloud.app-password.accept",
    );
}

/// Starts `user add SAM` as a separate process whose acknowledgement (its JSON answer) we read.
fn writer(store: &std::path::Path, sam: &str) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_hybridauth"))
        .args(["user", "add", sam, "--password", "p", "--json"])
        .env("HYBRIDAUTH_STORE__PATH", store)
        .env("HYBRIDAUTH_HASHING__MEMORY_KIB", "64")
        .env("HYBRIDAUTH_HASHING__ITERATIONS", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn a_change_acknowledged_to_the_cli_survives_a_kill_right_after_the_acknowledgement() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store.sqlite3");
    let mut acked = Vec::new();
    let mut killed_before_ack = 0;
    for i in 0..40u64 {
        let sam = format!("u{i}");
        let mut child = writer(&store, &sam);
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        if i % 4 == 3 {
            // Some writers die at a varying moment, usually before they could answer: what
            // they did not acknowledge may or may not be there, and nothing else may break.
            std::thread::sleep(std::time::Duration::from_millis(i % 13));
            let _ = child.kill();
            let mut line = String::new();
            if out.read_line(&mut line).unwrap_or(0) > 0 && line.contains(&sam) {
                acked.push(sam);
            } else {
                killed_before_ack += 1;
            }
        } else {
            // The rest are killed the instant their acknowledgement arrives.
            let mut line = String::new();
            out.read_line(&mut line).unwrap();
            let _ = child.kill();
            let v: serde_json::Value = serde_json::from_str(&line).expect("an acknowledgement");
            assert_eq!(v["sam"], sam.as_str());
            acked.push(sam);
        }
        child.wait().unwrap();
    }
    assert!(acked.len() >= 30, "{} acknowledged", acked.len());
    println!(
        "{} acknowledged, {killed_before_ack} killed before acknowledging",
        acked.len()
    );
    let mut raw = raw_config(dir.path());
    raw.store.path = store.display().to_string();
    let app = App::open(Config::validate(raw).unwrap()).unwrap();
    for sam in &acked {
        assert!(
            app.directory.get(sam).is_ok(),
            "{sam} was acknowledged but is gone"
        );
    }
}

#[test]
fn the_store_commits_in_wal_mode_with_a_full_fsync() {
    // What a kill cannot show: an acknowledged change must also survive power loss, which
    // SQLite promises in WAL mode only with synchronous = FULL.
    let dir = tempfile::tempdir().unwrap();
    let store =
        hybridauth::directory::sqlite::SqliteStore::open(&dir.path().join("s.sqlite3")).unwrap();
    assert_eq!(store.durability().unwrap(), ("wal".to_string(), 2));
}

#[test]
fn a_panic_while_the_store_is_locked_does_not_wedge_it() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        hybridauth::directory::sqlite::SqliteStore::open(&dir.path().join("s.sqlite3")).unwrap();
    use hybridauth::directory::Store;
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = store.modify_smart_lockout(7, &mut |s| {
            s.failures = 99;
            panic!("a bug in one request");
        });
    }));
    assert!(panicked.is_err());
    // The next request is served, and the half-done change was rolled back.
    assert!(store.tenant().is_ok());
    assert_eq!(store.smart_lockout(7).unwrap().failures, 0);
    store
        .modify_smart_lockout(7, &mut |s| s.failures = 1)
        .unwrap();
    assert_eq!(store.smart_lockout(7).unwrap().failures, 1);
}

#[test]
fn opening_an_older_store_drops_its_wrong_password_fingerprints() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite3");
    drop(hybridauth::directory::sqlite::SqliteStore::open(&path).unwrap());
    {
        // As version 2 stored it.
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute(
            "INSERT INTO smart_lockout (user_id, state) VALUES (1, ?1)",
            [r#"{"failures":2,"lockouts":0,"locked_until":null,"recent_bad":["ab12","cd34"]}"#],
        )
        .unwrap();
        // Undo the later migrations' schema changes so that this stands as a version-2 store.
        db.execute_batch(
            "DROP INDEX history_mail; ALTER TABLE history DROP COLUMN mail_lc; \
             DROP INDEX users_mail; DROP INDEX history_sync; DROP TABLE memberships; \
             ALTER TABLE users DROP COLUMN nt_hash; DROP INDEX users_deleted;",
        )
        .unwrap();
        db.pragma_update(None, "user_version", 2).unwrap();
    }
    let store = hybridauth::directory::sqlite::SqliteStore::open(&path).unwrap();
    use hybridauth::directory::Store;
    assert_eq!(store.smart_lockout(1).unwrap().failures, 2);
    drop(store);
    let db = rusqlite::Connection::open(&path).unwrap();
    let state: String = db
        .query_row(
            "SELECT state FROM smart_lockout WHERE user_id = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!state.contains("recent_bad"), "{state}");
}

#[test]
fn reads_in_one_scope_see_one_state_and_reads_after_it_see_the_latest() {
    use hybridauth::directory::Store;
    let dir = tempfile::tempdir().unwrap();
    let store =
        hybridauth::directory::sqlite::SqliteStore::open(&dir.path().join("s.sqlite3")).unwrap();
    store
        .modify_smart_lockout(7, &mut |s| s.failures = 1)
        .unwrap();
    let mut seen = vec![];
    store
        .read_scope(&mut || {
            seen.push(store.smart_lockout(7).unwrap().failures);
            // A change committed while the scope is open (another decision's) ...
            store
                .modify_smart_lockout(7, &mut |s| s.failures = 2)
                .unwrap();
            // ... is not seen by this scope's reads: one decision reads one state.
            seen.push(store.smart_lockout(7).unwrap().failures);
        })
        .unwrap();
    assert_eq!(seen, vec![1, 1]);
    assert_eq!(store.smart_lockout(7).unwrap().failures, 2);
}

#[test]
fn many_threads_reading_at_once_all_get_answers() {
    use hybridauth::directory::Store;
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(
        hybridauth::directory::sqlite::SqliteStore::open(&dir.path().join("s.sqlite3")).unwrap(),
    );
    // More threads than read connections: the extra ones wait for a reader, none fails.
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let store = std::sync::Arc::clone(&store);
            std::thread::spawn(move || {
                for _ in 0..50 {
                    store
                        .read_scope(&mut || {
                            assert!(store.tenant().is_ok());
                            assert_eq!(store.smart_lockout(i).unwrap().failures, 0);
                        })
                        .unwrap();
                    assert!(store.user_by_sam("nobody").unwrap().is_none());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn the_wal_stays_bounded_under_a_stream_of_decision_writes() {
    use hybridauth::directory::Store;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite3");
    let store = hybridauth::directory::sqlite::SqliteStore::open(&path).unwrap();
    // The hot connection does not checkpoint inside its commits; `flush_durable` does it
    // every thousand writes. Without that, each of these writes would grow the WAL by a page.
    let wal = dir.path().join("s.sqlite3-wal");
    let mut largest = 0;
    for i in 0..6000 {
        store
            .modify_smart_lockout(i % 50, &mut |s| s.failures += 1)
            .unwrap();
        store.flush_durable().unwrap();
        largest = largest.max(std::fs::metadata(&wal).unwrap().len());
    }
    eprintln!("largest WAL: {} KiB", largest / 1024);
    assert!(largest < 8 << 20, "WAL grew to {largest} bytes");
    assert_eq!(store.smart_lockout(7).unwrap().failures, 120);
}

#[test]
fn opening_a_version_5_store_fills_in_the_group_memberships() {
    use hybridauth::directory::Store;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite3");
    drop(hybridauth::directory::sqlite::SqliteStore::open(&path).unwrap());
    {
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute_batch(
            "DROP TABLE memberships; ALTER TABLE users DROP COLUMN nt_hash; DROP INDEX users_deleted;",
        )
            .unwrap();
        db.pragma_update(None, "user_version", 5).unwrap();
        // Users as version 5 kept them: groups newline-separated in users.groups.
        for (sam, groups, deleted) in [
            ("ann", "VPN Users\nstaff", None),
            ("bob", "vpn users", None),
            ("gone", "staff", Some(1i64)),
        ] {
            db.execute(
                "INSERT INTO users (sam, sam_lc, upn, upn_lc, display_name, groups, enabled, \
                 password_hash, password_set_at, password_expired, must_change, admin, mfa, \
                 modern_auth_only, created_at, enabled_changed_at, ever_had_app_password, deleted_at) \
                 VALUES (?1, ?1, ?1 || '@x.com', ?1 || '@x.com', ?1, ?2, 1, '', 0, 0, 0, 0, 'disabled', 0, 0, 0, 0, ?3)",
                rusqlite::params![sam, groups, deleted],
            )
            .unwrap();
        }
    }
    let store = hybridauth::directory::sqlite::SqliteStore::open(&path).unwrap();
    let groups = store.groups(None).unwrap();
    assert_eq!(
        groups,
        vec![
            ("staff".to_string(), vec!["ann".to_string()]),
            (
                "VPN Users".to_string(),
                vec!["ann".to_string(), "bob".to_string()]
            ),
        ]
    );
}

#[test]
fn opening_a_version_7_store_indexes_deleted_users() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite3");
    drop(hybridauth::directory::sqlite::SqliteStore::open(&path).unwrap());
    {
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute_batch("DROP INDEX users_deleted;").unwrap();
        db.pragma_update(None, "user_version", 7).unwrap();
    }
    drop(hybridauth::directory::sqlite::SqliteStore::open(&path).unwrap());
    let db = rusqlite::Connection::open(&path).unwrap();
    let plan: String = db
        .query_row(
            "EXPLAIN QUERY PLAN SELECT id FROM users WHERE deleted_at IS NOT NULL AND deleted_at >= 0",
            [],
            |r| r.get(3),
        )
        .unwrap();
    assert!(plan.contains("users_deleted"), "{plan}");
}
