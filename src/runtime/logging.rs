//! The daemon's own log (stderr): the subscriber, and the two guards every line a client can
//! trigger goes through — a size cap on anything that came from the wire, and a per-source rate
//! limit — so that no peer can grow the log faster than an operator can read it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Targets silenced whatever the configured level: `ldap3_proto` logs undecodable input as a
/// decimal byte list at ERROR and whole BindRequests (passwords included) at TRACE; `rustls`
/// and `tokio_rustls` describe a peer's handshake mistakes at WARN once per connection;
/// `tokio_postgres` logs every statement's parameters (password hashes among them) at DEBUG.
const SILENCED: &[&str] = &[
    "ldap3_proto=off",
    "rustls=error",
    "tokio_rustls=error",
    "tokio_postgres=warn",
];

/// The filter in force: `HYBRIDAUTH_LOG` (a full tracing filter) or the configured level, with
/// the silenced targets appended last so that neither can turn them back on.
pub fn filter(level: &str) -> tracing_subscriber::EnvFilter {
    let base = std::env::var("HYBRIDAUTH_LOG").unwrap_or_else(|_| level.to_string());
    let mut filter = tracing_subscriber::EnvFilter::try_new(&base)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    for d in SILENCED {
        if let Ok(d) = d.parse() {
            filter = filter.add_directive(d);
        }
    }
    filter
}

/// The daemon's log on stderr: text for people (`user=alice`), or with `json` one JSON object
/// per line for log shippers.
pub fn init(level: &str, json: bool) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(level))
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init()
    };
}

/// The most characters of one client-supplied string a log line carries.
pub const MAX_LOGGED_CHARS: usize = 128;

/// A client-supplied string as it may appear in a log: control characters escaped, at most
/// `max` characters, and the original size said when it was cut.
pub fn cap(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in s.chars().enumerate() {
        if n >= max {
            out.push_str(&format!("…[{} bytes in all]", s.len()));
            return out;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Lines per second one source may cause.
const PER_SOURCE_PER_SEC: u32 = 5;
/// Lines per second all sources together may cause (many addresses are cheap in IPv6).
const GLOBAL_PER_SEC: u32 = 50;
/// Sources remembered at once; beyond it the oldest windows are forgotten.
const MAX_SOURCES: usize = 4096;

struct Window {
    started: Instant,
    lines: u32,
    suppressed: u64,
}

impl Window {
    fn new(now: Instant) -> Window {
        Window {
            started: now,
            lines: 0,
            suppressed: 0,
        }
    }
}

struct State {
    sources: HashMap<IpAddr, Window>,
    global: Window,
}

/// Decides whether a client-triggered line may be written now. When it may, it returns how
/// many lines from that source were held back since the last one written, so the count rides
/// on the next line instead of being lost.
pub struct SourceLimiter {
    state: Mutex<State>,
}

impl Default for SourceLimiter {
    fn default() -> Self {
        SourceLimiter {
            state: Mutex::new(State {
                sources: HashMap::new(),
                global: Window::new(Instant::now()),
            }),
        }
    }
}

impl SourceLimiter {
    pub fn allow(&self, source: IpAddr) -> Option<u64> {
        self.allow_at(source, Instant::now())
    }

    fn allow_at(&self, source: IpAddr, now: Instant) -> Option<u64> {
        let second = Duration::from_secs(1);
        // A poisoned lock only means a panic elsewhere mid-update of counters: keep going.
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if now.duration_since(st.global.started) >= second {
            st.global = Window::new(now);
        }
        if st.sources.len() >= MAX_SOURCES && !st.sources.contains_key(&source) {
            st.sources
                .retain(|_, w| now.duration_since(w.started) < second);
            if st.sources.len() >= MAX_SOURCES {
                st.sources.clear();
            }
        }
        let global_full = st.global.lines >= GLOBAL_PER_SEC;
        let w = st.sources.entry(source).or_insert_with(|| Window::new(now));
        if now.duration_since(w.started) >= second {
            let held = w.suppressed;
            *w = Window::new(now);
            w.suppressed = held;
        }
        if w.lines >= PER_SOURCE_PER_SEC || global_full {
            w.suppressed += 1;
            return None;
        }
        w.lines += 1;
        let held = std::mem::take(&mut w.suppressed);
        st.global.lines += 1;
        Some(held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_cuts_long_input_and_escapes_controls() {
        let long = "a".repeat(1_000_000);
        let c = cap(&long, 16);
        assert!(c.starts_with(&"a".repeat(16)));
        assert!(c.ends_with("[1000000 bytes in all]"), "{c}");
        assert!(c.len() < 64);
        assert_eq!(cap("x\ny", 16), "x\\ny");
        assert_eq!(cap("short", 16), "short");
    }

    #[test]
    fn one_source_is_limited_and_the_count_rides_on_the_next_line() {
        let l = SourceLimiter::default();
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let allowed = (0..100).filter(|_| l.allow_at(a, t0).is_some()).count();
        assert_eq!(allowed, PER_SOURCE_PER_SEC as usize);
        // Another source is not starved by the first.
        assert_eq!(l.allow_at(b, t0), Some(0));
        // A second later the first source may speak again, and says how much it held back.
        let t1 = t0 + Duration::from_millis(1001);
        assert_eq!(l.allow_at(a, t1), Some(100 - PER_SOURCE_PER_SEC as u64));
    }

    #[test]
    fn all_sources_together_are_limited() {
        let l = SourceLimiter::default();
        let t0 = Instant::now();
        let allowed = (0..10_000u32)
            .filter(|i| {
                let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
                l.allow_at(ip, t0).is_some()
            })
            .count();
        assert_eq!(allowed, GLOBAL_PER_SEC as usize);
    }

    #[test]
    fn silenced_targets_stay_silent_whatever_the_level() {
        let f = filter("trace").to_string();
        assert!(f.contains("ldap3_proto=off"), "{f}");
    }
}
