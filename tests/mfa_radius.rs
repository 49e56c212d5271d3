//! MFA over RADIUS as the NPS extension for Microsoft Entra MFA does it (docs/model.md §10),
//! on the wire: `radclient` (FreeRADIUS's client) for PAP, answering the Access-Challenge with
//! the State it got and a code computed by `oathtool` (nobody here wrote either); the test's
//! own client where a NAS's retransmission or MS-CHAPv2 is needed. Pushes are answered with
//! `hybridauth mfa approve|deny`, as the phone would.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::daemon::{Daemon, Options, SECRET};

const MFA: &str = r#"
[radius.mfa]
extension = "nps"
timeout = "4s"

[[radius.policies]]
name = "vpn-vlan"
groups = ["VPN-Users"]
endpoint = "on-prem"
reply = { "Tunnel-Type" = "VLAN", "Tunnel-Medium-Type" = "IEEE-802", "Tunnel-Private-Group-Id" = "42" }
"#;

fn start(extra: &str) -> Daemon {
    let d = Options {
        extra_toml: format!("{MFA}{extra}"),
        ..Default::default()
    }
    .start();
    d.cli(&[
        "user",
        "add",
        "alice",
        "--password",
        "Winter2026!",
        "--groups",
        "VPN-Users",
    ]);
    d.cli(&["sync", "now"]);
    d
}

/// radclient's whole output for one request: one try, `wait` seconds.
fn radclient(d: &Daemon, attrs: &str, wait: u32) -> String {
    let mut child = Command::new("radclient")
        .args(["-r", "1", "-t", &wait.to_string(), "-x"])
        .arg(format!("127.0.0.1:{}", d.radius))
        .args(["auth", SECRET])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("radclient (freeradius-utils)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{attrs}, Message-Authenticator = 0x00\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn pap(d: &Daemon, user: &str, password: &str) -> String {
    radclient(
        d,
        &format!("User-Name = \"{user}\", User-Password = \"{password}\""),
        3,
    )
}

/// The State of an Access-Challenge, as radclient prints it (0x…).
fn state_of(reply: &str) -> String {
    reply
        .lines()
        .find_map(|l| l.trim().strip_prefix("State = "))
        .unwrap_or_else(|| panic!("no State in {reply}"))
        .to_string()
}

/// The code answering a challenge, sent as the NAS does: a new Access-Request with the State.
fn answer(d: &Daemon, user: &str, state: &str, code: &str) -> String {
    radclient(
        d,
        &format!("User-Name = \"{user}\", User-Password = \"{code}\", State = {state}"),
        3,
    )
}

/// `oathtool --totp` on the base32 secret of an otpauth:// URI.
fn oathtool(uri: &str, offset_steps: i64) -> String {
    let secret = uri
        .split("secret=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .unwrap();
    let now = chrono::Utc::now().timestamp() + offset_steps * 30;
    let out = Command::new("oathtool")
        .args(["--totp", "-b", "-N"])
        .arg(format!("@{now}"))
        .arg(secret)
        .output()
        .expect("oathtool (Debian oathtool)");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn add_totp(d: &Daemon, sam: &str) -> String {
    let out = d.cli(&["--json", "user", "mfa", "add", sam, "--totp"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["otpauth_uri"].as_str().unwrap().to_string()
}

/// The phone pressing `verb` (approve or deny) for `sam` as soon as a push waits (at most
/// 10 s); whether it did.
fn phone(d: &Daemon, verb: &'static str, sam: &'static str) -> std::thread::JoinHandle<bool> {
    let config = d.config.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = Command::new(env!("CARGO_BIN_EXE_hybridauth"))
                .arg("--config")
                .arg(&config)
                .args(["mfa", verb, sam])
                .output()
                .unwrap();
            if out.status.success() || Instant::now() > deadline {
                return out.status.success();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
}

fn last(d: &Daemon, log: &str) -> serde_json::Value {
    d.signin_log(log).pop().unwrap()
}

#[test]
fn pap_with_totp_is_challenged_and_a_right_code_accepts_without_the_policy_attributes() {
    let d = start("");
    let uri = add_totp(&d, "alice");
    let first = pap(&d, "alice", "Winter2026!");
    assert!(first.contains("Received Access-Challenge"), "{first}");
    assert!(
        first.contains("Enter your Microsoft validation code"),
        "{first}"
    );
    // The primary decision is on-prem's, unchanged.
    assert_eq!(last(&d, "onprem")["rule"], "onprem.accept");
    let done = answer(&d, "alice", &state_of(&first), &oathtool(&uri, 0));
    assert!(done.contains("Received Access-Accept"), "{done}");
    assert!(
        !done.contains("Tunnel-Private-Group-Id"),
        "VLAN lost on the OTP path: {done}"
    );
    let step = last(&d, "cloud");
    assert_eq!(step["rule"], "mfa.code-accepted", "{step}");
    assert!(step["explanation"]
        .as_str()
        .unwrap()
        .contains("does not forward"));
}

#[test]
fn a_wrong_or_replayed_code_is_rejected_and_a_neighbouring_step_is_accepted() {
    let d = start("");
    let uri = add_totp(&d, "alice");
    let wrong = {
        let c = pap(&d, "alice", "Winter2026!");
        let right = oathtool(&uri, 0);
        let bad = if right == "000000" {
            "111111"
        } else {
            "000000"
        };
        answer(&d, "alice", &state_of(&c), bad)
    };
    assert!(wrong.contains("Received Access-Reject"), "{wrong}");
    assert_eq!(last(&d, "cloud")["rule"], "mfa.code-wrong");
    // A code one step old still counts (clock drift); the same step never twice.
    let code = oathtool(&uri, -1);
    let c = pap(&d, "alice", "Winter2026!");
    assert!(answer(&d, "alice", &state_of(&c), &code).contains("Received Access-Accept"));
    let c = pap(&d, "alice", "Winter2026!");
    let replay = answer(&d, "alice", &state_of(&c), &code);
    assert!(replay.contains("Received Access-Reject"), "{replay}");
    assert_eq!(last(&d, "cloud")["rule"], "mfa.code-replayed");
    // A State this node no longer knows (used up, expired, another node's) is refused as
    // such: the code is never tried as a password (no bad attempt counted).
    let stale = answer(&d, "alice", &state_of(&c), &oathtool(&uri, 0));
    assert!(stale.contains("Received Access-Reject"), "{stale}");
    assert_eq!(last(&d, "onprem")["rule"], "mfa.prompt-unknown");
    let shown = d.cli(&["--json", "user", "show", "alice"]);
    let v: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(v["ad_lockout"]["bad_count"], 0, "{v}");
}

#[test]
fn a_user_the_cloud_does_not_know_yet_is_rejected_until_the_cycle_carries_them() {
    let d = start("");
    d.cli(&["user", "add", "newbie", "--password", "Newbie-pass-1"]);
    add_totp(&d, "newbie");
    let r = pap(&d, "newbie", "Newbie-pass-1");
    assert!(r.contains("Received Access-Reject"), "{r}");
    assert_eq!(last(&d, "onprem")["rule"], "onprem.accept");
    let step = last(&d, "cloud");
    assert_eq!(step["rule"], "mfa.user-unknown", "{step}");
    d.cli(&["clock", "advance", "30m"]);
    let r = pap(&d, "newbie", "Newbie-pass-1");
    assert!(r.contains("Received Access-Challenge"), "{r}");
    // Disabled in the cloud copy while enabled again on-prem (the re-enable not synced yet):
    // on-prem accepts, the extension refuses.
    d.cli(&["user", "disable", "newbie"]);
    d.cli(&["sync", "now"]);
    d.cli(&["user", "enable", "newbie"]);
    let r = pap(&d, "newbie", "Newbie-pass-1");
    assert!(r.contains("Received Access-Reject"), "{r}");
    assert_eq!(last(&d, "onprem")["rule"], "onprem.accept");
    assert_eq!(last(&d, "cloud")["rule"], "mfa.user-disabled");
    // Disabled in the cloud copy (disabled on-prem and synced): on-prem refuses first anyway;
    // an app password never reaches MFA (52e on-prem, before the extension is asked).
    let before = d.signin_log("cloud").len();
    let r = pap(&d, "alice", "not-the-password");
    assert!(r.contains("Received Access-Reject"), "{r}");
    assert_eq!(last(&d, "onprem")["codes"]["ad"], "52e");
    assert_eq!(
        d.signin_log("cloud").len(),
        before,
        "a reject never goes to MFA"
    );
}

#[test]
fn without_a_method_require_user_match_decides() {
    let strict = start("");
    let r = pap(&strict, "alice", "Winter2026!");
    assert!(r.contains("Received Access-Reject"), "{r}");
    assert_eq!(last(&strict, "cloud")["rule"], "mfa.not-registered");
    drop(strict);
    let lax = Options {
        extra_toml: MFA.into(),
        ..Default::default()
    }
    .env("HYBRIDAUTH_RADIUS__MFA__REQUIRE_USER_MATCH", "false")
    .start();
    lax.cli(&[
        "user",
        "add",
        "alice",
        "--password",
        "Winter2026!",
        "--groups",
        "VPN-Users",
    ]);
    lax.cli(&["sync", "now"]);
    let r = pap(&lax, "alice", "Winter2026!");
    assert!(r.contains("Received Access-Accept"), "{r}");
    assert!(r.contains("Tunnel-Private-Group-Id"), "{r}");
    assert_eq!(last(&lax, "cloud")["rule"], "mfa.unregistered-pass");
}

/// Sends `pkt` and waits for an answer, retransmitting it every second as a NAS does.
fn held(d: &Daemon, pkt: &[u8], until: Duration) -> (Option<Vec<u8>>, usize) {
    let s = common::radius::client("127.0.0.1");
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let deadline = Instant::now() + until;
    let mut sent = 0;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        s.send_to(pkt, ("127.0.0.1", d.radius)).unwrap();
        sent += 1;
        if let Ok((n, _)) = s.recv_from(&mut buf) {
            return (Some(buf[..n].to_vec()), sent);
        }
    }
    (None, sent)
}

fn push_request(id: u8) -> Vec<u8> {
    common::radius::access_request(id, [id; 16], "alice", b"Winter2026!", SECRET, true, &[])
}

#[test]
fn a_push_holds_the_request_until_approved_denied_or_out_of_time() {
    let d = start("");
    d.cli(&["user", "mfa", "add", "alice", "--push"]);
    let before = d.signin_log("onprem").len();
    // Approved while the NAS retransmits: one decision, the policy's attributes kept.
    let approver = phone(&d, "approve", "alice");
    let (reply, sent) = held(&d, &push_request(1), Duration::from_secs(8));
    assert!(approver.join().unwrap(), "a push was opened to approve");
    let reply = reply.expect("answered once approved");
    assert_eq!(reply[0], 2, "Access-Accept");
    assert!(
        reply.windows(2).any(|w| w == [81, 4]),
        "Tunnel-Private-Group-Id kept on push"
    );
    assert_eq!(
        d.signin_log("onprem").len(),
        before + 1,
        "retransmissions ({sent} sent) are one request"
    );
    assert_eq!(last(&d, "cloud")["rule"], "mfa.push-approved");
    // Denied.
    let denier = phone(&d, "deny", "alice");
    let (reply, _) = held(&d, &push_request(2), Duration::from_secs(8));
    assert!(denier.join().unwrap(), "a push was opened to deny");
    assert_eq!(reply.expect("answered once denied")[0], 3, "Access-Reject");
    assert_eq!(last(&d, "cloud")["rule"], "mfa.push-denied");
    // Nobody answers: rejected at radius.mfa.timeout (4 s here), and the push is closed.
    let t0 = Instant::now();
    let (reply, _) = held(&d, &push_request(3), Duration::from_secs(10));
    assert_eq!(reply.expect("answered at the timeout")[0], 3);
    assert!(t0.elapsed() >= Duration::from_secs(4), "{:?}", t0.elapsed());
    assert_eq!(last(&d, "cloud")["rule"], "mfa.timeout");
    let late = Command::new(env!("CARGO_BIN_EXE_hybridauth"))
        .arg("--config")
        .arg(&d.config)
        .args(["mfa", "approve", "alice"])
        .output()
        .unwrap();
    assert!(!late.status.success(), "a closed push cannot be approved");
}

#[test]
fn a_nas_without_the_extension_and_a_cloud_nas_never_ask_for_mfa() {
    let d = start(
        r#"
[[radius.clients]]
name = "second-nps"
network = "127.0.0.2/32"
secret = "s3cret-shared"
endpoint = "on-prem"
mfa = "off"
"#,
    );
    add_totp(&d, "alice");
    let s = common::radius::client("127.0.0.2");
    let pkt = push_request(9);
    let r = common::radius::exchange(&s, d.radius, "127.0.0.1", &pkt).unwrap();
    assert_eq!(r[0], 2, "Access-Accept on the first factor alone");
    assert!(d.signin_log("cloud").is_empty() || last(&d, "cloud")["rule"] != "mfa.code-accepted");
}

/// `radtest -t mschap` (MS-CHAPv2 through radclient, which retransmits every 3 s).
fn radtest_mschap(d: &Daemon, user: &str, password: &str) -> String {
    let out = Command::new("radtest")
        .args(["-t", "mschap", "-x", user, password])
        .arg(format!("127.0.0.1:{}", d.radius))
        .args(["0", SECRET])
        .output()
        .expect("radtest (freeradius-utils)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn ms_chap_v2_can_only_push_and_a_code_only_user_is_refused() {
    const NT: (&str, &str) = ("HYBRIDAUTH_HASHING__STORE_NT_HASH", "true");
    let d = Options {
        extra_toml: MFA.into(),
        ..Default::default()
    }
    .env(NT.0, NT.1)
    .start();
    d.cli_with_env(
        &[
            "user",
            "add",
            "bob",
            "--password",
            "Bob-pass-1",
            "--groups",
            "VPN-Users",
        ],
        &[NT],
    );
    d.cli(&["sync", "now"]);
    add_totp(&d, "bob");
    let r = radtest_mschap(&d, "bob", "Bob-pass-1");
    assert!(r.contains("Received Access-Reject"), "{r}");
    assert_eq!(last(&d, "onprem")["rule"], "onprem.accept");
    assert_eq!(last(&d, "cloud")["rule"], "mfa.code-needs-pap");
    // With a push method as well, MS-CHAPv2 gets the push (held, approved from "the phone").
    d.cli(&["user", "mfa", "add", "bob", "--push"]);
    let approver = phone(&d, "approve", "bob");
    let r = radtest_mschap(&d, "bob", "Bob-pass-1");
    assert!(approver.join().unwrap(), "a push was opened to approve");
    assert!(r.contains("Received Access-Accept"), "{r}");
    assert!(
        r.contains("MS-CHAP2-Success") || r.contains("MS-CHAP-MPPE-Keys"),
        "{r}"
    );
    assert!(
        r.contains("Tunnel-Private-Group-Id"),
        "attributes kept on push: {r}"
    );
    assert_eq!(last(&d, "cloud")["rule"], "mfa.push-approved");
}
