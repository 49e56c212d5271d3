//! Which store a configuration names — the embedded SQLite file (`store.path`) or a PostgreSQL
//! database shared by several nodes (`store.url`) — and opening it.
//!
//! A database URL may carry a password: it is never printed. Everything that shows the target
//! (logs, `config check`, errors) shows `redacted()`: user, hosts, ports and database only.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use super::postgres::PostgresStore;
use super::sqlite::SqliteStore;
use super::store::{Store, StoreResult};

#[derive(Clone)]
pub enum StoreBackend {
    Sqlite(PathBuf),
    Postgres(Box<PostgresTarget>),
}

#[derive(Clone)]
pub struct PostgresTarget {
    config: tokio_postgres::Config,
    /// Connections each process keeps at most.
    pub pool_size: usize,
    /// The longest any store call waits: for a connection, and for the database's answer.
    pub timeout: Duration,
}

impl std::fmt::Debug for PostgresTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::fmt::Debug for StoreBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl StoreBackend {
    /// What the logs and `config check` say the store is (no password).
    pub fn describe(&self) -> String {
        match self {
            StoreBackend::Sqlite(p) => p.display().to_string(),
            StoreBackend::Postgres(t) => t.redacted(),
        }
    }

    pub fn is_shared(&self) -> bool {
        matches!(self, StoreBackend::Postgres(_))
    }

    pub fn open(&self) -> StoreResult<Arc<dyn Store>> {
        Ok(match self {
            StoreBackend::Sqlite(path) => Arc::new(SqliteStore::open(path)?),
            StoreBackend::Postgres(t) => Arc::new(PostgresStore::open(
                t.config.clone(),
                t.pool_size,
                t.timeout,
            )?),
        })
    }
}

impl PostgresTarget {
    /// Parses a `postgresql://` URL (or libpq's `key=value` form). The error never repeats the
    /// URL, which may hold a password.
    pub fn parse(url: &str, pool_size: usize, timeout: Duration) -> Result<PostgresTarget, String> {
        let url = url.trim();
        if !(url.starts_with("postgresql://")
            || url.starts_with("postgres://")
            || url.contains('='))
        {
            return Err("expected a postgresql:// URL (the value is not shown)".into());
        }
        let config = tokio_postgres::Config::from_str(url).map_err(|e| {
            format!("not a PostgreSQL connection URL: {e} (the value is not shown)")
        })?;
        if config.get_hosts().is_empty() {
            return Err("the URL names no host (the value is not shown)".into());
        }
        if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            return Err(
                "sslmode=require: hybridauth connects to PostgreSQL without TLS; keep the database on a private network or a tunnel, and drop sslmode=require".into(),
            );
        }
        Ok(PostgresTarget {
            config,
            pool_size,
            timeout,
        })
    }

    /// Whether the database answers (a connection and `SELECT 1`, within `store.timeout`),
    /// without creating or changing anything (`config check`).
    pub fn reachable(&self) -> Result<(), String> {
        super::postgres::probe(self.config.clone(), self.timeout).map_err(|e| e.to_string())
    }

    /// `postgresql://user@host:port/database`, without the password.
    pub fn redacted(&self) -> String {
        let c = &self.config;
        let hosts: Vec<String> = c
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let host = match h {
                    tokio_postgres::config::Host::Tcp(name) => name.clone(),
                    tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
                };
                match c.get_ports().get(i).or(c.get_ports().first()) {
                    Some(p) => format!("{host}:{p}"),
                    None => host,
                }
            })
            .collect();
        let user = c.get_user().map(|u| format!("{u}@")).unwrap_or_default();
        let db = c.get_dbname().unwrap_or("");
        format!("postgresql://{user}{}/{db}", hosts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_shown_without_its_password_and_errors_never_repeat_it() {
        let t = PostgresTarget::parse(
            "postgresql://hybridauth:s3cret-pw@db1.example:5433/auth",
            8,
            Duration::from_secs(2),
        )
        .expect("parses");
        let shown = t.redacted();
        assert_eq!(shown, "postgresql://hybridauth@db1.example:5433/auth");
        assert!(!format!("{:?}", StoreBackend::Postgres(Box::new(t))).contains("s3cret"));
        for bad in [
            "mysql://root:s3cret-pw@db/x",
            "postgresql://u:s3cret-pw@db:notaport/x",
            "postgresql://u:s3cret-pw@db/x?sslmode=require",
        ] {
            let e = PostgresTarget::parse(bad, 8, Duration::from_secs(2)).unwrap_err();
            assert!(!e.contains("s3cret"), "{e}");
        }
    }
}
