//! What a store has already read in read scopes, kept for as long as nothing in the store
//! changed. Both backends use it, each with its own proof that nothing changed: SQLite's
//! `data_version` (below), PostgreSQL's change notifications (see `postgres_scope`).
//!
//! A warm decision (the verified-secret cache answered, no Argon2) used to spend about a fifth
//! of its CPU time in SQLite, reading the same tenant, user and lockout rows as the request
//! before. Each read connection keeps those answers beside it, tagged with the connection's
//! `PRAGMA data_version`: SQLite changes that number whenever another connection — in this
//! process or any other (the CLI, a second daemon) — committed anything, and it is the very
//! signal SQLite uses to drop its own page cache. A read scope reads it first, inside its read
//! transaction, so the number describes the snapshot the scope reads: the same number means the
//! same database, and every answer kept under it is still the answer. Any other number empties
//! the memo before the scope reads anything.
//!
//! Only reads made inside a read scope (`Store::read_scope`, which the verifier's cache probe
//! uses) go through the memo; a read outside one always asks SQLite. Readers never write
//! (`query_only`), so no change is ever made through a connection that holds a memo.
//!
//! Bounded: past `MAX_ENTRIES` answers, new ones are not kept, and the next scope starts afresh.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

use super::model::{Time, User};
use super::names::Candidates;
use super::store::StoreResult;
use super::store::{AdLockout, CloudUser, Cutoff, IntervalSegment, ManualSync, SmartLockout};
use super::tenant::Tenant;

/// Answers kept per read connection (each holds a few rows: well under a megabyte in all).
const MAX_ENTRIES: usize = 4096;

#[derive(Default)]
pub(crate) struct Memo {
    /// The `data_version` the answers belong to; `None` before the first scope.
    version: Option<i64>,
    /// The version of the lockout states among them (`observe_parts`).
    lockout_version: Option<i64>,
    entries: usize,
    /// Answers given from the memo (for tests and the curious).
    hits: u64,
    tenant: Option<Tenant>,
    simulated_time: Option<Option<Time>>,
    intervals: Option<Vec<IntervalSegment>>,
    /// The newest manual sync of all: the newest at or before any instant not older than it.
    latest_manual_sync: Option<Option<ManualSync>>,
    users_named: HashMap<Candidates, Vec<User>>,
    users_by_id: HashMap<i64, Option<User>>,
    ad_lockouts: HashMap<i64, AdLockout>,
    smart_lockouts: HashMap<i64, SmartLockout>,
    cloud_named: HashMap<Cutoff, HashMap<Candidates, Vec<CloudUser>>>,
    cloud_snapshots: HashMap<(i64, Cutoff), Option<CloudUser>>,
}

/// `slot`'s value, read by `read` (and kept, while there is room) when absent.
fn single<V: Clone>(
    slot: &mut Option<V>,
    entries: &mut usize,
    hits: &mut u64,
    read: impl FnOnce() -> StoreResult<V>,
) -> StoreResult<V> {
    if let Some(v) = slot {
        *hits += 1;
        return Ok(v.clone());
    }
    let v = read()?;
    if *entries < MAX_ENTRIES {
        *entries += 1;
        *slot = Some(v.clone());
    }
    Ok(v)
}

/// `map[key]`, read by `read` (and kept, while there is room) when absent.
fn keyed<K, Q, V>(
    map: &mut HashMap<K, V>,
    entries: &mut usize,
    hits: &mut u64,
    key: &Q,
    owned: impl FnOnce() -> K,
    read: impl FnOnce() -> StoreResult<V>,
) -> StoreResult<V>
where
    K: Borrow<Q> + Hash + Eq,
    Q: Hash + Eq + ?Sized,
    V: Clone,
{
    if let Some(v) = map.get(key) {
        *hits += 1;
        return Ok(v.clone());
    }
    let v = read()?;
    if *entries < MAX_ENTRIES {
        *entries += 1;
        map.insert(owned(), v.clone());
    }
    Ok(v)
}

impl Memo {
    /// At the start of a read scope, with the snapshot's `data_version`: keeps the answers only
    /// if nothing changed since they were read (and there is still room for more).
    pub(crate) fn observe(&mut self, version: i64) {
        self.observe_parts(version, version);
    }

    /// As `observe`, for a store that tells the lockout tables' changes apart from the rest
    /// (PostgreSQL's notifications name their table): `lockouts` moves alone when only lockout
    /// states changed, and then only they are forgotten — a wrong password on any node no
    /// longer makes every node read its users and tenant again.
    pub(crate) fn observe_parts(&mut self, version: i64, lockouts: i64) {
        if self.version != Some(version) || self.entries >= MAX_ENTRIES {
            let hits = self.hits;
            *self = Memo {
                version: Some(version),
                lockout_version: Some(lockouts),
                hits,
                ..Memo::default()
            };
        } else if self.lockout_version != Some(lockouts) {
            self.entries -= self.ad_lockouts.len() + self.smart_lockouts.len();
            self.ad_lockouts.clear();
            self.smart_lockouts.clear();
            self.lockout_version = Some(lockouts);
        }
    }

    /// Drops every answer (the scope could not learn the snapshot's version).
    pub(crate) fn forget(&mut self) {
        let hits = self.hits;
        *self = Memo {
            hits,
            ..Memo::default()
        };
    }

    #[cfg(test)]
    pub(crate) fn hits(&self) -> u64 {
        self.hits
    }

    pub(crate) fn tenant(
        &mut self,
        read: impl FnOnce() -> StoreResult<Tenant>,
    ) -> StoreResult<Tenant> {
        single(&mut self.tenant, &mut self.entries, &mut self.hits, read)
    }

    pub(crate) fn simulated_time(
        &mut self,
        read: impl FnOnce() -> StoreResult<Option<Time>>,
    ) -> StoreResult<Option<Time>> {
        single(
            &mut self.simulated_time,
            &mut self.entries,
            &mut self.hits,
            read,
        )
    }

    pub(crate) fn interval_history(
        &mut self,
        read: impl FnOnce() -> StoreResult<Vec<IntervalSegment>>,
    ) -> StoreResult<Vec<IntervalSegment>> {
        single(&mut self.intervals, &mut self.entries, &mut self.hits, read)
    }

    /// The newest manual sync at or before `t`. From the newest of all when that one is not
    /// after `t` (always, with a clock that only moves forward); otherwise `read_at` asks.
    pub(crate) fn last_manual_sync(
        &mut self,
        t: Time,
        read_latest: impl FnOnce() -> StoreResult<Option<ManualSync>>,
        read_at: impl FnOnce() -> StoreResult<Option<ManualSync>>,
    ) -> StoreResult<Option<ManualSync>> {
        let latest = single(
            &mut self.latest_manual_sync,
            &mut self.entries,
            &mut self.hits,
            read_latest,
        )?;
        match latest {
            Some(m) if m.at > t => read_at(),
            other => Ok(other),
        }
    }

    pub(crate) fn users_named(
        &mut self,
        names: &Candidates,
        read: impl FnOnce() -> StoreResult<Vec<User>>,
    ) -> StoreResult<Vec<User>> {
        let owned = || names.clone();
        keyed(
            &mut self.users_named,
            &mut self.entries,
            &mut self.hits,
            names,
            owned,
            read,
        )
    }

    pub(crate) fn user_by_id(
        &mut self,
        id: i64,
        read: impl FnOnce() -> StoreResult<Option<User>>,
    ) -> StoreResult<Option<User>> {
        keyed(
            &mut self.users_by_id,
            &mut self.entries,
            &mut self.hits,
            &id,
            || id,
            read,
        )
    }

    pub(crate) fn ad_lockout(
        &mut self,
        user_id: i64,
        read: impl FnOnce() -> StoreResult<AdLockout>,
    ) -> StoreResult<AdLockout> {
        let m = &mut self.ad_lockouts;
        keyed(
            m,
            &mut self.entries,
            &mut self.hits,
            &user_id,
            || user_id,
            read,
        )
    }

    pub(crate) fn smart_lockout(
        &mut self,
        user_id: i64,
        read: impl FnOnce() -> StoreResult<SmartLockout>,
    ) -> StoreResult<SmartLockout> {
        let m = &mut self.smart_lockouts;
        keyed(
            m,
            &mut self.entries,
            &mut self.hits,
            &user_id,
            || user_id,
            read,
        )
    }

    pub(crate) fn cloud_users_named(
        &mut self,
        cutoff: Cutoff,
        names: &Candidates,
        read: impl FnOnce() -> StoreResult<Vec<CloudUser>>,
    ) -> StoreResult<Vec<CloudUser>> {
        if self.entries >= MAX_ENTRIES && !self.cloud_named.contains_key(&cutoff) {
            return read();
        }
        let at_cutoff = self.cloud_named.entry(cutoff).or_default();
        let owned = || names.clone();
        keyed(
            at_cutoff,
            &mut self.entries,
            &mut self.hits,
            names,
            owned,
            read,
        )
    }

    pub(crate) fn cloud_snapshot(
        &mut self,
        user_id: i64,
        cutoff: Cutoff,
        read: impl FnOnce() -> StoreResult<Option<CloudUser>>,
    ) -> StoreResult<Option<CloudUser>> {
        let key = (user_id, cutoff);
        let m = &mut self.cloud_snapshots;
        keyed(m, &mut self.entries, &mut self.hits, &key, || key, read)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::super::model::MfaState;
    use super::super::sqlite::SqliteStore;
    use super::super::store::Store;
    use super::*;

    fn t(min: i64) -> Time {
        chrono::Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap() + chrono::Duration::minutes(min)
    }

    fn alice() -> User {
        User {
            id: 0,
            sam: "alice".into(),
            upn: "alice@contoso.com".into(),
            display_name: "Alice".into(),
            mail: None,
            groups: vec![],
            enabled: true,
            account_expires: None,
            password_hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into(),
            syncable_hash: None,
            nt_hash: None,
            password_set_at: t(0),
            password_expired: false,
            must_change: false,
            admin: false,
            mfa: MfaState::Disabled,
            modern_auth_only: false,
            created_at: t(0),
            enabled_changed_at: t(0),
            ever_had_app_password: false,
            deleted_at: None,
        }
    }

    fn named(sam: &str) -> Candidates {
        Candidates {
            sams: vec![sam.into()],
            ..Candidates::default()
        }
    }

    /// What a decision reads, in one scope: (enabled, bad count, lockout threshold, clock).
    fn decision_reads(store: &SqliteStore, id: i64) -> (bool, u32, u32, Option<Time>) {
        let mut out = None;
        store
            .read_scope(&mut || {
                let user = store.users_named(&named("alice")).expect("users_named");
                let lock = store.ad_lockout(id).expect("ad_lockout");
                let tenant = store.tenant().expect("tenant");
                let clock = store.simulated_time().expect("simulated_time");
                out = Some((
                    user.first().is_some_and(|u| u.enabled),
                    lock.bad_count,
                    tenant.ad_lockout_threshold,
                    clock,
                ));
            })
            .expect("scope");
        out.expect("scope ran")
    }

    #[test]
    fn a_second_scope_over_an_unchanged_store_is_answered_from_the_memo() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("s.sqlite3")).expect("open");
        let id = store.insert_user(&alice(), t(0)).expect("insert").id;
        let first = decision_reads(&store, id);
        let after_first = store.memo_hits();
        let second = decision_reads(&store, id);
        assert_eq!(first, second);
        assert_eq!(
            store.memo_hits() - after_first,
            4,
            "all four reads of the second scope"
        );
        // Reads outside a scope always ask SQLite.
        store.users_named(&named("alice")).expect("users_named");
        store.tenant().expect("tenant");
        assert_eq!(store.memo_hits() - after_first, 4);
    }

    #[test]
    fn a_change_committed_by_another_process_or_this_one_reaches_the_next_scope() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.sqlite3");
        let daemon = SqliteStore::open(&path).expect("open");
        // Another process (the CLI) has a store of its own on the same file.
        let cli = SqliteStore::open(&path).expect("open");
        let mut user = daemon.insert_user(&alice(), t(0)).expect("insert");
        let threshold = daemon.tenant().expect("tenant").ad_lockout_threshold;
        assert_eq!(decision_reads(&daemon, user.id), (true, 0, threshold, None));
        assert_eq!(decision_reads(&daemon, user.id), (true, 0, threshold, None));

        user.enabled = false;
        cli.update_user(&user, t(5)).expect("disable");
        assert_eq!(
            decision_reads(&daemon, user.id),
            (false, 0, threshold, None)
        );

        cli.modify_ad_lockout(user.id, &mut |s| s.bad_count = 3)
            .expect("bad attempts");
        assert_eq!(
            decision_reads(&daemon, user.id),
            (false, 3, threshold, None)
        );

        cli.set_simulated_time(t(30)).expect("clock");
        assert_eq!(
            decision_reads(&daemon, user.id),
            (false, 3, threshold, Some(t(30)))
        );

        // The daemon's own writer and hot connections are other connections too.
        let mut tenant = daemon.tenant().expect("tenant");
        tenant.ad_lockout_threshold = threshold + 7;
        daemon.set_tenant(&tenant, t(31)).expect("tenant");
        assert_eq!(
            decision_reads(&daemon, user.id),
            (false, 3, threshold + 7, Some(t(30)))
        );
        daemon
            .modify_ad_lockout(user.id, &mut |s| s.bad_count = 0)
            .expect("reset");
        assert_eq!(
            decision_reads(&daemon, user.id),
            (false, 0, threshold + 7, Some(t(30)))
        );
    }

    #[test]
    fn the_newest_manual_sync_answers_only_instants_not_before_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("s.sqlite3")).expect("open");
        let synced = store.record_manual_sync(t(10)).expect("sync");
        let at = |when: Time| {
            let mut out = None;
            store
                .read_scope(&mut || out = Some(store.last_manual_sync(when).expect("read")))
                .expect("scope");
            out.expect("scope ran")
        };
        for _ in 0..2 {
            assert_eq!(at(t(20)), Some(synced));
            assert_eq!(at(t(10)), Some(synced));
            assert_eq!(at(t(9)), None, "a sync after the instant is not the answer");
        }
        let later = store.record_manual_sync(t(40)).expect("sync");
        assert_eq!(at(t(20)), Some(synced));
        assert_eq!(at(t(45)), Some(later));
    }

    #[test]
    fn a_lockout_change_forgets_lockout_states_and_keeps_the_rest() {
        let mut memo = Memo::default();
        memo.observe_parts(1, 1);
        memo.ad_lockout(7, || Ok(AdLockout::default()))
            .expect("read");
        memo.smart_lockout(7, || Ok(SmartLockout::default()))
            .expect("read");
        memo.user_by_id(7, || Ok(None)).expect("read");
        memo.tenant(|| Ok(Tenant::default())).expect("read");
        let fail = || -> StoreResult<AdLockout> { panic!("read again") };
        memo.observe_parts(1, 1);
        memo.ad_lockout(7, fail)
            .expect("kept while nothing changed");
        // Only lockout states changed: they are read again, users and tenant are not.
        memo.observe_parts(1, 2);
        let reads = std::cell::Cell::new(0);
        memo.ad_lockout(7, || {
            reads.set(reads.get() + 1);
            Ok(AdLockout::default())
        })
        .expect("read");
        memo.smart_lockout(7, || {
            reads.set(reads.get() + 1);
            Ok(SmartLockout::default())
        })
        .expect("read");
        assert_eq!(reads.get(), 2);
        memo.user_by_id(7, || panic!("users kept")).expect("kept");
        memo.tenant(|| panic!("tenant kept")).expect("kept");
        assert_eq!(memo.entries, 4, "the count of answers follows what is kept");
        // Anything else changed: everything is read again.
        memo.observe_parts(2, 2);
        let mut read = false;
        memo.tenant(|| {
            read = true;
            Ok(Tenant::default())
        })
        .expect("read");
        assert!(read);
    }

    #[test]
    fn the_memo_is_bounded() {
        let mut memo = Memo::default();
        memo.observe(1);
        for id in 0..(MAX_ENTRIES as i64 + 100) {
            memo.ad_lockout(id, || Ok(AdLockout::default()))
                .expect("read");
        }
        assert_eq!(memo.ad_lockouts.len(), MAX_ENTRIES);
        // The next scope starts afresh, even over the same version.
        memo.observe(1);
        assert!(memo.ad_lockouts.is_empty());
    }
}
