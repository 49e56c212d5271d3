//! Load benchmark: the verifier and the RADIUS front door on loopback, with production Argon2
//! parameters (OWASP m=19 MiB, t=2, p=1).
//!
//! Run: `cargo bench --bench radius_load` (optionally `-- --requests 400 --concurrency 16`).
//! Prints decisions per second, Access-Request throughput and latency percentiles, the cost of
//! an unknown user next to a known one (they should match: same hash work), and the cheap
//! path of answering retransmissions from the duplicate cache.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};

use hybridauth::app::App;
use hybridauth::config::{Config, RawConfig};
use hybridauth::directory::service::NewUser;
use hybridauth::directory::MfaState;
use hybridauth::radius::{ClientTable, Clients, RadiusServer, Role};
use hybridauth::verify::{Attempt, Door, Endpoint, EndpointKind, Secret};

const SECRET: &[u8] = b"bench-secret";

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn request(id: u8, auth: [u8; 16], user: &[u8], password: &[u8]) -> Vec<u8> {
    let mut p = vec![1, id, 0, 0];
    p.extend_from_slice(&auth);
    p.push(1);
    p.push(user.len() as u8 + 2);
    p.extend_from_slice(user);
    let mut padded = password.to_vec();
    padded.resize(16, 0);
    let mut h = Md5::new();
    h.update(SECRET);
    h.update(auth);
    let b = h.finalize();
    p.push(2);
    p.push(18);
    p.extend(padded.iter().zip(b.iter()).map(|(x, y)| x ^ y));
    p.extend_from_slice(&[80, 18]);
    p.extend_from_slice(&[0; 16]);
    let len = p.len() as u16;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    let mut m = <Hmac<Md5> as Mac>::new_from_slice(SECRET).unwrap();
    m.update(&p);
    let ma = m.finalize().into_bytes();
    let n = p.len();
    p[n - 16..].copy_from_slice(&ma);
    p
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it, and
    // a benchmark has no place in the test suite.
    if !std::env::args().any(|a| a == "--bench") {
        println!("radius_load is a benchmark: run it with `cargo bench --bench radius_load`");
        return;
    }
    let requests = arg("--requests", 200);
    let concurrency = arg("--concurrency", 8);
    let dir = tempfile::tempdir().unwrap();
    let mut raw = RawConfig::default();
    raw.store.path = dir.path().join("bench.sqlite3").display().to_string();
    raw.radius.clients[0].secret = String::from_utf8(SECRET.to_vec()).unwrap();
    let config = Config::validate(raw).unwrap();
    let app = App::open(config.clone()).unwrap();
    app.directory
        .add_user(NewUser {
            sam: "alice".into(),
            upn: None,
            password: Secret::new("Winter2026!"),
            display_name: None,
            mail: None,
            groups: vec![],
            mfa: MfaState::Disabled,
            admin: false,
            modern_auth_only: false,
        })
        .unwrap();
    println!(
        "argon2id m={} KiB t={} p={}, {} hashing slots, {} cores",
        config.hashing.memory_kib,
        config.hashing.iterations,
        config.hashing.parallelism,
        config.hashing.max_concurrent,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    // 1. The verifier alone, one decision at a time.
    let decide = |login: &str, password: &str| {
        let t = Instant::now();
        app.verifier
            .decide(&Attempt {
                endpoint: Endpoint {
                    kind: EndpointKind::OnPrem,
                    admin_actions: false,
                },
                door: Door::Cli,
                client: None,
                login: login.into(),
                secret: Secret::new(password),
                now: None,
                trace: false,
                nas: None,
                mschap: None,
                outer_identity: None,
            })
            .unwrap();
        t.elapsed()
    };
    let n = 40;
    let mean = |login: &str, password: &str| {
        let total: Duration = (0..n).map(|_| decide(login, password)).sum();
        total.as_secs_f64() * 1e3 / n as f64
    };
    for _ in 0..5 {
        decide("alice", "Winter2026!"); // warm-up: first allocations, page cache
    }
    let accept = mean("alice", "Winter2026!");
    let wrong = mean("alice", "not-her-password");
    let unknown = mean("nobody", "not-her-password");
    println!(
        "verifier: {accept:.1} ms/decision (accept), {wrong:.1} ms (known user, wrong password), {unknown:.1} ms (unknown user)"
    );

    // 2. Access-Requests over loopback.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (port, trigger) = rt.block_on(async {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = socket.local_addr().unwrap().port();
        let clients = Clients::new(ClientTable::new(config.radius.clients.clone()));
        let server = RadiusServer::new(&config.radius, app.verifier.clone(), clients)
            .expect("accounting log");
        let (trigger, shutdown) = hybridauth::runtime::shutdown::channel();
        tokio::spawn(server.serve(socket, Role::Authentication, shutdown));
        (port, trigger)
    });
    let started = Instant::now();
    let per_worker = (requests / concurrency.max(1)).max(1);
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            std::thread::spawn(move || {
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                let mut lat = Vec::new();
                let mut buf = [0u8; 4096];
                for i in 0..per_worker {
                    let mut auth = [0u8; 16];
                    auth[..8].copy_from_slice(&((w * 1_000_000 + i) as u64).to_be_bytes());
                    let pkt = request(i as u8, auth, b"alice", b"Winter2026!");
                    let t = Instant::now();
                    s.send_to(&pkt, ("127.0.0.1", port)).unwrap();
                    s.recv_from(&mut buf).expect("answer");
                    assert_eq!(buf[0], 2, "Access-Accept");
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat: Vec<Duration> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let elapsed = started.elapsed();
    lat.sort();
    println!(
        "radius: {} Access-Requests, {} in flight: {:.1} req/s, latency p50 {:.1} ms p99 {:.1} ms",
        lat.len(),
        concurrency,
        lat.len() as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3
    );

    // 3. The cheap path: retransmissions answered from the duplicate cache.
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let pkt = request(1, [42; 16], b"alice", b"Winter2026!");
    let mut buf = [0u8; 4096];
    s.send_to(&pkt, ("127.0.0.1", port)).unwrap();
    s.recv_from(&mut buf).unwrap();
    let replays = 5000;
    let t = Instant::now();
    for _ in 0..replays {
        s.send_to(&pkt, ("127.0.0.1", port)).unwrap();
        s.recv_from(&mut buf).unwrap();
    }
    let e = t.elapsed();
    println!(
        "radius: {replays} retransmissions answered from the duplicate cache: {:.0} req/s ({:.0} us each)",
        replays as f64 / e.as_secs_f64(),
        e.as_secs_f64() * 1e6 / replays as f64
    );
    drop(trigger);
}
