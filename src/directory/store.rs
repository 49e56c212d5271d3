//! The store behind the directory: a small trait with two backends — the embedded SQLite file
//! (`sqlite.rs`) and a PostgreSQL database shared by several nodes (`postgres.rs`) — so that
//! neither the verifier nor the CLI knows which one it talks to (`backend.rs` opens the one
//! the configuration names).
//!
//! All methods are blocking; async callers reach them through `spawn_blocking` (the verifier
//! does this for every decision), never from the reactor.

use serde::{Deserialize, Serialize};

use super::mfa::{MfaKind, MfaMethod, PendingPush, PushAnswer};
use super::model::{AppPassword, SyncedSnapshot, Time, User};
use super::names::Candidates;
use super::tenant::Tenant;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store error: {0}")]
    Db(String),
    /// A change the directory refuses (the message is for the operator).
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    NotFound(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Which on-prem history a sync cycle has carried: the events strictly before a periodic
/// cycle's instant, and the events before a manual `sync now` (by sequence, so a change and a
/// `sync now` at the same simulated instant are still ordered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cutoff {
    pub before_time: Option<Time>,
    pub before_seq: Option<i64>,
}

/// One change of the sync intervals, in force from `at` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntervalSegment {
    pub at: Time,
    pub object_secs: u64,
    pub phs_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManualSync {
    pub seq: i64,
    pub at: Time,
}

/// A user as the cloud copy holds it at some cutoff.
#[derive(Debug, Clone)]
pub struct CloudUser {
    pub user_id: i64,
    pub snapshot: SyncedSnapshot,
    pub synced_change_at: Time,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdLockout {
    pub bad_count: u32,
    pub last_bad_at: Option<Time>,
    pub locked_at: Option<Time>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmartLockout {
    pub failures: u32,
    pub lockouts: u32,
    pub locked_until: Option<Time>,
}

/// What `Store::catch_up` proved, for `Store::read_scope_caught_up`; opaque to callers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaughtUp(pub(super) Option<u64>);

/// The store contract. Every backend (the embedded SQLite file, a PostgreSQL database shared by
/// several hybridauth nodes) must keep these rules; `tests/store_contract.rs` checks them
/// against every backend through `dyn Store`, with two handles on one store.
///
/// - **Blocking.** Every method may block on I/O; async callers use a blocking thread.
/// - **Shared.** Several processes may use one store at once (the daemon and the CLI; several
///   nodes). A method's change is visible to every other handle as soon as it returns —
///   including to the next read scope of a handle that remembers earlier answers: a backend
///   may keep answers across calls only with a proof, taken at the start of each scope, that
///   nothing changed since (SQLite: `data_version`; PostgreSQL: change notifications and one
///   listener round trip, see `postgres_scope`).
/// - **Per process by design.** Not in the store, so not shared between nodes: smart lockout's
///   memory of recent wrong passwords (`verify::recent_bad`: a NAS that fails over may count
///   one repeated wrong password twice, once per node), EAP conversations and RADIUS
///   duplicate detection (a NAS that fails over in the middle of a conversation starts it
///   again with the other node, as with FreeRADIUS), and the verified-secret cache (keyed by
///   the stored hash, so a change made anywhere is obeyed at the next read).
/// - **Durable.** A change is durable when the method returns, except the hot-path writes
///   (`modify_ad_lockout`, `modify_smart_lockout`, `touch_app_password`), which are durable once
///   `flush_durable` returns (see there).
/// - **Atomic.** Each method is one transaction: a failure changes nothing.
/// - **Names.** sAMAccountName, UPN and mail compare case-insensitively (lookups take
///   lower-case names). Among live users, sAMAccountNames and UPNs are unique.
/// - **Ids.** User ids are positive and never reused, even after deletion. Id 0 (the
///   verifier's `NOBODY`) names no user: lockout reads and writes on it behave as on any id
///   with no row (an unknown user's decision costs the same store work as a known one's).
/// - **History.** Every change to a user's synced fields appends one snapshot to the on-prem
///   history (none when nothing synced changed), stamped with the change's time and a sequence
///   number that grows with every history entry, manual syncs included. Deletion appends a
///   tombstone (`exists = false`); the deleted user's row stays, hidden from on-prem lookups.
/// - **Cycle boundary.** The cloud copy at a [`Cutoff`] holds, per user, the newest snapshot
///   with `at < before_time` (strictly: a change at the very instant of a periodic cycle
///   misses it) **or** `seq < before_seq` (a manual `sync now` carries every change recorded
///   before it, even at the same simulated instant). A `None` bound admits nothing.
/// - **Errors.** [`StoreError`] names no backend: `Db` is a failure of the store itself,
///   `Refused` a change the directory's rules forbid, `NotFound` a missing object.
pub trait Store: Send + Sync {
    /// The tenant's settings (a default tenant in a new store).
    fn tenant(&self) -> StoreResult<Tenant>;
    /// Saves the tenant; a change of a sync interval is recorded as a new schedule segment.
    fn set_tenant(&self, tenant: &Tenant, now: Time) -> StoreResult<()>;
    /// The sync-interval schedule, oldest segment first; empty while never changed (the
    /// tenant's intervals then hold since forever). The first recorded segment starts at
    /// `DateTime::MIN_UTC`.
    fn interval_history(&self) -> StoreResult<Vec<IntervalSegment>>;

    /// Every live (not deleted) user, by lower-case sAMAccountName.
    fn users(&self) -> StoreResult<Vec<User>>;
    /// Up to `limit` live users whose lower-case sAMAccountName sorts after `after` (from the
    /// first when `None`), in that order: a directory read in pages, each costing
    /// O(log users + limit), never the whole table at once.
    fn users_after(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<User>>;
    /// Up to `limit` users deleted at or after `since` (every deleted one when `None`), the
    /// most recently deleted first: those the cloud may still hold until object sync carries
    /// the deletion. Indexed: the cost does not grow with the number of live users.
    fn users_deleted_since(&self, since: Option<Time>, limit: usize) -> StoreResult<Vec<User>>;
    /// The groups some live user is a member of (all, or those with these lower-case
    /// names), each with its members' sAMAccountNames, by lower-case group name. Groups exist
    /// through their members, as users' memberOf names them; a named lookup is indexed.
    fn groups(&self, names: Option<&[String]>) -> StoreResult<Vec<(String, Vec<String>)>>;
    /// The live users answering to any of these lower-case sAMAccountNames, UPNs or mails,
    /// in no particular order (indexed: the cost does not grow with the number of users).
    fn users_named(&self, names: &Candidates) -> StoreResult<Vec<User>>;
    /// The live user with this sAMAccountName (any case).
    fn user_by_sam(&self, sam: &str) -> StoreResult<Option<User>>;
    /// The user with this id, deleted or not (the cloud keeps deleted objects until a sync).
    fn user_by_id(&self, id: i64) -> StoreResult<Option<User>>;
    /// Inserts a new user (its `id` is ignored and assigned) and records its snapshot.
    /// `Refused` when a live user has the sAMAccountName or UPN.
    fn insert_user(&self, user: &User, now: Time) -> StoreResult<User>;
    /// Inserts many users, all or none (one transaction): an import. Each enters the history
    /// as `insert_user` would. `Refused` (and nothing inserted) on the first name clash.
    fn insert_users(&self, users: &[User], now: Time) -> StoreResult<usize>;
    /// Saves the live user and, when the synced fields changed, a new history snapshot.
    /// `Refused` on a UPN clash, `NotFound` for a deleted or unknown user.
    fn update_user(&self, user: &User, now: Time) -> StoreResult<()>;
    /// Soft-deletes: hides the user from on-prem lookups, clears its AD lockout, appends a
    /// tombstone. `NotFound` when not live.
    fn delete_user(&self, id: i64, now: Time) -> StoreResult<()>;

    /// A user's app passwords, oldest first (then by name).
    fn app_passwords(&self, user_id: i64) -> StoreResult<Vec<AppPassword>>;
    /// Refuses a duplicate name and the 41st password inside one transaction (two nodes adding
    /// the 40th at once: one is refused).
    fn insert_app_password(&self, ap: &AppPassword) -> StoreResult<()>;
    /// Whether a password of that name existed (and is now gone).
    fn delete_app_password(&self, user_id: i64, name: &str) -> StoreResult<bool>;
    /// Sets an app password's last-used time (a hot-path write; nothing if it is gone).
    fn touch_app_password(&self, user_id: i64, name: &str, now: Time) -> StoreResult<()>;

    /// Records a manual `sync now` at `now`; its `seq` orders it among history entries.
    fn record_manual_sync(&self, now: Time) -> StoreResult<ManualSync>;
    /// The newest manual sync at or before `at_or_before` (by sequence).
    fn last_manual_sync(&self, at_or_before: Time) -> StoreResult<Option<ManualSync>>;
    /// Every manual sync, oldest first (for timelines).
    fn manual_syncs(&self) -> StoreResult<Vec<ManualSync>>;
    /// Every recorded state of a user's synced fields, oldest first: (sequence, time, state).
    /// One entry per on-prem change; what the cloud sees at T is the latest entry a cycle
    /// before T carried (see `sync`).
    fn user_history(&self, user_id: i64) -> StoreResult<Vec<(i64, Time, SyncedSnapshot)>>;
    /// The cloud copy, at the cutoff, of every user that answered to one of these names at
    /// some point before it (the caller resolves among them).
    fn cloud_users_named(&self, cutoff: Cutoff, names: &Candidates) -> StoreResult<Vec<CloudUser>>;
    /// Up to `limit` cloud copies at the cutoff that exist there (not tombstones), by user id
    /// after `after_id`: the cloud directory read in pages, each costing
    /// O(limit × log history).
    fn cloud_users_after(
        &self,
        cutoff: Cutoff,
        after_id: i64,
        limit: usize,
    ) -> StoreResult<Vec<CloudUser>>;
    /// One user's cloud copy at the cutoff; `None` before its first snapshot crossed it.
    fn cloud_snapshot(&self, user_id: i64, cutoff: Cutoff) -> StoreResult<Option<CloudUser>>;
    /// The newest on-prem snapshot of a user (a tombstone after deletion).
    fn latest_snapshot(&self, user_id: i64) -> StoreResult<Option<CloudUser>>;

    /// The time of the newest recorded on-prem change, sync or schedule change.
    fn latest_event_time(&self) -> StoreResult<Option<Time>>;
    /// The simulated clock's time, when it was ever set.
    fn simulated_time(&self) -> StoreResult<Option<Time>>;
    fn set_simulated_time(&self, t: Time) -> StoreResult<()>;
    /// Sets the simulated clock to `new` only if it still reads `expected` (`None`: never
    /// set), atomically across every handle and node; whether it did. Moving the clock
    /// relative to itself (`clock advance`, the first start) goes through this, so two nodes
    /// or commands moving it at once never lose a step or pick two start times.
    fn compare_and_set_simulated_time(
        &self,
        expected: Option<Time>,
        new: Time,
    ) -> StoreResult<bool>;
    /// Health check (`/healthz`): commits one small write that no decision reads (a heartbeat
    /// at `now`), so a read-only file, a full disk or a lock held too long shows as an error.
    /// It takes the administrative writer, never the hot path's.
    fn probe_writable(&self, now: Time) -> StoreResult<()>;

    /// Runs `f` with every read this thread makes through the store seeing one state of it
    /// (one read transaction: SQLite's read lock, PostgreSQL's `REPEATABLE READ` snapshot), as
    /// one decision should. Writes inside `f` commit at once but reads inside `f` do not see
    /// them. Keep `f` short and free of slow work (no hashing): an open read holds back the
    /// reclaiming of old versions. Reads inside a scope may be answered from memory when the
    /// implementation can prove the store has not changed since they were made (`read_memo`;
    /// SQLite by `PRAGMA data_version`, PostgreSQL by change notifications). On PostgreSQL,
    /// reads the memory answers are of the state at the scope's start, and the first read it
    /// cannot answer begins the snapshot the scope's other reads share.
    fn read_scope(&self, f: &mut dyn FnMut()) -> StoreResult<()> {
        f();
        Ok(())
    }

    /// The proof a read scope needs before it may answer from memory (see `read_scope`), taken
    /// ahead by an async caller so that no thread waits for it: the future ends once every
    /// change committed (through any handle or node) before the call is visible to a scope
    /// begun after it, and its answer goes to `read_scope_caught_up`. A backend whose proof
    /// costs nothing (SQLite's `data_version`) answers at once. PostgreSQL waits for one round
    /// trip on its listening connection, shared by every caller waiting at the time — a wait of
    /// the network's latency that, inside a scope, would hold a thread for as long.
    fn catch_up(&self) -> futures::future::BoxFuture<'static, CaughtUp> {
        Box::pin(std::future::ready(CaughtUp::default()))
    }

    /// `read_scope` with the proof `catch_up` took before it: the scope itself waits for
    /// nothing. A proof that failed (the database away) makes the scope trust no memory.
    fn read_scope_caught_up(&self, caught_up: CaughtUp, f: &mut dyn FnMut()) -> StoreResult<()> {
        let _ = caught_up;
        self.read_scope(f)
    }

    /// The hot path's writes — `modify_ad_lockout`, `modify_smart_lockout` and
    /// `touch_app_password`, one per decision — are committed (visible to every reader at once)
    /// but may reach the disk only by `flush_durable`, which a caller runs before it
    /// acknowledges them, outside its locks and hashing slot, so that one fsync serves many
    /// decisions. SQLite: one fsync of the WAL. PostgreSQL: the hot-path writes commit with
    /// `synchronous_commit = off`, and the flush is one small synchronous commit whose WAL
    /// record follows theirs (`postgres_durable`).
    fn flush_durable(&self) -> StoreResult<()> {
        Ok(())
    }

    /// Whether hot-path writes are committed but not yet made durable (cheap; lets a caller
    /// skip the trip to a blocking thread when there is nothing to flush).
    fn unflushed(&self) -> bool {
        false
    }

    /// A user's AD lockout state (the default when none was recorded).
    fn ad_lockout(&self, user_id: i64) -> StoreResult<AdLockout>;
    /// Reads, changes with `f` and writes a user's AD lockout state atomically: concurrent
    /// calls (from any process) never lose a count. Returns the state written.
    fn modify_ad_lockout(
        &self,
        user_id: i64,
        f: &mut dyn FnMut(&mut AdLockout),
    ) -> StoreResult<AdLockout>;
    /// A user's Entra smart-lockout state (the default when none was recorded).
    fn smart_lockout(&self, user_id: i64) -> StoreResult<SmartLockout>;
    /// As `modify_ad_lockout`, for smart lockout.
    fn modify_smart_lockout(
        &self,
        user_id: i64,
        f: &mut dyn FnMut(&mut SmartLockout),
    ) -> StoreResult<SmartLockout>;

    /// A random key generated with the store, used for keyed tags of secrets; the same for
    /// every handle on the store, for its whole life.
    fn secret_key(&self) -> StoreResult<[u8; 32]>;

    /// A user's MFA methods (the cloud's registration), oldest first.
    fn mfa_methods(&self, user_id: i64) -> StoreResult<Vec<MfaMethod>>;
    /// Registers a method; `Refused` when the user has one of that kind. A user's first method
    /// is the default; `method.default` makes this one the default instead.
    fn add_mfa_method(&self, method: &MfaMethod) -> StoreResult<()>;
    /// Removes a method; whether there was one. When the default goes, the oldest left is the
    /// default.
    fn remove_mfa_method(&self, user_id: i64, kind: MfaKind) -> StoreResult<bool>;
    /// Records a TOTP time step as used, atomically across handles: `false` when that step or
    /// a later one was used already (a code is good once; an older one never after a newer).
    fn use_totp_step(&self, user_id: i64, step: i64) -> StoreResult<bool>;
    /// Opens a push notification to the user's phone; its id.
    fn open_push(&self, user_id: i64, at: Time) -> StoreResult<i64>;
    /// A push's answer; `None` while it waits.
    fn push_answer(&self, id: i64) -> StoreResult<Option<PushAnswer>>;
    /// Answers the user's oldest waiting push, as the phone does (`Expired` closes a push the
    /// waiting node gave up on, by its id: see `expire_push`); its id, `None` when none waits.
    fn answer_push(&self, user_id: i64, answer: PushAnswer, at: Time) -> StoreResult<Option<i64>>;
    /// Closes a push nobody answered in time, unless an answer came first; the answer in force.
    fn expire_push(&self, id: i64, at: Time) -> StoreResult<PushAnswer>;
    /// Pushes still waiting, oldest first (opened at or after `since`).
    fn pending_pushes(&self, since: Time) -> StoreResult<Vec<PendingPush>>;
}
