//! The command-line contract scripts rely on, exercised through the real binary.

use std::process::{Command, Output};

struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    fn new() -> Cli {
        Cli {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The binary with this lab's store, a simulated clock and cheap hashing.
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_hybridauth"));
        c.args(args)
            .current_dir(self.dir.path())
            .env("HYBRIDAUTH_STORE__PATH", self.dir.path().join("s.sqlite3"))
            .env("HYBRIDAUTH_CLOCK__MODE", "simulated")
            .env("HYBRIDAUTH_HASHING__MEMORY_KIB", "64")
            .env("HYBRIDAUTH_HASHING__ITERATIONS", "1");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> serde_json::Value {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    fn refused(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(out.stdout.is_empty(), "errors go to stderr");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

#[test]
fn check_json_has_the_documented_shape_and_exits_zero_on_reject() {
    let cli = Cli::new();
    cli.ok(&["clock", "set", "2026-01-05T10:00:00Z"]);
    cli.ok(&[
        "user",
        "add",
        "alice",
        "--upn",
        "alice@contoso.com",
        "--password",
        "Winter2026!",
    ]);
    let v = cli.ok(&[
        "check",
        "--endpoint",
        "on-prem",
        "--user",
        "alice",
        "--password",
        "nope",
        "--json",
    ]);
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "app_password",
            "codes",
            "credential",
            "explanation",
            "outcome",
            "rule"
        ]
    );
    assert_eq!(v["outcome"], "reject");
    assert_eq!(v["credential"], "none");
    assert_eq!(v["app_password"], serde_json::Value::Null);
    assert_eq!(
        v["codes"],
        serde_json::json!({"ad": "52e", "nps": 16, "aadsts": null})
    );
    let v = cli.ok(&[
        "check",
        "--endpoint",
        "on-prem",
        "--user",
        "CONTOSO\\alice",
        "--password",
        "Winter2026!",
        "--json",
    ]);
    assert_eq!(v["outcome"], "accept");
    assert_eq!(v["credential"], "domain-password");
}

#[test]
fn app_password_create_json_and_the_refusals() {
    let cli = Cli::new();
    cli.ok(&["clock", "set", "2026-01-05T10:00:00Z"]);
    cli.ok(&[
        "user",
        "add",
        "alice",
        "--upn",
        "alice@contoso.com",
        "--password",
        "Winter2026!",
        "--mfa",
        "enforced",
    ]);
    let e = cli.refused(&["app-password", "create", "alice", "--name", "Laptop"]);
    assert!(e.contains("allow-app-passwords"), "{e}");
    cli.ok(&["tenant", "set", "allow-app-passwords", "on", "--json"]);
    let v = cli.ok(&[
        "app-password",
        "create",
        "alice",
        "--name",
        "Laptop",
        "--json",
    ]);
    assert_eq!(v["name"], "Laptop");
    let secret = v["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 16);
    cli.ok(&["sync", "now"]);
    let v = cli.ok(&[
        "check",
        "--endpoint",
        "cloud",
        "--user",
        "alice@contoso.com",
        "--password",
        secret,
        "--json",
    ]);
    assert_eq!(
        (v["outcome"].as_str(), v["app_password"].as_str()),
        (Some("accept"), Some("Laptop"))
    );
    let listed = cli.ok(&["app-password", "list", "alice", "--json"]);
    assert!(
        !listed.to_string().contains(secret),
        "the secret is shown once only"
    );
    let e = cli.refused(&["tenant", "set", "trusted-ips", "2001:db8::/32"]);
    assert!(e.contains("IPv4"), "{e}");
    let many: Vec<String> = (0..51).map(|i| format!("198.51.{i}.0/24")).collect();
    let e = cli.refused(&["tenant", "set", "trusted-ips", &many.join(",")]);
    assert!(e.contains("50"), "{e}");
    cli.ok(&["tenant", "set", "allow-app-passwords", "off"]);
    cli.refused(&["app-password", "delete", "alice", "--name", "Laptop"]);
    cli.ok(&[
        "app-password",
        "delete",
        "alice",
        "--name",
        "Laptop",
        "--as-admin",
        "--json",
    ]);
}

#[test]
fn password_stdin_and_json_errors() {
    let cli = Cli::new();
    let mut child = cli
        .command(&["user", "add", "bob", "--password-stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"From-Stdin-1\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    let v = cli.ok(&[
        "check",
        "--endpoint",
        "on-prem",
        "--user",
        "bob",
        "--password",
        "From-Stdin-1",
        "--json",
    ]);
    assert_eq!(v["outcome"], "accept");
    let out = cli.run(&["user", "show", "nobody", "--json"]);
    assert!(!out.status.success());
    let err: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert!(err["error"].as_str().unwrap().contains("nobody"));
}

#[test]
fn an_invalid_configuration_is_refused_naming_the_key() {
    let cli = Cli::new();
    let out = cli
        .command(&["tenant", "show"])
        .env("HYBRIDAUTH_CLOCK__MODE", "warp")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("clock.mode"));
    let bad = cli.dir.path().join("bad.toml");
    std::fs::write(&bad, "[radius]\nduplicate_window = \"soon\"\n").unwrap();
    let out = cli.run(&["--config", bad.to_str().unwrap(), "tenant", "show"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("radius.duplicate_window"));
    assert!(
        !cli.dir.path().join("s.sqlite3").exists(),
        "nothing is written on a refused start"
    );
}

#[test]
fn sync_status_and_clock_moves() {
    let cli = Cli::new();
    cli.ok(&["clock", "set", "2026-01-05T10:05:00Z"]);
    let v = cli.ok(&["sync", "status", "--json"]);
    assert_eq!(v["object_sync"]["last"], "2026-01-05T10:00:00Z");
    assert_eq!(v["object_sync"]["next"], "2026-01-05T10:30:00Z");
    assert_eq!(v["password_hash_sync"]["next"], "2026-01-05T10:06:00Z");
    let v = cli.ok(&["clock", "advance", "30m", "--json"]);
    assert_eq!(v["now"], "2026-01-05T10:35:00Z");
}
