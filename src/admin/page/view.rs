//! What the page's overview shows, read from the store at the clock's now: both sync
//! schedules, and each user's on-prem and cloud state side by side. Blocking (it reads the
//! store): callers run it off the reactor.

use serde::Serialize;

use crate::clock::Clock;
use crate::config::{format_duration, ClockMode};
use crate::directory::store::StoreResult;
use crate::directory::{Store, Tenant, Time, User};
use crate::sync::{CycleState, SyncState};
use crate::time::rfc3339 as time;
use crate::verify::lockout;

/// Users per page of the overview (`?after=SAM` for the next): a directory of any size costs
/// one page's reads.
pub const PAGE_SIZE: usize = 100;
/// Accounts deleted on-prem that the cloud may still hold, listed at most.
const MAX_DELETED: usize = 50;

#[derive(Serialize)]
pub struct Overview {
    now: String,
    /// `simulated` or `system`.
    clock: &'static str,
    /// Only a simulated clock can be moved from the page.
    can_advance: bool,
    object_sync: Cycle,
    password_hash_sync: Cycle,
    users: Vec<UserRow>,
    /// The last sAMAccountName of this page when more users follow.
    more_after: Option<String>,
    /// Deleted on-prem since before the cloud's object-sync cutoff: the cloud may still hold
    /// them (and accept their sign-ins) until the next object-sync cycle.
    deleted_on_prem: Vec<UserRow>,
    /// Pushes of the MFA extension waiting for the phone (answerable from the page).
    pushes: Vec<PushRow>,
}

#[derive(Serialize)]
struct PushRow {
    id: i64,
    sam: String,
    opened_at: String,
}

#[derive(Serialize)]
struct Cycle {
    last: Option<String>,
    next: String,
    every: String,
}

#[derive(Serialize)]
struct UserRow {
    id: i64,
    sam: String,
    upn: String,
    onprem: OnPrem,
    cloud: Cloud,
}

#[derive(Serialize)]
struct OnPrem {
    /// `enabled`, `disabled` or `absent` (deleted).
    state: &'static str,
    locked: bool,
    bad_count: u32,
    password_set_at: String,
    must_change: bool,
    password_expired: bool,
    account_expires: Option<String>,
}

#[derive(Serialize)]
struct Cloud {
    /// `enabled`, `disabled` or `absent` (not synced yet, or its deletion synced).
    state: &'static str,
    upn: Option<String>,
    /// When the on-prem change the cloud's copy reflects was made.
    as_of: Option<String>,
    /// `current` (the on-prem password), `previous` (an older one: the new one waits for
    /// password hash sync) or `none`.
    password: &'static str,
    mfa: &'static str,
    admin: bool,
    app_passwords: usize,
    smart_locked_until: Option<String>,
}

fn cycle(c: &CycleState, every: std::time::Duration) -> Cycle {
    Cycle {
        last: c.last.map(time),
        next: time(c.next),
        every: format_duration(every),
    }
}

/// The overview at the clock's now: users after `after` (by sAMAccountName), one page.
pub fn overview(store: &dyn Store, clock: &Clock, after: Option<&str>) -> StoreResult<Overview> {
    let now = clock.now()?;
    let tenant = store.tenant()?;
    let sync = crate::sync::state_at(store, &tenant, now)?;
    let mut page = store.users_after(after, PAGE_SIZE + 1)?;
    let more_after = (page.len() > PAGE_SIZE).then(|| {
        page.truncate(PAGE_SIZE);
        page.last().map(|u| u.sam.clone()).unwrap_or_default()
    });
    let users = page
        .iter()
        .map(|u| row(store, &tenant, &sync, u, now))
        .collect::<StoreResult<Vec<_>>>()?;
    // A deletion reaches the cloud with the first object-sync cycle after it: those deleted
    // since the last cycle (or ever, before the first) are candidates; the cloud's own copy
    // says whether it still holds each.
    let since = sync.object.last;
    let mut deleted_on_prem = Vec::new();
    if after.is_none() {
        for u in store.users_deleted_since(since, MAX_DELETED)? {
            let r = row(store, &tenant, &sync, &u, now)?;
            if r.cloud.state != "absent" {
                deleted_on_prem.push(r);
            }
        }
    }
    Ok(Overview {
        now: time(now),
        clock: match clock.mode() {
            ClockMode::Simulated => "simulated",
            ClockMode::System => "system",
        },
        can_advance: clock.mode() == ClockMode::Simulated,
        object_sync: cycle(&sync.object, tenant.object_sync_interval),
        password_hash_sync: cycle(&sync.password_hash, tenant.password_hash_sync_interval),
        users,
        more_after,
        deleted_on_prem,
        pushes: pending_pushes(store)?,
    })
}

/// At most this many pushes are listed (the oldest first).
const MAX_PUSHES: usize = 50;

fn pending_pushes(store: &dyn Store) -> StoreResult<Vec<PushRow>> {
    let mut out = Vec::new();
    for p in store
        .pending_pushes(chrono::DateTime::<chrono::Utc>::MIN_UTC)?
        .into_iter()
        .take(MAX_PUSHES)
    {
        if let Some(u) = store.user_by_id(p.user_id)? {
            out.push(PushRow {
                id: p.id,
                sam: u.sam,
                opened_at: time(p.opened_at),
            });
        }
    }
    Ok(out)
}

fn row(
    store: &dyn Store,
    tenant: &Tenant,
    sync: &SyncState,
    u: &User,
    now: Time,
) -> StoreResult<UserRow> {
    let ad = store.ad_lockout(u.id)?;
    let smart = store.smart_lockout(u.id)?;
    let object = store.cloud_snapshot(u.id, sync.object.cutoff)?;
    let password = store.cloud_snapshot(u.id, sync.password_hash.cutoff)?;
    let cloud_hash = password.and_then(|c| c.snapshot.syncable_hash);
    let present = object.as_ref().is_some_and(|c| c.snapshot.exists);
    let presence = object.as_ref().map_or("absent", |c| {
        crate::timeline::Presence::of(&c.snapshot).as_str()
    });
    Ok(UserRow {
        id: u.id,
        sam: u.sam.clone(),
        upn: u.upn.clone(),
        onprem: OnPrem {
            state: if u.deleted_at.is_some() {
                "absent"
            } else if u.enabled {
                "enabled"
            } else {
                "disabled"
            },
            locked: lockout::ad_locked(&ad, tenant, now).is_some(),
            bad_count: ad.bad_count,
            password_set_at: time(u.password_set_at),
            must_change: u.must_change,
            password_expired: u.password_expired,
            account_expires: u.account_expires.map(time),
        },
        cloud: Cloud {
            state: presence,
            upn: object
                .as_ref()
                .filter(|_| present)
                .map(|c| c.snapshot.upn.clone()),
            as_of: object
                .as_ref()
                .filter(|_| present)
                .map(|c| time(c.synced_change_at)),
            password: match cloud_hash {
                None => "none",
                Some(h) if u.syncable_hash.as_deref() == Some(h.as_str()) => "current",
                Some(_) => "previous",
            },
            mfa: u.mfa.as_str(),
            admin: u.admin,
            app_passwords: if present {
                store.app_passwords(u.id)?.len()
            } else {
                0
            },
            smart_locked_until: lockout::smart_locked_until(&smart, now).map(time),
        },
    })
}
