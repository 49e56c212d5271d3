//! HTTP/1.1 on hyper: the listener, the routes, and the small client `hybridauth health` uses.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ACCEPT, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

use super::health::{self, Health, Listeners};
use super::page::{self, Page, Reply};
use crate::clock::Clock;
use crate::directory::Store;
use crate::runtime::shutdown::Shutdown;
use crate::signin_log::SigninLog;

const MAX_CONNECTIONS: usize = 64;
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// hyper's smallest allowed buffer: a GET's head is far smaller.
const MAX_HEAD_BYTES: usize = 8192;
const MAX_CONNECTION_LIFE: Duration = Duration::from_secs(300);

/// What the routes read.
struct State {
    listeners: Listeners,
    store: Arc<dyn Store>,
    clock: Clock,
    /// The last health result and when it was taken (see `health::REUSE_FOR`); the lock also
    /// keeps two checks from running at once.
    last_health: tokio::sync::Mutex<Option<(Instant, Health)>>,
    page: Page,
}

pub struct AdminServer {
    listener: TcpListener,
    state: Arc<State>,
}

/// Binds the admin listener (before the daemon says it is ready, like every listener).
pub fn bind(
    address: SocketAddr,
    listeners: Listeners,
    store: Arc<dyn Store>,
    clock: Clock,
    signin: SigninLog,
) -> Result<AdminServer, String> {
    let listener = crate::runtime::net::bind_tcp(address)
        .map_err(|e| format!("cannot bind the admin listener on {address}: {e}"))?;
    Ok(AdminServer {
        listener,
        state: Arc::new(State {
            listeners,
            page: Page::new(Arc::clone(&store), clock.clone(), signin),
            store,
            clock,
            last_health: tokio::sync::Mutex::new(None),
        }),
    })
}

impl AdminServer {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub async fn serve(self, mut shutdown: Shutdown) {
        let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let tracker = TaskTracker::new();
        loop {
            let permit = tokio::select! {
                _ = shutdown.recv() => break,
                p = permits.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let accepted = tokio::select! {
                _ = shutdown.recv() => break,
                r = self.listener.accept() => r,
            };
            let stream = match accepted {
                Ok((s, _)) => s,
                Err(e) => {
                    // Out of descriptors, typically: wait a little instead of spinning.
                    tracing::debug!(error = %e, "admin accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let state = Arc::clone(&self.state);
            let mut stop = shutdown.clone();
            let streams_stop = shutdown.clone();
            tracker.spawn(async move {
                let _permit = permit;
                let service = hyper::service::service_fn(move |req| {
                    let state = Arc::clone(&state);
                    let stop = streams_stop.clone();
                    async move { Ok::<_, Infallible>(route(req, &state, stop).await) }
                });
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEAD_TIMEOUT)
                    .max_buf_size(MAX_HEAD_BYTES);
                let conn = builder.serve_connection(TokioIo::new(stream), service);
                tokio::pin!(conn);
                tokio::select! {
                    _ = &mut conn => {}
                    _ = tokio::time::sleep(MAX_CONNECTION_LIFE) => {}
                    _ = stop.recv() => {
                        // Finish the request in progress, if any, then close.
                        conn.as_mut().graceful_shutdown();
                        let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
                    }
                }
            });
        }
        tracker.close();
        tracker.wait().await;
    }
}

type Body = BoxBody<Bytes, Infallible>;

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

const TEXT: &str = "text/plain; charset=utf-8";

fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut r = respond(
        StatusCode::METHOD_NOT_ALLOWED,
        TEXT,
        format!("this path answers {allow} only\n"),
    );
    r.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    r
}

async fn route(req: Request<Incoming>, state: &State, shutdown: Shutdown) -> Response<Body> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    if Page::serves(&path) {
        return page_route(req, state, &path, query.as_deref(), shutdown).await;
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return method_not_allowed("GET, HEAD");
    }
    let head = req.method() == Method::HEAD;
    let mut r = match path.as_str() {
        "/metrics" => metrics(state).await,
        "/healthz" => {
            let json = query.as_deref().is_some_and(|q| {
                q.split('&')
                    .any(|kv| kv == "format=json" || kv == "json" || kv == "json=1")
            }) || req
                .headers()
                .get(ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("application/json"));
            healthz(state, json).await
        }
        _ => respond(
            StatusCode::NOT_FOUND,
            TEXT,
            "not found: this listener serves /, /metrics and /healthz\n",
        ),
    };
    if head {
        *r.body_mut() = Empty::new().boxed();
    }
    r
}

/// The page and its API (see `page`): address-named hosts only; GET (and HEAD) for reading,
/// POST for the one action.
async fn page_route(
    req: Request<Incoming>,
    state: &State,
    path: &str,
    query: Option<&str>,
    shutdown: Shutdown,
) -> Response<Body> {
    let mut r = if !page::host_is_literal(req.headers()) {
        respond(
            StatusCode::MISDIRECTED_REQUEST,
            TEXT,
            "the page answers only requests addressed to this machine by IP address or as localhost\n",
        )
    } else if Page::is_action(path) {
        if req.method() != Method::POST {
            return method_not_allowed("POST");
        }
        reply(state.page.act(path, req.headers(), query).await)
    } else if req.method() == Method::GET {
        reply(state.page.get(path, query, shutdown).await)
    } else if req.method() == Method::HEAD {
        let mut r = reply(state.page.get(path, query, shutdown).await);
        *r.body_mut() = Empty::new().boxed();
        r
    } else {
        return method_not_allowed("GET, HEAD");
    };
    page::harden(r.headers_mut());
    r
}

fn reply(r: Reply) -> Response<Body> {
    match r {
        Reply::Body {
            status,
            content_type,
            body,
        } => respond(status, content_type, body),
        Reply::Stream(frames) => {
            let stream = futures::stream::unfold(frames, |mut rx| async move {
                rx.recv().await.map(|frame| (frame, rx))
            });
            let mut r = Response::new(StreamBody::new(stream).boxed());
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            r
        }
    }
}

async fn metrics(state: &State) -> Response<Body> {
    // The sync figures follow the daemon's clock (simulated or not): brought up to date at
    // each scrape, off the reactor (they read the store).
    let (store, clock) = (Arc::clone(&state.store), state.clock.clone());
    let _ = tokio::task::spawn_blocking(move || observe_sync(store.as_ref(), &clock)).await;
    respond(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        crate::metrics::global().render(),
    )
}

/// Brings the sync figures of `/metrics` up to the clock's now (blocking: reads the store).
/// The daemon calls it once at start, so cycles count from then.
pub fn observe_sync(store: &dyn Store, clock: &Clock) {
    let read = || -> Result<_, crate::directory::StoreError> {
        let now = clock.now()?;
        let tenant = store.tenant()?;
        let schedule = crate::sync::Schedule::new(store.interval_history()?, &tenant);
        let st = crate::sync::state_from(&schedule, now, store.last_manual_sync(now)?);
        Ok((schedule, st))
    };
    match read() {
        Ok((schedule, st)) => push_sync_figures(&schedule, &st),
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the sync state"),
    }
}

/// Where the sync-cycle count stands: the instant of the last look.
static SYNC_SEEN: std::sync::Mutex<Option<crate::time::Time>> = std::sync::Mutex::new(None);

/// Brings the sync figures up to `state` (called before each scrape): the cycles whose
/// instants passed since the last look are counted once. A simulated clock moved back counts
/// nothing (the counter never goes down); cycles passed again later count again.
fn push_sync_figures(schedule: &crate::sync::Schedule, state: &crate::sync::SyncState) {
    use crate::sync::SyncKind;
    let secs = |t: crate::time::Time| t.timestamp_micros() as f64 / 1e6;
    let mut seen = SYNC_SEEN.lock().unwrap_or_else(|e| e.into_inner());
    for (kind, name, cycle) in [
        (SyncKind::Object, "object", &state.object),
        (
            SyncKind::PasswordHash,
            "password-hash",
            &state.password_hash,
        ),
    ] {
        let new_cycles = seen.map_or(0, |from| schedule.cycles_between(kind, from, state.at));
        crate::metrics::global().sync_figures(
            name,
            new_cycles,
            cycle.last.map(secs),
            secs(cycle.next),
        );
    }
    *seen = Some(state.at);
}

async fn healthz(state: &State, json: bool) -> Response<Body> {
    let health = {
        let mut last = state.last_health.lock().await;
        match &*last {
            Some((at, h)) if at.elapsed() < health::REUSE_FOR => h.clone(),
            _ => {
                let h = health::check(&state.listeners, &state.store, &state.clock).await;
                *last = Some((Instant::now(), h.clone()));
                h
            }
        }
    };
    let status = if health.healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    if json {
        let body = serde_json::to_string(&health).unwrap_or_default() + "\n";
        respond(status, "application/json", body)
    } else {
        respond(status, TEXT, health.text())
    }
}

/// One GET to the admin listener (for `hybridauth health`): the status code and the body.
pub async fn client_get(
    address: SocketAddr,
    path_and_query: &str,
    timeout: Duration,
) -> Result<(u16, String), String> {
    let get = async {
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|e| format!("cannot connect to the admin listener at {address}: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("admin listener at {address}: {e}"))?;
        let driver = tokio::spawn(conn);
        let req = Request::get(path_and_query)
            .header(hyper::header::HOST, address.to_string())
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("admin listener at {address}: {e}"))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("admin listener at {address}: {e}"))?
            .to_bytes();
        driver.abort();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    };
    tokio::time::timeout(timeout, get).await.map_err(|_| {
        format!(
            "the admin listener at {address} did not answer within {} s",
            timeout.as_secs()
        )
    })?
}
