//! AD account lockout (on-prem) and Entra smart lockout (cloud), counted per user.
//!
//! AD: a bad password increments the count (reset after `ad-lockout-window` without one); at
//! the threshold the account locks for `ad-lockout-duration` (0: until an administrator
//! unlocks). The attempt that reaches the threshold still answers 52e; the next ones 775.
//! Smart lockout: `smart-lockout-threshold` failures lock for `smart-lockout-duration`,
//! doubled with each further lockout; a wrong secret equal to one of the last three does not
//! count again (`recent_bad` remembers those, in memory only).

use chrono::Duration;

use crate::directory::model::add_saturating;
use crate::directory::store::{AdLockout, SmartLockout, StoreResult};
use crate::directory::{Store, Tenant, Time};

fn chrono(d: std::time::Duration) -> Duration {
    Duration::from_std(d).unwrap_or(Duration::MAX)
}

/// When an AD lockout ends: `None` while it lasts until an administrator unlocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdLocked {
    pub since: Time,
    pub until: Option<Time>,
}

pub fn ad_locked(state: &AdLockout, tenant: &Tenant, now: Time) -> Option<AdLocked> {
    let since = state.locked_at?;
    if tenant.ad_lockout_duration.is_zero() {
        return Some(AdLocked { since, until: None });
    }
    let until = add_saturating(since, tenant.ad_lockout_duration);
    (now < until).then_some(AdLocked {
        since,
        until: Some(until),
    })
}

/// Counts one bad password; returns the new state.
pub fn ad_bad_attempt(
    store: &dyn Store,
    user_id: i64,
    tenant: &Tenant,
    now: Time,
) -> StoreResult<AdLockout> {
    store.modify_ad_lockout(user_id, &mut |s| {
        if s.locked_at.is_some() && ad_locked(s, tenant, now).is_none() {
            // The lockout expired: AD starts counting afresh.
            *s = AdLockout::default();
        }
        if s.last_bad_at
            .is_some_and(|t| now - t >= chrono(tenant.ad_lockout_window))
        {
            s.bad_count = 0;
        }
        s.bad_count = s.bad_count.saturating_add(1);
        s.last_bad_at = Some(now);
        if tenant.ad_lockout_threshold > 0
            && s.bad_count >= tenant.ad_lockout_threshold
            && s.locked_at.is_none()
        {
            s.locked_at = Some(now);
        }
    })
}

pub fn ad_reset(store: &dyn Store, user_id: i64) -> StoreResult<()> {
    if store.ad_lockout(user_id)? != AdLockout::default() {
        store.modify_ad_lockout(user_id, &mut |s| *s = AdLockout::default())?;
    }
    Ok(())
}

pub fn smart_locked_until(state: &SmartLockout, now: Time) -> Option<Time> {
    state.locked_until.filter(|u| now < *u)
}

/// Outcome of counting a cloud failure.
pub struct SmartCount {
    pub counted: bool,
    pub state: SmartLockout,
}

/// Counts a cloud failure unless it `repeats` one of the user's recent wrong secrets (see
/// `recent_bad`, which keeps those in memory only).
pub fn smart_bad_attempt(
    store: &dyn Store,
    user_id: i64,
    repeats: bool,
    tenant: &Tenant,
    now: Time,
) -> StoreResult<SmartCount> {
    if repeats {
        return Ok(SmartCount {
            counted: false,
            state: store.smart_lockout(user_id)?,
        });
    }
    let state = store.modify_smart_lockout(user_id, &mut |s| {
        s.failures = s.failures.saturating_add(1);
        if s.failures >= tenant.smart_lockout_threshold {
            let factor = 1u32 << s.lockouts.min(10);
            let lasts = tenant.smart_lockout_duration.saturating_mul(factor);
            s.locked_until = Some(add_saturating(now, lasts));
            s.lockouts += 1;
            s.failures = 0;
        }
    })?;
    Ok(SmartCount {
        counted: true,
        state,
    })
}

pub fn smart_reset(store: &dyn Store, user_id: i64) -> StoreResult<()> {
    let s = store.smart_lockout(user_id)?;
    if s.failures > 0 || s.lockouts > 0 {
        store.modify_smart_lockout(user_id, &mut |s| *s = SmartLockout::default())?;
    }
    Ok(())
}
