//! What `/healthz` and `hybridauth health` report: every listener still serving, and the store
//! readable and writable.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::clock::Clock;
use crate::directory::Store;

/// How long a store check may take before it counts as failed (SQLite waits up to 10 s for a
/// lock; a health probe should say "stuck" well before that).
const STORE_CHECK_TIMEOUT: Duration = Duration::from_secs(3);
/// Results younger than this are served again: a tight polling loop (or several monitors)
/// costs at most one store write per this period.
pub const REUSE_FOR: Duration = Duration::from_secs(1);

/// The daemon's listeners, each marked serving until its task ends (for whatever reason,
/// a panic included).
#[derive(Clone, Default)]
pub struct Listeners(Arc<Mutex<Vec<Entry>>>);

struct Entry {
    door: &'static str,
    role: &'static str,
    address: SocketAddr,
    serving: Arc<AtomicBool>,
}

/// Held by a listener's task: dropping it marks the listener as no longer serving.
pub struct Serving(Arc<AtomicBool>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

impl Listeners {
    pub fn add(&self, door: &'static str, role: &'static str, address: SocketAddr) -> Serving {
        let serving = Arc::new(AtomicBool::new(true));
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Entry {
                door,
                role,
                address,
                serving: Arc::clone(&serving),
            });
        Serving(serving)
    }

    fn report(&self) -> Vec<ListenerHealth> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|e| ListenerHealth {
                door: e.door,
                role: e.role,
                address: e.address.to_string(),
                serving: e.serving.load(Ordering::Relaxed),
            })
            .collect()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ListenerHealth {
    pub door: &'static str,
    pub role: &'static str,
    pub address: String,
    pub serving: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct StoreHealth {
    pub readable: bool,
    pub writable: bool,
    /// What failed, when something did (never a secret: store errors name tables and files).
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Health {
    pub healthy: bool,
    pub listeners: Vec<ListenerHealth>,
    pub store: StoreHealth,
}

impl Health {
    /// The text form: `healthy` or `unhealthy` first, then one line per check.
    pub fn text(&self) -> String {
        let mut out = String::from(if self.healthy {
            "healthy\n"
        } else {
            "unhealthy\n"
        });
        for l in &self.listeners {
            let state = if l.serving { "serving" } else { "NOT serving" };
            out.push_str(&format!(
                "listener {} {} {}: {state}\n",
                l.door, l.role, l.address
            ));
        }
        let yes = |ok: bool, what: &str| {
            if ok {
                format!("store: {what}\n")
            } else {
                format!("store: NOT {what}\n")
            }
        };
        out.push_str(&yes(self.store.readable, "readable"));
        out.push_str(&yes(self.store.writable, "writable"));
        if let Some(e) = &self.store.error {
            out.push_str(&format!("store error: {e}\n"));
        }
        out
    }
}

/// One store check on a blocking thread, given up after `STORE_CHECK_TIMEOUT` (the thread
/// finishes on its own; at most one per `REUSE_FOR`, see the admin listener).
async fn bounded(
    what: &str,
    f: impl FnOnce() -> Result<(), crate::directory::StoreError> + Send + 'static,
) -> Result<(), String> {
    match tokio::time::timeout(STORE_CHECK_TIMEOUT, tokio::task::spawn_blocking(f)).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(format!("{what} failed: {e}")),
        Ok(Err(_)) => Err(format!("the {what} check stopped unexpectedly")),
        Err(_) => Err(format!(
            "a {what} did not finish within {} s (the store is locked by another process, or the disk is stuck)",
            STORE_CHECK_TIMEOUT.as_secs()
        )),
    }
}

/// Runs every check. The store checks run on a blocking thread, bounded in time.
pub async fn check(listeners: &Listeners, store: &Arc<dyn Store>, clock: &Clock) -> Health {
    let s = Arc::clone(store);
    let read = bounded("read", move || s.tenant().map(|_| ())).await;
    let store = match read {
        Err(e) => StoreHealth {
            readable: false,
            writable: false,
            error: Some(e),
        },
        Ok(()) => {
            let (s, clock) = (Arc::clone(store), clock.clone());
            let write = bounded("write", move || {
                clock.now().and_then(|now| s.probe_writable(now))
            })
            .await;
            StoreHealth {
                readable: true,
                writable: write.is_ok(),
                error: write.err(),
            }
        }
    };
    let listeners = listeners.report();
    Health {
        healthy: store.readable && store.writable && listeners.iter().all(|l| l.serving),
        listeners,
        store,
    }
}
