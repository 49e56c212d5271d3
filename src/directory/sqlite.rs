//! The embedded store: one SQLite file, WAL journal, `synchronous = FULL`, so a change that was
//! acknowledged survives the process being killed at any moment. Schema changes are numbered
//! migrations (`migrations::SQLITE`) tracked in `PRAGMA user_version`.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::mfa::{MfaKind, MfaMethod, PendingPush, PushAnswer};
use super::migrations;
use super::model::{AppPassword, MfaState, SyncedSnapshot, Time, User, MAX_APP_PASSWORDS};
use super::names::Candidates;
use super::sqlite_readers::Readers;
use super::store::*;
use super::tenant::Tenant;

pub struct SqliteStore {
    /// The writer: every change but the hot path's.
    conn: Mutex<Connection>,
    /// Read connections (see `sqlite_readers`): reads never queue behind a write.
    readers: Readers,
    /// The hot path's writes (lockout counters, last-used times), one per decision: committed
    /// with synchronous = NORMAL (no fsync under the lock), then made durable by
    /// [`Store::flush_durable`], an fsync of the WAL outside every lock, which concurrent
    /// decisions share (group commit).
    hot: Mutex<Connection>,
    wal: Mutex<Option<std::fs::File>>,
    wal_path: std::path::PathBuf,
    path: std::path::PathBuf,
    /// Hot writes committed so far, and how many of them are known to be on disk.
    committed: std::sync::atomic::AtomicU64,
    synced: std::sync::atomic::AtomicU64,
    /// Copies the WAL back into the database (a checkpoint) every `CHECKPOINT_EVERY` hot
    /// writes, from `flush_durable`, outside every lock a decision waits on. The hot connection
    /// never checkpoints itself: SQLite would run the checkpoint, with its fsyncs, inside the
    /// commit that crossed the threshold, under the hot lock every other decision needs.
    checkpointer: Mutex<Option<Connection>>,
    checkpointed: std::sync::atomic::AtomicU64,
    /// The tenant row as last read, and its parsed form.
    tenant_cache: Mutex<Option<(String, Tenant)>>,
}

/// Hot writes between two checkpoints: about SQLite's default of 1000 WAL pages.
const CHECKPOINT_EVERY: u64 = 1000;

/// One row of a statement kept in the connection's statement cache: decisions run the same few
/// queries thousands of times a second, and parsing SQL each time showed in profiles.
fn row<T, P: rusqlite::Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.prepare_cached(sql)?.query_row(params, f)
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Db(e.to_string())
    }
}

fn micros(t: Time) -> i64 {
    t.timestamp_micros()
}

fn from_micros(v: i64) -> Time {
    Utc.timestamp_micros(v).single().unwrap_or_default()
}

fn db<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Db(e.to_string())
}

impl SqliteStore {
    /// Opens (creating the file and its directory on first start) and migrates the store.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        if let Some(dir) = path.parent() {
            crate::runtime::logfile::create_private_dir(dir).map_err(|e| {
                StoreError::Db(format!(
                    "cannot create data directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        create_private(path)?;
        let conn = Connection::open(path)
            .map_err(|e| StoreError::Db(format!("cannot open store {}: {e}", path.display())))?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.set_prepared_statement_cache_capacity(64);
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let hot = Connection::open(path)
            .map_err(|e| StoreError::Db(format!("cannot open store {}: {e}", path.display())))?;
        hot.busy_timeout(Duration::from_secs(10))?;
        hot.pragma_update(None, "synchronous", "NORMAL")?;
        hot.pragma_update(None, "secure_delete", "ON")?;
        hot.pragma_update(None, "wal_autocheckpoint", 0)?;
        let mut wal_path = path.as_os_str().to_owned();
        wal_path.push("-wal");
        let store = SqliteStore {
            conn: Mutex::new(conn),
            readers: Readers::new(path),
            hot: Mutex::new(hot),
            wal: Mutex::new(None),
            wal_path: wal_path.into(),
            path: path.to_path_buf(),
            committed: std::sync::atomic::AtomicU64::new(0),
            synced: std::sync::atomic::AtomicU64::new(0),
            checkpointer: Mutex::new(None),
            checkpointed: std::sync::atomic::AtomicU64::new(0),
            tenant_cache: Mutex::new(None),
        };
        store.migrate()?;
        // The WAL and shared-memory files exist now; SQLite gives them the database's mode,
        // but a store made by an older version may still be world-readable.
        narrow_modes(path)?;
        Ok(store)
    }

    /// The journal mode and `synchronous` level in force (`("wal", 2)` is WAL with FULL).
    pub fn durability(&self) -> StoreResult<(String, i64)> {
        let conn = self.lock()?;
        let mode: String = row(&conn, "PRAGMA journal_mode", [], |r| r.get(0))?;
        let sync: i64 = row(&conn, "PRAGMA synchronous", [], |r| r.get(0))?;
        Ok((mode, sync))
    }

    /// A passive checkpoint (it never waits for readers or writers), on a connection of its
    /// own; skipped when another thread is already checkpointing.
    fn checkpoint(&self, upto: u64) -> StoreResult<()> {
        use std::sync::atomic::Ordering;
        let Ok(mut g) = self.checkpointer.try_lock() else {
            return Ok(());
        };
        if g.is_none() {
            let c = Connection::open(&self.path).map_err(db)?;
            c.busy_timeout(Duration::from_secs(10))?;
            *g = Some(c);
        }
        if let Some(c) = g.as_ref() {
            c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        }
        self.checkpointed.fetch_max(upto, Ordering::SeqCst);
        Ok(())
    }

    fn lock_hot(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.hot.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn hot_committed(&self) {
        self.committed
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn lock(&self) -> StoreResult<std::sync::MutexGuard<'_, Connection>> {
        // A panic while the lock was held unwound through any open transaction, which rolled
        // back: the connection is consistent, so later requests keep using it rather than
        // failing until a restart.
        Ok(self.conn.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Answers the read connections gave from their memos (see `read_memo`).
    #[cfg(test)]
    pub(crate) fn memo_hits(&self) -> u64 {
        self.readers.memo_hits()
    }

    /// The tenant row, parsed only when it changed since the last read (every decision reads
    /// it; the row itself is read each time outside a memoised scope, so a change by any
    /// process counts at once).
    fn read_tenant(&self, conn: &Connection) -> StoreResult<Tenant> {
        let raw: String = row(
            conn,
            "SELECT value FROM meta WHERE key = 'tenant'",
            [],
            |r| r.get(0),
        )?;
        let mut cached = self.tenant_cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((seen, t)) = cached.as_ref() {
            if *seen == raw {
                return Ok(t.clone());
            }
        }
        let t: Tenant = serde_json::from_str(&raw).map_err(db)?;
        *cached = Some((raw, t.clone()));
        Ok(t)
    }

    fn migrate(&self) -> StoreResult<()> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: usize = row(&tx, "PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
        migrations::check_version(version, migrations::SQLITE.len()).map_err(StoreError::Db)?;
        for (i, sql) in migrations::SQLITE.iter().enumerate().skip(version) {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        }
        let has_key: Option<String> = row(
            &tx,
            "SELECT value FROM meta WHERE key = 'secret_key'",
            [],
            |r| r.get(0),
        )
        .optional()?;
        if has_key.is_none() {
            let mut key = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut key);
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('secret_key', ?1)",
                params![hex::encode(key)],
            )?;
            let tenant = serde_json::to_string(&Tenant::default()).map_err(db)?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('tenant', ?1)",
                params![tenant],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// Creates the database file 0600 before SQLite does (its WAL and shm files copy that mode).
/// Called before the connection opens: closing any descriptor of the database file would drop
/// the POSIX locks SQLite holds on it in this process.
fn create_private(path: &Path) -> StoreResult<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if path.exists() {
        return Ok(());
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map(drop)
        .map_err(|e| StoreError::Db(format!("cannot create {}: {e}", path.display())))
}

/// Narrows the store and its companions to 0600 by path (chmod, no descriptor opened), for a
/// store made world-readable by an older version.
fn narrow_modes(path: &Path) -> StoreResult<()> {
    use std::os::unix::fs::PermissionsExt;
    let fail = |e: std::io::Error| StoreError::Db(format!("cannot secure {}: {e}", path.display()));
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let p = std::path::PathBuf::from(p);
        if let Ok(meta) = std::fs::metadata(&p) {
            if meta.permissions().mode() & 0o077 != 0 {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
                    .map_err(fail)?;
            }
        }
    }
    Ok(())
}

const USER_COLS: &str = "id, sam, upn, display_name, mail, groups, enabled, account_expires, \
    password_hash, syncable_hash, password_set_at, password_expired, must_change, admin, mfa, \
    modern_auth_only, created_at, enabled_changed_at, ever_had_app_password, deleted_at, nt_hash";

fn row_to_user(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    let groups: String = r.get(5)?;
    let mfa: String = r.get(14)?;
    Ok(User {
        id: r.get(0)?,
        sam: r.get(1)?,
        upn: r.get(2)?,
        display_name: r.get(3)?,
        mail: r.get(4)?,
        groups: groups
            .split('\n')
            .filter(|g| !g.is_empty())
            .map(str::to_string)
            .collect(),
        enabled: r.get(6)?,
        account_expires: r.get::<_, Option<i64>>(7)?.map(from_micros),
        password_hash: r.get(8)?,
        syncable_hash: r.get(9)?,
        password_set_at: from_micros(r.get(10)?),
        password_expired: r.get(11)?,
        must_change: r.get(12)?,
        admin: r.get(13)?,
        mfa: MfaState::parse(&mfa).unwrap_or(MfaState::Disabled),
        modern_auth_only: r.get(15)?,
        created_at: from_micros(r.get(16)?),
        enabled_changed_at: from_micros(r.get(17)?),
        ever_had_app_password: r.get(18)?,
        deleted_at: r.get::<_, Option<i64>>(19)?.map(from_micros),
        nt_hash: r.get(20)?,
    })
}

type Column = (&'static str, Box<dyn rusqlite::ToSql>);

/// Every stored column of a user (as `:name`) except `id` and `deleted_at`, with its value: the one place
/// that maps the model onto the table, for both INSERT and UPDATE.
fn user_columns(u: &User) -> Vec<Column> {
    vec![
        (":sam", Box::new(u.sam.clone())),
        (":sam_lc", Box::new(u.sam.to_lowercase())),
        (":upn", Box::new(u.upn.clone())),
        (":upn_lc", Box::new(u.upn.to_lowercase())),
        (":display_name", Box::new(u.display_name.clone())),
        (":mail", Box::new(u.mail.clone())),
        (":groups", Box::new(u.groups.join("\n"))),
        (":enabled", Box::new(u.enabled)),
        (":account_expires", Box::new(u.account_expires.map(micros))),
        (":password_hash", Box::new(u.password_hash.clone())),
        (":syncable_hash", Box::new(u.syncable_hash.clone())),
        (":password_set_at", Box::new(micros(u.password_set_at))),
        (":password_expired", Box::new(u.password_expired)),
        (":must_change", Box::new(u.must_change)),
        (":admin", Box::new(u.admin)),
        (":mfa", Box::new(u.mfa.as_str())),
        (":modern_auth_only", Box::new(u.modern_auth_only)),
        (":created_at", Box::new(micros(u.created_at))),
        (
            ":enabled_changed_at",
            Box::new(micros(u.enabled_changed_at)),
        ),
        (":ever_had_app_password", Box::new(u.ever_had_app_password)),
        (":nt_hash", Box::new(u.nt_hash.clone())),
    ]
}

fn column(c: &Column) -> &'static str {
    c.0.trim_start_matches(':')
}

fn named(cols: &[Column]) -> Vec<(&'static str, &dyn rusqlite::ToSql)> {
    cols.iter().map(|(n, v)| (*n, v.as_ref())).collect()
}

/// `?first, ?first+1, …` for an IN list; an empty list becomes `NULL`, which matches nothing.
fn placeholders(n: usize, first: usize) -> String {
    if n == 0 {
        return "NULL".into();
    }
    (first..first + n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

/// Inserts one user and its first snapshot inside the caller's transaction.
fn insert_user_in(tx: &rusqlite::Transaction<'_>, u: &User, now: Time) -> StoreResult<User> {
    let cols = user_columns(u);
    let sql = format!(
        "INSERT INTO users ({}) VALUES ({})",
        cols.iter().map(column).collect::<Vec<_>>().join(", "),
        cols.iter().map(|c| c.0).collect::<Vec<_>>().join(", ")
    );
    let res = tx.prepare_cached(&sql)?.execute(named(&cols).as_slice());
    match res {
        Err(e) if unique_violation(&e) => {
            return Err(StoreError::Refused(format!(
                "a user with sAMAccountName {:?} or UPN {:?} already exists",
                u.sam, u.upn
            )))
        }
        r => r?,
    };
    let id = tx.last_insert_rowid();
    let mut created = u.clone();
    created.id = id;
    set_memberships(tx, id, &u.groups)?;
    append_snapshot(tx, id, &created.snapshot(), now)?;
    Ok(created)
}

/// Replaces a user's rows in `memberships` (inside the caller's transaction).
fn set_memberships(
    tx: &rusqlite::Transaction<'_>,
    user_id: i64,
    groups: &[String],
) -> StoreResult<()> {
    tx.prepare_cached("DELETE FROM memberships WHERE user_id = ?1")?
        .execute(params![user_id])?;
    let mut st = tx.prepare_cached(
        "INSERT OR IGNORE INTO memberships (group_lc, group_name, user_id) VALUES (?1, ?2, ?3)",
    )?;
    for g in groups.iter().filter(|g| !g.is_empty()) {
        st.execute(params![g.to_lowercase(), g, user_id])?;
    }
    Ok(())
}

fn append_snapshot(
    tx: &rusqlite::Transaction<'_>,
    user_id: i64,
    snap: &SyncedSnapshot,
    now: Time,
) -> StoreResult<()> {
    let last: Option<String> = row(tx,
            "SELECT snapshot FROM history WHERE kind = 'user' AND user_id = ?1 ORDER BY seq DESC LIMIT 1",
            params![user_id],
            |r| r.get(0),
        )
        .optional()?;
    let json = serde_json::to_string(snap).map_err(db)?;
    if last.as_deref() == Some(json.as_str()) {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO history (at, kind, user_id, snapshot, sam_lc, upn_lc, mail_lc) \
         VALUES (?1, 'user', ?2, ?3, ?4, ?5, ?6)",
        params![
            micros(now),
            user_id,
            json,
            snap.sam.to_lowercase(),
            snap.upn.to_lowercase(),
            snap.mail.as_deref().map(str::to_lowercase)
        ],
    )?;
    Ok(())
}

fn cutoff_params(c: Cutoff) -> (i64, i64) {
    (
        c.before_time.map(micros).unwrap_or(i64::MIN),
        c.before_seq.unwrap_or(i64::MIN),
    )
}

fn row_to_cloud(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, String, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

fn to_cloud(v: (i64, String, i64)) -> StoreResult<CloudUser> {
    Ok(CloudUser {
        user_id: v.0,
        snapshot: serde_json::from_str(&v.1).map_err(db)?,
        synced_change_at: from_micros(v.2),
    })
}

impl Store for SqliteStore {
    fn tenant(&self) -> StoreResult<Tenant> {
        self.readers.read_memo(|conn, memo| match memo {
            Some(m) => m.tenant(|| self.read_tenant(conn)),
            None => self.read_tenant(conn),
        })
    }

    fn set_tenant(&self, tenant: &Tenant, now: Time) -> StoreResult<()> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let old: String = row(
            &tx,
            "SELECT value FROM meta WHERE key = 'tenant'",
            [],
            |r| r.get(0),
        )?;
        let old: Tenant = serde_json::from_str(&old).map_err(db)?;
        if old.object_sync_interval != tenant.object_sync_interval
            || old.password_hash_sync_interval != tenant.password_hash_sync_interval
        {
            let has_any: i64 = row(&tx, "SELECT COUNT(*) FROM intervals", [], |r| r.get(0))?;
            if has_any == 0 {
                // The schedule before the first change ran on the old intervals since forever.
                tx.execute(
                    "INSERT INTO intervals (at, object_secs, phs_secs) VALUES (?1, ?2, ?3)",
                    params![
                        i64::MIN,
                        old.object_sync_interval.as_secs() as i64,
                        old.password_hash_sync_interval.as_secs() as i64
                    ],
                )?;
            }
            tx.execute(
                "INSERT INTO intervals (at, object_secs, phs_secs) VALUES (?1, ?2, ?3)",
                params![
                    micros(now),
                    tenant.object_sync_interval.as_secs() as i64,
                    tenant.password_hash_sync_interval.as_secs() as i64
                ],
            )?;
        }
        let json = serde_json::to_string(tenant).map_err(db)?;
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'tenant'",
            params![json],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn interval_history(&self) -> StoreResult<Vec<IntervalSegment>> {
        self.readers.read_memo(|conn, memo| {
            let read = || -> StoreResult<_> {
                {
                    let mut st = conn.prepare_cached(
                        "SELECT at, object_secs, phs_secs FROM intervals ORDER BY seq",
                    )?;
                    let rows = st.query_map([], |r| {
                        let at: i64 = r.get(0)?;
                        Ok(IntervalSegment {
                            at: if at == i64::MIN {
                                chrono::DateTime::<Utc>::MIN_UTC
                            } else {
                                from_micros(at)
                            },
                            object_secs: r.get::<_, i64>(1)? as u64,
                            phs_secs: r.get::<_, i64>(2)? as u64,
                        })
                    })?;
                    rows.collect::<Result<_, _>>().map_err(Into::into)
                }
            };
            match memo {
                Some(m) => m.interval_history(read),
                None => read(),
            }
        })
    }

    fn users(&self) -> StoreResult<Vec<User>> {
        self.readers.read(|conn| {
            let mut st = conn.prepare_cached(&format!(
                "SELECT {USER_COLS} FROM users WHERE deleted_at IS NULL ORDER BY sam_lc"
            ))?;
            let rows = st.query_map([], row_to_user)?;
            rows.collect::<Result<_, _>>().map_err(Into::into)
        })
    }

    fn users_after(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<User>> {
        self.readers.read(|conn| {
            let mut st = conn.prepare_cached(&format!(
                "SELECT {USER_COLS} FROM users WHERE deleted_at IS NULL AND sam_lc > ?1 \
                 ORDER BY sam_lc LIMIT ?2"
            ))?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = st.query_map(params![after.unwrap_or(""), limit], row_to_user)?;
            rows.collect::<Result<_, _>>().map_err(Into::into)
        })
    }

    fn users_deleted_since(&self, since: Option<Time>, limit: usize) -> StoreResult<Vec<User>> {
        self.readers.read(|conn| {
            let mut st = conn.prepare_cached(&format!(
                "SELECT {USER_COLS} FROM users WHERE deleted_at IS NOT NULL AND deleted_at >= ?1 \
                 ORDER BY deleted_at DESC, id DESC LIMIT ?2"
            ))?;
            let since = since.map_or(i64::MIN, micros);
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = st.query_map(params![since, limit], row_to_user)?;
            rows.collect::<Result<_, _>>().map_err(Into::into)
        })
    }

    fn groups(&self, names: Option<&[String]>) -> StoreResult<Vec<(String, Vec<String>)>> {
        if names.is_some_and(|n| n.is_empty()) {
            return Ok(vec![]);
        }
        self.readers.read(|conn| {
            let only = names.map_or(String::new(), |n| {
                format!(" AND m.group_lc IN ({})", placeholders(n.len(), 1))
            });
            let mut st = conn.prepare_cached(&format!(
                "SELECT m.group_lc, m.group_name, u.sam FROM memberships m \
                 JOIN users u ON u.id = m.user_id WHERE u.deleted_at IS NULL{only} \
                 ORDER BY m.group_lc, u.sam_lc"
            ))?;
            let mut rows = st.query(rusqlite::params_from_iter(names.unwrap_or(&[])))?;
            let mut out: Vec<(String, String, Vec<String>)> = vec![];
            while let Some(r) = rows.next()? {
                let (lc, name, sam): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
                match out.last_mut() {
                    Some((last, _, members)) if *last == lc => members.push(sam),
                    _ => out.push((lc, name, vec![sam])),
                }
            }
            Ok(out.into_iter().map(|(_, name, m)| (name, m)).collect())
        })
    }

    fn users_named(&self, names: &Candidates) -> StoreResult<Vec<User>> {
        if names.sams.is_empty() && names.upns.is_empty() && names.mails.is_empty() {
            return Ok(vec![]);
        }
        self.readers.read_memo(|conn, memo| {
            let read = || -> StoreResult<_> {
            // One indexed SELECT per kind of name, joined by UNION: with an OR of the three,
            // SQLite's planner (without statistics) may scan a whole index instead.
            let mut terms = vec![];
            let mut next = 1;
            for (column, n) in [
                ("sam_lc", names.sams.len()),
                ("upn_lc", names.upns.len()),
                ("lower(mail)", names.mails.len()),
            ] {
                if n > 0 {
                    terms.push(format!(
                        "SELECT {USER_COLS} FROM users WHERE deleted_at IS NULL AND {column} IN ({})",
                        placeholders(n, next)
                    ));
                    next += n;
                }
            }
            let sql = terms.join(" UNION ");
            let mut st = conn.prepare_cached(&sql)?;
            let rows = st.query_map(
                rusqlite::params_from_iter(
                    names.sams.iter().chain(&names.upns).chain(&names.mails),
                ),
                row_to_user,
            )?;
            rows.collect::<Result<_, _>>().map_err(Into::into)
        };
            match memo {
                Some(m) => m.users_named(names, read),
                None => read(),
            }
        })
    }

    fn user_by_sam(&self, sam: &str) -> StoreResult<Option<User>> {
        self.readers.read(|conn| {
            row(
                conn,
                &format!("SELECT {USER_COLS} FROM users WHERE sam_lc = ?1 AND deleted_at IS NULL"),
                params![sam.to_lowercase()],
                row_to_user,
            )
            .optional()
            .map_err(Into::into)
        })
    }

    fn user_by_id(&self, id: i64) -> StoreResult<Option<User>> {
        self.readers.read_memo(|conn, memo| {
            let read = || -> StoreResult<_> {
                {
                    row(
                        conn,
                        &format!("SELECT {USER_COLS} FROM users WHERE id = ?1"),
                        params![id],
                        row_to_user,
                    )
                    .optional()
                    .map_err(Into::into)
                }
            };
            match memo {
                Some(m) => m.user_by_id(id, read),
                None => read(),
            }
        })
    }

    fn insert_user(&self, u: &User, now: Time) -> StoreResult<User> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let created = insert_user_in(&tx, u, now)?;
        tx.commit()?;
        Ok(created)
    }

    fn insert_users(&self, users: &[User], now: Time) -> StoreResult<usize> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for u in users {
            insert_user_in(&tx, u, now)?;
        }
        // Dropping the transaction on any error above rolls every row back.
        tx.commit()?;
        Ok(users.len())
    }

    fn update_user(&self, u: &User, now: Time) -> StoreResult<()> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut cols = user_columns(u);
        cols.retain(|c| column(c) != "created_at");
        let sets: Vec<String> = cols
            .iter()
            .map(|c| format!("{} = {}", column(c), c.0))
            .collect();
        let sql = format!(
            "UPDATE users SET {} WHERE id = :id AND deleted_at IS NULL",
            sets.join(", ")
        );
        cols.push((":id", Box::new(u.id)));
        let res = tx.execute(&sql, named(&cols).as_slice());
        let n = match res {
            Err(e) if unique_violation(&e) => {
                return Err(StoreError::Refused(format!(
                    "another user already has UPN {:?}",
                    u.upn
                )))
            }
            r => r?,
        };
        if n == 0 {
            return Err(StoreError::NotFound(format!("no user {:?}", u.sam)));
        }
        set_memberships(&tx, u.id, &u.groups)?;
        append_snapshot(&tx, u.id, &u.snapshot(), now)?;
        tx.commit()?;
        Ok(())
    }

    fn delete_user(&self, id: i64, now: Time) -> StoreResult<()> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let user: Option<User> = row(
            &tx,
            &format!("SELECT {USER_COLS} FROM users WHERE id = ?1 AND deleted_at IS NULL"),
            params![id],
            row_to_user,
        )
        .optional()?;
        let Some(user) = user else {
            return Err(StoreError::NotFound(format!("no user with id {id}")));
        };
        // Soft delete: the cloud object (MFA state, app passwords) lives on until the deletion
        // syncs, so the row stays, hidden from every on-prem lookup.
        tx.execute(
            "UPDATE users SET deleted_at = ?2 WHERE id = ?1",
            params![id, micros(now)],
        )?;
        tx.execute("DELETE FROM ad_lockout WHERE user_id = ?1", params![id])?;
        tx.execute("DELETE FROM memberships WHERE user_id = ?1", params![id])?;
        let mut tomb = user.snapshot();
        tomb.exists = false;
        append_snapshot(&tx, id, &tomb, now)?;
        tx.commit()?;
        Ok(())
    }

    fn app_passwords(&self, user_id: i64) -> StoreResult<Vec<AppPassword>> {
        self.readers.read(|conn| {
            let mut st = conn.prepare_cached(
                "SELECT user_id, name, created_at, last_used, hash, tag FROM app_passwords \
             WHERE user_id = ?1 ORDER BY created_at, name",
            )?;
            let rows = st.query_map(params![user_id], |r| {
                Ok(AppPassword {
                    user_id: r.get(0)?,
                    name: r.get(1)?,
                    created_at: from_micros(r.get(2)?),
                    last_used: r.get::<_, Option<i64>>(3)?.map(from_micros),
                    hash: r.get(4)?,
                    tag: r.get(5)?,
                })
            })?;
            rows.collect::<Result<_, _>>().map_err(Into::into)
        })
    }

    fn insert_app_password(&self, ap: &AppPassword) -> StoreResult<()> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let count: i64 = row(
            &tx,
            "SELECT COUNT(*) FROM app_passwords WHERE user_id = ?1",
            params![ap.user_id],
            |r| r.get(0),
        )?;
        if count as usize >= MAX_APP_PASSWORDS {
            return Err(StoreError::Refused(format!(
                "this user already has {MAX_APP_PASSWORDS} app passwords, the most Entra allows; delete one first"
            )));
        }
        let res = tx.execute(
            "INSERT INTO app_passwords (user_id, name, created_at, last_used, hash, tag) \
             VALUES (?1, ?2, ?3, NULL, ?4, ?5)",
            params![ap.user_id, ap.name, micros(ap.created_at), ap.hash, ap.tag],
        );
        match res {
            Err(e) if unique_violation(&e) => {
                return Err(StoreError::Refused(format!(
                    "this user already has an app password named {:?}",
                    ap.name
                )))
            }
            r => r?,
        };
        tx.execute(
            "UPDATE users SET ever_had_app_password = 1 WHERE id = ?1",
            params![ap.user_id],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn delete_app_password(&self, user_id: i64, name: &str) -> StoreResult<bool> {
        let conn = self.lock()?;
        let n = conn.execute(
            "DELETE FROM app_passwords WHERE user_id = ?1 AND name = ?2",
            params![user_id, name],
        )?;
        Ok(n > 0)
    }

    fn touch_app_password(&self, user_id: i64, name: &str, now: Time) -> StoreResult<()> {
        let conn = self.lock_hot();
        conn.execute(
            "UPDATE app_passwords SET last_used = ?3 WHERE user_id = ?1 AND name = ?2",
            params![user_id, name, micros(now)],
        )?;
        self.hot_committed();
        Ok(())
    }

    fn record_manual_sync(&self, now: Time) -> StoreResult<ManualSync> {
        let conn = self.lock()?;
        conn.execute(
            "INSERT INTO history (at, kind) VALUES (?1, 'sync')",
            params![micros(now)],
        )?;
        Ok(ManualSync {
            seq: conn.last_insert_rowid(),
            at: now,
        })
    }

    fn manual_syncs(&self) -> StoreResult<Vec<ManualSync>> {
        self.readers.read(|conn| {
            let mut st = conn
                .prepare_cached("SELECT seq, at FROM history WHERE kind = 'sync' ORDER BY seq")?;
            let rows = st.query_map([], |r| {
                Ok(ManualSync {
                    seq: r.get(0)?,
                    at: from_micros(r.get(1)?),
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn user_history(&self, user_id: i64) -> StoreResult<Vec<(i64, Time, SyncedSnapshot)>> {
        self.readers.read(|conn| {
            let mut st = conn.prepare_cached(
                "SELECT seq, at, snapshot FROM history WHERE kind = 'user' AND user_id = ?1 ORDER BY seq",
            )?;
            let rows = st.query_map(params![user_id], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (seq, at, json) = row?;
                out.push((seq, from_micros(at), serde_json::from_str(&json).map_err(db)?));
            }
            Ok(out)
        })
    }

    fn last_manual_sync(&self, at_or_before: Time) -> StoreResult<Option<ManualSync>> {
        const SQL: &str = "SELECT seq, at FROM history WHERE kind = 'sync' AND at <= ?1 ORDER BY seq DESC LIMIT 1";
        let read = |conn: &Connection, t: i64| -> StoreResult<Option<ManualSync>> {
            row(conn, SQL, params![t], |r| {
                Ok(ManualSync {
                    seq: r.get(0)?,
                    at: from_micros(r.get(1)?),
                })
            })
            .optional()
            .map_err(Into::into)
        };
        let t = micros(at_or_before);
        self.readers.read_memo(|conn, memo| match memo {
            Some(m) => m.last_manual_sync(at_or_before, || read(conn, i64::MAX), || read(conn, t)),
            None => read(conn, t),
        })
    }

    fn cloud_users_named(&self, cutoff: Cutoff, names: &Candidates) -> StoreResult<Vec<CloudUser>> {
        if names.sams.is_empty() && names.upns.is_empty() && names.mails.is_empty() {
            return Ok(vec![]);
        }
        self.readers.read_memo(|conn, memo| {
            let read = || -> StoreResult<_> {
        let (t, s) = cutoff_params(cutoff);
        let sql = format!(
            "SELECT h.user_id, h.snapshot, h.at FROM history h JOIN \
             (SELECT user_id, MAX(seq) AS m FROM history WHERE kind = 'user' AND (at < ?1 OR seq < ?2) \
              AND user_id IN (SELECT user_id FROM history WHERE kind = 'user' \
                  AND (at < ?1 OR seq < ?2) \
                  AND (sam_lc IN ({}) OR upn_lc IN ({}) OR mail_lc IN ({}))) \
              GROUP BY user_id) x ON h.seq = x.m",
            placeholders(names.sams.len(), 3),
            placeholders(names.upns.len(), 3 + names.sams.len()),
            placeholders(names.mails.len(), 3 + names.sams.len() + names.upns.len()),
        );
        let mut values: Vec<Box<dyn rusqlite::ToSql>> = vec![Box::new(t), Box::new(s)];
        values.extend(
            names
                .sams
                .iter()
                .chain(&names.upns)
                .chain(&names.mails)
                .map(|n| Box::new(n.clone()) as Box<dyn rusqlite::ToSql>),
        );
        let mut st = conn.prepare_cached(&sql)?;
        let rows = st.query_map(
            rusqlite::params_from_iter(values.iter().map(|v| v.as_ref())),
            row_to_cloud,
        )?;
        let raw: Vec<_> = rows.collect::<Result<_, _>>()?;
        raw.into_iter().map(to_cloud).collect()
        };
            match memo {
                Some(m) => m.cloud_users_named(cutoff, names, read),
                None => read(),
            }
        })
    }

    fn cloud_users_after(
        &self,
        cutoff: Cutoff,
        after_id: i64,
        limit: usize,
    ) -> StoreResult<Vec<CloudUser>> {
        let (t, s) = cutoff_params(cutoff);
        self.readers.read(|conn| {
            // Every account ever created keeps its users row (deletion is soft), so walking
            // users by id and taking each one's newest snapshot before the cutoff (an indexed
            // lookup in history_user) visits every cloud object, in pages.
            let mut st = conn.prepare_cached(
                "SELECT h.user_id, h.snapshot, h.at FROM users u JOIN history h ON h.seq = \
                 (SELECT MAX(seq) FROM history WHERE kind = 'user' AND user_id = u.id \
                  AND (at < ?1 OR seq < ?2)) \
                 WHERE u.id > ?3 AND json_extract(h.snapshot, '$.exists') \
                 ORDER BY u.id LIMIT ?4",
            )?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = st.query_map(params![t, s, after_id, limit], row_to_cloud)?;
            let raw: Vec<_> = rows.collect::<Result<_, _>>()?;
            raw.into_iter().map(to_cloud).collect()
        })
    }

    fn cloud_snapshot(&self, user_id: i64, cutoff: Cutoff) -> StoreResult<Option<CloudUser>> {
        self.readers.read_memo(|conn, memo| {
            let read = || -> StoreResult<_> {
                {
                    let (t, s) = cutoff_params(cutoff);
                    let row = row(
                conn,
                "SELECT user_id, snapshot, at FROM history WHERE kind = 'user' AND user_id = ?1 \
                 AND (at < ?2 OR seq < ?3) ORDER BY seq DESC LIMIT 1",
                params![user_id, t, s],
                row_to_cloud,
            )
            .optional()?;
                    row.map(to_cloud).transpose()
                }
            };
            match memo {
                Some(m) => m.cloud_snapshot(user_id, cutoff, read),
                None => read(),
            }
        })
    }

    fn latest_snapshot(&self, user_id: i64) -> StoreResult<Option<CloudUser>> {
        self.cloud_snapshot(
            user_id,
            Cutoff {
                before_time: None,
                before_seq: Some(i64::MAX),
            },
        )
    }

    fn latest_event_time(&self) -> StoreResult<Option<Time>> {
        self.readers.read(|conn| {
            let v: Option<i64> = row(
                conn,
                "SELECT MAX(at) FROM (SELECT MAX(at) AS at FROM history \
             UNION ALL SELECT MAX(at) FROM intervals WHERE at > ?1)",
                params![i64::MIN],
                |r| r.get(0),
            )?;
            Ok(v.map(from_micros))
        })
    }

    fn simulated_time(&self) -> StoreResult<Option<Time>> {
        self.readers.read_memo(|conn, memo| {
            let read = || -> StoreResult<_> {
                {
                    let v: Option<String> = row(
                        conn,
                        "SELECT value FROM meta WHERE key = 'simulated_time'",
                        [],
                        |r| r.get(0),
                    )
                    .optional()?;
                    Ok(v.and_then(|s| s.parse::<i64>().ok()).map(from_micros))
                }
            };
            match memo {
                Some(m) => m.simulated_time(read),
                None => read(),
            }
        })
    }

    fn set_simulated_time(&self, t: Time) -> StoreResult<()> {
        let conn = self.lock()?;
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('simulated_time', ?1) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![micros(t).to_string()],
        )?;
        Ok(())
    }

    fn compare_and_set_simulated_time(
        &self,
        expected: Option<Time>,
        new: Time,
    ) -> StoreResult<bool> {
        let conn = self.lock()?;
        let new = micros(new).to_string();
        let n = match expected {
            None => conn.execute(
                "INSERT INTO meta (key, value) VALUES ('simulated_time', ?1) \
                 ON CONFLICT (key) DO NOTHING",
                params![new],
            )?,
            Some(old) => conn.execute(
                "UPDATE meta SET value = ?1 WHERE key = 'simulated_time' AND value = ?2",
                params![new, micros(old).to_string()],
            )?,
        };
        Ok(n == 1)
    }

    fn probe_writable(&self, now: Time) -> StoreResult<()> {
        let conn = self.lock()?;
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('health_probe', ?1) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![micros(now).to_string()],
        )?;
        Ok(())
    }

    fn ad_lockout(&self, user_id: i64) -> StoreResult<AdLockout> {
        self.readers.read_memo(|conn, memo| {
            let read = || -> StoreResult<_> { read_ad_lockout(conn, user_id) };
            match memo {
                Some(m) => m.ad_lockout(user_id, read),
                None => read(),
            }
        })
    }

    fn modify_ad_lockout(
        &self,
        user_id: i64,
        f: &mut dyn FnMut(&mut AdLockout),
    ) -> StoreResult<AdLockout> {
        let mut conn = self.lock_hot();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut state = read_ad_lockout(&tx, user_id)?;
        f(&mut state);
        tx.execute(
            "INSERT INTO ad_lockout (user_id, bad_count, last_bad_at, locked_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (user_id) DO UPDATE SET bad_count = excluded.bad_count, \
             last_bad_at = excluded.last_bad_at, locked_at = excluded.locked_at",
            params![
                user_id,
                state.bad_count,
                state.last_bad_at.map(micros),
                state.locked_at.map(micros)
            ],
        )?;
        tx.commit()?;
        self.hot_committed();
        Ok(state)
    }

    fn smart_lockout(&self, user_id: i64) -> StoreResult<SmartLockout> {
        self.readers.read_memo(|conn, memo| {
            let read = || -> StoreResult<_> { read_smart_lockout(conn, user_id) };
            match memo {
                Some(m) => m.smart_lockout(user_id, read),
                None => read(),
            }
        })
    }

    fn modify_smart_lockout(
        &self,
        user_id: i64,
        f: &mut dyn FnMut(&mut SmartLockout),
    ) -> StoreResult<SmartLockout> {
        let mut conn = self.lock_hot();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut state = read_smart_lockout(&tx, user_id)?;
        f(&mut state);
        let json = serde_json::to_string(&state).map_err(db)?;
        tx.execute(
            "INSERT INTO smart_lockout (user_id, state) VALUES (?1, ?2) \
             ON CONFLICT (user_id) DO UPDATE SET state = excluded.state",
            params![user_id, json],
        )?;
        tx.commit()?;
        self.hot_committed();
        Ok(state)
    }

    fn read_scope(&self, f: &mut dyn FnMut()) -> StoreResult<()> {
        self.readers.scope(f)
    }

    fn unflushed(&self) -> bool {
        use std::sync::atomic::Ordering;
        self.synced.load(Ordering::SeqCst) < self.committed.load(Ordering::SeqCst)
    }

    fn flush_durable(&self) -> StoreResult<()> {
        use std::sync::atomic::Ordering;
        let target = self.committed.load(Ordering::SeqCst);
        if self.synced.load(Ordering::SeqCst) >= target {
            return Ok(());
        }
        // A duplicate of the WAL's descriptor, so that no lock is held across the fsync (and
        // the WAL is not the database file, whose descriptors must never be closed early).
        let file = {
            let mut g = self.wal.lock().unwrap_or_else(|e| e.into_inner());
            if g.is_none() {
                *g = Some(std::fs::File::open(&self.wal_path).map_err(db)?);
            }
            match g.as_ref() {
                Some(f) => f.try_clone().map_err(db)?,
                None => return Ok(()),
            }
        };
        file.sync_data().map_err(db)?;
        self.synced.fetch_max(target, Ordering::SeqCst);
        if target >= self.checkpointed.load(Ordering::SeqCst) + CHECKPOINT_EVERY {
            self.checkpoint(target)?;
        }
        Ok(())
    }

    fn secret_key(&self) -> StoreResult<[u8; 32]> {
        self.readers.read(|conn| {
            let v: String = row(
                conn,
                "SELECT value FROM meta WHERE key = 'secret_key'",
                [],
                |r| r.get(0),
            )?;
            let bytes = hex::decode(v).map_err(db)?;
            bytes
                .try_into()
                .map_err(|_| StoreError::Db("secret key has the wrong length".into()))
        })
    }

    fn mfa_methods(&self, user_id: i64) -> StoreResult<Vec<MfaMethod>> {
        self.readers.read(|conn| {
            let mut st = conn.prepare_cached(
                "SELECT user_id, kind, secret, is_default, created_at FROM mfa_methods \
                 WHERE user_id = ?1 ORDER BY created_at, kind",
            )?;
            let rows = st.query_map(params![user_id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, bool>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })?;
            let mut out = vec![];
            for row in rows {
                let (user_id, kind, secret, default, created_at) = row?;
                out.push(MfaMethod {
                    user_id,
                    kind: MfaKind::parse(&kind)
                        .ok_or_else(|| StoreError::Db(format!("unknown MFA method {kind:?}")))?,
                    secret: secret.map(|h| hex::decode(h).map_err(db)).transpose()?,
                    default,
                    created_at: from_micros(created_at),
                });
            }
            Ok(out)
        })
    }

    fn add_mfa_method(&self, m: &MfaMethod) -> StoreResult<()> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let count: i64 = row(
            &tx,
            "SELECT COUNT(*) FROM mfa_methods WHERE user_id = ?1",
            params![m.user_id],
            |r| r.get(0),
        )?;
        let default = m.default || count == 0;
        if default {
            tx.execute(
                "UPDATE mfa_methods SET is_default = 0 WHERE user_id = ?1",
                params![m.user_id],
            )?;
        }
        let res = tx.execute(
            "INSERT INTO mfa_methods (user_id, kind, secret, is_default, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                m.user_id,
                m.kind.as_str(),
                m.secret.as_ref().map(hex::encode),
                default,
                micros(m.created_at)
            ],
        );
        match res {
            Err(e) if unique_violation(&e) => {
                return Err(StoreError::Refused(format!(
                    "the user already has a {} method; remove it first",
                    m.kind.as_str()
                )))
            }
            r => r?,
        };
        tx.commit()?;
        Ok(())
    }

    fn remove_mfa_method(&self, user_id: i64, kind: MfaKind) -> StoreResult<bool> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "DELETE FROM mfa_methods WHERE user_id = ?1 AND kind = ?2",
            params![user_id, kind.as_str()],
        )?;
        tx.execute(
            "UPDATE mfa_methods SET is_default = 1 WHERE user_id = ?1 AND kind = \
             (SELECT kind FROM mfa_methods WHERE user_id = ?1 ORDER BY created_at, kind LIMIT 1) \
             AND NOT EXISTS (SELECT 1 FROM mfa_methods WHERE user_id = ?1 AND is_default = 1)",
            params![user_id],
        )?;
        tx.commit()?;
        Ok(n > 0)
    }

    fn use_totp_step(&self, user_id: i64, step: i64) -> StoreResult<bool> {
        let conn = self.lock()?;
        let n = conn.execute(
            "UPDATE mfa_methods SET last_step = ?2 WHERE user_id = ?1 AND kind = 'totp' \
             AND (last_step IS NULL OR last_step < ?2)",
            params![user_id, step],
        )?;
        Ok(n == 1)
    }

    fn open_push(&self, user_id: i64, at: Time) -> StoreResult<i64> {
        let conn = self.lock()?;
        conn.execute(
            "INSERT INTO mfa_pushes (user_id, opened_at) VALUES (?1, ?2)",
            params![user_id, micros(at)],
        )?;
        Ok(conn.last_insert_rowid())
    }

    fn push_answer(&self, id: i64) -> StoreResult<Option<PushAnswer>> {
        self.readers.read(|conn| {
            let v: Option<Option<String>> = row(
                conn,
                "SELECT answer FROM mfa_pushes WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()?;
            Ok(v.flatten().as_deref().and_then(PushAnswer::parse))
        })
    }

    fn answer_push(&self, user_id: i64, answer: PushAnswer, at: Time) -> StoreResult<Option<i64>> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id: Option<i64> = row(
            &tx,
            "SELECT id FROM mfa_pushes WHERE user_id = ?1 AND answer IS NULL ORDER BY id LIMIT 1",
            params![user_id],
            |r| r.get(0),
        )
        .optional()?;
        if let Some(id) = id {
            tx.execute(
                "UPDATE mfa_pushes SET answer = ?2, answered_at = ?3 WHERE id = ?1",
                params![id, answer.as_str(), micros(at)],
            )?;
        }
        tx.commit()?;
        Ok(id)
    }

    fn expire_push(&self, id: i64, at: Time) -> StoreResult<PushAnswer> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE mfa_pushes SET answer = 'expired', answered_at = ?2 WHERE id = ?1 AND answer IS NULL",
            params![id, micros(at)],
        )?;
        let answer: Option<String> = row(
            &tx,
            "SELECT answer FROM mfa_pushes WHERE id = ?1",
            params![id],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
        tx.commit()?;
        Ok(answer
            .as_deref()
            .and_then(PushAnswer::parse)
            .unwrap_or(PushAnswer::Expired))
    }

    fn pending_pushes(&self, since: Time) -> StoreResult<Vec<PendingPush>> {
        self.readers.read(|conn| {
            let mut st = conn.prepare_cached(
                "SELECT id, user_id, opened_at FROM mfa_pushes WHERE answer IS NULL \
                 AND opened_at >= ?1 ORDER BY id",
            )?;
            let rows = st.query_map(params![micros(since)], |r| {
                Ok(PendingPush {
                    id: r.get(0)?,
                    user_id: r.get(1)?,
                    opened_at: from_micros(r.get(2)?),
                })
            })?;
            rows.collect::<Result<_, _>>().map_err(Into::into)
        })
    }
}

fn read_ad_lockout(conn: &Connection, user_id: i64) -> StoreResult<AdLockout> {
    Ok(row(
        conn,
        "SELECT bad_count, last_bad_at, locked_at FROM ad_lockout WHERE user_id = ?1",
        params![user_id],
        |r| {
            Ok(AdLockout {
                bad_count: r.get(0)?,
                last_bad_at: r.get::<_, Option<i64>>(1)?.map(from_micros),
                locked_at: r.get::<_, Option<i64>>(2)?.map(from_micros),
            })
        },
    )
    .optional()?
    .unwrap_or_default())
}

fn read_smart_lockout(conn: &Connection, user_id: i64) -> StoreResult<SmartLockout> {
    let v: Option<String> = row(
        conn,
        "SELECT state FROM smart_lockout WHERE user_id = ?1",
        params![user_id],
        |r| r.get(0),
    )
    .optional()?;
    match v {
        Some(s) => serde_json::from_str(&s).map_err(db),
        None => Ok(SmartLockout::default()),
    }
}
