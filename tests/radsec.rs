//! RADIUS over TLS (RFC 6614) and over TCP (RFC 6613) against a running daemon, with a client
//! built here on rustls: each thing a peer can do wrong is done on purpose. (Interop with
//! radsecproxy, FreeRADIUS and eapol_test is in tests/interop.)

mod common;
use common::admin;
use common::daemon::{free_tcp, Daemon, Options, SECRET};
use common::radius::{access_request, hmac_md5};

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

const PASSWORD: &str = "Winter2026!";

fn hybridauth(args: &[&str]) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hybridauth"))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
}

/// The lab set by the real binary, a second CA with a client of the same name, and an expired
/// client certificate signed by the lab CA.
fn make_certs(dir: &Path) {
    let lab = dir.join("radsec");
    let lab = lab.to_str().unwrap();
    hybridauth(&[
        "cert", "--radsec", "--dir", lab, "--client", "nas1", "--client", "far", "--client",
        "stranger",
    ]);
    let other = dir.join("other");
    hybridauth(&[
        "cert",
        "--radsec",
        "--dir",
        other.to_str().unwrap(),
        "--client",
        "nas1",
    ]);
    expired_client(&dir.join("radsec"));
}

/// `client-expired.pem`: CN nas1, signed by the lab CA, valid in 2020 only.
fn expired_client(lab: &Path) {
    let ca_key =
        rcgen::KeyPair::from_pem(&std::fs::read_to_string(lab.join("ca-key.pem")).unwrap())
            .unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, "hybridauth lab RadSec CA");
    dn.push(rcgen::DnType::OrganizationName, "hybridauth lab");
    ca.distinguished_name = dn;
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca = ca.self_signed(&ca_key).unwrap();
    let mut p = rcgen::CertificateParams::new(vec!["nas1".to_string()]).unwrap();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, "nas1");
    p.distinguished_name = dn;
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    p.use_authority_key_identifier_extension = true;
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = rcgen::date_time_ymd(2020, 12, 31);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &ca, &ca_key).unwrap();
    std::fs::write(lab.join("client-expired.pem"), cert.pem()).unwrap();
    std::fs::write(lab.join("client-expired-key.pem"), key.serialize_pem()).unwrap();
}

struct Lab {
    d: Daemon,
    tls: u16,
    tcp: u16,
}

fn lab_with(limits: &str) -> Lab {
    lab_env(limits, &[])
}

fn lab_env(limits: &str, env: &[(&str, &str)]) -> Lab {
    let (tls, tcp) = (free_tcp(), free_tcp());
    let d = Options {
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        before: Some(make_certs),
        extra_toml: format!(
            r#"
[[radius.clients]]
name = "nas1-tls"
tls_identity = "nas1"
endpoint = "on-prem"
require_message_authenticator = false
[[radius.clients]]
name = "far-tls"
tls_identity = "far"
network = "192.0.2.0/24"
[[radius.tls_listeners]]
listen = "127.0.0.1:{tls}"
cert = "{{dir}}/radsec/server.pem"
key = "{{dir}}/radsec/server-key.pem"
ca = "{{dir}}/radsec/ca.pem"
{limits}
[[radius.tcp_listeners]]
listen = "127.0.0.1:{tcp}"
{limits}
"#
        ),
        ..Default::default()
    }
    .start();
    d.cli_with_env(&["user", "add", "alice", "--password", PASSWORD], env);
    Lab { d, tls, tcp }
}

fn lab() -> Lab {
    lab_with("")
}

fn connector(dir: &Path, client: Option<&str>) -> tokio_rustls::TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(dir.join("radsec/ca.pem")).unwrap();
    for c in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        Some(name) => {
            let pem = std::fs::read(dir.join(format!("{name}.pem"))).unwrap();
            let certs = rustls_pemfile::certs(&mut pem.as_slice())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let kpem = std::fs::read(dir.join(format!("{name}-key.pem"))).unwrap();
            let key = rustls_pemfile::private_key(&mut kpem.as_slice())
                .unwrap()
                .unwrap();
            builder.with_client_auth_cert(certs, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

async fn tls_connect(l: &Lab, client: Option<&str>) -> std::io::Result<Tls> {
    let tcp = TcpStream::connect(("127.0.0.1", l.tls)).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    connector(l.d.dir.path(), client).connect(name, tcp).await
}

/// The next packet, or `None` when the connection ends (or errs) first; panics after 5 s.
async fn recv<S: AsyncRead + Unpin>(s: &mut S) -> Option<Vec<u8>> {
    tokio::time::timeout(Duration::from_secs(5), async {
        let mut head = [0u8; 4];
        s.read_exact(&mut head).await.ok()?;
        let len = u16::from_be_bytes([head[2], head[3]]) as usize;
        let mut p = head.to_vec();
        p.resize(len, 0);
        s.read_exact(&mut p[4..]).await.ok()?;
        Some(p)
    })
    .await
    .expect("neither an answer nor the end of the connection within 5 s")
}

/// Whether the server ends the connection (EOF or an error) within `limit`.
async fn ended_within<S: AsyncRead + Unpin>(s: &mut S, limit: Duration) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(limit, s.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

fn pap(id: u8, password: &str, secret: &str) -> Vec<u8> {
    access_request(
        id,
        [id; 16],
        "alice",
        password.as_bytes(),
        secret,
        true,
        &[],
    )
}

/// Waits (polling, 5 s at most) for the daemon's log to say `needle`.
fn wait_log(l: &Lab, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !l.d.log().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "the log should say {needle:?}:\n{}",
            l.d.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn status_server(id: u8, secret: &str) -> Vec<u8> {
    let mut p = vec![12u8, id, 0, 38];
    p.extend_from_slice(&[id; 16]);
    p.extend_from_slice(&[80, 18]);
    p.extend_from_slice(&[0u8; 16]);
    let ma = hmac_md5(secret.as_bytes(), &p);
    p[22..38].copy_from_slice(&ma);
    p
}

fn accounting(id: u8, secret: &str) -> Vec<u8> {
    let attrs = [
        (1u8, b"alice".to_vec()),
        (40, vec![0, 0, 0, 1]),
        (44, b"s-1".to_vec()),
    ];
    common::radius::accounting_request(id, &attrs, secret)
}

fn metric(l: &Lab, key: &str) -> f64 {
    let (_, body) = admin::get(l.d.admin, "/metrics");
    admin::sample(&body, key).unwrap_or(0.0)
}

async fn send<S: AsyncWrite + Unpin>(s: &mut S, p: &[u8]) {
    s.write_all(p).await.unwrap();
    s.flush().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_client_known_by_its_certificate_signs_in_accounts_and_is_watched() {
    let l = lab();
    let mut s = tls_connect(&l, Some("radsec/client-nas1")).await.unwrap();
    send(&mut s, &pap(1, PASSWORD, "radsec")).await;
    send(&mut s, &pap(2, "wrong", "radsec")).await;
    send(&mut s, &status_server(3, "radsec")).await;
    send(&mut s, &accounting(4, "radsec")).await;
    let mut codes = std::collections::BTreeMap::new();
    for _ in 0..4 {
        let r = recv(&mut s).await.expect("an answer");
        codes.insert(r[1], r[0]);
    }
    assert_eq!(
        codes,
        [(1, 2), (2, 3), (3, 2), (4, 5)].into_iter().collect(),
        "accept, reject, Status-Server, Accounting-Response"
    );
    let log = l.d.signin_log("onprem");
    assert!(
        log.iter()
            .any(|r| r["outcome"] == "accept" && r["endpoint"] == "on-prem"),
        "{log:?}"
    );
    assert!(
        std::fs::read_to_string(l.d.dir.path().join("accounting.jsonl"))
            .unwrap_or_default()
            .contains("nas1-tls")
    );
    assert_eq!(
        metric(&l, "hybridauth_radius_packets_total{transport=\"tls\"}"),
        4.0
    );
    assert_eq!(
        metric(&l, "hybridauth_radius_connections_open{transport=\"tls\"}"),
        1.0
    );
    // The shared secret over TLS is "radsec": a packet signed with another fails its
    // Message-Authenticator, and RFC 6613 §2.6.4 closes the connection.
    send(&mut s, &status_server(5, SECRET)).await;
    assert!(recv(&mut s).await.is_none(), "closed, no answer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_requests_in_flight_on_one_connection_are_all_answered() {
    let l = lab();
    let s = tls_connect(&l, Some("radsec/client-nas1")).await.unwrap();
    let (mut rd, mut wr) = tokio::io::split(s);
    let writer = tokio::spawn(async move {
        for id in 0..=255u8 {
            let p = if id % 2 == 0 {
                pap(id, PASSWORD, "radsec")
            } else {
                status_server(id, "radsec")
            };
            wr.write_all(&p).await.unwrap();
        }
        wr.flush().await.unwrap();
        wr
    });
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..256 {
        let Some(r) = recv(&mut rd).await else {
            panic!("{} answers, then the end: {}", seen.len(), l.d.log())
        };
        assert_eq!(r[0], 2);
        seen.insert(r[1]);
    }
    assert_eq!(seen.len(), 256, "{}", l.d.log());
    drop(writer.await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_of_another_ca_expired_unnamed_or_absent_are_refused_at_the_handshake() {
    let l = lab();
    for (client, why) in [
        (
            Some("other/client-nas1"),
            "client certificate refused: BadSignature",
        ),
        (Some("radsec/client-expired"), "Expired"),
        (
            Some("radsec/client-stranger"),
            "no [[radius.clients]] tls_identity names this certificate (stranger)",
        ),
        (None, "presented no certificate"),
    ] {
        // TLS 1.3: the client may finish before the server has judged its certificate; the
        // refusal then arrives as an alert instead of the first answer.
        if let Ok(mut s) = tls_connect(&l, client).await {
            let _ = s.write_all(&status_server(1, "radsec")).await;
            assert!(recv(&mut s).await.is_none(), "{client:?} got an answer");
        }
        wait_log(&l, why);
    }
    assert_eq!(
        metric(
            &l,
            "hybridauth_radius_connections_refused_total{transport=\"tls\",reason=\"handshake\"}"
        ),
        4.0
    );
    // The server goes on serving the good certificate.
    let mut s = tls_connect(&l, Some("radsec/client-nas1")).await.unwrap();
    send(&mut s, &pap(9, PASSWORD, "radsec")).await;
    assert_eq!(recv(&mut s).await.unwrap()[0], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_certificate_from_outside_its_clients_network_is_closed() {
    let l = lab();
    let mut s = tls_connect(&l, Some("radsec/client-far")).await.unwrap();
    let _ = s.write_all(&status_server(1, "radsec")).await;
    assert!(recv(&mut s).await.is_none());
    assert_eq!(metric(&l, "hybridauth_radius_connections_refused_total{transport=\"tls\",reason=\"unknown-client\"}"), 1.0);
    assert!(l
        .d
        .log()
        .contains("names a client whose network does not cover this address"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_peers_are_bounded_logged_sparingly_and_their_slots_freed() {
    let l = lab_with("max_connections = 8\nhandshake_timeout = \"1s\"");
    // Eight connections that never start their handshake hold every slot...
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(TcpStream::connect(("127.0.0.1", l.tls)).await.unwrap());
    }
    // ...so the ninth is closed at once, and so are a thousand more.
    let mut refused = 0;
    for _ in 0..1000 {
        let mut c = TcpStream::connect(("127.0.0.1", l.tls)).await.unwrap();
        if ended_within(&mut c, Duration::from_secs(2)).await {
            refused += 1;
        }
    }
    assert_eq!(refused, 1000);
    assert!(metric(&l, "hybridauth_radius_connections_refused_total{transport=\"tls\",reason=\"connection-limit\"}") >= 1000.0);
    let lines =
        l.d.log()
            .lines()
            .filter(|l| l.contains("connection refused"))
            .count();
    assert!(
        (1..=50).contains(&lines),
        "{lines} log lines for 1000 refusals"
    );
    // The handshake timeout frees the eight slots.
    for c in &mut idle {
        assert!(
            ended_within(c, Duration::from_secs(5)).await,
            "a silent peer is dropped at handshake_timeout"
        );
    }
    wait_log(&l, "not finished within handshake_timeout");
    // A length prefix beyond any RADIUS packet ends the connection, nothing is buffered for it.
    let mut s = tls_connect(&l, Some("radsec/client-nas1")).await.unwrap();
    send(&mut s, &[1, 0, 0xff, 0xff, 0, 0, 0, 0]).await;
    assert!(recv(&mut s).await.is_none());
    assert_eq!(
        metric(
            &l,
            "hybridauth_dropped_total{door=\"radius\",reason=\"malformed\"}"
        ),
        1.0
    );
    let mut s = tls_connect(&l, Some("radsec/client-nas1")).await.unwrap();
    send(&mut s, &pap(1, PASSWORD, "radsec")).await;
    assert_eq!(
        recv(&mut s).await.unwrap()[0],
        2,
        "still serving, slots free"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_after_idle_timeout() {
    let l = lab_with("idle_timeout = \"1s\"");
    let mut s = tls_connect(&l, Some("radsec/client-nas1")).await.unwrap();
    send(&mut s, &status_server(1, "radsec")).await;
    assert_eq!(recv(&mut s).await.unwrap()[0], 2);
    let quiet = Instant::now();
    assert!(ended_within(&mut s, Duration::from_secs(5)).await);
    assert!(
        quiet.elapsed() >= Duration::from_millis(900),
        "not before idle_timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_clients_are_known_by_address_and_secret() {
    let l = lab();
    let mut s = TcpStream::connect(("127.0.0.1", l.tcp)).await.unwrap();
    send(&mut s, &pap(1, PASSWORD, SECRET)).await;
    send(&mut s, &accounting(2, SECRET)).await;
    let (a, b) = (recv(&mut s).await.unwrap(), recv(&mut s).await.unwrap());
    let mut codes = [a[0], b[0]];
    codes.sort();
    assert_eq!(codes, [2, 5]);
    // The wrong secret: the packet fails its authenticator and the connection ends.
    send(&mut s, &accounting(3, "not-the-secret")).await;
    assert!(recv(&mut s).await.is_none());
    // An address no client covers is closed before anything is read.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut s = sock
        .connect(format!("127.0.0.1:{}", l.tcp).parse().unwrap())
        .await
        .unwrap();
    assert!(ended_within(&mut s, Duration::from_secs(5)).await);
    assert_eq!(metric(&l, "hybridauth_radius_connections_refused_total{transport=\"tcp\",reason=\"unknown-client\"}"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retransmission_on_a_connection_is_answered_from_the_duplicate_cache() {
    let l = lab();
    let mut s = tls_connect(&l, Some("radsec/client-nas1")).await.unwrap();
    let p = pap(7, PASSWORD, "radsec");
    send(&mut s, &p).await;
    let first = recv(&mut s).await.unwrap();
    send(&mut s, &p).await;
    let again = recv(&mut s).await.unwrap();
    assert_eq!(first, again, "the same octets");
    assert_eq!(l.d.signin_log("onprem").len(), 1, "one decision");
    assert_eq!(metric(&l, "hybridauth_radius_retransmissions_total"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificates_and_the_clients() {
    let l = lab();
    let dir = l.d.dir.path().to_path_buf();
    // A new CA and server certificate in place of the old, and a new client by the new CA.
    let lab_dir = dir.join("radsec");
    hybridauth(&[
        "cert",
        "--radsec",
        "--force",
        "--dir",
        lab_dir.to_str().unwrap(),
        "--client",
        "nas2",
    ]);
    let config = std::fs::read_to_string(&l.d.config).unwrap();
    std::fs::write(&l.d.config, config + "\n[[radius.clients]]\nname = \"nas2-tls\"\ntls_identity = \"nas2\"\nrequire_message_authenticator = false\n").unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-HUP", &l.d.pid().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !l.d.log().contains("RADIUS/TLS certificates reloaded") {
        assert!(
            Instant::now() < deadline,
            "no reload in the log:\n{}",
            l.d.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut s = tls_connect(&l, Some("radsec/client-nas2")).await.unwrap();
    send(&mut s, &pap(1, PASSWORD, "radsec")).await;
    assert_eq!(
        recv(&mut s).await.unwrap()[0],
        2,
        "the new client, by the new CA"
    );
    // The old client certificate (its CA replaced) no longer passes.
    if let Ok(mut s) = tls_connect(&l, Some("radsec/client-nas1")).await {
        let _ = s.write_all(&status_server(1, "radsec")).await;
        assert!(recv(&mut s).await.is_none());
    }
}

/// With one request in flight per connection, a Status-Server sent after a slow sign-in (a
/// real Argon2 run) is answered after it; with the default it overtakes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_in_flight_bounds_what_one_connection_has_open() {
    let slow = [
        ("HYBRIDAUTH_HASHING__MEMORY_KIB", "65536"),
        ("HYBRIDAUTH_HASHING__ITERATIONS", "3"),
    ];
    for (limits, expected) in [("max_in_flight = 1", [1u8, 2]), ("", [2, 1])] {
        let l = lab_env(limits, &slow);
        let mut s = TcpStream::connect(("127.0.0.1", l.tcp)).await.unwrap();
        let mut both = pap(1, PASSWORD, SECRET);
        both.extend(status_server(2, SECRET));
        send(&mut s, &both).await;
        let first = recv(&mut s).await.unwrap();
        let second = recv(&mut s).await.unwrap();
        assert_eq!([first[1], second[1]], expected, "{limits:?}");
        assert_eq!(first[0].max(second[0]), 2);
    }
}

/// A peer that sends and never reads its answers is cut at write_timeout (its receive window
/// is made small so the answers back up at once), and its slot is freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_reads_is_cut_at_write_timeout() {
    let l = lab_with("write_timeout = \"1s\"\nmax_connections = 1");
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(1024).unwrap();
    let mut s = sock
        .connect(format!("127.0.0.1:{}", l.tcp).parse().unwrap())
        .await
        .unwrap();
    let many: Vec<u8> = (0..20_000u32)
        .flat_map(|i| status_server(i as u8, SECRET))
        .collect();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.write_all(&many)).await;
    let key = "hybridauth_dropped_total{door=\"radius\",reason=\"slow-peer\"}";
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&l, key) < 1.0 {
        assert!(Instant::now() < deadline, "not cut:\n{}", l.d.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Its slot (the only one) is free again.
    let mut t = TcpStream::connect(("127.0.0.1", l.tcp)).await.unwrap();
    send(&mut t, &status_server(1, SECRET)).await;
    assert_eq!(recv(&mut t).await.unwrap()[0], 2);
}

/// `hybridauth load radius` over TLS (pipelined on one connection, and a handshake a request)
/// and over TCP on two connections: every request answered, through the binary.
#[test]
fn the_load_generator_drives_tls_and_tcp_listeners() {
    let l = lab();
    let dir = l.d.dir.path().join("radsec");
    let path = |f: &str| dir.join(f).to_str().unwrap().to_string();
    let load = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec![
            "--json",
            "load",
            "radius",
            "--user",
            "alice",
            "--password",
            PASSWORD,
            "--requests",
            "300",
            "--concurrency",
            "16",
        ];
        args.extend_from_slice(extra);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hybridauth"))
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let tls = format!("127.0.0.1:{}", l.tls);
    let (ca, cert, key) = (
        path("ca.pem"),
        path("client-nas1.pem"),
        path("client-nas1-key.pem"),
    );
    let tls_args = [
        "--transport",
        "tls",
        "--server",
        &tls,
        "--secret",
        "radsec",
        "--tls-ca",
        &ca,
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
    ];
    let r = load(&tls_args);
    assert_eq!(r["answers"]["Access-Accept"], 300, "{r}");
    let mut reconnect = tls_args.to_vec();
    reconnect.push("--reconnect");
    let r = load(&reconnect);
    assert_eq!(r["answers"]["Access-Accept"], 300, "{r}");
    let tcp = format!("127.0.0.1:{}", l.tcp);
    let r = load(&[
        "--transport",
        "tcp",
        "--server",
        &tcp,
        "--secret",
        SECRET,
        "--connections",
        "2",
    ]);
    assert_eq!(r["answers"]["Access-Accept"], 300, "{r}");
    assert_eq!(
        metric(
            &l,
            "hybridauth_radius_connections_refused_total{transport=\"tls\",reason=\"handshake\"}"
        ),
        0.0
    );
    // TLS without its files is a usage error.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hybridauth"))
        .args([
            "load",
            "radius",
            "--transport",
            "tls",
            "--server",
            &tls,
            "--secret",
            "radsec",
            "--user",
            "alice",
            "--password",
            "x",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-ca"));
}
