//! MS-CHAPv2 (RFC 2759) and MS-CHAP (RFC 2433) in plain RADIUS, on the wire: the NT hash kept
//! only with `hashing.store_nt_hash`, the authenticator response and MPPE keys of an accept, the
//! model's answers (no app password, no cloud verification, hybrid = on-prem proof + cloud
//! rules that need no secret). radtest's MS-CHAP is in the interop suite.

mod common;

use std::net::UdpSocket;

use common::daemon::{Daemon, Options, SECRET};
use common::radius::{exchange, hmac_md5};
use hybridauth::verify::mschap::{nt_hash, nt_response, verify, MsChap};
use md5::{Digest, Md5};

const NT: (&str, &str) = ("HYBRIDAUTH_HASHING__STORE_NT_HASH", "true");
const HYBRID_CLIENT: &str = r#"
[[radius.clients]]
name = "hybrid"
network = "127.0.0.3/32"
secret = "s3cret-shared"
endpoint = "hybrid"
reply_message = true
"#;

fn start() -> Daemon {
    Options {
        extra_toml: HYBRID_CLIENT.into(),
        ..Default::default()
    }
    .start()
}

/// A CLI command with `hashing.store_nt_hash` on: passwords it sets get their NT hash.
fn nt_cli(d: &Daemon, args: &[&str]) -> std::process::Output {
    d.cli_with_env(args, &[NT])
}

fn vsa(t: u8, data: &[u8]) -> (u8, Vec<u8>) {
    let mut v = 311u32.to_be_bytes().to_vec();
    v.push(t);
    v.push(data.len() as u8 + 2);
    v.extend_from_slice(data);
    (26, v)
}

/// An Access-Request with User-Name, the given attributes and a Message-Authenticator.
fn request(id: u8, user: &str, attrs: &[(u8, Vec<u8>)]) -> (Vec<u8>, [u8; 16]) {
    let auth = [id.wrapping_mul(7).wrapping_add(1); 16];
    let mut p = vec![1, id, 0, 0];
    p.extend_from_slice(&auth);
    let mut push = |t: u8, v: &[u8]| {
        p.push(t);
        p.push(v.len() as u8 + 2);
        p.extend_from_slice(v);
    };
    push(1, user.as_bytes());
    for (t, v) in attrs {
        push(*t, v);
    }
    push(80, &[0u8; 16]);
    let at = p.len() - 16;
    let len = p.len() as u16;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    let ma = hmac_md5(SECRET.as_bytes(), &p);
    p[at..].copy_from_slice(&ma);
    (p, auth)
}

/// A client's MS-CHAPv2 request for `password`: the proof and the attributes carrying it.
fn v2(user: &str, password: &str) -> (MsChap, Vec<(u8, Vec<u8>)>) {
    let name = user.rsplit('\\').next().unwrap();
    let mut proof = MsChap::V2 {
        authenticator_challenge: [0x5b; 16],
        peer_challenge: [0x21; 16],
        nt_response: [0; 24],
        user_name: name.as_bytes().to_vec(),
    };
    let r = nt_response(&proof, &nt_hash(password.as_bytes()));
    if let MsChap::V2 { nt_response, .. } = &mut proof {
        *nt_response = r;
    }
    let mut resp = vec![9u8, 0];
    resp.extend_from_slice(&[0x21; 16]);
    resp.extend_from_slice(&[0; 8]);
    resp.extend_from_slice(&r);
    (proof, vec![vsa(11, &[0x5b; 16]), vsa(25, &resp)])
}

fn ask(d: &Daemon, host: &str, id: u8, user: &str, attrs: &[(u8, Vec<u8>)]) -> (Vec<u8>, [u8; 16]) {
    // From `host` (the client's address picks the NAS entry), to the daemon's loopback socket.
    let s = UdpSocket::bind((host, 0)).unwrap();
    let to = if host.contains(':') {
        "::1"
    } else {
        "127.0.0.1"
    };
    let (p, auth) = request(id, user, attrs);
    (exchange(&s, d.radius, to, &p).expect("an answer"), auth)
}

/// Microsoft vendor attributes of a reply, by type.
fn microsoft(p: &[u8], typ: u8) -> Option<Vec<u8>> {
    let mut i = 20;
    while i + 2 <= p.len() {
        let (t, l) = (p[i], p[i + 1] as usize);
        let v = &p[i + 2..i + l];
        if t == 26 && v[..4] == 311u32.to_be_bytes() && v[4] == typ {
            return Some(v[6..].to_vec());
        }
        i += l;
    }
    None
}

fn reply_message(p: &[u8]) -> String {
    let mut i = 20;
    while i + 2 <= p.len() {
        let (t, l) = (p[i], p[i + 1] as usize);
        if t == 18 {
            return String::from_utf8_lossy(&p[i + 2..i + l]).into_owned();
        }
        i += l;
    }
    String::new()
}

/// RFC 2548 §2.4.2, as a NAS decrypts MS-MPPE-Send/Recv-Key.
fn decrypt_key(v: &[u8], request_auth: &[u8; 16]) -> Vec<u8> {
    let (salt, c) = v.split_at(2);
    let mut prev: Vec<u8> = [request_auth.as_slice(), salt].concat();
    let mut plain = vec![];
    for block in c.chunks(16) {
        let mut h = Md5::new();
        h.update(SECRET.as_bytes());
        h.update(&prev);
        let b = h.finalize();
        plain.extend(block.iter().zip(b.iter()).map(|(x, k)| x ^ k));
        prev = block.to_vec();
    }
    let n = plain[0] as usize;
    plain[1..1 + n].to_vec()
}

#[test]
fn mschapv2_accepts_the_domain_password_with_its_success_and_mppe_keys() {
    let d = start();
    nt_cli(&d, &["user", "add", "alice", "--password", "Winter2026!"]);
    let (proof, attrs) = v2("CONTOSO\\alice", "Winter2026!");
    let (r, auth) = ask(&d, "127.0.0.1", 1, "CONTOSO\\alice", &attrs);
    assert_eq!(r[0], 2, "Access-Accept: {:?}", d.signin_log("onprem").pop());
    let expected = verify(&proof, &nt_hash(b"Winter2026!")).unwrap();
    let success = microsoft(&r, 26).expect("MS-CHAP2-Success");
    assert_eq!(success[0], 9, "the response's identifier");
    assert_eq!(
        std::str::from_utf8(&success[1..]).unwrap(),
        expected.authenticator_response.as_deref().unwrap()
    );
    assert_eq!(
        decrypt_key(&microsoft(&r, 16).unwrap(), &auth),
        expected.send_key
    );
    assert_eq!(
        decrypt_key(&microsoft(&r, 17).unwrap(), &auth),
        expected.recv_key
    );
    assert_eq!(
        microsoft(&r, 7),
        Some(1u32.to_be_bytes().to_vec()),
        "encryption allowed"
    );
    let rec = d.signin_log("onprem").pop().unwrap();
    assert_eq!(rec["rule"], "onprem.accept");
    assert!(
        rec["explanation"].as_str().unwrap().contains("MS-CHAPv2"),
        "{rec}"
    );
}

#[test]
fn a_wrong_response_gets_ms_chap_error_691_and_counts_toward_lockout() {
    let d = start();
    nt_cli(&d, &["user", "add", "alice", "--password", "Winter2026!"]);
    d.cli(&["tenant", "set", "ad-lockout-threshold", "2"]);
    for id in 1..=2 {
        let (_, attrs) = v2("alice", "Summer2025!");
        let (r, _) = ask(&d, "127.0.0.1", id, "alice", &attrs);
        assert_eq!(r[0], 3);
        let err = microsoft(&r, 2).expect("MS-CHAP-Error");
        assert_eq!(err[0], 9);
        assert!(
            String::from_utf8_lossy(&err[1..]).starts_with("E=691 R=0 C="),
            "{err:?}"
        );
        assert!(microsoft(&r, 16).is_none(), "no keys in a reject");
    }
    // Locked out now: even the right password is refused, with AD's lockout code.
    let (_, attrs) = v2("alice", "Winter2026!");
    let (r, _) = ask(&d, "127.0.0.1", 3, "alice", &attrs);
    assert_eq!(r[0], 3);
    assert!(String::from_utf8_lossy(&microsoft(&r, 2).unwrap()[1..]).starts_with("E=647"));
    assert_eq!(
        d.signin_log("onprem").pop().unwrap()["rule"],
        "onprem.locked-out"
    );
}

#[test]
fn without_an_nt_hash_the_answer_is_reason_66_until_the_password_is_set_again() {
    // Whoever sets the password decides, with its own hashing.store_nt_hash.
    let d = start();
    d.cli(&["user", "add", "bob", "--password", "Winter2026!"]);
    let (_, attrs) = v2("bob", "Winter2026!");
    let (r, _) = ask(&d, "127.0.0.1", 1, "bob", &attrs);
    assert_eq!(r[0], 3);
    assert!(
        reply_message(&r).contains("hashing.store_nt_hash"),
        "{}",
        reply_message(&r)
    );
    let rec = d.signin_log("onprem").pop().unwrap();
    assert_eq!(rec["rule"], "onprem.mschap.no-nt-hash");
    assert_eq!(rec["codes"]["nps"], 66);
    // PAP still works, and the next password set with the switch on brings the NT hash.
    nt_cli(
        &d,
        &["user", "reset-password", "bob", "--password", "Winter2027!"],
    );
    let (_, attrs) = v2("bob", "Winter2027!");
    let (r, _) = ask(&d, "127.0.0.1", 2, "bob", &attrs);
    assert_eq!(r[0], 2, "{:?}", d.signin_log("onprem").pop());
    // A reset without the switch drops it again: the old NT hash never outlives its password.
    d.cli(&["user", "reset-password", "bob", "--password", "Winter2028!"]);
    let (_, attrs) = v2("bob", "Winter2027!");
    let (r, _) = ask(&d, "127.0.0.1", 3, "bob", &attrs);
    assert_eq!(r[0], 3);
    assert_eq!(
        d.signin_log("onprem").pop().unwrap()["rule"],
        "onprem.mschap.no-nt-hash"
    );
}

#[test]
fn an_app_password_never_works_and_a_cloud_endpoint_refuses_mschap() {
    let d = start();
    nt_cli(
        &d,
        &[
            "user",
            "add",
            "carol",
            "--password",
            "Winter2026!",
            "--mfa",
            "enforced",
        ],
    );
    d.cli(&["tenant", "set", "allow-app-passwords", "on"]);
    let app = d.app_password("carol", "Mail");
    let (_, attrs) = v2("carol", &app);
    let (r, _) = ask(&d, "127.0.0.1", 1, "carol", &attrs);
    assert_eq!(r[0], 3);
    let why = reply_message(&r);
    assert!(why.contains("an app password never works here"), "{why}");
    // The cloud listener (::1): refused whatever the secret, reason 66.
    d.cli(&["clock", "advance", "30m"]);
    let (_, attrs) = v2("carol@contoso.com", "Winter2026!");
    let (r, _) = ask(&d, "::1", 2, "carol@contoso.com", &attrs);
    assert_eq!(r[0], 3);
    let rec = d.signin_log("cloud").pop().unwrap();
    assert_eq!(rec["rule"], "cloud.mschap-unsupported");
    assert_eq!(rec["codes"]["nps"], 66);
}

#[test]
fn a_hybrid_endpoint_proves_on_prem_then_applies_the_cloud_rules() {
    let d = start();
    nt_cli(&d, &["user", "add", "dora", "--password", "Winter2026!"]);
    nt_cli(
        &d,
        &[
            "user",
            "add",
            "erin",
            "--password",
            "Winter2026!",
            "--mfa",
            "enforced",
        ],
    );
    // Not in the cloud yet: on-prem proves the password, the cloud knows nobody.
    let (_, attrs) = v2("dora@contoso.com", "Winter2026!");
    let (r, _) = ask(&d, "127.0.0.3", 1, "dora@contoso.com", &attrs);
    assert_eq!(r[0], 3);
    assert_eq!(
        d.signin_log("cloud").pop().unwrap()["rule"],
        "cloud.unknown-user"
    );
    d.cli(&["clock", "advance", "30m"]);
    let (_, attrs) = v2("dora@contoso.com", "Winter2026!");
    let (r, _) = ask(&d, "127.0.0.3", 2, "dora@contoso.com", &attrs);
    assert_eq!(r[0], 2, "{:?}", d.signin_log("cloud").pop());
    assert!(microsoft(&r, 26).is_some() && microsoft(&r, 16).is_some());
    // Per-user MFA enforced: the cloud's rule refuses a legacy sign-in, secret or not.
    let (_, attrs) = v2("erin@contoso.com", "Winter2026!");
    let (r, _) = ask(&d, "127.0.0.3", 3, "erin@contoso.com", &attrs);
    assert_eq!(r[0], 3);
    assert_eq!(
        d.signin_log("cloud").pop().unwrap()["rule"],
        "cloud.password.mfa-required"
    );
    // A wrong response is on-prem's answer alone: the cloud is not asked.
    let cloud_before = d.signin_log("cloud").len();
    let (_, attrs) = v2("dora@contoso.com", "wrong-password");
    let (r, _) = ask(&d, "127.0.0.3", 4, "dora@contoso.com", &attrs);
    assert_eq!(r[0], 3);
    assert_eq!(
        d.signin_log("onprem").pop().unwrap()["rule"],
        "onprem.bad-password"
    );
    assert_eq!(d.signin_log("cloud").len(), cloud_before);
}
