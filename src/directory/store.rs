//! The store behind the directory: a small trait so that the embedded SQLite file can later be
//! replaced by a server database without touching the verifier or the CLI.
//!
//! All methods are blocking; async callers reach them through `spawn_blocking` (the verifier
//! does this for every decision), never from the reactor.

use serde::{Deserialize, Serialize};

use super::model::{AppPassword, SyncedSnapshot, Time, User};
use super::tenant::Tenant;
use super::Candidates;

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

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Db(e.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Which on-prem history a sync cycle has carried: the events strictly before a periodic
/// cycle's instant, and the events before a manual `sync now` (by sequence, so a change and a
/// `sync now` at the same simulated instant are still ordered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

pub trait Store: Send + Sync {
    fn tenant(&self) -> StoreResult<Tenant>;
    /// Saves the tenant; a change of a sync interval is recorded as a new schedule segment.
    fn set_tenant(&self, tenant: &Tenant, now: Time) -> StoreResult<()>;
    fn interval_history(&self) -> StoreResult<Vec<IntervalSegment>>;

    fn users(&self) -> StoreResult<Vec<User>>;
    /// The live users answering to any of these lower-case sAMAccountNames, UPNs or mails
    /// (indexed: the cost does not grow with the number of users).
    fn users_named(&self, names: &Candidates) -> StoreResult<Vec<User>>;
    fn user_by_sam(&self, sam: &str) -> StoreResult<Option<User>>;
    fn user_by_id(&self, id: i64) -> StoreResult<Option<User>>;
    /// Inserts a new user (its `id` is ignored and assigned) and records its snapshot.
    fn insert_user(&self, user: &User, now: Time) -> StoreResult<User>;
    /// Saves the live user and, when the synced fields changed, a new history snapshot.
    fn update_user(&self, user: &User, now: Time) -> StoreResult<()>;
    fn delete_user(&self, id: i64, now: Time) -> StoreResult<()>;

    fn app_passwords(&self, user_id: i64) -> StoreResult<Vec<AppPassword>>;
    /// Refuses a duplicate name and the 41st password inside one transaction.
    fn insert_app_password(&self, ap: &AppPassword) -> StoreResult<()>;
    fn delete_app_password(&self, user_id: i64, name: &str) -> StoreResult<bool>;
    fn touch_app_password(&self, user_id: i64, name: &str, now: Time) -> StoreResult<()>;

    fn record_manual_sync(&self, now: Time) -> StoreResult<ManualSync>;
    fn last_manual_sync(&self, at_or_before: Time) -> StoreResult<Option<ManualSync>>;
    /// The cloud copy, at the cutoff, of every user that answered to one of these names at
    /// some point before it (the caller resolves among them).
    fn cloud_users_named(&self, cutoff: Cutoff, names: &Candidates) -> StoreResult<Vec<CloudUser>>;
    fn cloud_snapshot(&self, user_id: i64, cutoff: Cutoff) -> StoreResult<Option<CloudUser>>;
    /// The newest on-prem snapshot of a user (a tombstone after deletion).
    fn latest_snapshot(&self, user_id: i64) -> StoreResult<Option<CloudUser>>;

    /// The time of the newest recorded on-prem change, sync or schedule change.
    fn latest_event_time(&self) -> StoreResult<Option<Time>>;
    fn simulated_time(&self) -> StoreResult<Option<Time>>;
    fn set_simulated_time(&self, t: Time) -> StoreResult<()>;

    /// Runs `f` with every read this thread makes through the store seeing one state of it
    /// (one read transaction), as one decision should. Writes inside `f` commit at once but
    /// reads inside `f` do not see them. Keep `f` short and free of slow work (no hashing): an
    /// open read holds back the reclaiming of old versions.
    fn read_scope(&self, f: &mut dyn FnMut()) -> StoreResult<()> {
        f();
        Ok(())
    }

    /// The hot path's writes — `modify_ad_lockout`, `modify_smart_lockout` and
    /// `touch_app_password`, one per decision — are committed (visible to every reader at once)
    /// but reach the disk only by `flush_durable`, which a caller runs before it acknowledges
    /// them, outside its locks and hashing slot, so that one fsync serves many decisions.
    fn flush_durable(&self) -> StoreResult<()> {
        Ok(())
    }

    /// Whether hot-path writes are committed but not yet made durable (cheap; lets a caller
    /// skip the trip to a blocking thread when there is nothing to flush).
    fn unflushed(&self) -> bool {
        false
    }

    fn ad_lockout(&self, user_id: i64) -> StoreResult<AdLockout>;
    fn modify_ad_lockout(
        &self,
        user_id: i64,
        f: &mut dyn FnMut(&mut AdLockout),
    ) -> StoreResult<AdLockout>;
    fn smart_lockout(&self, user_id: i64) -> StoreResult<SmartLockout>;
    fn modify_smart_lockout(
        &self,
        user_id: i64,
        f: &mut dyn FnMut(&mut SmartLockout),
    ) -> StoreResult<SmartLockout>;

    /// A random key generated with the store, used for keyed tags of secrets.
    fn secret_key(&self) -> StoreResult<[u8; 32]>;
}
