//! The blocking face of the PostgreSQL store. The `Store` contract is blocking (the verifier
//! calls it from blocking threads, the CLI from a plain `main`), while the PostgreSQL driver is
//! async: the store runs a small tokio runtime of its own (one thread) for its connections,
//! its pool and its change listener, and a blocking call hands its work to that runtime and
//! waits on a plain channel. One thread: its work is waiting on sockets, and a second one only
//! woke to steal the listener's task (measured: a third of the store's CPU per warm decision). Waiting on a channel, never `block_on`, is what lets any thread
//! call the store — a blocking thread, the CLI, a reactor thread as with SQLite — without
//! nesting runtimes.
//!
//! Every call is bounded by `store.timeout`, the wait for a pooled connection included: a
//! database that does not answer in time is a `StoreError::Db`, which the RADIUS door turns
//! into silence (the NAS fails over to its other server) and the LDAP door into `unavailable`.

use std::future::Future;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Timeouts};
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use super::store::{StoreError, StoreResult};

/// A query parameter the store's runtime can own.
pub(crate) type Param = Box<dyn ToSql + Sync + Send>;

/// Owned query parameters: `params![a, b]`.
macro_rules! pg_params {
    ($($v:expr),* $(,)?) => {
        vec![$(Box::new($v) as $crate::directory::postgres_bridge::Param),*]
    };
}
pub(crate) use pg_params;

pub(crate) fn db<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Db(e.to_string())
}

/// The driver's error, with the server's message when there is one (the driver's own text for
/// a server error is only "db error").
pub(crate) fn pg(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(d) => StoreError::Db(format!("PostgreSQL: {}", d.message())),
        None => {
            // The driver's text names the step ("error connecting to server"); the cause
            // ("Connection refused") is in its source.
            let mut text = format!("PostgreSQL: {e}");
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                text.push_str(&format!(": {c}"));
                cause = c.source();
            }
            StoreError::Db(text)
        }
    }
}

/// Why no pooled connection came: the database unreachable, or every connection busy for
/// longer than `store.timeout`.
pub(crate) fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Timeout(_) => StoreError::Db(
            "no database connection within store.timeout (the database is unreachable, or every pooled connection is busy)".into(),
        ),
        deadpool_postgres::PoolError::Backend(e) => pg(e),
        other => db(other),
    }
}

pub(crate) fn unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
}

pub(crate) struct Bridge {
    /// Kept for the store's life; shut down without waiting when the store is dropped (a
    /// blocking wait there could run inside another runtime).
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    pub(crate) pool: Pool,
    pub(crate) config: tokio_postgres::Config,
    pub(crate) timeout: Duration,
    /// After a call ran out of time, calls fail at once until this instant: a decision makes
    /// several calls, and a database that stopped answering must not hold each of them (and a
    /// blocking thread) for the whole timeout — the request would outlive the NAS's wait.
    failing_fast_until: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How long calls fail at once after one ran out of time.
const FAIL_FAST: Duration = Duration::from_secs(1);

impl Bridge {
    pub(crate) fn new(
        mut config: tokio_postgres::Config,
        pool_size: usize,
        timeout: Duration,
    ) -> StoreResult<Bridge> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("hybridauth-store")
            .enable_all()
            .build()
            .map_err(db)?;
        config.connect_timeout(timeout);
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(10));
        config.application_name("hybridauth");
        // The server's notices ("relation already exists, skipping") are not the operator's
        // business; warnings and errors still arrive.
        config.options("-c client_min_messages=warning");
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                // A connection the server closed shows as closed and is replaced; one that broke
                // silently fails its next query, which fails that call only.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .timeouts(Timeouts {
                wait: Some(timeout),
                create: Some(timeout),
                recycle: Some(timeout),
            })
            .build()
            .map_err(db)?;
        Ok(Bridge {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            pool,
            config,
            timeout,
            failing_fast_until: std::sync::Mutex::new(None),
        })
    }

    pub(crate) fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// Runs `work` on the store's runtime and waits for it, at most `store.timeout`.
    pub(crate) fn run<T, F>(&self, work: F) -> StoreResult<T>
    where
        F: Future<Output = StoreResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        self.run_within(self.timeout, work)
    }

    /// As `run`, bounded by `timeout` (an import's, say) instead of `store.timeout`.
    pub(crate) fn run_within<T, F>(&self, timeout: Duration, work: F) -> StoreResult<T>
    where
        F: Future<Output = StoreResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        {
            let mut until = self
                .failing_fast_until
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            match *until {
                Some(t) if std::time::Instant::now() < t => {
                    return Err(StoreError::Db(
                        "the database stopped answering (store.timeout); failing fast for a moment"
                            .into(),
                    ))
                }
                Some(_) => *until = None,
                None => {}
            }
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let out = match tokio::time::timeout(timeout, work).await {
                Ok(out) => out.map_err(Failure::Store),
                Err(_) => Err(Failure::TimedOut),
            };
            let _ = tx.send(out);
        });
        match rx.recv() {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(Failure::Store(e))) => Err(e),
            Ok(Err(Failure::TimedOut)) => {
                *self
                    .failing_fast_until
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) =
                    Some(std::time::Instant::now() + FAIL_FAST);
                Err(StoreError::Db(format!(
                    "the database did not answer within {} (store.timeout)",
                    crate::time::format_duration(timeout)
                )))
            }
            Err(_) => Err(StoreError::Db("the store's runtime has stopped".into())),
        }
    }

    /// One statement on a pooled connection, outside any transaction.
    pub(crate) fn query(&self, sql: String, params: Vec<Param>) -> StoreResult<Vec<Row>> {
        let pool = self.pool.clone();
        self.run(async move {
            let client = pool.get().await.map_err(pool_err)?;
            query_on(&client, &sql, &params).await
        })
    }
}

/// A statement (prepared once per connection) with owned parameters.
/// A statement prepared once per connection (cached by the connection).
pub(crate) async fn prepared(
    client: &deadpool_postgres::ClientWrapper,
    sql: &str,
) -> StoreResult<tokio_postgres::Statement> {
    client.prepare_cached(sql).await.map_err(pg)
}

/// Parameters as the driver takes them.
pub(crate) fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect()
}

pub(crate) async fn query_on(
    client: &deadpool_postgres::ClientWrapper,
    sql: &str,
    params: &[Param],
) -> StoreResult<Vec<Row>> {
    let st = prepared(client, sql).await?;
    client.query(&st, &refs(params)).await.map_err(pg)
}

enum Failure {
    Store(StoreError),
    TimedOut,
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
