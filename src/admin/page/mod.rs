//! The page at `/` of the admin listener: users with their on-prem and cloud state side by
//! side and the time to the next sync cycles, both sign-in logs live, a timeline drawing per
//! user, and — only when the clock is simulated — buttons that move the clock to the next
//! cycle. It never shows a secret: what it shows comes from the store's non-secret fields and
//! the sign-in logs, which hold none.
//!
//! Routes (all GET but the clock's):
//! - `/`, `/page.js`, `/page.css`: the page (built in; no inline script, so a strict
//!   Content-Security-Policy holds);
//! - `/api/overview[?after=SAM]`: the overview as JSON (see `view`);
//! - `/api/timeline.svg?user=ID[&since=TIME][&until=TIME]`: one user's drawing;
//! - `/api/events`: server-sent events, one `signin` event per sign-in record;
//! - `POST /api/mfa/answer?push=ID&answer=approve|deny`: the phone's answer to a push of the
//!   MFA extension (`[radius.mfa]`), with the same checks as the clock's;
//! - `POST /api/clock/advance?to=object-sync|password-hash-sync`: moves a simulated clock to
//!   the next cycle of that kind. A browser sends it only from the page itself: it must carry
//!   the `X-Hybridauth-Page` header (which no other site can add without a CORS preflight,
//!   never granted here) and, when an `Origin` is given, the listener's own.
//!
//! Against DNS rebinding (a hostile site whose name is made to resolve to this listener), the
//! page and its API answer only requests whose `Host` is an IP address or `localhost`: reach
//! the page by address, or have a reverse proxy send such a `Host`. `/metrics` and `/healthz`
//! are not affected.

mod drawing;
mod live;
mod view;

use std::sync::Arc;

use bytes::Bytes;
use hyper::header::{HeaderValue, CACHE_CONTROL, HOST, ORIGIN};
use hyper::{HeaderMap, StatusCode};

use crate::clock::Clock;
use crate::config::{parse_time, ClockMode};
use crate::directory::Store;
use crate::runtime::shutdown::Shutdown;
use crate::signin_log::SigninLog;
use crate::sync::SyncKind;

pub use live::Frames;

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/page.js");
const STYLE: &str = include_str!("assets/page.css");

/// The header the page's own requests carry to change the clock.
pub const PAGE_HEADER: &str = "x-hybridauth-page";

/// A page response before the listener wraps it: a status, a type and a body, or a stream.
pub enum Reply {
    Body {
        status: StatusCode,
        content_type: &'static str,
        body: Bytes,
    },
    Stream(Frames),
}

/// A refusal for an action that did not come from the page itself: it must carry the page's
/// header (which no other site can add without a CORS preflight, never granted here) and,
/// when an `Origin` is given, the listener's own.
fn from_elsewhere(headers: &HeaderMap) -> Option<Reply> {
    if !headers.contains_key(PAGE_HEADER) {
        return Some(error(
            StatusCode::FORBIDDEN,
            format!("changes are made only from the page (the {PAGE_HEADER} header is missing)"),
        ));
    }
    let origin = headers.get(ORIGIN)?;
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    let same = host.is_some_and(|h| origin.to_str().ok() == Some(&format!("http://{h}")));
    (!same).then(|| {
        error(
            StatusCode::FORBIDDEN,
            "changes are made only from the page served by this listener (foreign Origin)",
        )
    })
}

fn reply(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    Reply::Body {
        status,
        content_type,
        body: body.into(),
    }
}

fn json(status: StatusCode, v: serde_json::Value) -> Reply {
    reply(status, "application/json", v.to_string() + "\n")
}

fn error(status: StatusCode, message: impl Into<String>) -> Reply {
    json(status, serde_json::json!({ "error": message.into() }))
}

pub struct Page {
    store: Arc<dyn Store>,
    clock: Clock,
    live: live::Live,
}

/// Headers every page response carries: nothing is cached, nothing framed, no inline script.
pub fn harden(headers: &mut HeaderMap) {
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
}

/// Whether a `Host` header names this machine by address (or as `localhost`), not by a name
/// someone else's DNS controls.
pub fn host_is_literal(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(HOST).and_then(|h| h.to_str().ok()) else {
        // HTTP/1.0 without Host: no name was used at all.
        return true;
    };
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, _)) => return v6.parse::<std::net::Ipv6Addr>().is_ok(),
            None => return false,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::Ipv4Addr>().is_ok()
}

fn query<'a>(q: Option<&'a str>, key: &str) -> Option<&'a str> {
    q?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then_some(v)
    })
}

/// Decodes `%XX` and `+` (a sAMAccountName or an RFC 3339 time in a query string).
fn unescape(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

impl Page {
    pub fn new(store: Arc<dyn Store>, clock: Clock, signin: SigninLog) -> Page {
        Page {
            store,
            clock,
            live: live::Live::new(signin),
        }
    }

    /// Whether this listener serves `path` (for the listener's 404 and 405 answers).
    pub fn serves(path: &str) -> bool {
        matches!(
            path,
            "/" | "/page.js"
                | "/page.css"
                | "/api/overview"
                | "/api/timeline.svg"
                | "/api/events"
                | "/api/clock/advance"
                | "/api/mfa/answer"
        )
    }

    /// Whether `path` changes something (and so takes POST, not GET).
    pub fn is_action(path: &str) -> bool {
        path == "/api/clock/advance" || path == "/api/mfa/answer"
    }

    /// A POST the page sends: checked as coming from the page itself, then done.
    pub async fn act(&self, path: &str, headers: &HeaderMap, q: Option<&str>) -> Reply {
        if let Some(refused) = from_elsewhere(headers) {
            return refused;
        }
        match path {
            "/api/mfa/answer" => self.answer_push(q).await,
            _ => self.advance(headers, q).await,
        }
    }

    /// `POST /api/mfa/answer?push=ID&answer=approve|deny`.
    async fn answer_push(&self, q: Option<&str>) -> Reply {
        use crate::directory::mfa::PushAnswer;
        let id = query(q, "push").and_then(|v| v.parse::<i64>().ok());
        let answer = match query(q, "answer") {
            Some("approve") => Some(PushAnswer::Approved),
            Some("deny") => Some(PushAnswer::Denied),
            _ => None,
        };
        let (Some(id), Some(answer)) = (id, answer) else {
            return error(
                StatusCode::BAD_REQUEST,
                "expected ?push=ID&answer=approve|deny",
            );
        };
        let (store, clock) = (Arc::clone(&self.store), self.clock.clone());
        let done = tokio::task::spawn_blocking(move || {
            let now = clock.now()?;
            let pending = store.pending_pushes(chrono::DateTime::<chrono::Utc>::MIN_UTC)?;
            let Some(push) = pending.iter().find(|p| p.id == id) else {
                return Ok(None);
            };
            store.answer_push(push.user_id, answer, now)
        })
        .await;
        match done {
            Ok(Ok(Some(answered))) => json(
                StatusCode::OK,
                serde_json::json!({ "push": answered, "answer": answer.as_str() }),
            ),
            Ok(Ok(None)) => error(StatusCode::NOT_FOUND, "that push no longer waits"),
            Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "the answer failed"),
        }
    }

    pub async fn get(&self, path: &str, q: Option<&str>, shutdown: Shutdown) -> Reply {
        match path {
            "/" => reply(StatusCode::OK, "text/html; charset=utf-8", INDEX),
            "/page.js" => reply(StatusCode::OK, "text/javascript; charset=utf-8", SCRIPT),
            "/page.css" => reply(StatusCode::OK, "text/css; charset=utf-8", STYLE),
            "/api/overview" => self.overview(q).await,
            "/api/timeline.svg" => self.timeline(q).await,
            "/api/events" => match self.live.open(shutdown) {
                Some(frames) => Reply::Stream(frames),
                None => error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "{} live streams are open already; close a page",
                        live::MAX_STREAMS
                    ),
                ),
            },
            _ => error(StatusCode::NOT_FOUND, "not found"),
        }
    }

    async fn overview(&self, q: Option<&str>) -> Reply {
        let after = query(q, "after")
            .and_then(unescape)
            .filter(|a| !a.is_empty());
        let (store, clock) = (Arc::clone(&self.store), self.clock.clone());
        let read = tokio::task::spawn_blocking(move || {
            view::overview(store.as_ref(), &clock, after.as_deref())
        })
        .await;
        match read {
            Ok(Ok(o)) => json(StatusCode::OK, serde_json::json!(o)),
            Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "the overview failed"),
        }
    }

    async fn timeline(&self, q: Option<&str>) -> Reply {
        let Some(id) = query(q, "user").and_then(|v| v.parse::<i64>().ok()) else {
            return error(
                StatusCode::BAD_REQUEST,
                "expected ?user=ID (a user's id from /api/overview)",
            );
        };
        let mut bounds = [None, None];
        for (i, key) in ["since", "until"].into_iter().enumerate() {
            if let Some(v) = query(q, key) {
                match unescape(v).as_deref().map(parse_time) {
                    Some(Ok(t)) => bounds[i] = Some(t),
                    _ => {
                        return error(
                            StatusCode::BAD_REQUEST,
                            format!("{key}: expected an RFC 3339 time"),
                        )
                    }
                }
            }
        }
        let (store, clock, logs) = (
            Arc::clone(&self.store),
            self.clock.clone(),
            self.live.paths(),
        );
        let drawn = tokio::task::spawn_blocking(move || {
            let Some(user) = store.user_by_id(id)? else {
                return Ok(None);
            };
            let now = clock.now()?;
            let tenant = store.tenant()?;
            let events = crate::timeline::build(
                store.as_ref(),
                &tenant,
                user.id,
                &user.sam,
                now,
                [&logs[0], &logs[1]],
            )?;
            let schedule = crate::sync::Schedule::new(store.interval_history()?, &tenant);
            let shortest = chrono::Duration::from_std(tenant.object_sync_interval * 2)
                .unwrap_or(chrono::Duration::hours(1))
                .max(chrono::Duration::hours(1));
            let mut span = drawing::Span::around(&events, now, shortest, chrono::Duration::days(7));
            if let Some(s) = bounds[0] {
                span.from = s;
            }
            if let Some(u) = bounds[1] {
                span.to = u;
            }
            Ok::<_, crate::directory::StoreError>(Some(drawing::draw(
                &user.sam, &events, &schedule, now, span,
            )))
        })
        .await;
        match drawn {
            Ok(Ok(Some(svg))) => reply(StatusCode::OK, "image/svg+xml", svg),
            Ok(Ok(None)) => error(StatusCode::NOT_FOUND, format!("no user with id {id}")),
            Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "the drawing failed"),
        }
    }

    /// `POST /api/clock/advance?to=…`: only from the page, only with a simulated clock.
    async fn advance(&self, _headers: &HeaderMap, q: Option<&str>) -> Reply {
        if self.clock.mode() != ClockMode::Simulated {
            return error(
                StatusCode::FORBIDDEN,
                "read-only: the clock is the system's (set [clock] mode = \"simulated\" to move it)",
            );
        }
        let kind = match query(q, "to") {
            Some("object-sync") => SyncKind::Object,
            Some("password-hash-sync") => SyncKind::PasswordHash,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "expected ?to=object-sync or ?to=password-hash-sync",
                )
            }
        };
        let (store, clock) = (Arc::clone(&self.store), self.clock.clone());
        let moved = tokio::task::spawn_blocking(move || {
            let now = clock.now()?;
            let tenant = store.tenant()?;
            let st = crate::sync::state_at(store.as_ref(), &tenant, now)?;
            let next = match kind {
                SyncKind::Object => st.object.next,
                SyncKind::PasswordHash => st.password_hash.next,
            };
            clock.set(next).map(|to| (now, to))
        })
        .await;
        match moved {
            Ok(Ok((from, to))) => {
                tracing::info!(
                    from = %crate::time::rfc3339(from),
                    to = %crate::time::rfc3339(to),
                    "simulated clock moved from the admin page"
                );
                json(
                    StatusCode::OK,
                    serde_json::json!({ "now": crate::time::rfc3339(to) }),
                )
            }
            Ok(Err(e)) => error(StatusCode::CONFLICT, e.to_string()),
            Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "moving the clock failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_address_hosts_reach_the_page() {
        let with = |h: &str| {
            let mut m = HeaderMap::new();
            m.insert(HOST, HeaderValue::from_str(h).unwrap());
            host_is_literal(&m)
        };
        assert!(with("127.0.0.1:9812"));
        assert!(with("[::1]:9812"));
        assert!(with("localhost:9812"));
        assert!(with("10.0.0.5"));
        assert!(!with("evil.example:9812"));
        assert!(!with("[::1"));
        assert!(host_is_literal(&HeaderMap::new()));
    }

    #[test]
    fn query_values_are_found_and_unescaped() {
        let q = Some("user=7&since=2026-01-05T10%3A00%3A00Z&after=a+b");
        assert_eq!(query(q, "user"), Some("7"));
        assert_eq!(
            unescape(query(q, "since").unwrap()).unwrap(),
            "2026-01-05T10:00:00Z"
        );
        assert_eq!(unescape(query(q, "after").unwrap()).unwrap(), "a b");
        assert_eq!(query(q, "missing"), None);
        assert_eq!(unescape("%zz"), None);
        assert_eq!(unescape("%4"), None);
    }
}
