//! The admin page's HTTP side on the wire: the page and its API, the live sign-in stream, the
//! timeline drawing, and who may move the clock. (The page itself runs in headless Chromium in
//! the interop suite.)

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use common::admin::{get, http};
use common::daemon::{Daemon, SECRET};
use common::radius::{access_request, exchange};

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn overview(d: &Daemon) -> serde_json::Value {
    let (status, body) = get(d.admin, "/api/overview");
    assert_eq!(status, 200, "{body}");
    json(&body)
}

fn user<'a>(o: &'a serde_json::Value, sam: &str) -> &'a serde_json::Value {
    o["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["sam"] == sam)
        .unwrap_or_else(|| panic!("{sam} not listed: {o}"))
}

const ADVANCE: &str = "X-Hybridauth-Page: 1\r\nContent-Length: 0\r\n";

/// What the page's button sends: status and body.
fn advance(port: u16, to: &str) -> (u16, String) {
    let (status, _, body) = http(
        port,
        "POST",
        &format!("/api/clock/advance?to={to}"),
        ADVANCE,
    );
    (status, body)
}

#[test]
fn the_page_is_served_with_its_assets_under_a_strict_policy() {
    let d = Daemon::start();
    let (status, head, body) = http(d.admin, "GET", "/", "");
    assert_eq!(status, 200);
    assert!(head.contains("text/html"), "{head}");
    assert!(body.contains(r#"<script src="/page.js""#));
    // No inline script is needed, so none is allowed.
    assert!(head.contains("script-src 'self'"), "{head}");
    assert!(head.contains("frame-ancestors 'none'"), "{head}");
    assert!(head.contains("cache-control: no-store"), "{head}");
    let (status, head, body) = http(d.admin, "GET", "/page.js", "");
    assert_eq!(status, 200);
    assert!(head.contains("text/javascript"), "{head}");
    assert!(body.contains("EventSource"));
    assert_eq!(http(d.admin, "GET", "/page.css", "").0, 200);
    let (status, _, body) = http(d.admin, "HEAD", "/", "");
    assert_eq!(status, 200);
    assert!(body.is_empty());
    assert_eq!(http(d.admin, "DELETE", "/", "Content-Length: 0\r\n").0, 405);
}

#[test]
fn the_overview_shows_both_sides_until_the_page_moves_the_clock_over_the_cycle() {
    let d = Daemon::start();
    d.cli(&["user", "add", "alice", "--password", "Winter2026!"]);
    d.cli(&["sync", "now"]);
    d.cli(&["user", "disable", "alice"]);
    let o = overview(&d);
    assert_eq!(o["clock"], "simulated");
    assert_eq!(o["can_advance"], true);
    assert_eq!(o["now"], "2026-01-05T10:00:00Z");
    assert_eq!(o["object_sync"]["next"], "2026-01-05T10:30:00Z");
    assert_eq!(o["object_sync"]["every"], "30m");
    let a = user(&o, "alice");
    assert_eq!(a["onprem"]["state"], "disabled");
    assert_eq!(a["cloud"]["state"], "enabled", "the sync delay: {a}");
    assert_eq!(a["cloud"]["password"], "current");

    let (status, body) = advance(d.admin, "object-sync");
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["now"], "2026-01-05T10:30:00Z");
    let o = overview(&d);
    assert_eq!(o["now"], "2026-01-05T10:30:00Z");
    assert_eq!(user(&o, "alice")["cloud"]["state"], "disabled");
    // The CLI sees the same clock.
    let now = d.cli(&["clock", "show"]);
    assert!(String::from_utf8_lossy(&now.stdout).contains("2026-01-05T10:30:00Z"));

    // Password hash sync: a reset shows as the previous password until its cycle.
    d.cli(&[
        "user",
        "reset-password",
        "alice",
        "--password",
        "Spring2026!",
    ]);
    assert_eq!(
        user(&overview(&d), "alice")["cloud"]["password"],
        "previous"
    );
    let (status, body) = advance(d.admin, "password-hash-sync");
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["now"], "2026-01-05T10:32:00Z");
    assert_eq!(user(&overview(&d), "alice")["cloud"]["password"], "current");
}

#[test]
fn the_clock_moves_only_from_the_page_and_only_when_simulated() {
    let d = Daemon::start();
    let post = |path: &str, headers: &str| http(d.admin, "POST", path, headers);
    // Without the page's header (what a form on another site would send).
    let (status, _, body) = post("/api/clock/advance?to=object-sync", "Content-Length: 0\r\n");
    assert_eq!(status, 403, "{body}");
    // From another origin.
    let (status, _, body) = post(
        "/api/clock/advance?to=object-sync",
        &format!("{ADVANCE}Origin: http://evil.example\r\n"),
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("Origin"));
    // Its own origin is fine.
    let (status, _, body) = post(
        "/api/clock/advance?to=object-sync",
        &format!("{ADVANCE}Origin: http://127.0.0.1\r\n"),
    );
    assert_eq!(status, 200, "{body}");
    // Reading it is not moving it; an unknown cycle is a clear error.
    let (status, head, _) = http(d.admin, "GET", "/api/clock/advance?to=object-sync", "");
    assert_eq!(status, 405);
    assert!(head.contains("allow: POST"), "{head}");
    let (status, _, body) = post("/api/clock/advance?to=tomorrow", ADVANCE);
    assert_eq!(status, 400);
    assert!(body.contains("object-sync"), "{body}");
    // A name someone else's DNS controls (DNS rebinding) gets nothing from the page.
    let mut s = TcpStream::connect(("127.0.0.1", d.admin)).unwrap();
    write!(
        s,
        "GET /api/overview HTTP/1.1\r\nHost: evil.example:{}\r\nConnection: close\r\n\r\n",
        d.admin
    )
    .unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut s, &mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 421"), "{answer}");

    // With the system's clock the page is read-only.
    let sys = Daemon::start_with_env(&[("HYBRIDAUTH_CLOCK__MODE", "system")]);
    let (status, body) = get(sys.admin, "/api/overview");
    assert_eq!(status, 200);
    assert_eq!(json(&body)["clock"], "system");
    assert_eq!(json(&body)["can_advance"], false);
    let (status, body) = advance(sys.admin, "object-sync");
    assert_eq!(status, 403);
    assert!(body.contains("read-only"), "{body}");
}

/// Reads server-sent events until one `signin` event's data satisfies `want`.
fn next_signin(r: &mut BufReader<TcpStream>, want: impl Fn(&serde_json::Value) -> bool) {
    let mut event = String::new();
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line).expect("the stream ended or stalled");
        assert!(n > 0, "the stream ended");
        let line = line.trim_end();
        if let Some(name) = line.strip_prefix("event: ") {
            event = name.to_string();
        } else if let Some(data) = line.strip_prefix("data: ") {
            if event == "signin" && want(&json(data)) {
                return;
            }
        }
    }
}

#[test]
fn sign_in_records_stream_live_after_the_recent_ones() {
    let d = Daemon::start();
    d.cli(&["user", "add", "alice", "--password", "Winter2026!"]);
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let pkt = access_request(1, [1; 16], "alice", b"wrong", SECRET, true, &[]);
    assert_eq!(exchange(&s, d.radius, "127.0.0.1", &pkt).unwrap()[0], 3);

    let mut stream = TcpStream::connect(("127.0.0.1", d.admin)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut r = BufReader::new(stream);
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    // The recent record first (from the log file)...
    next_signin(&mut r, |v| {
        v["login"] == "alice" && v["outcome"] == "reject"
    });
    // ...then one written after the stream opened.
    let pkt = access_request(2, [2; 16], "alice", b"Winter2026!", SECRET, true, &[]);
    assert_eq!(exchange(&s, d.radius, "127.0.0.1", &pkt).unwrap()[0], 2);
    next_signin(&mut r, |v| {
        v["login"] == "alice" && v["outcome"] == "accept" && v["door"] == "radius"
    });
}

#[test]
fn live_streams_are_bounded() {
    let d = Daemon::start();
    let open = || {
        let mut s = TcpStream::connect(("127.0.0.1", d.admin)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        let mut r = BufReader::new(s);
        let mut status = String::new();
        r.read_line(&mut status).unwrap();
        (status, r)
    };
    let held: Vec<_> = (0..16).map(|_| open()).collect();
    assert!(held.iter().all(|(s, _)| s.starts_with("HTTP/1.1 200")));
    let (status, _) = open();
    assert!(status.starts_with("HTTP/1.1 503"), "{status}");
    // Closing one frees its place.
    drop(held);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = open();
        if status.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{status}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_timeline_drawing_shows_the_disabled_account_reaching_the_cloud_at_the_cycle() {
    let d = Daemon::start();
    d.cli(&["user", "add", "alice", "--password", "Winter2026!"]);
    d.cli(&["sync", "now"]);
    d.cli(&["clock", "advance", "5m"]);
    d.cli(&["user", "disable", "alice"]);
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let pkt = access_request(1, [1; 16], "alice", b"Winter2026!", SECRET, true, &[]);
    assert_eq!(exchange(&s, d.radius, "127.0.0.1", &pkt).unwrap()[0], 3);
    let id = user(&overview(&d), "alice")["id"].as_i64().unwrap();

    let (status, head, svg) = http(d.admin, "GET", &format!("/api/timeline.svg?user={id}"), "");
    assert_eq!(status, 200, "{svg}");
    assert!(head.contains("image/svg+xml"), "{head}");
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    assert!(
        svg.contains(
            r#"data-lane="onprem" data-state="disabled" data-from="2026-01-05T10:05:00Z""#
        ),
        "{svg}"
    );
    // The cloud still has it enabled; the 10:30 cycle will carry the change.
    assert!(
        svg.contains(r#"data-lane="cloud" data-state="enabled""#),
        "{svg}"
    );
    assert!(
        svg.contains(r#"class="band cloud disabled pending""#),
        "{svg}"
    );
    assert!(
        svg.contains(
            r#"class="cycle object-sync carried pending" data-time="2026-01-05T10:30:00Z""#
        ),
        "{svg}"
    );
    assert!(
        svg.contains(r#"class="signin reject" data-log="on-prem""#),
        "{svg}"
    );

    // Over the cycle, the cloud's band is no longer a promise.
    d.cli(&["clock", "advance", "25m"]);
    let (_, _, svg) = http(d.admin, "GET", &format!("/api/timeline.svg?user={id}"), "");
    assert!(svg.contains(r#"class="band cloud disabled""#), "{svg}");
    assert!(!svg.contains("carried pending"), "{svg}");
    assert!(!svg.contains("band cloud disabled pending"), "{svg}");

    // A window of the caller's choosing; clear errors for the rest.
    let (status, _, svg) = http(
        d.admin,
        "GET",
        &format!(
            "/api/timeline.svg?user={id}&since=2026-01-05T10%3A00%3A00Z&until=2026-01-05T11:00:00Z"
        ),
        "",
    );
    assert_eq!(status, 200);
    assert!(svg.contains(r#"data-from="2026-01-05T10:00:00Z" data-to="2026-01-05T11:00:00Z""#));
    assert_eq!(get(d.admin, "/api/timeline.svg?user=999").0, 404);
    assert_eq!(get(d.admin, "/api/timeline.svg").0, 400);
    assert_eq!(
        get(
            d.admin,
            &format!("/api/timeline.svg?user={id}&since=yesterday")
        )
        .0,
        400
    );
}

#[test]
fn deleted_accounts_are_listed_while_the_cloud_still_holds_them() {
    let d = Daemon::start();
    d.cli(&["user", "add", "bob", "--password", "Bob-pass-1"]);
    d.cli(&["sync", "now"]);
    d.cli(&["user", "delete", "bob"]);
    let o = overview(&d);
    assert!(o["users"].as_array().unwrap().is_empty(), "{o}");
    let deleted = o["deleted_on_prem"].as_array().unwrap();
    assert_eq!(deleted.len(), 1, "{o}");
    assert_eq!(deleted[0]["sam"], "bob");
    assert_eq!(deleted[0]["onprem"]["state"], "absent");
    assert_eq!(deleted[0]["cloud"]["state"], "enabled");
    d.cli(&["clock", "advance", "30m"]);
    let o = overview(&d);
    assert!(o["deleted_on_prem"].as_array().unwrap().is_empty(), "{o}");
}

#[test]
fn users_come_in_pages() {
    let d = Daemon::start();
    let csv: String = std::iter::once("sam,password\n".to_string())
        .chain((0..105).map(|i| format!("u{i:03},Pass-{i:03}-x!\n")))
        .collect();
    let file = d.dir.path().join("users.csv");
    std::fs::write(&file, csv).unwrap();
    d.cli(&["user", "import", file.to_str().unwrap()]);
    let o = overview(&d);
    assert_eq!(o["users"].as_array().unwrap().len(), 100);
    assert_eq!(o["more_after"], "u099");
    let (_, body) = get(d.admin, "/api/overview?after=u099");
    let rest = json(&body);
    let sams: Vec<&str> = rest["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["sam"].as_str().unwrap())
        .collect();
    assert_eq!(sams, ["u100", "u101", "u102", "u103", "u104"]);
    assert!(rest["more_after"].is_null());
}

#[test]
fn no_secret_reaches_the_page() {
    let d = Daemon::start();
    d.cli(&[
        "user",
        "add",
        "alice",
        "--password",
        "Winter2026!",
        "--mfa",
        "enforced",
    ]);
    d.cli(&["tenant", "set", "allow-app-passwords", "on"]);
    let ap = d.app_password("alice", "Mail");
    d.cli(&["sync", "now"]);
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    for (i, pw) in ["Winter2026!", ap.as_str(), "wrong-Guess-1"]
        .iter()
        .enumerate()
    {
        let id = i as u8 + 1;
        let pkt = access_request(id, [id; 16], "alice", pw.as_bytes(), SECRET, true, &[]);
        exchange(&s, d.radius, "127.0.0.1", &pkt).unwrap();
    }
    let o = overview(&d);
    let id = user(&o, "alice")["id"].as_i64().unwrap();
    let mut all = o.to_string();
    all += &get(d.admin, &format!("/api/timeline.svg?user={id}")).1;
    // The recent records as the live stream sends them first.
    let mut stream = TcpStream::connect(("127.0.0.1", d.admin)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )
    .unwrap();
    let mut r = BufReader::new(stream);
    let mut seen = 0;
    while seen < 3 {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        seen += usize::from(line.starts_with("data: "));
        all += &line;
    }
    assert_eq!(all.matches("\"login\":\"alice\"").count(), 3, "{all}");
    for secret in ["Winter2026!", ap.as_str(), "wrong-Guess-1", SECRET] {
        assert!(!all.contains(secret), "{secret} exposed:\n{all}");
    }
}

#[test]
fn a_waiting_push_is_listed_and_answered_from_the_page_only() {
    let d = common::daemon::Options {
        extra_toml: "[radius.mfa]\nextension = \"nps\"\ntimeout = \"20s\"\n".into(),
        ..Default::default()
    }
    .start();
    d.cli(&["user", "add", "pat", "--password", "Pat-pass-1"]);
    d.cli(&["sync", "now"]);
    d.cli(&["user", "mfa", "add", "pat", "--push"]);
    // The NAS's request is held while the push waits.
    let radius = d.radius;
    let held = std::thread::spawn(move || {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let pkt = access_request(7, [7; 16], "pat", b"Pat-pass-1", SECRET, true, &[]);
        exchange(&s, radius, "127.0.0.1", &pkt)
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let push = loop {
        let o = overview(&d);
        if let Some(p) = o["pushes"].as_array().and_then(|a| a.first()).cloned() {
            break p;
        }
        assert!(std::time::Instant::now() < deadline, "no push listed: {o}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(push["sam"], "pat");
    let path = format!("/api/mfa/answer?push={}&answer=approve", push["id"]);
    // Not from the page: refused, and the push still waits.
    let (status, _, body) = http(d.admin, "POST", &path, "Content-Length: 0\r\n");
    assert_eq!(status, 403, "{body}");
    let (status, _, body) = http(d.admin, "POST", &path, ADVANCE);
    assert_eq!(status, 200, "{body}");
    let reply = held.join().unwrap().expect("the held request is answered");
    assert_eq!(reply[0], 2, "Access-Accept once approved");
    assert!(overview(&d)["pushes"].as_array().unwrap().is_empty());
    let (status, _, _) = http(d.admin, "POST", &path, ADVANCE);
    assert_eq!(status, 404, "an answered push cannot be answered again");
}
