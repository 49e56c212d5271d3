//! Hostile files, round two (issue 22): scenario steps that try to leave their lab, imported
//! hashes with hostile costs, files that are huge, endless, binary or not import files at all,
//! and scenario runs that are killed. Everything goes through the real binary.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

mod common;

use common::cli::Cli;

/// A PHC string of an Argon2id hash made with these costs.
fn phc(m: u32, t: u32) -> String {
    let params = Params::new(m, t, 1, None).unwrap();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(
            b"Winter2026!",
            &SaltString::from_b64("c2FsdHNhbHRzYWx0").unwrap(),
        )
        .unwrap()
        .to_string()
}

/// A PHC string that claims costs nobody should run (never computed: its hash is made up).
fn hostile_phc() -> String {
    "$argon2id$v=19$m=2097152,t=100000,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
        .into()
}

/// Runs `cmd` for at most `limit`; kills it past that (the test then fails on its status).
fn run_bounded(mut cmd: Command, limit: Duration) -> Option<std::process::Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            return Some(child.wait_with_output().unwrap());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_scenario_step_never_reaches_another_configuration() {
    let cli = Cli::new();
    let dir = cli.dir.path();
    // What an attacker's step would point at: a configuration with a store of its own.
    let victim = dir.join("victim");
    std::fs::create_dir(&victim).unwrap();
    let victim_store = victim.join("store.sqlite3");
    std::fs::write(
        victim.join("hybridauth.toml"),
        format!(
            "[store]\npath = \"{}\"\n[clock]\nmode = \"simulated\"\n[hashing]\nmemory_kib = 64\niterations = 1\n",
            victim_store.display()
        ),
    )
    .unwrap();
    let v = victim.join("hybridauth.toml").display().to_string();
    // Every command a step may use, with the option as a word of its own and joined.
    let steps = [
        format!("user add evil --password 'Evil2026!' --config {v}"),
        format!("user add evil --password 'Evil2026!' --config={v}"),
        format!("user set alice --admin true --config {v}"),
        format!("user disable alice --config {v}"),
        format!("user enable alice --config {v}"),
        format!("user delete alice --config {v}"),
        format!("user unlock alice --config {v}"),
        format!("user reset-password alice --password 'Spring2026!' --config {v}"),
        format!("user import users.csv --config {v}"),
        format!("user show alice --config {v}"),
        format!("user list --config {v}"),
        format!("tenant set allow-app-passwords on --config {v}"),
        format!("tenant show --config {v}"),
        format!("app-password create alice --name Evil --config {v}"),
        format!("app-password delete alice --name Laptop --config {v}"),
        format!("app-password list alice --config {v}"),
        format!("sync now --config {v}"),
        format!("sync status --config {v}"),
        format!("clock set 2026-02-01T00:00:00Z --config {v}"),
        format!("clock advance 5m --config {v}"),
        format!("clock show --config {v}"),
        format!("expect refused user add evil --password 'Evil2026!' --config {v}"),
    ];
    for step in &steps {
        let story = format!(
            "clock set 2026-01-05T10:00:00Z\nuser add alice --password 'Winter2026!'\n{step}\n"
        );
        std::fs::write(dir.join("s.scenario"), story).unwrap();
        let out = cli.run(&["scenario", "run", "s.scenario"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{step}: {err}");
        assert!(
            err.contains("s.scenario:3: ") && err.contains("--config is not allowed in a step"),
            "{step}: {err}"
        );
        assert!(
            !victim_store.exists(),
            "{step}: the step reached the victim's store"
        );
    }
}

#[test]
fn imported_hashes_with_costs_outside_the_range_are_refused_with_file_and_line() {
    let cli = Cli::new();
    let dir = cli.dir.path();
    // The lab hashes with m=64 KiB, t=1: the range is m 16..256 KiB, m×t 16..256.
    let csv = format!(
        "sam,password_hash\nalice,\"{}\"\nmallory,\"{}\"\nweak,\"{}\"\nslow,\"{}\"\n",
        phc(64, 1),
        hostile_phc(),
        phc(8, 1),
        phc(128, 3),
    );
    std::fs::write(dir.join("users.csv"), csv).unwrap();
    let err = cli.refused(&["user", "import", "users.csv"]);
    assert!(
        err.contains("users.csv:3: password_hash refused: its memory cost m=2097152 KiB is above the cap of 256 KiB"),
        "{err}"
    );
    assert!(
        err.contains("users.csv:4: password_hash refused: its memory cost m=8 KiB is below the floor of 16 KiB"),
        "{err}"
    );
    assert!(
        err.contains(
            "users.csv:5: password_hash refused: its work m×t=128×3 is above the cap of 256"
        ),
        "{err}"
    );
    assert!(!err.contains("users.csv:2:"), "{err}");
    assert!(err.contains("nothing was imported"), "{err}");
    assert_eq!(cli.ok(&["--json", "user", "list"]), serde_json::json!([]));
    // LDIF's {ARGON2} userPassword meets the same check.
    let ldif = format!(
        "dn: CN=mallory,CN=Users,DC=contoso,DC=com\nobjectClass: user\nsAMAccountName: mallory\nuserPassword: {{ARGON2}}{}\n",
        hostile_phc()
    );
    std::fs::write(dir.join("users.ldif"), ldif).unwrap();
    let err = cli.refused(&["user", "import", "users.ldif"]);
    assert!(
        err.contains("users.ldif:1: password_hash refused: its memory cost m=2097152 KiB"),
        "{err}"
    );
    // A hash near the configured parameters goes in, and signs in.
    std::fs::write(
        dir.join("ok.csv"),
        format!("sam,password_hash\nalice,\"{}\"\n", phc(64, 1)),
    )
    .unwrap();
    cli.ok(&["user", "import", "ok.csv"]);
    let v = cli.ok(&[
        "--json",
        "check",
        "--endpoint",
        "on-prem",
        "--user",
        "alice",
        "--password",
        "Winter2026!",
    ]);
    assert_eq!(v["outcome"], "accept", "{v}");
}

#[test]
fn endless_huge_and_binary_files_are_refused_by_line_without_reading_them_whole() {
    let cli = Cli::new();
    let dir = cli.dir.path();
    // /dev/zero has no end and no newline: refused within one line's worth, not after
    // filling memory (the earlier code grew to 15-20 GB in a minute).
    for args in [
        vec!["user", "import", "/dev/zero"],
        vec!["user", "import", "/dev/zero", "--format", "ldif"],
        vec!["scenario", "run", "/dev/zero"],
    ] {
        let out = run_bounded(cli.command(&args), Duration::from_secs(30))
            .unwrap_or_else(|| panic!("{args:?} still running after 30 s"));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("/dev/zero:1: the line is longer than"),
            "{args:?}: {err}"
        );
    }
    // A 100 MB displayName: refused at its line, long before it is read.
    let mut big = b"sam,password,display_name\nalice,Winter2026!,".to_vec();
    big.extend(std::iter::repeat_n(b'x', 100 << 20));
    big.push(b'\n');
    std::fs::write(dir.join("big.csv"), &big).unwrap();
    let err = cli.refused(&["user", "import", "big.csv"]);
    assert!(err.contains("big.csv:2: the line is longer than"), "{err}");
    // Values over AD's limits, with FILE:LINE.
    std::fs::write(
        dir.join("long.csv"),
        format!(
            "sam,password,display_name,mail,groups\nalice,Winter2026!,{},,\nbob,Winter2026!,,{}@contoso.com,\ncarol,Winter2026!,,,{}\n",
            "d".repeat(257),
            "m".repeat(250),
            "g".repeat(65)
        ),
    )
    .unwrap();
    let err = cli.refused(&["user", "import", "long.csv"]);
    assert!(
        err.contains("long.csv:2: displayName is 257 characters long; AD keeps at most 256"),
        "{err}"
    );
    assert!(
        err.contains("long.csv:3: mail is 262 characters long"),
        "{err}"
    );
    assert!(
        err.contains("long.csv:4: a group name is 65 characters long"),
        "{err}"
    );
    // The same limits on the command line.
    let err = cli.refused(&[
        "user",
        "add",
        "dave",
        "--password",
        "Winter2026!",
        "--display-name",
        &"d".repeat(300),
    ]);
    assert!(err.contains("displayName is 300 characters long"), "{err}");
    // Not UTF-8: refused with the line number.
    std::fs::write(
        dir.join("latin1.csv"),
        b"sam,password\nalice,Winter2026!\nj\xf6rg,Winter2026!\n",
    )
    .unwrap();
    let err = cli.refused(&["user", "import", "latin1.csv"]);
    assert!(
        err.contains("latin1.csv:3: the line is not UTF-8 text"),
        "{err}"
    );
    std::fs::write(dir.join("latin1.scenario"), b"clock show\n# j\xf6rg\n").unwrap();
    let out = cli.run(&["scenario", "run", "latin1.scenario"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("latin1.scenario:2: the line is not UTF-8 text"));
    // A scenario file over its size cap.
    std::fs::write(dir.join("huge.scenario"), "clock show\n".repeat(200_000)).unwrap();
    let out = cli.run(&["scenario", "run", "huge.scenario"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("larger than 1 MiB"),
        "{out:?}"
    );
    assert_eq!(cli.ok(&["--json", "user", "list"]), serde_json::json!([]));
}

#[test]
fn a_file_that_is_not_an_import_file_is_never_quoted() {
    let cli = Cli::new();
    let dir = cli.dir.path();
    let shadow = "root:$y$j9T$c2VjcmV0c2FsdA$c2VjcmV0aGFzaA:19700:0:99999:7:::\nmallory::19700:0:99999:7:::\n";
    std::fs::write(dir.join("shadow"), shadow).unwrap();
    for args in [
        vec!["user", "import", "shadow"],
        vec!["user", "import", "shadow", "--format", "ldif"],
    ] {
        let out = cli.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        for secret in ["root", "c2Vj", "mallory", "19700"] {
            assert!(!err.contains(secret), "{args:?} quoted the file: {err}");
        }
    }
}

/// The labs of the caller (`TMPDIR/hybridauth-scenario-UID/lab-*`).
fn labs(tmp: &std::path::Path) -> Vec<std::path::PathBuf> {
    let uid = unsafe { libc::getuid() };
    std::fs::read_dir(tmp.join(format!("hybridauth-scenario-{uid}")))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("lab-"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_killed_scenario_run_leaves_its_lab_only_until_the_next_run_and_only_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let cli = Cli::new();
    let dir = cli.dir.path();
    let tmp = dir.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    // A long story: one subprocess per step.
    let long = "clock set 2026-01-05T10:00:00Z\n".to_string() + &"clock advance 1m\n".repeat(2000);
    std::fs::write(dir.join("long.scenario"), long).unwrap();
    let mut child = cli
        .command(&["scenario", "run", "long.scenario"])
        .env("TMPDIR", &tmp)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Until its lab holds a store (then the run is under way).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !labs(&tmp).iter().any(|l| l.join("store.sqlite3").exists()) {
        assert!(Instant::now() < deadline, "no lab appeared");
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    let uid = unsafe { libc::getuid() };
    let base = tmp.join(format!("hybridauth-scenario-{uid}"));
    let mode = std::fs::metadata(&base).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the labs' directory is the caller's alone");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        labs(&tmp).len(),
        1,
        "SIGKILL leaves the lab (nothing can clean up)"
    );
    // The next run removes it, and its own lab at its end.
    std::fs::write(dir.join("short.scenario"), "clock show\n").unwrap();
    let out = cli
        .command(&["scenario", "run", "short.scenario"])
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        labs(&tmp).is_empty(),
        "{:?} {:?}",
        labs(&tmp),
        labs(&tmp)
            .iter()
            .map(|l| std::fs::read_dir(l)
                .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>()))
            .collect::<Vec<_>>()
    );
    // A run that ends in error cleans up too.
    std::fs::write(dir.join("bad.scenario"), "clock show\nuser show nobody\n").unwrap();
    let out = cli
        .command(&["scenario", "run", "bad.scenario"])
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(labs(&tmp).is_empty());
}
