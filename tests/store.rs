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
    assert_decision(&lab.cloud("alice", &ap), true, "cloud.app-password.accept");
}

#[test]
fn a_writer_killed_at_any_moment_loses_nothing_it_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store.sqlite3");
    let bin = env!("CARGO_BIN_EXE_hybridauth");
    let mut acked = Vec::new();
    let mut killed = 0;
    for i in 0..40u64 {
        let sam = format!("u{i}");
        let mut child = std::process::Command::new(bin)
            .args(["user", "add", &sam, "--password", "p"])
            .env("HYBRIDAUTH_STORE__PATH", &store)
            .env("HYBRIDAUTH_HASHING__MEMORY_KIB", "64")
            .env("HYBRIDAUTH_HASHING__ITERATIONS", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill every other writer after a varying delay: some before, some during, some after
        // their transaction.
        if i % 2 == 1 {
            std::thread::sleep(std::time::Duration::from_millis(i % 13 * 2));
            if child.kill().is_ok() {
                killed += 1;
            }
        }
        if child.wait().unwrap().success() {
            acked.push(sam);
        }
    }
    assert!(
        acked.len() >= 20,
        "the unkilled writers succeeded ({} of 40)",
        acked.len()
    );
    assert!(killed > 0);
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
