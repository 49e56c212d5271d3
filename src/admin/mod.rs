//! The admin HTTP listener (`[admin] listen`, default 127.0.0.1:9812): `/metrics` in
//! Prometheus text format and `/healthz`, for monitoring, and the page at `/` for people (see
//! `page`). It answers GET and HEAD, and POST for the page's one action (moving a simulated
//! clock); it reads nothing a request did not ask for, and never shows a secret.
//!
//! Hostile or careless peers are bounded as on the LDAP door: a permit is taken before
//! `accept` (at most `MAX_CONNECTIONS` at once, the rest wait in the kernel's backlog), request
//! heads must arrive within `HEAD_TIMEOUT` and fit in `MAX_HEAD_BYTES`, and a connection lives
//! at most `MAX_CONNECTION_LIFE`.

pub mod health;
mod http;
mod page;

pub use health::{Health, Listeners, Serving};
pub use http::{bind, client_get, observe_sync, AdminServer};
