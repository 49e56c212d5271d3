//! The shared store: PostgreSQL, for two or more hybridauth nodes behind one database. It keeps
//! the same contract as the embedded SQLite file (`store.rs`), and the same tables
//! (`migrations::POSTGRES`).
//!
//! **Transactions and why.** Every change is one transaction at PostgreSQL's default `READ
//! COMMITTED`, with explicit locks where two nodes could race:
//! - lockout counters (`modify_ad_lockout`, `modify_smart_lockout`) make sure the row exists,
//!   then `SELECT … FOR UPDATE` it: a second node's count waits for the first and reads its
//!   result, so no count is lost (an `UPDATE … RETURNING` could not run the caller's rule);
//! - the 40-app-password limit locks the user's row before counting, so two nodes adding the
//!   40th at once cannot both succeed;
//! - every change that appends to the on-prem history first takes one transaction-scoped
//!   advisory lock (`HISTORY_LOCK`): history sequence numbers are then handed out in commit
//!   order, which the cycle boundary (`seq < before_seq`) needs — with plain sequences a change
//!   could commit after a `sync now` that holds a higher number and still count as carried;
//! - the tenant is read `FOR UPDATE` when it is saved, so two interval changes both land in the
//!   schedule;
//! - the simulated clock moves by compare-and-set (`compare_and_set_simulated_time`).
//!
//! Reads of one decision share one `REPEATABLE READ` snapshot (see `postgres_scope`).
//!
//! **Durability.** A change is durable when its commit returns (`synchronous_commit` as the
//! server has it, `on` by default), except the hot-path writes, durable once `flush_durable`
//! returns (see `postgres_durable`).

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use rand::RngCore;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::mfa::{MfaKind, MfaMethod, PendingPush, PushAnswer};
use super::migrations;
use super::model::{AppPassword, MfaState, SyncedSnapshot, Time, User, MAX_APP_PASSWORDS};
use super::names::Candidates;
use super::postgres_bridge::{
    db, pg, pg_params, pool_err, prepared, refs, unique_violation, Bridge,
};
use super::postgres_durable::{Durable, BEGIN_HOT, FLUSH_SQL};
use super::postgres_scope::{spawn_listener, Db, Scopes};
use super::store::*;
use super::tenant::Tenant;

/// Advisory lock keys (any two numbers no other application on the database uses).
const MIGRATION_LOCK: i64 = 0x6879_6272_0001;
const HISTORY_LOCK: i64 = 0x6879_6272_0002;

/// An import is one transaction, however many users it holds: it is bounded by this rather
/// than by `store.timeout`, which is for requests.
const IMPORT_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Users of an import inserted at once on the import's connection.
const IMPORT_IN_FLIGHT: usize = 64;

pub struct PostgresStore {
    bridge: Bridge,
    scopes: Scopes,
    /// Names this node in the health probe's heartbeat row.
    node: String,
    durable: Durable,
}

/// This machine's name, for the heartbeat row (`health.node`).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "node".into())
}

fn micros(t: Time) -> i64 {
    t.timestamp_micros()
}

fn from_micros(v: i64) -> Time {
    Utc.timestamp_micros(v).single().unwrap_or_default()
}

const USER_COLS: &str = "id, sam, upn, display_name, mail, groups, enabled, account_expires, \
    password_hash, syncable_hash, password_set_at, password_expired, must_change, admin, mfa, \
    modern_auth_only, created_at, enabled_changed_at, ever_had_app_password, deleted_at, nt_hash";

fn to_user(r: &Row) -> StoreResult<User> {
    let get = |e: tokio_postgres::Error| db(format!("reading a user row: {e}"));
    let groups: String = r.try_get(5).map_err(get)?;
    let mfa: String = r.try_get(14).map_err(get)?;
    Ok(User {
        id: r.try_get(0).map_err(get)?,
        sam: r.try_get(1).map_err(get)?,
        upn: r.try_get(2).map_err(get)?,
        display_name: r.try_get(3).map_err(get)?,
        mail: r.try_get(4).map_err(get)?,
        groups: groups
            .split('\n')
            .filter(|g| !g.is_empty())
            .map(str::to_string)
            .collect(),
        enabled: r.try_get(6).map_err(get)?,
        account_expires: r
            .try_get::<_, Option<i64>>(7)
            .map_err(get)?
            .map(from_micros),
        password_hash: r.try_get(8).map_err(get)?,
        syncable_hash: r.try_get(9).map_err(get)?,
        password_set_at: from_micros(r.try_get(10).map_err(get)?),
        password_expired: r.try_get(11).map_err(get)?,
        must_change: r.try_get(12).map_err(get)?,
        admin: r.try_get(13).map_err(get)?,
        mfa: MfaState::parse(&mfa).unwrap_or(MfaState::Disabled),
        modern_auth_only: r.try_get(15).map_err(get)?,
        created_at: from_micros(r.try_get(16).map_err(get)?),
        enabled_changed_at: from_micros(r.try_get(17).map_err(get)?),
        ever_had_app_password: r.try_get(18).map_err(get)?,
        deleted_at: r
            .try_get::<_, Option<i64>>(19)
            .map_err(get)?
            .map(from_micros),
        nt_hash: r.try_get(20).map_err(get)?,
    })
}

fn to_users(rows: Vec<Row>) -> StoreResult<Vec<User>> {
    rows.iter().map(to_user).collect()
}

fn to_cloud(r: &Row) -> StoreResult<CloudUser> {
    let snapshot: String = r.try_get(1).map_err(pg)?;
    Ok(CloudUser {
        user_id: r.try_get(0).map_err(pg)?,
        snapshot: serde_json::from_str(&snapshot).map_err(db)?,
        synced_change_at: from_micros(r.try_get(2).map_err(pg)?),
    })
}

fn cutoff_params(c: Cutoff) -> (i64, i64) {
    (
        c.before_time.map(micros).unwrap_or(i64::MIN),
        c.before_seq.unwrap_or(i64::MIN),
    )
}

fn get<T: for<'a> tokio_postgres::types::FromSql<'a>>(r: &Row, i: usize) -> StoreResult<T> {
    r.try_get(i).map_err(pg)
}

/// The parameters of a user's stored columns (all but `id` and `deleted_at`), `$1`…`$21` in
/// this order — the one place that maps the model onto the table.
const USER_SET: &str = "sam, sam_lc, upn, upn_lc, display_name, mail, groups, enabled, \
    account_expires, password_hash, syncable_hash, password_set_at, password_expired, \
    must_change, admin, mfa, modern_auth_only, created_at, enabled_changed_at, \
    ever_had_app_password, nt_hash";

fn user_values(u: &User) -> Vec<super::postgres_bridge::Param> {
    pg_params![
        u.sam.clone(),
        u.sam.to_lowercase(),
        u.upn.clone(),
        u.upn.to_lowercase(),
        u.display_name.clone(),
        u.mail.clone(),
        u.groups.join("\n"),
        u.enabled,
        u.account_expires.map(micros),
        u.password_hash.clone(),
        u.syncable_hash.clone(),
        micros(u.password_set_at),
        u.password_expired,
        u.must_change,
        u.admin,
        u.mfa.as_str().to_string(),
        u.modern_auth_only,
        micros(u.created_at),
        micros(u.enabled_changed_at),
        u.ever_had_app_password,
        u.nt_hash.clone(),
    ]
}

type Tx<'a> = deadpool_postgres::Transaction<'a>;

async fn exec(
    tx: &Tx<'_>,
    sql: &str,
    params: Vec<super::postgres_bridge::Param>,
) -> StoreResult<Vec<Row>> {
    let st = tx.prepare_cached(sql).await.map_err(pg)?;
    let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
        .iter()
        .map(|p| &**p as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect();
    tx.query(&st, &refs).await.map_err(pg)
}

/// Inserts one new user, its groups and its first snapshot inside the caller's transaction
/// (which holds the history lock). A new id has no memberships and no history yet, so nothing
/// is read first: an import runs many of these at once on one connection (pipelined).
async fn insert_user_in(tx: &Tx<'_>, u: &User, now: Time) -> StoreResult<User> {
    let sql = format!(
        "INSERT INTO users ({USER_SET}) VALUES ({}) RETURNING id",
        (1..=21)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let st = tx.prepare_cached(&sql).await.map_err(pg)?;
    let values = user_values(u);
    let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = values
        .iter()
        .map(|p| &**p as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect();
    let id: i64 = match tx.query_one(&st, &refs).await {
        Ok(r) => get(&r, 0)?,
        Err(e) if unique_violation(&e) => {
            return Err(StoreError::Refused(format!(
                "a user with sAMAccountName {:?} or UPN {:?} already exists",
                u.sam, u.upn
            )))
        }
        Err(e) => return Err(pg(e)),
    };
    let mut created = u.clone();
    created.id = id;
    let memberships = async {
        for g in u.groups.iter().filter(|g| !g.is_empty()) {
            exec(
                tx,
                "INSERT INTO memberships (group_lc, group_name, user_id) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
                pg_params![g.to_lowercase(), g.clone(), id],
            )
            .await?;
        }
        Ok::<(), StoreError>(())
    };
    let first = created.snapshot();
    let snapshot = insert_snapshot(tx, id, &first, now);
    let (m, h) = futures::join!(memberships, snapshot);
    m?;
    h?;
    Ok(created)
}

/// Among a pipelined batch's results, the error that caused the others: a refusal (a name
/// clash) before the "transaction is aborted" that every later statement then gets.
fn first_cause(results: Vec<StoreResult<User>>) -> Option<StoreError> {
    let mut errors: Vec<StoreError> = results.into_iter().filter_map(Result::err).collect();
    let refused = errors
        .iter()
        .position(|e| matches!(e, StoreError::Refused(_)));
    match refused {
        Some(i) => Some(errors.swap_remove(i)),
        None => errors.into_iter().next(),
    }
}

async fn set_memberships(tx: &Tx<'_>, user_id: i64, groups: &[String]) -> StoreResult<()> {
    exec(
        tx,
        "DELETE FROM memberships WHERE user_id = $1",
        pg_params![user_id],
    )
    .await?;
    for g in groups.iter().filter(|g| !g.is_empty()) {
        exec(
            tx,
            "INSERT INTO memberships (group_lc, group_name, user_id) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
            pg_params![g.to_lowercase(), g.clone(), user_id],
        )
        .await?;
    }
    Ok(())
}

/// Locks the user's row (a second transaction counting the same user waits for this one) and
/// counts the user's rows in `table` (`app_passwords`, `mfa_methods`).
async fn lock_user_and_count(tx: &Tx<'_>, user_id: i64, table: &'static str) -> StoreResult<i64> {
    exec(
        tx,
        "SELECT id FROM users WHERE id = $1 FOR UPDATE",
        pg_params![user_id],
    )
    .await?;
    let rows = exec(
        tx,
        &format!("SELECT COUNT(*) FROM {table} WHERE user_id = $1"),
        pg_params![user_id],
    )
    .await?;
    Ok(rows.first().map(|r| get(r, 0)).transpose()?.unwrap_or(0))
}

async fn lock_history(tx: &Tx<'_>) -> StoreResult<()> {
    exec(
        tx,
        "SELECT pg_advisory_xact_lock($1)",
        pg_params![HISTORY_LOCK],
    )
    .await?;
    Ok(())
}

async fn append_snapshot(
    tx: &Tx<'_>,
    user_id: i64,
    snap: &SyncedSnapshot,
    now: Time,
) -> StoreResult<()> {
    let last = exec(
        tx,
        "SELECT snapshot FROM history WHERE kind = 'user' AND user_id = $1 ORDER BY seq DESC LIMIT 1",
        pg_params![user_id],
    )
    .await?;
    if let Some(r) = last.first() {
        if get::<String>(r, 0)? == serde_json::to_string(snap).map_err(db)? {
            return Ok(());
        }
    }
    insert_snapshot(tx, user_id, snap, now).await
}

async fn insert_snapshot(
    tx: &Tx<'_>,
    user_id: i64,
    snap: &SyncedSnapshot,
    now: Time,
) -> StoreResult<()> {
    let json = serde_json::to_string(snap).map_err(db)?;
    exec(
        tx,
        "INSERT INTO history (at, kind, user_id, snapshot, sam_lc, upn_lc, mail_lc) \
         VALUES ($1, 'user', $2, $3, $4, $5, $6)",
        pg_params![
            micros(now),
            user_id,
            json,
            snap.sam.to_lowercase(),
            snap.upn.to_lowercase(),
            snap.mail.as_deref().map(str::to_lowercase)
        ],
    )
    .await?;
    Ok(())
}

fn read_ad_lockout_row(rows: &[Row]) -> StoreResult<AdLockout> {
    match rows.first() {
        None => Ok(AdLockout::default()),
        Some(r) => Ok(AdLockout {
            bad_count: get::<i32>(r, 0)?.max(0) as u32,
            last_bad_at: get::<Option<i64>>(r, 1)?.map(from_micros),
            locked_at: get::<Option<i64>>(r, 2)?.map(from_micros),
        }),
    }
}

fn read_smart_lockout_row(rows: &[Row]) -> StoreResult<SmartLockout> {
    match rows.first() {
        None => Ok(SmartLockout::default()),
        Some(r) => serde_json::from_str(&get::<String>(r, 0)?).map_err(db),
    }
}

const TOUCH_SQL: &str = "UPDATE app_passwords SET last_used = $3 WHERE user_id = $1 AND name = $2";

const AD_LOCKOUT_SQL: &str =
    "SELECT bad_count, last_bad_at, locked_at FROM ad_lockout WHERE user_id = $1";
const SMART_LOCKOUT_SQL: &str = "SELECT state FROM smart_lockout WHERE user_id = $1";

/// Connects and asks `SELECT 1`: the database is reachable with these settings (nothing is
/// created or changed).
pub fn probe(config: tokio_postgres::Config, timeout: Duration) -> StoreResult<()> {
    let bridge = Bridge::new(config, 1, timeout)?;
    bridge.query("SELECT 1".into(), vec![]).map(drop)
}

/// One lockout row's statements and codec, for `modify_locked`: `ensure` makes the row exist
/// (`$1` the user, then `fresh`), `read` reads it `FOR UPDATE`, `write` stores it (`$1` the
/// user, then `encode`'s values).
struct Locked<S> {
    ensure: &'static str,
    read: &'static str,
    write: &'static str,
    fresh: StoreResult<Vec<super::postgres_bridge::Param>>,
    decode: fn(&[Row]) -> StoreResult<S>,
    encode: fn(&S) -> StoreResult<Vec<super::postgres_bridge::Param>>,
}

/// A pooled connection inside a transaction this code began by hand: if it is dropped before
/// its `write_and_commit` (an error, or a call that ran out of time and was dropped mid-way),
/// a ROLLBACK is sent before the connection goes back to the pool — never a connection left
/// in a transaction, holding its row locks, for the next user.
struct InTransaction(Option<deadpool_postgres::Object>);

impl InTransaction {
    fn client(&self) -> &deadpool_postgres::Object {
        self.0
            .as_ref()
            .unwrap_or_else(|| unreachable!("taken only by write_and_commit or drop"))
    }

    /// Sends `st` and COMMIT in one pipeline, after `BEGIN_HOT` when `begin` (the first poll
    /// of each request sends it, in this order): a statement that fails turns the COMMIT
    /// into a rollback.
    async fn write_and_commit(
        mut self,
        begin: bool,
        st: &tokio_postgres::Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<()> {
        let c = self.client();
        futures::try_join!(
            async {
                match begin {
                    true => c.batch_execute(BEGIN_HOT).await.map_err(pg),
                    false => Ok(()),
                }
            },
            async { c.execute(st, params).await.map_err(pg) },
            async { c.batch_execute("COMMIT").await.map_err(pg) },
        )?;
        // Ended on the connection: nothing to roll back.
        drop(self.0.take());
        Ok(())
    }
}

impl Drop for InTransaction {
    fn drop(&mut self) {
        if let (Some(client), Ok(rt)) = (self.0.take(), tokio::runtime::Handle::try_current()) {
            rt.spawn(async move {
                let _ = client.batch_execute("ROLLBACK").await;
            });
        }
    }
}

/// Connections opened at start and kept in the pool: a node that later runs out of file
/// descriptors (a flood of LDAP connections) still decides with them.
const WARM_CONNECTIONS: usize = 4;

impl PostgresStore {
    /// Opens `n` pooled connections now (they stay in the pool).
    fn warm(&self, n: usize) -> StoreResult<()> {
        let pool = self.bridge.pool.clone();
        self.bridge.run(async move {
            let mut held = Vec::with_capacity(n);
            for _ in 0..n {
                held.push(pool.get().await.map_err(pool_err)?);
            }
            Ok(())
        })
    }

    /// Reads, changes with `f` and writes one lockout row atomically across nodes: the row is
    /// made to exist, read `FOR UPDATE` (another node's change of it waits), changed by the
    /// caller's rule between two round trips — never across slow work, the caller hashed
    /// before — written and committed. Two round trips, each a pipeline: BEGIN, ensure and
    /// read; then write and COMMIT (a write that fails turns the COMMIT into a rollback). A
    /// hot-path write: committed without waiting for the disk (`postgres_durable`).
    fn modify_locked<S: Clone + Send + 'static>(
        &self,
        user_id: i64,
        q: Locked<S>,
        f: &mut dyn FnMut(&mut S),
    ) -> StoreResult<S> {
        let pool = self.bridge.pool.clone();
        let (ensure, read, decode) = (q.ensure, q.read, q.decode);
        let mut fresh = q.fresh?;
        let (tx, mut state) = self.bridge.run(async move {
            let client = pool.get().await.map_err(pool_err)?;
            let (ensure, read) = (
                prepared(&client, ensure).await?,
                prepared(&client, read).await?,
            );
            let tx = InTransaction(Some(client));
            fresh.insert(0, Box::new(user_id));
            let key: [super::postgres_bridge::Param; 1] = [Box::new(user_id)];
            let c = tx.client();
            let (_, _, rows) = futures::try_join!(
                async { c.batch_execute(BEGIN_HOT).await.map_err(pg) },
                async { c.execute(&ensure, &refs(&fresh)).await.map_err(pg) },
                async { c.query(&read, &refs(&key)).await.map_err(pg) },
            )?;
            let state = decode(&rows)?;
            Ok((tx, state))
        })?;
        f(&mut state);
        let mut values = (q.encode)(&state)?;
        values.insert(0, Box::new(user_id));
        let write = q.write;
        let out = self.bridge.run(async move {
            let st = prepared(tx.client(), write).await?;
            tx.write_and_commit(false, &st, &refs(&values)).await
        });
        self.scopes.changes.bump_lockouts();
        self.hot_write_done(out)?;
        Ok(state)
    }

    /// After a hot-path write: counted for `flush_durable` once its commit returned.
    fn hot_write_done(&self, out: StoreResult<()>) -> StoreResult<()> {
        out?;
        self.durable.committed();
        Ok(())
    }

    /// Connects (waiting at most `timeout`), migrates the schema under an advisory lock (two
    /// nodes starting at once migrate once), and starts listening for changes.
    pub fn open(
        config: tokio_postgres::Config,
        pool_size: usize,
        timeout: Duration,
    ) -> StoreResult<PostgresStore> {
        let bridge = Bridge::new(config, pool_size.max(1), timeout)?;
        let scopes = Scopes::new();
        let store = PostgresStore {
            bridge,
            scopes,
            node: format!("{}:{}", hostname(), std::process::id()),
            durable: Durable::default(),
        };
        store.migrate()?;
        spawn_listener(&store.bridge, Arc::clone(&store.scopes.changes));
        store.warm(WARM_CONNECTIONS.min(pool_size.max(1)))?;
        Ok(store)
    }

    fn migrate(&self) -> StoreResult<()> {
        let pool = self.bridge.pool.clone();
        self.bridge.run(async move {
            let mut client = pool.get().await.map_err(pool_err)?;
            let tx = client.transaction().await.map_err(pg)?;
            exec(
                &tx,
                "SELECT pg_advisory_xact_lock($1)",
                pg_params![MIGRATION_LOCK],
            )
            .await?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
            )
            .await
            .map_err(pg)?;
            let rows = exec(&tx, "SELECT version FROM schema_version", vec![]).await?;
            let version = match rows.first() {
                Some(r) => get::<i32>(r, 0)?.max(0) as usize,
                None => {
                    exec(
                        &tx,
                        "INSERT INTO schema_version (version) VALUES (0)",
                        vec![],
                    )
                    .await?;
                    0
                }
            };
            migrations::check_version(version, migrations::POSTGRES.len())
                .map_err(StoreError::Db)?;
            for (i, sql) in migrations::POSTGRES.iter().enumerate().skip(version) {
                tx.batch_execute(sql).await.map_err(pg)?;
                exec(
                    &tx,
                    "UPDATE schema_version SET version = $1",
                    pg_params![(i + 1) as i32],
                )
                .await?;
            }
            let has_key = exec(&tx, "SELECT 1 FROM meta WHERE key = 'secret_key'", vec![]).await?;
            if has_key.is_empty() {
                let mut key = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut key);
                let tenant = serde_json::to_string(&Tenant::default()).map_err(db)?;
                exec(
                    &tx,
                    "INSERT INTO meta (key, value) VALUES ('secret_key', $1), ('tenant', $2)",
                    pg_params![hex::encode(key), tenant],
                )
                .await?;
            }
            tx.commit().await.map_err(pg)?;
            Ok(())
        })
    }

    /// One change, in one transaction on a pooled connection; the memo version moves on once
    /// it committed (this node's next decision sees it without waiting for the notification).
    fn change<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(
                &'c mut deadpool_postgres::Object,
            ) -> std::pin::Pin<
                Box<dyn std::future::Future<Output = StoreResult<T>> + Send + 'c>,
            > + Send
            + 'static,
    {
        self.change_within(self.bridge.timeout, work)
    }

    /// As `change`, bounded by `timeout` instead of `store.timeout`.
    fn change_within<T, F>(&self, timeout: Duration, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(
                &'c mut deadpool_postgres::Object,
            ) -> std::pin::Pin<
                Box<dyn std::future::Future<Output = StoreResult<T>> + Send + 'c>,
            > + Send
            + 'static,
    {
        let pool = self.bridge.pool.clone();
        let out = self.bridge.run_within(timeout, async move {
            let mut client = pool.get().await.map_err(pool_err)?;
            work(&mut client).await
        });
        self.scopes.changes.bump();
        out
    }

    fn read_memo<T>(
        &self,
        f: impl FnOnce(&Db<'_>, Option<&mut super::read_memo::Memo>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.scopes.read_memo(&self.bridge, f)
    }

    fn read<T>(&self, f: impl FnOnce(&Db<'_>) -> StoreResult<T>) -> StoreResult<T> {
        self.scopes.read(&self.bridge, f)
    }
}

fn read_tenant(conn: &Db<'_>) -> StoreResult<Tenant> {
    let row = conn
        .opt("SELECT value FROM meta WHERE key = 'tenant'".into(), vec![])?
        .ok_or_else(|| StoreError::Db("the store has no tenant row".into()))?;
    serde_json::from_str(&get::<String>(&row, 0)?).map_err(db)
}

impl Store for PostgresStore {
    fn tenant(&self) -> StoreResult<Tenant> {
        self.read_memo(|conn, memo| match memo {
            Some(m) => m.tenant(|| read_tenant(conn)),
            None => read_tenant(conn),
        })
    }

    fn set_tenant(&self, tenant: &Tenant, now: Time) -> StoreResult<()> {
        let tenant = tenant.clone();
        self.change(move |client| {
            Box::pin(async move {
                let tx = client.transaction().await.map_err(pg)?;
                let rows = exec(
                    &tx,
                    "SELECT value FROM meta WHERE key = 'tenant' FOR UPDATE",
                    vec![],
                )
                .await?;
                let old: Tenant = match rows.first() {
                    Some(r) => serde_json::from_str(&get::<String>(r, 0)?).map_err(db)?,
                    None => Tenant::default(),
                };
                if old.object_sync_interval != tenant.object_sync_interval
                    || old.password_hash_sync_interval != tenant.password_hash_sync_interval
                {
                    let any = exec(&tx, "SELECT 1 FROM intervals LIMIT 1", vec![]).await?;
                    let insert =
                        "INSERT INTO intervals (at, object_secs, phs_secs) VALUES ($1, $2, $3)";
                    if any.is_empty() {
                        // The schedule before the first change ran on the old intervals since
                        // forever.
                        exec(
                            &tx,
                            insert,
                            pg_params![
                                i64::MIN,
                                old.object_sync_interval.as_secs() as i64,
                                old.password_hash_sync_interval.as_secs() as i64
                            ],
                        )
                        .await?;
                    }
                    exec(
                        &tx,
                        insert,
                        pg_params![
                            micros(now),
                            tenant.object_sync_interval.as_secs() as i64,
                            tenant.password_hash_sync_interval.as_secs() as i64
                        ],
                    )
                    .await?;
                }
                let json = serde_json::to_string(&tenant).map_err(db)?;
                exec(
                    &tx,
                    "UPDATE meta SET value = $1 WHERE key = 'tenant'",
                    pg_params![json],
                )
                .await?;
                tx.commit().await.map_err(pg)
            })
        })
    }

    fn interval_history(&self) -> StoreResult<Vec<IntervalSegment>> {
        self.read_memo(|conn, memo| {
            let read = || -> StoreResult<Vec<IntervalSegment>> {
                conn.query(
                    "SELECT at, object_secs, phs_secs FROM intervals ORDER BY seq".into(),
                    vec![],
                )?
                .iter()
                .map(|r| {
                    let at: i64 = get(r, 0)?;
                    Ok(IntervalSegment {
                        at: if at == i64::MIN {
                            chrono::DateTime::<Utc>::MIN_UTC
                        } else {
                            from_micros(at)
                        },
                        object_secs: get::<i64>(r, 1)?.max(0) as u64,
                        phs_secs: get::<i64>(r, 2)?.max(0) as u64,
                    })
                })
                .collect()
            };
            match memo {
                Some(m) => m.interval_history(read),
                None => read(),
            }
        })
    }

    fn users(&self) -> StoreResult<Vec<User>> {
        self.read(|conn| {
            to_users(conn.query(
                format!("SELECT {USER_COLS} FROM users WHERE deleted_at IS NULL ORDER BY sam_lc"),
                vec![],
            )?)
        })
    }

    fn users_after(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<User>> {
        let after = after.unwrap_or("").to_string();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|conn| {
            to_users(conn.query(
                format!(
                    "SELECT {USER_COLS} FROM users WHERE deleted_at IS NULL AND sam_lc > $1 \
                     ORDER BY sam_lc LIMIT $2"
                ),
                pg_params![after, limit],
            )?)
        })
    }

    fn users_deleted_since(&self, since: Option<Time>, limit: usize) -> StoreResult<Vec<User>> {
        let since = since.map_or(i64::MIN, micros);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|conn| {
            to_users(conn.query(
                format!(
                    "SELECT {USER_COLS} FROM users WHERE deleted_at IS NOT NULL AND deleted_at >= $1 \
                     ORDER BY deleted_at DESC, id DESC LIMIT $2"
                ),
                pg_params![since, limit],
            )?)
        })
    }

    fn groups(&self, names: Option<&[String]>) -> StoreResult<Vec<(String, Vec<String>)>> {
        if names.is_some_and(|n| n.is_empty()) {
            return Ok(vec![]);
        }
        let (only, params) = match names {
            Some(n) => (" AND m.group_lc = ANY($1)", pg_params![n.to_vec()]),
            None => ("", vec![]),
        };
        let rows = self.read(|conn| {
            conn.query(
                format!(
                    "SELECT m.group_lc, m.group_name, u.sam FROM memberships m \
                     JOIN users u ON u.id = m.user_id WHERE u.deleted_at IS NULL{only} \
                     ORDER BY m.group_lc, u.sam_lc"
                ),
                params,
            )
        })?;
        let mut out: Vec<(String, String, Vec<String>)> = vec![];
        for r in &rows {
            let (lc, name, sam): (String, String, String) = (get(r, 0)?, get(r, 1)?, get(r, 2)?);
            match out.last_mut() {
                Some((last, _, members)) if *last == lc => members.push(sam),
                _ => out.push((lc, name, vec![sam])),
            }
        }
        Ok(out.into_iter().map(|(_, name, m)| (name, m)).collect())
    }

    fn users_named(&self, names: &Candidates) -> StoreResult<Vec<User>> {
        if names.sams.is_empty() && names.upns.is_empty() && names.mails.is_empty() {
            return Ok(vec![]);
        }
        self.read_memo(|conn, memo| {
            let read = || {
                to_users(conn.query(
                    format!(
                        "SELECT {USER_COLS} FROM users WHERE deleted_at IS NULL \
                         AND (sam_lc = ANY($1) OR upn_lc = ANY($2) OR lower(mail) = ANY($3))"
                    ),
                    pg_params![names.sams.clone(), names.upns.clone(), names.mails.clone()],
                )?)
            };
            match memo {
                Some(m) => m.users_named(names, read),
                None => read(),
            }
        })
    }

    fn user_by_sam(&self, sam: &str) -> StoreResult<Option<User>> {
        let sam = sam.to_lowercase();
        self.read(|conn| {
            conn.opt(
                format!("SELECT {USER_COLS} FROM users WHERE sam_lc = $1 AND deleted_at IS NULL"),
                pg_params![sam],
            )?
            .as_ref()
            .map(to_user)
            .transpose()
        })
    }

    fn user_by_id(&self, id: i64) -> StoreResult<Option<User>> {
        self.read_memo(|conn, memo| {
            let read = || {
                conn.opt(
                    format!("SELECT {USER_COLS} FROM users WHERE id = $1"),
                    pg_params![id],
                )?
                .as_ref()
                .map(to_user)
                .transpose()
            };
            match memo {
                Some(m) => m.user_by_id(id, read),
                None => read(),
            }
        })
    }

    fn insert_user(&self, u: &User, now: Time) -> StoreResult<User> {
        let u = u.clone();
        self.change(move |client| {
            Box::pin(async move {
                let tx = client.transaction().await.map_err(pg)?;
                lock_history(&tx).await?;
                let created = insert_user_in(&tx, &u, now).await?;
                tx.commit().await.map_err(pg)?;
                Ok(created)
            })
        })
    }

    fn insert_users(&self, users: &[User], now: Time) -> StoreResult<usize> {
        let users = users.to_vec();
        self.change_within(IMPORT_TIMEOUT, move |client| {
            Box::pin(async move {
                let tx = client.transaction().await.map_err(pg)?;
                lock_history(&tx).await?;
                // Many users in flight at once on the one connection: round trips overlap.
                for batch in users.chunks(IMPORT_IN_FLIGHT) {
                    let mut inserts = Vec::with_capacity(batch.len());
                    for u in batch {
                        inserts.push(insert_user_in(&tx, u, now));
                    }
                    // After the first failure the rest of the batch fails as "transaction
                    // aborted": the failure that explains it (a name clash) is the one to tell.
                    // Returning early drops the transaction, which rolls every row back.
                    let results = futures::future::join_all(inserts).await;
                    if let Some(e) = first_cause(results) {
                        return Err(e);
                    }
                }
                tx.commit().await.map_err(pg)?;
                Ok(users.len())
            })
        })
    }

    fn update_user(&self, u: &User, now: Time) -> StoreResult<()> {
        let u = u.clone();
        self.change(move |client| {
            Box::pin(async move {
                let tx = client.transaction().await.map_err(pg)?;
                lock_history(&tx).await?;
                // created_at ($18) never changes; the rest is set from the model.
                let sets: Vec<String> = USER_SET
                    .split(", ")
                    .enumerate()
                    .filter(|(_, c)| *c != "created_at")
                    .map(|(i, c)| format!("{c} = ${}", i + 1))
                    .collect();
                let sql = format!(
                    "UPDATE users SET {} WHERE id = $22 AND deleted_at IS NULL AND $18::BIGINT IS NOT NULL",
                    sets.join(", ")
                );
                let mut values = user_values(&u);
                values.push(Box::new(u.id));
                let st = tx.prepare_cached(&sql).await.map_err(pg)?;
                let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = values
                    .iter()
                    .map(|p| &**p as &(dyn tokio_postgres::types::ToSql + Sync))
                    .collect();
                let n = match tx.execute(&st, &refs).await {
                    Ok(n) => n,
                    Err(e) if unique_violation(&e) => {
                        return Err(StoreError::Refused(format!(
                            "another user already has UPN {:?}",
                            u.upn
                        )))
                    }
                    Err(e) => return Err(pg(e)),
                };
                if n == 0 {
                    return Err(StoreError::NotFound(format!("no user {:?}", u.sam)));
                }
                set_memberships(&tx, u.id, &u.groups).await?;
                append_snapshot(&tx, u.id, &u.snapshot(), now).await?;
                tx.commit().await.map_err(pg)
            })
        })
    }

    fn delete_user(&self, id: i64, now: Time) -> StoreResult<()> {
        self.change(move |client| {
            Box::pin(async move {
                let tx = client.transaction().await.map_err(pg)?;
                lock_history(&tx).await?;
                let rows = exec(
                    &tx,
                    &format!(
                        "SELECT {USER_COLS} FROM users WHERE id = $1 AND deleted_at IS NULL FOR UPDATE"
                    ),
                    pg_params![id],
                )
                .await?;
                let Some(user) = rows.first().map(to_user).transpose()? else {
                    return Err(StoreError::NotFound(format!("no user with id {id}")));
                };
                // Soft delete: the cloud object lives on until the deletion syncs.
                exec(
                    &tx,
                    "UPDATE users SET deleted_at = $2 WHERE id = $1",
                    pg_params![id, micros(now)],
                )
                .await?;
                exec(&tx, "DELETE FROM ad_lockout WHERE user_id = $1", pg_params![id]).await?;
                exec(&tx, "DELETE FROM memberships WHERE user_id = $1", pg_params![id]).await?;
                let mut tomb = user.snapshot();
                tomb.exists = false;
                append_snapshot(&tx, id, &tomb, now).await?;
                tx.commit().await.map_err(pg)
            })
        })
    }

    fn app_passwords(&self, user_id: i64) -> StoreResult<Vec<AppPassword>> {
        self.read(|conn| {
            conn.query(
                "SELECT user_id, name, created_at, last_used, hash, tag FROM app_passwords \
                 WHERE user_id = $1 ORDER BY created_at, name"
                    .into(),
                pg_params![user_id],
            )?
            .iter()
            .map(|r| {
                Ok(AppPassword {
                    user_id: get(r, 0)?,
                    name: get(r, 1)?,
                    created_at: from_micros(get(r, 2)?),
                    last_used: get::<Option<i64>>(r, 3)?.map(from_micros),
                    hash: get(r, 4)?,
                    tag: get(r, 5)?,
                })
            })
            .collect()
        })
    }

    fn insert_app_password(&self, ap: &AppPassword) -> StoreResult<()> {
        let ap = ap.clone();
        self.change(move |client| {
            Box::pin(async move {
                let tx = client.transaction().await.map_err(pg)?;
                // Two nodes adding the 40th at once take turns.
                let count = lock_user_and_count(&tx, ap.user_id, "app_passwords").await?;
                if count as usize >= MAX_APP_PASSWORDS {
                    return Err(StoreError::Refused(format!(
                        "this user already has {MAX_APP_PASSWORDS} app passwords, the most Entra allows; delete one first"
                    )));
                }
                let st = tx
                    .prepare_cached(
                        "INSERT INTO app_passwords (user_id, name, created_at, last_used, hash, tag) \
                         VALUES ($1, $2, $3, NULL, $4, $5)",
                    )
                    .await
                    .map_err(pg)?;
                let res = tx
                    .execute(
                        &st,
                        &[&ap.user_id, &ap.name, &micros(ap.created_at), &ap.hash, &ap.tag],
                    )
                    .await;
                match res {
                    Err(e) if unique_violation(&e) => {
                        return Err(StoreError::Refused(format!(
                            "this user already has an app password named {:?}",
                            ap.name
                        )))
                    }
                    r => r.map_err(pg)?,
                };
                exec(
                    &tx,
                    "UPDATE users SET ever_had_app_password = TRUE WHERE id = $1",
                    pg_params![ap.user_id],
                )
                .await?;
                tx.commit().await.map_err(pg)
            })
        })
    }

    fn delete_app_password(&self, user_id: i64, name: &str) -> StoreResult<bool> {
        let name = name.to_string();
        self.change(move |client| {
            Box::pin(async move {
                let st = client
                    .prepare_cached("DELETE FROM app_passwords WHERE user_id = $1 AND name = $2")
                    .await
                    .map_err(pg)?;
                Ok(client.execute(&st, &[&user_id, &name]).await.map_err(pg)? > 0)
            })
        })
    }

    fn touch_app_password(&self, user_id: i64, name: &str, now: Time) -> StoreResult<()> {
        let name = name.to_string();
        // A hot-path write (see `postgres_durable`): one pipeline, BEGIN to COMMIT.
        let pool = self.bridge.pool.clone();
        let out = self.bridge.run(async move {
            let client = pool.get().await.map_err(pool_err)?;
            let st = prepared(&client, TOUCH_SQL).await?;
            let params: [&(dyn ToSql + Sync); 3] = [&user_id, &name, &micros(now)];
            InTransaction(Some(client))
                .write_and_commit(true, &st, &params)
                .await
        });
        self.scopes.changes.bump();
        self.hot_write_done(out)
    }

    fn record_manual_sync(&self, now: Time) -> StoreResult<ManualSync> {
        self.change(move |client| {
            Box::pin(async move {
                let tx = client.transaction().await.map_err(pg)?;
                lock_history(&tx).await?;
                let rows = exec(
                    &tx,
                    "INSERT INTO history (at, kind) VALUES ($1, 'sync') RETURNING seq",
                    pg_params![micros(now)],
                )
                .await?;
                let seq: i64 = rows
                    .first()
                    .map(|r| get(r, 0))
                    .transpose()?
                    .ok_or_else(|| db("no sequence number returned"))?;
                tx.commit().await.map_err(pg)?;
                Ok(ManualSync { seq, at: now })
            })
        })
    }

    fn last_manual_sync(&self, at_or_before: Time) -> StoreResult<Option<ManualSync>> {
        let read = |conn: &Db<'_>, t: i64| -> StoreResult<Option<ManualSync>> {
            conn.opt(
                "SELECT seq, at FROM history WHERE kind = 'sync' AND at <= $1 ORDER BY seq DESC LIMIT 1"
                    .into(),
                pg_params![t],
            )?
            .map(|r| {
                Ok(ManualSync {
                    seq: get(&r, 0)?,
                    at: from_micros(get(&r, 1)?),
                })
            })
            .transpose()
        };
        let t = micros(at_or_before);
        self.read_memo(|conn, memo| match memo {
            Some(m) => m.last_manual_sync(at_or_before, || read(conn, i64::MAX), || read(conn, t)),
            None => read(conn, t),
        })
    }

    fn manual_syncs(&self) -> StoreResult<Vec<ManualSync>> {
        self.read(|conn| {
            conn.query(
                "SELECT seq, at FROM history WHERE kind = 'sync' ORDER BY seq".into(),
                vec![],
            )?
            .iter()
            .map(|r| {
                Ok(ManualSync {
                    seq: get(r, 0)?,
                    at: from_micros(get(r, 1)?),
                })
            })
            .collect()
        })
    }

    fn user_history(&self, user_id: i64) -> StoreResult<Vec<(i64, Time, SyncedSnapshot)>> {
        self.read(|conn| {
            conn.query(
                "SELECT seq, at, snapshot FROM history WHERE kind = 'user' AND user_id = $1 ORDER BY seq"
                    .into(),
                pg_params![user_id],
            )?
            .iter()
            .map(|r| {
                let json: String = get(r, 2)?;
                Ok((
                    get(r, 0)?,
                    from_micros(get(r, 1)?),
                    serde_json::from_str(&json).map_err(db)?,
                ))
            })
            .collect()
        })
    }

    fn cloud_users_named(&self, cutoff: Cutoff, names: &Candidates) -> StoreResult<Vec<CloudUser>> {
        if names.sams.is_empty() && names.upns.is_empty() && names.mails.is_empty() {
            return Ok(vec![]);
        }
        let (t, s) = cutoff_params(cutoff);
        self.read_memo(|conn, memo| {
            let read = || -> StoreResult<Vec<CloudUser>> {
                conn.query(
                    "SELECT h.user_id, h.snapshot, h.at FROM history h JOIN \
                     (SELECT user_id, MAX(seq) AS m FROM history WHERE kind = 'user' AND (at < $1 OR seq < $2) \
                      AND user_id IN (SELECT user_id FROM history WHERE kind = 'user' \
                          AND (at < $1 OR seq < $2) \
                          AND (sam_lc = ANY($3) OR upn_lc = ANY($4) OR mail_lc = ANY($5))) \
                      GROUP BY user_id) x ON h.seq = x.m"
                        .into(),
                    pg_params![
                        t,
                        s,
                        names.sams.clone(),
                        names.upns.clone(),
                        names.mails.clone()
                    ],
                )?
                .iter()
                .map(to_cloud)
                .collect()
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
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|conn| {
            // Every account keeps its users row (deletion is soft): walking users by id and
            // taking each one's newest snapshot before the cutoff visits every cloud object.
            conn.query(
                "SELECT h.user_id, h.snapshot, h.at FROM users u JOIN history h ON h.seq = \
                 (SELECT MAX(seq) FROM history WHERE kind = 'user' AND user_id = u.id \
                  AND (at < $1 OR seq < $2)) \
                 WHERE u.id > $3 AND (h.snapshot::jsonb ->> 'exists')::boolean \
                 ORDER BY u.id LIMIT $4"
                    .into(),
                pg_params![t, s, after_id, limit],
            )?
            .iter()
            .map(to_cloud)
            .collect()
        })
    }

    fn cloud_snapshot(&self, user_id: i64, cutoff: Cutoff) -> StoreResult<Option<CloudUser>> {
        let (t, s) = cutoff_params(cutoff);
        self.read_memo(|conn, memo| {
            let read = || {
                conn.opt(
                    "SELECT user_id, snapshot, at FROM history WHERE kind = 'user' AND user_id = $1 \
                     AND (at < $2 OR seq < $3) ORDER BY seq DESC LIMIT 1"
                        .into(),
                    pg_params![user_id, t, s],
                )?
                .as_ref()
                .map(to_cloud)
                .transpose()
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
        self.read(|conn| {
            let row = conn.opt(
                "SELECT MAX(at) FROM (SELECT MAX(at) AS at FROM history \
                 UNION ALL SELECT MAX(at) FROM intervals WHERE at > $1) x"
                    .into(),
                pg_params![i64::MIN],
            )?;
            Ok(row
                .map(|r| get::<Option<i64>>(&r, 0))
                .transpose()?
                .flatten()
                .map(from_micros))
        })
    }

    fn simulated_time(&self) -> StoreResult<Option<Time>> {
        self.read_memo(|conn, memo| {
            let read = || -> StoreResult<Option<Time>> {
                let row = conn.opt(
                    "SELECT value FROM meta WHERE key = 'simulated_time'".into(),
                    vec![],
                )?;
                Ok(row
                    .map(|r| get::<String>(&r, 0))
                    .transpose()?
                    .and_then(|s| s.parse::<i64>().ok())
                    .map(from_micros))
            };
            match memo {
                Some(m) => m.simulated_time(read),
                None => read(),
            }
        })
    }

    fn set_simulated_time(&self, t: Time) -> StoreResult<()> {
        let v = micros(t).to_string();
        self.change(move |client| {
            Box::pin(async move {
                let st = client
                    .prepare_cached(
                        "INSERT INTO meta (key, value) VALUES ('simulated_time', $1) \
                         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    )
                    .await
                    .map_err(pg)?;
                client.execute(&st, &[&v]).await.map_err(pg)?;
                Ok(())
            })
        })
    }

    fn compare_and_set_simulated_time(
        &self,
        expected: Option<Time>,
        new: Time,
    ) -> StoreResult<bool> {
        let new = micros(new).to_string();
        let expected = expected.map(|t| micros(t).to_string());
        self.change(move |client| {
            Box::pin(async move {
                let n = match &expected {
                    None => {
                        let st = client
                            .prepare_cached(
                                "INSERT INTO meta (key, value) VALUES ('simulated_time', $1) \
                                 ON CONFLICT (key) DO NOTHING",
                            )
                            .await
                            .map_err(pg)?;
                        client.execute(&st, &[&new]).await.map_err(pg)?
                    }
                    Some(old) => {
                        let st = client
                            .prepare_cached(
                                "UPDATE meta SET value = $1 WHERE key = 'simulated_time' AND value = $2",
                            )
                            .await
                            .map_err(pg)?;
                        client.execute(&st, &[&new, old]).await.map_err(pg)?
                    }
                };
                Ok(n == 1)
            })
        })
    }

    fn probe_writable(&self, now: Time) -> StoreResult<()> {
        let node = self.node.clone();
        // The heartbeat table has no change trigger: a probe leaves every node's memo alone.
        let pool = self.bridge.pool.clone();
        self.bridge.run(async move {
            let client = pool.get().await.map_err(pool_err)?;
            let st = client
                .prepare_cached(
                    "INSERT INTO health (node, at) VALUES ($1, $2) \
                     ON CONFLICT (node) DO UPDATE SET at = excluded.at",
                )
                .await
                .map_err(pg)?;
            client
                .execute(&st, &[&node, &micros(now)])
                .await
                .map_err(pg)?;
            Ok(())
        })
    }

    fn read_scope(&self, f: &mut dyn FnMut()) -> StoreResult<()> {
        self.scopes.scope(&self.bridge, None, f)
    }

    fn unflushed(&self) -> bool {
        self.durable.unflushed()
    }

    fn flush_durable(&self) -> StoreResult<()> {
        self.durable.flush(|| {
            let pool = self.bridge.pool.clone();
            let row = format!("{}/durable", self.node);
            let at = Utc::now().timestamp_micros();
            self.bridge.run(async move {
                let client = pool.get().await.map_err(pool_err)?;
                let st = prepared(&client, FLUSH_SQL).await?;
                client
                    .execute(&st, &[&row, &at])
                    .await
                    .map_err(pg)
                    .map(drop)
            })
        })
    }

    fn catch_up(&self) -> futures::future::BoxFuture<'static, CaughtUp> {
        let changes = Arc::clone(&self.scopes.changes);
        Box::pin(async move { CaughtUp(changes.caught_up().await) })
    }

    fn read_scope_caught_up(&self, caught_up: CaughtUp, f: &mut dyn FnMut()) -> StoreResult<()> {
        self.scopes.scope(&self.bridge, Some(caught_up.0), f)
    }

    fn ad_lockout(&self, user_id: i64) -> StoreResult<AdLockout> {
        self.read_memo(|conn, memo| {
            let read =
                || read_ad_lockout_row(&conn.query(AD_LOCKOUT_SQL.into(), pg_params![user_id])?);
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
        self.modify_locked(
            user_id,
            Locked {
                ensure: "INSERT INTO ad_lockout (user_id, bad_count) VALUES ($1, 0) ON CONFLICT DO NOTHING",
                read: "SELECT bad_count, last_bad_at, locked_at FROM ad_lockout WHERE user_id = $1 FOR UPDATE",
                write: "UPDATE ad_lockout SET bad_count = $2, last_bad_at = $3, locked_at = $4 WHERE user_id = $1",
                fresh: Ok(vec![]),
                decode: read_ad_lockout_row,
                encode: |s: &AdLockout| {
                    Ok(pg_params![
                        s.bad_count.min(i32::MAX as u32) as i32,
                        s.last_bad_at.map(micros),
                        s.locked_at.map(micros)
                    ])
                },
            },
            f,
        )
    }

    fn smart_lockout(&self, user_id: i64) -> StoreResult<SmartLockout> {
        self.read_memo(|conn, memo| {
            let read = || {
                read_smart_lockout_row(&conn.query(SMART_LOCKOUT_SQL.into(), pg_params![user_id])?)
            };
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
        self.modify_locked(
            user_id,
            Locked {
                ensure: "INSERT INTO smart_lockout (user_id, state) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                read: "SELECT state FROM smart_lockout WHERE user_id = $1 FOR UPDATE",
                write: "UPDATE smart_lockout SET state = $2 WHERE user_id = $1",
                fresh: serde_json::to_string(&SmartLockout::default())
                    .map(|j| pg_params![j])
                    .map_err(db),
                decode: read_smart_lockout_row,
                encode: |s: &SmartLockout| Ok(pg_params![serde_json::to_string(s).map_err(db)?]),
            },
            f,
        )
    }

    fn secret_key(&self) -> StoreResult<[u8; 32]> {
        self.read(|conn| {
            let row = conn
                .opt(
                    "SELECT value FROM meta WHERE key = 'secret_key'".into(),
                    vec![],
                )?
                .ok_or_else(|| db("the store has no secret key"))?;
            let bytes = hex::decode(get::<String>(&row, 0)?).map_err(db)?;
            bytes
                .try_into()
                .map_err(|_| StoreError::Db("secret key has the wrong length".into()))
        })
    }

    fn mfa_methods(&self, user_id: i64) -> StoreResult<Vec<MfaMethod>> {
        self.read(|conn| {
            conn.query(
                "SELECT user_id, kind, secret, is_default, created_at FROM mfa_methods \
                 WHERE user_id = $1 ORDER BY created_at, kind"
                    .into(),
                pg_params![user_id],
            )?
            .iter()
            .map(|r| {
                let kind: String = get(r, 1)?;
                Ok(MfaMethod {
                    user_id: get(r, 0)?,
                    kind: MfaKind::parse(&kind)
                        .ok_or_else(|| db(format!("unknown MFA method {kind:?}")))?,
                    secret: get::<Option<String>>(r, 2)?
                        .map(|h| hex::decode(h).map_err(db))
                        .transpose()?,
                    default: get(r, 3)?,
                    created_at: from_micros(get(r, 4)?),
                })
            })
            .collect()
        })
    }

    fn add_mfa_method(&self, m: &MfaMethod) -> StoreResult<()> {
        let m = m.clone();
        self.change(move |client| {
            Box::pin(async move {
                let tx = client.transaction().await.map_err(pg)?;
                // Two nodes registering at once take turns.
                let count = lock_user_and_count(&tx, m.user_id, "mfa_methods").await?;
                let default = m.default || count == 0;
                if default {
                    exec(
                        &tx,
                        "UPDATE mfa_methods SET is_default = FALSE WHERE user_id = $1",
                        pg_params![m.user_id],
                    )
                    .await?;
                }
                let st = tx
                    .prepare_cached(
                        "INSERT INTO mfa_methods (user_id, kind, secret, is_default, created_at) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .await
                    .map_err(pg)?;
                let secret = m.secret.as_ref().map(hex::encode);
                let res = tx
                    .execute(
                        &st,
                        &[
                            &m.user_id,
                            &m.kind.as_str(),
                            &secret,
                            &default,
                            &micros(m.created_at),
                        ],
                    )
                    .await;
                match res {
                    Err(e) if unique_violation(&e) => {
                        return Err(StoreError::Refused(format!(
                            "the user already has a {} method; remove it first",
                            m.kind.as_str()
                        )))
                    }
                    r => r.map_err(pg)?,
                };
                tx.commit().await.map_err(pg)
            })
        })
    }

    fn remove_mfa_method(&self, user_id: i64, kind: MfaKind) -> StoreResult<bool> {
        self.change(move |client| {
            Box::pin(async move {
                let tx = client.transaction().await.map_err(pg)?;
                let gone = exec(
                    &tx,
                    "DELETE FROM mfa_methods WHERE user_id = $1 AND kind = $2 RETURNING kind",
                    pg_params![user_id, kind.as_str().to_string()],
                )
                .await?;
                exec(
                    &tx,
                    "UPDATE mfa_methods SET is_default = TRUE WHERE user_id = $1 AND kind = \
                     (SELECT kind FROM mfa_methods WHERE user_id = $1 ORDER BY created_at, kind LIMIT 1) \
                     AND NOT EXISTS (SELECT 1 FROM mfa_methods WHERE user_id = $1 AND is_default)",
                    pg_params![user_id],
                )
                .await?;
                tx.commit().await.map_err(pg)?;
                Ok(!gone.is_empty())
            })
        })
    }

    fn use_totp_step(&self, user_id: i64, step: i64) -> StoreResult<bool> {
        self.change(move |client| {
            Box::pin(async move {
                let st = client
                    .prepare_cached(
                        "UPDATE mfa_methods SET last_step = $2 WHERE user_id = $1 AND kind = 'totp' \
                         AND (last_step IS NULL OR last_step < $2)",
                    )
                    .await
                    .map_err(pg)?;
                Ok(client.execute(&st, &[&user_id, &step]).await.map_err(pg)? == 1)
            })
        })
    }

    fn open_push(&self, user_id: i64, at: Time) -> StoreResult<i64> {
        self.change(move |client| {
            Box::pin(async move {
                let st = client
                    .prepare_cached(
                        "INSERT INTO mfa_pushes (user_id, opened_at) VALUES ($1, $2) RETURNING id",
                    )
                    .await
                    .map_err(pg)?;
                let row = client
                    .query_one(&st, &[&user_id, &micros(at)])
                    .await
                    .map_err(pg)?;
                get(&row, 0)
            })
        })
    }

    fn push_answer(&self, id: i64) -> StoreResult<Option<PushAnswer>> {
        self.read(|conn| {
            let row = conn.opt(
                "SELECT answer FROM mfa_pushes WHERE id = $1".into(),
                pg_params![id],
            )?;
            Ok(row
                .map(|r| get::<Option<String>>(&r, 0))
                .transpose()?
                .flatten()
                .as_deref()
                .and_then(PushAnswer::parse))
        })
    }

    fn answer_push(&self, user_id: i64, answer: PushAnswer, at: Time) -> StoreResult<Option<i64>> {
        self.change(move |client| {
            Box::pin(async move {
                let st = client
                    .prepare_cached(
                        "UPDATE mfa_pushes SET answer = $2, answered_at = $3 WHERE id = \
                         (SELECT id FROM mfa_pushes WHERE user_id = $1 AND answer IS NULL \
                          ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id",
                    )
                    .await
                    .map_err(pg)?;
                let rows = client
                    .query(&st, &[&user_id, &answer.as_str(), &micros(at)])
                    .await
                    .map_err(pg)?;
                rows.first().map(|r| get(r, 0)).transpose()
            })
        })
    }

    fn expire_push(&self, id: i64, at: Time) -> StoreResult<PushAnswer> {
        self.change(move |client| {
            Box::pin(async move {
                let st = client
                    .prepare_cached(
                        "UPDATE mfa_pushes SET answer = COALESCE(answer, 'expired'), \
                         answered_at = COALESCE(answered_at, $2) WHERE id = $1 RETURNING answer",
                    )
                    .await
                    .map_err(pg)?;
                let rows = client.query(&st, &[&id, &micros(at)]).await.map_err(pg)?;
                let answer: Option<String> = rows.first().map(|r| get(r, 0)).transpose()?;
                Ok(answer
                    .as_deref()
                    .and_then(PushAnswer::parse)
                    .unwrap_or(PushAnswer::Expired))
            })
        })
    }

    fn pending_pushes(&self, since: Time) -> StoreResult<Vec<PendingPush>> {
        self.read(|conn| {
            conn.query(
                "SELECT id, user_id, opened_at FROM mfa_pushes WHERE answer IS NULL \
                 AND opened_at >= $1 ORDER BY id"
                    .into(),
                pg_params![micros(since)],
            )?
            .iter()
            .map(|r| {
                Ok(PendingPush {
                    id: get(r, 0)?,
                    user_id: get(r, 1)?,
                    opened_at: from_micros(get(r, 2)?),
                })
            })
            .collect()
        })
    }
}
