//! The command-line contract scripts rely on, exercised through the real binary.

mod common;

use common::cli::Cli;

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
    // The limits against hostile peers are validated like every other key.
    for (toml, key) in [
        (
            "[[ldap.listeners]]\naddress = \"127.0.0.1:3389\"\nrequire_tls = true\n",
            "ldap.listeners[0].require_tls",
        ),
        ("[ldap]\nwrite_timeout = \"0\"\n", "ldap.write_timeout"),
        (
            "[ldap]\nmax_message_bytes = 65536\nmax_buffered_bytes = 4096\n",
            "ldap.max_buffered_bytes",
        ),
        ("[ldap]\nmax_connections = 0\n", "ldap.max_connections"),
        ("[ldap]\nreject_delay = \"11s\"\n", "ldap.reject_delay"),
        ("[radius]\nreject_delay = \"soon\"\n", "radius.reject_delay"),
        ("[hashing]\nmax_wait = \"0\"\n", "hashing.max_wait"),
        ("[hashing]\ncache_ttl = \"2d\"\n", "hashing.cache_ttl"),
        ("[hashing]\ncache_entries = 0\n", "hashing.cache_entries"),
        ("[admin]\nlisten = \"localhost\"\n", "admin.listen"),
        ("[hashing]\nstore_nt_hash = \"maybe\"\n", "hashing.store_nt_hash"),
        ("[radius.eap]\nmethods = [\"leap\"]\n", "radius.eap.methods"),
        ("[radius.eap]\nmethods = [\"ttls\"]\n", "radius.eap.cert"),
        ("[radius.eap]\nfragment_size = 50\n", "radius.eap.fragment_size"),
        ("[radius.eap]\nmax_sessions = 0\n", "radius.eap.max_sessions"),
        ("[radius.eap]\nsession_timeout = \"0s\"\n", "radius.eap.session_timeout"),
        (
            "[[radius.policies]]\nname = \"x\"\nreply = { \"Tunnel-Kind\" = 1 }\n",
            "radius.policies[0].reply.Tunnel-Kind",
        ),
        (
            "[[radius.policies]]\nname = \"x\"\nreply = { \"Tunnel-Type\" = \"Pigeon\" }\n",
            "radius.policies[0].reply.Tunnel-Type",
        ),
        (
            "[[radius.policies]]\nname = \"x\"\nclients = [\"nas-9\"]\nreply = { \"Filter-Id\" = \"a\" }\n",
            "radius.policies[0].clients",
        ),
        (
            "[[radius.policies]]\nname = \"x\"\nendpoint = \"edge\"\nreply = { \"Filter-Id\" = \"a\" }\n",
            "radius.policies[0].endpoint",
        ),
        // The connection to PostgreSQL is plain TCP: a URL that demands TLS is refused, as are
        // one that is not a URL and one that names no host.
        (
            "[store]\nurl = \"postgresql://u@127.0.0.1:1/db?sslmode=require\"\n",
            "store.url",
        ),
        ("[store]\nurl = \"mysql://u@h/db\"\n", "store.url"),
        ("[store]\nurl = \"postgresql:///db\"\n", "store.url"),
    ] {
        std::fs::write(&bad, toml).unwrap();
        let out = cli.run(&["--config", bad.to_str().unwrap(), "serve"]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{key}: {err}");
    }
    assert!(
        !cli.dir.path().join("s.sqlite3").exists(),
        "nothing is written on a refused start"
    );
}

#[test]
fn check_trace_lists_every_rule_evaluated_in_order() {
    let cli = Cli::new();
    cli.ok(&["clock", "set", "2026-01-05T10:00:00Z"]);
    cli.ok(&["user", "add", "alice", "--password", "Winter2026!"]);
    cli.ok(&["user", "disable", "alice"]);
    let v = cli.ok(&[
        "check",
        "--endpoint",
        "on-prem",
        "--user",
        "alice",
        "--password",
        "Winter2026!",
        "--trace",
        "--json",
    ]);
    let steps: Vec<(String, bool)> = v["trace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["rule"].as_str().unwrap().to_string(),
                s["decided"] == true,
            )
        })
        .collect();
    let expect = [
        ("onprem.unknown-user", false),
        ("onprem.locked-out", false),
        ("onprem.bad-password", false),
        ("onprem.disabled", true),
    ];
    assert_eq!(
        steps,
        expect.map(|(r, d)| (r.to_string(), d)).to_vec(),
        "{v}"
    );
    assert_eq!(v["rule"], "onprem.disabled");
    // The text form numbers the steps after the explanation; never the secret.
    let out = cli.run(&[
        "check",
        "--endpoint",
        "cloud",
        "--user",
        "alice@contoso.com",
        "--password",
        "Winter2026!",
        "--trace",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\n  1. cloud.unknown-user "), "{text}");
    assert!(!text.contains("Winter2026!"), "{text}");
    // Without --trace the JSON shape is unchanged (no "trace" key).
    let v = cli.ok(&[
        "check",
        "--endpoint",
        "on-prem",
        "--user",
        "alice",
        "--password",
        "x",
        "--json",
    ]);
    assert!(v.get("trace").is_none(), "{v}");
}

/// The scenario library states the model: every file must hold, through the binary.
#[test]
fn every_scenario_in_the_library_holds() {
    let cli = Cli::new();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "scenario"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "{files:?}");
    for f in files {
        // A configured shared database is never the lab's: a database nobody answers at.
        let out = cli
            .command(&["scenario", "run", f.to_str().unwrap()])
            .env(
                "HYBRIDAUTH_STORE__URL",
                "postgresql://nobody@127.0.0.1:1/not-the-lab",
            )
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}:\n{text}\n{}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains(", 0 failed"), "{text}");
    }
}

#[test]
fn a_scenario_reports_each_expectation_and_exits_by_the_contract() {
    let cli = Cli::new();
    let dir = cli.dir.path();
    let story = "clock set 2026-01-05T10:00:00Z\n\
        tenant set allow-app-passwords on\n\
        user add alice --password 'Winter2026!' --mfa enforced  # enforce, then create\n\
        app-password create alice --name Laptop\n\
        sync now\n\
        expect cloud alice@contoso.com {app:alice/Laptop} accept\n\
        expect on-prem alice {app:alice/Laptop} accept\n";
    std::fs::write(dir.join("s.scenario"), story).unwrap();
    // The run never touches the configured store (here, the one HYBRIDAUTH_STORE__PATH names).
    let out = cli.run(&["scenario", "run", "s.scenario"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ok      s.scenario:6") && text.contains("FAILED  s.scenario:7"),
        "{text}"
    );
    assert!(
        text.contains("REJECT [onprem.bad-password] 52e 16"),
        "{text}"
    );
    assert!(text.ends_with("2 expectations, 1 failed\n"), "{text}");
    assert!(
        !dir.join("s.sqlite3").exists(),
        "the configured store was touched"
    );
    // The app password's secret never appears: only its placeholder.
    assert!(text.contains("{app:alice/Laptop}"));
    let out = cli.run(&[
        "--json",
        "scenario",
        "run",
        "s.scenario",
        "--junit",
        "r.xml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["total"].as_u64(), v["failed"].as_u64()),
        (Some(2), Some(1))
    );
    let e = &v["expectations"][1];
    assert_eq!(
        (e["line"].as_u64(), e["ok"].as_bool()),
        (Some(7), Some(false))
    );
    assert_eq!(e["actual"]["rule"], "onprem.bad-password");
    let junit = std::fs::read_to_string(dir.join("r.xml")).unwrap();
    assert!(
        junit.contains("tests=\"2\" failures=\"1\"") && junit.contains("<failure "),
        "{junit}"
    );
    // What if app passwords are blocked by Security Defaults: only line 6 changes.
    let out = cli.run(&[
        "scenario",
        "diff",
        "s.scenario",
        "--set",
        "security-defaults=on",
    ]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("s.scenario:6") && !text.contains("s.scenario:7"),
        "{text}"
    );
    assert!(
        text.contains("REJECT [cloud.legacy-auth-blocked]"),
        "{text}"
    );
    assert!(
        text.contains("1 of 2 expectations change with security-defaults=on"),
        "{text}"
    );
    // --set applies to a whole run.
    let out = cli.run(&[
        "scenario",
        "run",
        "s.scenario",
        "--set",
        "security-defaults=on",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 expectations, 2 failed"));
}

#[test]
fn a_bad_scenario_file_exits_2_with_file_line_and_what_was_expected() {
    let cli = Cli::new();
    let dir = cli.dir.path();
    for (body, line, what) in [
        (
            "clock set 2026-01-05T10:00:00Z\nserve\n",
            2,
            "expected a step",
        ),
        ("expect cloud alice pw perhaps\n", 1, "accept or reject"),
        (
            "expect cloud alice {app:alice/None} accept\n",
            1,
            "is not bound",
        ),
        ("user add 'alice\n", 1, "cannot split"),
        (
            "expect cloud a pw accept --door radius --from 10.0.0.1\n",
            1,
            "--from cannot be used",
        ),
        (
            "expect cloud a pw accept --door telnet\n",
            1,
            "radius or ldap",
        ),
        (
            "user add alice --password 'Winter2026!'\nuser add alice --password 'Winter2026!'\n",
            2,
            "failed",
        ),
    ] {
        std::fs::write(dir.join("bad.scenario"), body).unwrap();
        let out = cli.run(&["scenario", "run", "bad.scenario"]);
        assert_eq!(out.status.code(), Some(2), "{body}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("bad.scenario:{line}: ")) && err.contains(what),
            "{err}"
        );
    }
    let err = cli.refused(&["scenario", "diff", "bad.scenario", "--set", "nonsense"]);
    assert!(err.contains("KEY=VALUE"), "{err}");
}

#[test]
fn timeline_shows_changes_the_cycles_that_carried_them_and_sign_ins() {
    let cli = Cli::new();
    cli.ok(&["clock", "set", "2026-01-05T10:00:00Z"]);
    cli.ok(&["user", "add", "alice", "--password", "Winter2026!"]);
    cli.ok(&["clock", "advance", "5m"]);
    cli.ok(&["user", "disable", "alice"]);
    cli.ok(&["clock", "advance", "1m"]);
    cli.ok(&[
        "user",
        "reset-password",
        "alice",
        "--password",
        "Spring2026!",
    ]);
    // Not in the cloud yet: a cloud sign-in under its UPN is an unknown user, still shown.
    cli.ok(&[
        "check",
        "--endpoint",
        "cloud",
        "--user",
        "alice@contoso.com",
        "--password",
        "x",
        "--json",
    ]);
    cli.ok(&["clock", "set", "2026-01-05T10:20:00Z"]);
    let v = cli.ok(&["timeline", "alice", "--json"]);
    let events = v["events"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "on-prem-change",
            "on-prem-change",
            "on-prem-change",
            "sign-in",
            "password-hash-sync",
            "object-sync"
        ],
        "{v}"
    );
    assert_eq!(events[1]["what"], "disabled");
    assert_eq!(events[3]["sign_in"]["rule"], "cloud.unknown-user");
    // The 10:30 object sync is still to come at 10:20; the cloud will then see it disabled,
    // with the password set at 10:06 (carried at 10:08).
    let object = &events[5];
    assert_eq!(object["time"], "2026-01-05T10:30:00Z");
    assert_eq!(object["pending"], true);
    let cloud = object["cloud"].as_str().unwrap();
    assert!(
        cloud.contains("disabled") && cloud.contains("10:06:00Z"),
        "{cloud}"
    );
    assert!(events[4]["what"].as_str().unwrap().contains("10:06:00Z"));
    let v = cli.ok(&[
        "timeline",
        "alice",
        "--since",
        "2026-01-05T10:05:00Z",
        "--until",
        "2026-01-05T10:08:00Z",
        "--json",
    ]);
    assert_eq!(v["events"].as_array().unwrap().len(), 4, "{v}");
    let text = String::from_utf8_lossy(&cli.run(&["timeline", "alice"]).stdout).to_string();
    assert!(
        text.contains("the cloud then sees: alice@contoso.com disabled"),
        "{text}"
    );
    assert!(
        !text.contains("Spring2026!") && !text.contains("argon2"),
        "{text}"
    );
    assert!(cli.refused(&["timeline", "nobody"]).contains("no user"));
}

#[test]
fn health_timeout_is_validated_and_bounds_the_wait() {
    let cli = Cli::new();
    let err = cli.refused(&["health", "--timeout", "0s"]);
    assert!(err.contains("more than 0"), "{err}");
    // Nothing listens on the admin port: exit 3 within the timeout.
    let port = common::daemon::free_tcp().to_string();
    let out = cli
        .command(&["health", "--timeout", "2s"])
        .env("HYBRIDAUTH_ADMIN__LISTEN", format!("127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
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

#[test]
fn mfa_methods_are_registered_listed_and_removed_and_the_phone_answers_only_a_waiting_push() {
    let cli = Cli::new();
    cli.ok(&["user", "add", "alice", "--password", "Winter2026!"]);
    let v = cli.ok(&["user", "mfa", "add", "alice", "--totp", "--json"]);
    let uri = v["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{v}");
    assert!(uri.contains("&digits=6&period=30"), "{uri}");
    assert_eq!(v["default"], true, "a first method is the default");
    // Without --json, the URI and a QR code drawn in half blocks.
    let out = cli.run(&["user", "mfa", "add", "alice", "--push", "--default"]);
    assert!(out.status.success());
    let v = cli.ok(&["user", "mfa", "list", "alice", "--json"]);
    let mut listed: Vec<(String, bool)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["method"].as_str().unwrap().to_string(),
                m["default"].as_bool().unwrap(),
            )
        })
        .collect();
    listed.sort();
    // --default moved the default to the push method.
    assert_eq!(
        listed,
        [("push".to_string(), true), ("totp".to_string(), false)]
    );
    assert!(
        !v.to_string().contains(
            uri.split("secret=")
                .nth(1)
                .unwrap()
                .split('&')
                .next()
                .unwrap()
        ),
        "no secret listed"
    );
    // A second method of a kind is refused (exit 1), a missing one too.
    let err = cli.refused(&["user", "mfa", "add", "alice", "--totp"]);
    assert!(err.contains("already has a totp method"), "{err}");
    // The code is the authenticator's: six digits, what oathtool-style TOTP gives.
    let code = cli.ok(&["mfa", "code", "alice", "--json"]);
    let code = code["code"].as_str().unwrap();
    assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "{code}"
    );
    // No push waits: the phone has nothing to answer.
    for verb in ["approve", "deny"] {
        let out = cli.run(&["mfa", verb, "alice"]);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("no push waits"));
    }
    cli.ok(&["user", "mfa", "remove", "alice", "--totp", "--json"]);
    let err = cli.refused(&["user", "mfa", "remove", "alice", "--totp"]);
    assert!(err.contains("has no totp method"), "{err}");
    let err = cli.refused(&["mfa", "code", "alice"]);
    assert!(err.contains("no totp method"), "{err}");
    cli.ok(&["user", "mfa", "remove", "alice", "--push", "--json"]);
    let v = cli.ok(&["user", "mfa", "list", "alice", "--json"]);
    assert_eq!(v.as_array().unwrap().len(), 0);
    // Exactly one kind per command.
    let out = cli.run(&["user", "mfa", "add", "alice", "--totp", "--push"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Every command and the flags this file exercises through the binary (global `--config` and
/// `--json` once for all). The test below holds it against what `--help` documents, so a flag
/// added without a test fails here.
const EXERCISED: &[(&str, &[&str])] = &[
    ("serve", &["--debug"]),
    ("config check", &[]),
    ("tenant show", &[]),
    ("tenant set", &[]),
    (
        "user add",
        &[
            "--upn",
            "--password",
            "--password-stdin",
            "--mfa",
            "--admin",
            "--modern-auth-only",
            "--groups",
            "--display-name",
            "--mail",
        ],
    ),
    (
        "user set",
        &[
            "--mfa",
            "--admin",
            "--modern-auth-only",
            "--expires",
            "--must-change",
            "--password-expired",
            "--upn",
            "--display-name",
            "--mail",
            "--groups",
        ],
    ),
    ("user import", &["--format"]),
    ("user disable", &[]),
    ("user enable", &[]),
    ("user delete", &[]),
    ("user unlock", &["--smart-lockout"]),
    (
        "user reset-password",
        &["--password", "--password-stdin", "--must-change"],
    ),
    ("user show", &[]),
    ("user list", &[]),
    ("app-password create", &["--name"]),
    ("app-password list", &[]),
    ("app-password delete", &["--name", "--as-admin"]),
    ("user mfa add", &["--totp", "--push", "--default"]),
    ("user mfa list", &[]),
    ("user mfa remove", &["--totp", "--push"]),
    ("mfa approve", &[]),
    ("mfa deny", &[]),
    ("mfa code", &[]),
    ("sync now", &[]),
    ("sync status", &[]),
    ("clock show", &[]),
    ("clock advance", &[]),
    ("clock set", &[]),
    (
        "check",
        &[
            "--endpoint",
            "--admin-actions",
            "--user",
            "--password",
            "--password-stdin",
            "--from",
            "--trace",
        ],
    ),
    ("health", &["--timeout"]),
    ("scenario run", &["--set", "--junit"]),
    ("scenario diff", &["--set"]),
    ("timeline", &["--since", "--until"]),
    (
        "cert",
        &[
            "--cert", "--key", "--name", "--force", "--radsec", "--dir", "--client",
        ],
    ),
    (
        "load radius",
        &[
            "--server",
            "--secret",
            "--user",
            "--password",
            "--concurrency",
            "--requests",
            "--rate",
            "--retransmit",
            // Exercised against TLS and TCP listeners in tests/radsec.rs.
            "--transport",
            "--connections",
            "--reconnect",
            "--tls-ca",
            "--tls-cert",
            "--tls-key",
        ],
    ),
    (
        "load ldap",
        &[
            "--server",
            "--bind-dn",
            "--password",
            "--concurrency",
            "--requests",
            "--timeout",
        ],
    ),
];

fn documented(cli: &Cli, command: &str) -> (Vec<String>, Vec<String>) {
    let mut args: Vec<&str> = command.split(' ').filter(|s| !s.is_empty()).collect();
    args.push("--help");
    let out = cli.run(&args);
    assert!(out.status.success(), "{command} --help");
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut flags = vec![];
    let mut subcommands = vec![];
    let mut section = "";
    for line in help.lines() {
        if line.ends_with(':') && !line.starts_with(' ') {
            section = line;
            continue;
        }
        let t = line.trim_start();
        let word = t.split_whitespace().next().unwrap_or("");
        match section {
            "Commands:" if !word.is_empty() && word != "help" => subcommands.push(word.to_string()),
            "Options:" => {
                let flag = t.trim_start_matches("-h, ").trim_start_matches("-V, ");
                let flag = flag.split([' ', '<', ',']).next().unwrap_or("");
                if flag.starts_with("--")
                    && !["--help", "--version", "--config", "--json"].contains(&flag)
                {
                    flags.push(flag.to_string());
                }
            }
            _ => {}
        }
    }
    (flags, subcommands)
}

#[test]
fn the_exercised_table_covers_every_documented_command_and_flag() {
    let cli = Cli::new();
    let mut queue = vec![String::new()];
    let mut seen = vec![];
    while let Some(cmd) = queue.pop() {
        let (flags, subs) = documented(&cli, &cmd);
        if subs.is_empty() {
            let mut flags = flags;
            flags.sort();
            seen.push((cmd.trim().to_string(), flags));
        }
        queue.extend(subs.into_iter().map(|s| format!("{cmd} {s}")));
    }
    seen.sort();
    let mut table: Vec<(String, Vec<String>)> = EXERCISED
        .iter()
        .map(|(c, f)| {
            let mut f: Vec<String> = f.iter().map(|s| s.to_string()).collect();
            f.sort();
            (c.to_string(), f)
        })
        .collect();
    table.sort();
    assert_eq!(seen, table);
}

fn with_stdin(cli: &Cli, args: &[&str], input: &str) -> serde_json::Value {
    use std::io::Write;
    let mut child = cli
        .command(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// `cert --radsec`: a CA, a server pair and client pairs that chain to it, under the names the
/// README uses; a second run signs more clients with the same CA and keeps the server pair.
#[test]
fn cert_radsec_makes_a_ca_a_server_and_clients_that_chain_to_it() {
    let cli = Cli::new();
    let dir = cli.dir.path().join("radsec");
    let d = dir.to_str().unwrap();
    let v = cli.ok(&[
        "--json",
        "cert",
        "--radsec",
        "--dir",
        d,
        "--name",
        "radius.lab.example",
        "--client",
        "nas1",
    ]);
    assert_eq!(v["ca"]["made"], true);
    assert_eq!(v["server"]["made"], true);
    assert_eq!(v["server"]["names"][0], "radius.lab.example");
    assert_eq!(v["clients"][0]["name"], "nas1");
    assert_eq!(v["clients"][0]["cert"], format!("{d}/client-nas1.pem"));
    for f in [
        "ca.pem",
        "ca-key.pem",
        "server.pem",
        "server-key.pem",
        "client-nas1.pem",
        "client-nas1-key.pem",
    ] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    let server = std::fs::read(dir.join("server.pem")).unwrap();
    let v = cli.ok(&["--json", "cert", "--radsec", "--dir", d, "--client", "nas2"]);
    assert_eq!(
        (v["ca"]["made"].clone(), v["server"]["made"].clone()),
        (serde_json::json!(false), serde_json::json!(false))
    );
    assert_eq!(
        std::fs::read(dir.join("server.pem")).unwrap(),
        server,
        "kept"
    );
    // Every certificate chains to the one CA (checked by a verifier that is not ours).
    let verify = std::process::Command::new("openssl")
        .args([
            "verify",
            "-CAfile",
            "ca.pem",
            "server.pem",
            "client-nas1.pem",
            "client-nas2.pem",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    // An existing client pair is refused without --force; a name that is not a file name is a
    // usage error; a CA this command did not make is never used to sign.
    let again = cli.run(&["cert", "--radsec", "--dir", d, "--client", "nas1"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    let bad = cli.run(&["cert", "--radsec", "--dir", d, "--client", "../etc"]);
    assert_eq!(bad.status.code(), Some(2));
    let foreign = cli.dir.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    cli.ok(&[
        "cert",
        "--cert",
        foreign.join("ca.pem").to_str().unwrap(),
        "--key",
        foreign.join("ca-key.pem").to_str().unwrap(),
    ]);
    let refused = cli.run(&[
        "cert",
        "--radsec",
        "--dir",
        foreign.to_str().unwrap(),
        "--client",
        "nas1",
    ]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is not a CA this command made"));
    // --client and --dir belong to --radsec.
    assert_eq!(
        cli.run(&["cert", "--client", "nas1"]).status.code(),
        Some(2)
    );
}

/// `config check` reads a RADIUS over TLS listener's files and says what will not work.
#[test]
fn config_check_reads_radsec_files_and_warns_about_clients_without_a_listener() {
    let cli = Cli::new();
    cli.ok(&["cert", "--radsec", "--dir", "radsec", "--client", "nas1"]);
    let conf = cli.dir.path().join("h.toml");
    let write = |extra: &str| {
        std::fs::write(
            &conf,
            format!("[radius]\nlisten = [\"127.0.0.1:0\"]\n{extra}"),
        )
        .unwrap()
    };
    let check = || cli.run(&["--config", conf.to_str().unwrap(), "config", "check"]);
    write("[[radius.tls_listeners]]\nlisten = \"127.0.0.1:0\"\ncert = \"radsec/server.pem\"\nkey = \"radsec/server-key.pem\"\nca = \"radsec/missing.pem\"\n");
    let out = check();
    assert_eq!(out.status.code(), Some(3));
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("radius.tls_listeners[0]: cannot read radsec/missing.pem"),
        "{text}"
    );
    write("[[radius.tls_listeners]]\nlisten = \"127.0.0.1:0\"\ncert = \"radsec/server.pem\"\nkey = \"radsec/server-key.pem\"\nca = \"radsec/ca.pem\"\n");
    let out = check();
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("no [[radius.clients]] has a tls_identity"),
        "{out:?}"
    );
    write("[[radius.clients]]\nname = \"nas1\"\ntls_identity = \"nas1\"\n[[radius.tls_listeners]]\nlisten = \"127.0.0.1:0\"\ncert = \"radsec/server.pem\"\nkey = \"radsec/server-key.pem\"\nca = \"radsec/ca.pem\"\n");
    let out = check();
    assert!(out.status.success(), "{out:?}");
    write("[[radius.clients]]\nname = \"nas1\"\ntls_identity = \"nas1\"\n");
    let out = check();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("have a tls_identity but there is no radius.tls_listeners"),
        "{text}"
    );
}

#[test]
fn every_documented_flag_works_through_the_binary() {
    let cli = Cli::new();
    let cert = cli.dir.path().join("c.pem");
    let key = cli.dir.path().join("k.pem");
    let v = cli.ok(&[
        "cert",
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--name",
        "ldap.lab.example",
        "--json",
    ]);
    // --name adds to the lab names; the first one given is the CN.
    assert_eq!(
        v["names"],
        serde_json::json!(["ldap.lab.example", "localhost", "127.0.0.1", "::1"])
    );
    let pem = std::fs::read(&cert).unwrap();
    let der = rustls_pemfile::certs(&mut pem.as_slice())
        .next()
        .unwrap()
        .unwrap();
    let der = der.as_ref();
    let cn = [&[0x55u8, 0x04, 0x03, 0x0c, 16][..], b"ldap.lab.example"].concat();
    assert!(
        der.windows(cn.len()).any(|w| w == cn),
        "CN = ldap.lab.example"
    );
    // Valid from yesterday for two years (UTCTime YYMMDD in the DER).
    use chrono::Datelike;
    let today = chrono::Utc::now().date_naive();
    let utc = |d: chrono::NaiveDate, years: i32| {
        format!(
            "{:02}{:02}{:02}",
            (d.year() + years) % 100,
            d.month(),
            d.day().min(28)
        )
    };
    let from = utc(today - chrono::Duration::days(1), 0);
    let until = utc(today, 2);
    assert!(
        der.windows(6).any(|w| w == from.as_bytes()),
        "not before {from}"
    );
    assert!(
        der.windows(6).any(|w| w == until.as_bytes()),
        "not after {until}"
    );
    assert!(key.is_file());
    // An existing pair is kept unless --force.
    let again = cli.run(&[
        "cert",
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert_eq!(std::fs::read(&cert).unwrap(), pem, "kept");
    cli.ok(&[
        "cert",
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--force",
    ]);
    assert_ne!(std::fs::read(&cert).unwrap(), pem, "replaced");
    cli.ok(&["clock", "set", "2026-01-05T10:00:00Z"]);
    cli.ok(&["tenant", "set", "allow-app-passwords", "on"]);
    cli.ok(&[
        "user",
        "add",
        "alice",
        "--upn",
        "alice.lee@contoso.com",
        "--password",
        "Winter2026!",
        "--mfa",
        "enforced",
        "--groups",
        "vpn,staff",
        "--display-name",
        "Alice Lee",
        "--mail",
        "alice@contoso.com",
    ]);
    let a = cli.ok(&["user", "show", "alice", "--json"]);
    assert_eq!(a["upn"], "alice.lee@contoso.com");
    assert_eq!(a["mfa"], "enforced");
    assert_eq!(a["groups"], serde_json::json!(["vpn", "staff"]));
    assert_eq!(a["display_name"], "Alice Lee");
    assert_eq!(a["mail"], "alice@contoso.com");
    assert_eq!(
        (a["admin"].clone(), a["modern_auth_only"].clone()),
        (false.into(), false.into())
    );
    with_stdin(
        &cli,
        &[
            "user",
            "add",
            "root",
            "--password-stdin",
            "--admin",
            "--modern-auth-only",
        ],
        "Root-pass-1\n",
    );
    let r = cli.ok(&["user", "show", "root", "--json"]);
    assert_eq!(
        (r["admin"].clone(), r["modern_auth_only"].clone()),
        (true.into(), true.into())
    );
    let d = cli.ok(&[
        "check",
        "--endpoint",
        "on-prem",
        "--user",
        "root",
        "--password",
        "Root-pass-1",
        "--json",
    ]);
    assert_eq!(d["outcome"], "accept", "{d}");

    // user set: every flag, then `--expires never` clears the expiry.
    cli.ok(&[
        "user",
        "set",
        "alice",
        "--mfa",
        "enabled",
        "--admin",
        "true",
        "--modern-auth-only",
        "true",
        "--expires",
        "2027-01-01T00:00:00Z",
        "--must-change",
        "true",
        "--password-expired",
        "true",
        "--upn",
        "alice2@contoso.com",
        "--display-name",
        "A. Lee",
        "--mail",
        "al@contoso.com",
        "--groups",
        "wifi",
    ]);
    let a = cli.ok(&["user", "show", "alice", "--json"]);
    assert_eq!(a["mfa"], "enabled");
    assert_eq!(a["admin"], true);
    assert_eq!(a["modern_auth_only"], true);
    assert_eq!(a["account_expires"], "2027-01-01T00:00:00Z");
    assert_eq!(a["must_change"], true);
    assert_eq!(a["password_expired"], true);
    assert_eq!(a["upn"], "alice2@contoso.com");
    assert_eq!(a["display_name"], "A. Lee");
    assert_eq!(a["mail"], "al@contoso.com");
    assert_eq!(a["groups"], serde_json::json!(["wifi"]));
    cli.ok(&[
        "user",
        "set",
        "alice",
        "--expires",
        "never",
        "--admin",
        "false",
        "--modern-auth-only",
        "false",
        "--must-change",
        "false",
        "--password-expired",
        "false",
        "--mfa",
        "enforced",
    ]);
    let a = cli.ok(&["user", "show", "alice", "--json"]);
    assert!(a["account_expires"].is_null(), "{a}");
    assert!(cli
        .refused(&["user", "set", "alice", "--expires", "soon"])
        .contains("RFC 3339"));

    // reset-password: --password with --must-change, then --password-stdin.
    cli.ok(&[
        "user",
        "reset-password",
        "alice",
        "--password",
        "Spring2026!",
        "--must-change",
    ]);
    assert_eq!(
        cli.ok(&["user", "show", "alice", "--json"])["must_change"],
        true
    );
    with_stdin(
        &cli,
        &["user", "reset-password", "alice", "--password-stdin"],
        "Summer2026!\n",
    );
    let a = cli.ok(&["user", "show", "alice", "--json"]);
    assert_eq!(a["must_change"], false);
    let d = with_stdin(
        &cli,
        &[
            "check",
            "--endpoint",
            "on-prem",
            "--user",
            "alice",
            "--password-stdin",
            "--json",
        ],
        "Summer2026!\n",
    );
    assert_eq!(d["outcome"], "accept", "{d}");

    // App passwords: create, list, delete as an administrator.
    let ap = cli.ok(&[
        "app-password",
        "create",
        "alice",
        "--name",
        "Laptop",
        "--json",
    ]);
    let secret = ap["secret"].as_str().unwrap().to_string();
    let list = cli.ok(&["app-password", "list", "alice", "--json"]);
    assert!(list.to_string().contains("Laptop"), "{list}");
    cli.ok(&["sync", "now", "--json"]);
    assert!(cli.ok(&["sync", "status", "--json"]).is_object());
    // --admin-actions refuses an app password; --from names the client address.
    let d = cli.ok(&[
        "check",
        "--endpoint",
        "cloud",
        "--admin-actions",
        "--user",
        "alice2@contoso.com",
        "--password",
        &secret,
        "--from",
        "198.51.100.7",
        "--json",
    ]);
    assert_eq!(d["rule"], "cloud.app-password.admin-action", "{d}");
    cli.ok(&["tenant", "set", "allow-app-passwords", "off"]);
    cli.ok(&[
        "app-password",
        "delete",
        "alice",
        "--name",
        "Laptop",
        "--as-admin",
    ]);
    assert!(!cli
        .ok(&["app-password", "list", "alice", "--json"])
        .to_string()
        .contains("Laptop"));

    // unlock --smart-lockout clears the cloud's lockout.
    for i in 0..10 {
        cli.ok(&[
            "check",
            "--endpoint",
            "cloud",
            "--user",
            "alice2@contoso.com",
            "--password",
            &format!("wrong-{i}"),
            "--json",
        ]);
    }
    let locked = cli.ok(&[
        "check",
        "--endpoint",
        "cloud",
        "--user",
        "alice2@contoso.com",
        "--password",
        "x",
        "--json",
    ]);
    assert_eq!(locked["rule"], "cloud.smart-lockout", "{locked}");
    cli.ok(&["user", "unlock", "alice", "--smart-lockout"]);
    let after = cli.ok(&[
        "check",
        "--endpoint",
        "cloud",
        "--user",
        "alice2@contoso.com",
        "--password",
        "x",
        "--json",
    ]);
    assert_ne!(after["rule"], "cloud.smart-lockout", "{after}");

    // The rest of the user life cycle.
    cli.ok(&["user", "disable", "root"]);
    assert_eq!(
        cli.ok(&["user", "show", "root", "--json"])["enabled"],
        false
    );
    cli.ok(&["user", "enable", "root"]);
    assert_eq!(cli.ok(&["user", "show", "root", "--json"])["enabled"], true);
    cli.ok(&["user", "delete", "root"]);
    let all = cli.ok(&["user", "list", "--json"]).to_string();
    assert!(all.contains("alice") && !all.contains("\"root\""), "{all}");
    cli.ok(&["clock", "advance", "90m"]);
    assert_eq!(
        cli.ok(&["clock", "show", "--json"])["now"],
        "2026-01-05T11:30:00Z"
    );
    assert!(cli.ok(&["tenant", "show", "--json"]).is_object());
}

#[test]
fn the_clock_stops_at_the_end_of_year_9999_and_decisions_work_up_to_it() {
    let cli = Cli::new();
    cli.ok(&["clock", "set", "2026-01-05T10:00:00Z"]);
    cli.ok(&["user", "add", "alice", "--password", "Winter2026!"]);
    assert!(cli
        .refused(&["clock", "set", "9999-12-31T23:59:59-23:00"])
        .contains("9999"));
    let err = cli.refused(&["clock", "advance", "100000years"]);
    assert!(err.contains("year 9999"), "{err}");
    cli.ok(&["clock", "set", "9999-12-31T23:59:00Z"]);
    cli.ok(&["tenant", "set", "smart-lockout-threshold", "1"]);
    cli.ok(&["tenant", "set", "ad-lockout-threshold", "1"]);
    cli.ok(&["sync", "now"]);
    // Lockouts and sync cycles computed at the horizon: answers, not panics.
    for endpoint in ["on-prem", "cloud", "hybrid"] {
        for pw in ["wrong", "Winter2026!"] {
            let out = cli.run(&[
                "check",
                "--endpoint",
                endpoint,
                "--user",
                "alice",
                "--password",
                pw,
                "--json",
            ]);
            assert!(
                out.status.success(),
                "{endpoint}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    assert!(cli.ok(&["sync", "status", "--json"]).is_object());
    cli.ok(&["clock", "advance", "59s"]);
    assert!(cli.refused(&["clock", "advance", "2s"]).contains("9999"));
}

#[test]
fn load_drives_radius_and_ldap_and_reports_answers_latency_and_timeouts() {
    use common::daemon::{free_udp, Daemon, SECRET};
    let d = Daemon::start();
    d.cli(&["user", "add", "alice", "--password", "Winter2026!"]);
    let cli = Cli::new();
    let radius = format!("127.0.0.1:{}", d.radius);
    let run = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["load"];
        all.extend_from_slice(args);
        all.push("--json");
        cli.ok(&all)
    };
    let r = run(&[
        "radius",
        "--server",
        &radius,
        "--secret",
        SECRET,
        "--user",
        "alice",
        "--password",
        "Winter2026!",
        "--requests",
        "50",
        "--concurrency",
        "4",
    ]);
    assert_eq!(r["answers"]["Access-Accept"], 50, "{r}");
    assert_eq!(r["door"], "radius");
    for k in ["p50", "p90", "p99", "max"] {
        assert!(r["latency_ms"][k].as_f64().unwrap() > 0.0, "{r}");
    }
    assert!(r["rate"].as_f64().unwrap() > 0.0);
    let r = run(&[
        "radius",
        "--server",
        &radius,
        "--secret",
        SECRET,
        "--user",
        "alice",
        "--password",
        "wrong",
        "--requests",
        "5",
        "--rate",
        "50",
        "--retransmit",
        "2s,1",
    ]);
    assert_eq!(r["answers"]["Access-Reject"], 5, "{r}");
    // Nobody answers: timeouts, each after its retransmission.
    let silent = format!("127.0.0.1:{}", free_udp());
    let r = run(&[
        "radius",
        "--server",
        &silent,
        "--secret",
        SECRET,
        "--user",
        "alice",
        "--password",
        "x",
        "--requests",
        "2",
        "--retransmit",
        "200ms,1",
    ]);
    assert_eq!(
        (r["timeouts"].clone(), r["retransmissions"].clone()),
        (2.into(), 2.into()),
        "{r}"
    );
    // A wrong shared secret is not an answer: the Response Authenticator does not check out
    // (hybridauth drops the request anyway).
    let r = run(&[
        "radius",
        "--server",
        &radius,
        "--secret",
        "not-it",
        "--user",
        "alice",
        "--password",
        "Winter2026!",
        "--requests",
        "1",
        "--retransmit",
        "300ms,0",
    ]);
    assert_eq!(r["timeouts"], 1, "{r}");
    let ldap = format!("127.0.0.1:{}", d.ldap);
    let r = run(&[
        "ldap",
        "--server",
        &ldap,
        "--bind-dn",
        "alice",
        "--password",
        "Winter2026!",
        "--requests",
        "30",
        "--concurrency",
        "3",
        "--timeout",
        "5s",
    ]);
    assert_eq!(r["answers"]["success"], 30, "{r}");
    let r = run(&[
        "ldap",
        "--server",
        &ldap,
        "--bind-dn",
        "alice",
        "--password",
        "nope",
        "--requests",
        "3",
    ]);
    assert_eq!(r["answers"]["invalidCredentials"], 3, "{r}");
    assert!(cli
        .refused(&[
            "load",
            "radius",
            "--server",
            &radius,
            "--secret",
            "s",
            "--user",
            "u",
            "--password",
            "p",
            "--retransmit",
            "3s"
        ])
        .contains("TIMEOUT,RETRIES"));
}

#[test]
fn a_reader_that_goes_away_is_not_a_panic() {
    // `hybridauth load … | head -1`: stdout closes before the report is written.
    let cli = Cli::new();
    let silent = format!("127.0.0.1:{}", common::daemon::free_udp());
    let mut child = cli
        .command(&[
            "load",
            "radius",
            "--server",
            &silent,
            "--secret",
            "s",
            "--user",
            "u",
            "--password",
            "p",
            "--requests",
            "1",
            "--retransmit",
            "300ms,0",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn user_import_takes_csv_and_ldif_all_or_nothing_and_names_each_bad_line() {
    let cli = Cli::new();
    cli.ok(&["clock", "set", "2026-01-05T10:00:00Z"]);
    cli.ok(&["user", "add", "taken", "--password", "p"]);
    let dir = cli.dir.path();
    // An Argon2id hash made elsewhere (another hybridauth, or any Argon2 tool).
    let other = Cli::new();
    other.ok(&["user", "add", "x", "--password", "Hashed-1"]);
    let hash =
        hybridauth::directory::sqlite::SqliteStore::open(&other.dir.path().join("s.sqlite3"))
            .and_then(|s| hybridauth::directory::Store::user_by_sam(&s, "x"))
            .unwrap()
            .unwrap()
            .password_hash;
    // A bad file: every bad line is named, and nothing is imported.
    std::fs::write(
        dir.join("bad.csv"),
        "sam,password,password_hash,mfa\nann,Ann-pass-1,,\nTAKEN,x,,\nann,y,,\nbea,,not-a-hash,\ncid,z,,often\n",
    )
    .unwrap();
    let out = cli.run(&["user", "import", "bad.csv"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for line in ["bad.csv:3:", "bad.csv:4:", "bad.csv:5:", "bad.csv:6:"] {
        assert!(err.contains(line), "{line} in {err}");
    }
    assert!(!err.contains("bad.csv:2:"), "{err}");
    assert!(err.contains("nothing was imported"), "{err}");
    assert!(
        cli.run(&["user", "show", "ann"]).status.code() == Some(1),
        "all or nothing"
    );
    // A good CSV: plaintext and pre-hashed passwords, groups, MFA, disabled accounts.
    std::fs::write(
        dir.join("users.csv"),
        format!(
            "sam,upn,password,password_hash,display_name,mail,groups,mfa,admin,enabled\n\
             ann,ann@contoso.com,Ann-pass-1,,Ann A,ann@contoso.com,VPN Users;staff,enforced,false,true\n\
             bea,,,\"{hash}\",,,,,true,\n\
             cid,,Cid-pass-1,,,,,,,false\n"
        ),
    )
    .unwrap();
    let summary = cli.ok(&["user", "import", "users.csv", "--json"]);
    assert_eq!(
        summary,
        serde_json::json!({"imported": 3, "hashed": 2, "prehashed": 1, "without_password": 0})
    );
    let ann = cli.ok(&["user", "show", "ann", "--json"]);
    assert_eq!(ann["groups"], serde_json::json!(["VPN Users", "staff"]));
    assert_eq!(ann["mfa"], "enforced");
    let check = |user: &str, pw: &str| {
        cli.ok(&[
            "check",
            "--endpoint",
            "on-prem",
            "--user",
            user,
            "--password",
            pw,
            "--json",
        ])["outcome"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(check("ann", "Ann-pass-1"), "accept");
    assert_eq!(
        check("bea", "Hashed-1"),
        "accept",
        "the given hash is used as it is"
    );
    assert_eq!(check("cid", "Cid-pass-1"), "reject", "imported disabled");
    // Imported users reach the cloud at the next object-sync cycle, like any creation.
    let cloud = |user: &str, pw: &str| {
        cli.ok(&[
            "check",
            "--endpoint",
            "cloud",
            "--user",
            user,
            "--password",
            pw,
            "--json",
        ])["rule"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(cloud("bea@contoso.com", "Hashed-1"), "cloud.unknown-user");
    cli.ok(&["sync", "now"]);
    assert_eq!(
        cloud("bea@contoso.com", "Hashed-1"),
        "cloud.password.accept"
    );
    // LDIF as AD exports it (--format, since the name does not say): no passwords.
    std::fs::write(
        dir.join("export.txt"),
        "dn: CN=Dan,CN=Users,DC=contoso,DC=com\nobjectClass: user\nsAMAccountName: dan\n\
         userPrincipalName: dan@contoso.com\nmemberOf: CN=VPN Users,CN=Users,DC=contoso,DC=com\n\
         userAccountControl: 512\n",
    )
    .unwrap();
    let summary = cli.ok(&["user", "import", "export.txt", "--format", "ldif", "--json"]);
    assert_eq!(summary["without_password"], 1);
    assert_eq!(
        cli.ok(&["user", "show", "dan", "--json"])["groups"],
        serde_json::json!(["VPN Users"])
    );
    assert_eq!(check("dan", ""), "reject");
    cli.ok(&["user", "reset-password", "dan", "--password", "Dan-pass-1"]);
    assert_eq!(check("dan", "Dan-pass-1"), "accept");
}

#[test]
fn help_describes_every_command_and_lists_allowed_values() {
    let cli = Cli::new();
    let help = |args: &[&str]| {
        let out = cli.run(args);
        assert!(out.status.success(), "{args:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let top = help(&["--help"]);
    for cmd in [
        "serve",
        "tenant",
        "user",
        "app-password",
        "sync",
        "clock",
        "check",
        "cert",
        "load",
    ] {
        assert!(top.contains(cmd), "{cmd} in {top}");
    }
    assert!(help(&["check", "--help"]).contains("on-prem|cloud|hybrid"));
    assert!(help(&["user", "add", "--help"]).contains("disabled|enabled|enforced"));
    let user = help(&["user", "--help"]);
    for line in user
        .lines()
        .filter(|l| l.starts_with("  ") && !l.trim().starts_with('-'))
    {
        assert!(
            line.split_whitespace().count() > 1,
            "no description: {line:?}"
        );
    }
    let tenant = help(&["tenant", "set", "--help"]);
    assert!(
        tenant.contains("object-sync-interval (default: 30m)"),
        "{tenant}"
    );
    assert!(
        tenant.contains("allow-app-passwords (default: off)"),
        "{tenant}"
    );
}

#[test]
fn config_check_lists_every_problem_and_serve_refuses_no_listener() {
    let cli = Cli::new();
    let dir = cli.dir.path();
    // The shipped configuration is fine.
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/conf/hybridauth.toml");
    let ok = cli.ok(&["config", "check", shipped, "--json"]);
    assert_eq!(ok["ok"], true);
    // Two listeners on one UDP port (a wildcard and a loopback), one TCP address twice, an
    // LDAPS key pair that cannot be read: three problems, all listed, exit 3.
    std::fs::write(
        dir.join("bad.toml"),
        "[radius]\nlisten = [\"127.0.0.1:21812\", \"0.0.0.0:21812\"]\naccounting_listen = []\n\
         [[ldap.listeners]]\naddress = \"127.0.0.1:23389\"\n\
         [[ldap.listeners]]\naddress = \"127.0.0.1:23389\"\ntls = \"ldaps\"\n\
         cert = \"missing-cert.pem\"\nkey = \"missing-key.pem\"\n",
    )
    .unwrap();
    let out = cli.run(&["config", "check", "bad.toml"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("3 problem(s)"), "{err}");
    assert!(
        err.contains("same UDP address") && err.contains("same TCP address"),
        "{err}"
    );
    assert!(err.contains("missing-cert.pem"), "{err}");
    let json = cli.run(&["config", "check", "bad.toml", "--json"]);
    assert_eq!(json.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["problems"].as_array().unwrap().len(), 3);
    // EAP's certificate and key are checked like an LDAPS pair.
    std::fs::write(
        dir.join("eap.toml"),
        "[radius.eap]\nmethods = [\"peap\"]\ncert = \"no-eap-cert.pem\"\nkey = \"no-eap-key.pem\"\n",
    )
    .unwrap();
    let out = cli.run(&["config", "check", "eap.toml"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("radius.eap:") && err.contains("no-eap-cert.pem"),
        "{err}"
    );
    // The admin listener takes a TCP address like the LDAP listeners.
    std::fs::write(
        dir.join("admin.toml"),
        "[admin]\nlisten = \"127.0.0.1:23389\"\n[[ldap.listeners]]\naddress = \"0.0.0.0:23389\"\n",
    )
    .unwrap();
    let out = cli.run(&["config", "check", "admin.toml"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("admin.listen 127.0.0.1:23389") && err.contains("same TCP address"),
        "{err}"
    );
    // A configuration that does not parse is one problem, named with its key.
    std::fs::write(dir.join("typo.toml"), "[radius]\nlisten = 5\n").unwrap();
    let out = cli.run(&["config", "check", "typo.toml"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("radius.listen"));
    // No listener at all: check says so, and serve refuses to start.
    std::fs::write(
        dir.join("none.toml"),
        "[radius]\nlisten = []\naccounting_listen = []\n[ldap]\nlisteners = []\n",
    )
    .unwrap();
    let out = cli.run(&["config", "check", "none.toml"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no listener"));
    let out = cli.run(&["--config", "none.toml", "serve"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no listener"));
    // Value problems hidden behind others before: an unknown key (in the file and in the
    // environment), a bad duration, a bad CIDR, a bad endpoint kind: all five, each with its
    // key and where it came from.
    std::fs::write(
        dir.join("many.toml"),
        "[radius]\nreject_delay = \"soon\"\n[ldap]\ncolour = \"blue\"\n\
         [[radius.clients]]\nname = \"x\"\nnetwork = \"10.0.0.0/40\"\nsecret = \"s\"\nendpoint = \"on-prem\"\n\
         [[ldap.listeners]]\naddress = \"127.0.0.1:23389\"\nendpoint = \"moon\"\n",
    )
    .unwrap();
    let out = cli
        .command(&["config", "check", "many.toml"])
        .env("HYBRIDAUTH_CLOK__MODE", "simulated")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    let file = dir.join("many.toml").display().to_string();
    for want in [
        "5 problem(s)".to_string(),
        "key `clok` (from environment variable HYBRIDAUTH_CLOK__MODE): unknown field".into(),
        format!("key `ldap.colour` (in {file}): unknown field"),
        format!("key `radius.reject_delay` (in {file})"),
        format!("key `radius.clients[0].network` (in {file})"),
        format!("key `ldap.listeners[0].endpoint` (in {file})"),
        "expected one of `listeners`".into(),
    ] {
        assert!(err.contains(&want), "{want}: {err}");
    }
    assert!(!err.contains("``"), "{err}");
    // serve names the key and the file of a certificate it cannot read.
    std::fs::write(
        dir.join("tls.toml"),
        format!(
            "[admin]\nlisten = \"\"\n[radius]\nlisten = []\naccounting_listen = []\n\
             [[ldap.listeners]]\naddress = \"127.0.0.1:{}\"\ntls = \"ldaps\"\n\
             cert = \"missing-cert.pem\"\nkey = \"missing-key.pem\"\n",
            common::daemon::free_tcp()
        ),
    )
    .unwrap();
    let out = cli.run(&["--config", "tls.toml", "serve"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ldap.listeners[0] (in tls.toml): cannot read missing-cert.pem"),
        "{err}"
    );
}

#[test]
fn messages_say_durations_and_usage_as_the_readme_does() {
    let cli = Cli::new();
    let err = cli.refused(&["tenant", "set", "object-sync-interval", "25h"]);
    assert!(err.contains("between 30m and 24h"), "{err}");
    let v = cli.ok(&["--json", "tenant", "set", "object-sync-interval", "24h"]);
    assert!(v.to_string().contains("24h"), "{v}");
    std::fs::write(cli.dir.path().join("u.scenario"), "expect cloud alice\n").unwrap();
    let out = cli.run(&["scenario", "run", "u.scenario"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("[--door radius|ldap]"),
        "{out:?}"
    );
}

/// Read commands never create a store: they say which store they looked for and why there.
#[test]
fn read_commands_never_create_a_store_and_say_where_they_looked() {
    let cli = Cli::new();
    let store = cli.dir.path().join("s.sqlite3");
    for args in [
        vec!["user", "list"],
        vec!["user", "show", "alice"],
        vec!["tenant", "show"],
        vec!["sync", "status"],
        vec!["clock", "show"],
        vec!["app-password", "list", "alice"],
        vec!["timeline", "alice"],
    ] {
        let out = cli.run(&args);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("no store at {}", store.display()))
                && err.contains("from HYBRIDAUTH_STORE__PATH"),
            "{args:?}: {err}"
        );
        assert!(!store.exists(), "{args:?} created the store");
    }
    // Outside any project: the built-in default, relative to the current directory.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hybridauth"))
        .args(["user", "list"])
        .current_dir(elsewhere.path())
        .env_remove("HYBRIDAUTH_STORE__PATH")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no store at hybridauth-data/hybridauth.sqlite3 (the built-in default"),
        "{err}"
    );
    assert!(!elsewhere.path().join("hybridauth-data").exists());
    // A command that writes creates it; then reads work.
    cli.ok(&["user", "add", "alice", "--password", "Winter2026!"]);
    assert_eq!(
        cli.ok(&["--json", "user", "list"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// A start-up error names the file it concerns (a bare "Permission denied" named nothing).
#[test]
fn start_up_errors_name_the_file() {
    let cli = Cli::new();
    let dir = cli.dir.path();
    std::fs::write(dir.join("not-a-dir"), "").unwrap();
    let out = cli
        .command(&["serve"])
        .env("HYBRIDAUTH_RADIUS__LISTEN", "[]")
        .env("HYBRIDAUTH_RADIUS__ACCOUNTING_LISTEN", "[]")
        .env("HYBRIDAUTH_ADMIN__LISTEN", "")
        .env(
            "HYBRIDAUTH_LDAP__LISTENERS",
            format!(
                "[{{address=\"127.0.0.1:{}\",endpoint=\"on-prem\"}}]",
                common::daemon::free_tcp()
            ),
        )
        .env(
            "HYBRIDAUTH_SIGNIN_LOG__ONPREM",
            dir.join("not-a-dir/on.jsonl"),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "cannot create the directory {}",
            dir.join("not-a-dir").display()
        )),
        "{err}"
    );
}

/// PEAP offered without NT hashes: the configuration is valid (TTLS/PAP works) but `config
/// check` says PEAP will fail for everyone.
#[test]
fn config_check_warns_when_peap_is_offered_without_nt_hashes() {
    let cli = Cli::new();
    let dir = cli.dir.path();
    common::tls::lab_cert(dir);
    std::fs::write(
        dir.join("wifi.toml"),
        "[radius.eap]\nmethods = [\"peap\", \"ttls\"]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n",
    )
    .unwrap();
    let out = cli
        .command(&["config", "check", "wifi.toml"])
        .env(
            "HYBRIDAUTH_RADIUS__LISTEN",
            format!("[\"127.0.0.1:{}\"]", common::daemon::free_udp()),
        )
        .env("HYBRIDAUTH_RADIUS__ACCOUNTING_LISTEN", "[]")
        .env("HYBRIDAUTH_LDAP__LISTENERS", "[]")
        .env("HYBRIDAUTH_ADMIN__LISTEN", "")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        text.contains("configuration OK")
            && text.contains("warning: radius.eap.methods offers PEAP"),
        "{text}"
    );
}
