//! The cloud's view of the directory at time T.
//!
//! Object sync and password hash sync run on fixed schedules aligned to the Unix epoch (with
//! the default 30 minutes: at :00 and :30 past each hour), plus any manual `sync now`. A
//! periodic cycle at instant C carries every on-prem change made strictly before C; a manual
//! sync carries every change recorded before it. The view at T is therefore a pure function of
//! the recorded history and the schedule up to T: jumping a simulated clock over a cycle gives
//! exactly the answers waiting would have given.

use chrono::{DateTime, TimeZone, Utc};

use crate::directory::store::{Cutoff, IntervalSegment, ManualSync, StoreResult};
use crate::directory::{Store, Tenant, Time};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncKind {
    Object,
    PasswordHash,
}

/// The periodic schedule: interval segments, each in force from its start.
#[derive(Debug, Clone)]
pub struct Schedule {
    segments: Vec<IntervalSegment>,
}

fn floor_to(t: Time, secs: u64) -> Time {
    let step = (secs.max(1) as i64) * 1_000_000;
    let v = t.timestamp_micros();
    let floored = v.div_euclid(step) * step;
    Utc.timestamp_micros(floored).single().unwrap_or(t)
}

impl Schedule {
    /// Builds the schedule from the recorded interval changes; with none recorded, the
    /// tenant's current intervals have always been in force.
    pub fn new(mut segments: Vec<IntervalSegment>, tenant: &Tenant) -> Schedule {
        if segments.is_empty() {
            segments.push(IntervalSegment {
                at: DateTime::<Utc>::MIN_UTC,
                object_secs: tenant.object_sync_interval.as_secs(),
                phs_secs: tenant.password_hash_sync_interval.as_secs(),
            });
        }
        segments.sort_by_key(|s| s.at);
        Schedule { segments }
    }

    fn interval(seg: &IntervalSegment, kind: SyncKind) -> u64 {
        match kind {
            SyncKind::Object => seg.object_secs,
            SyncKind::PasswordHash => seg.phs_secs,
        }
    }

    /// The latest periodic cycle at or before `t`.
    pub fn last_cycle(&self, kind: SyncKind, t: Time) -> Option<Time> {
        let mut t = t;
        for seg in self.segments.iter().rev() {
            if seg.at > t {
                continue;
            }
            let c = floor_to(t, Self::interval(seg, kind));
            if c >= seg.at {
                return Some(c);
            }
            // No cycle of this segment yet: the last one ran on the previous schedule.
            t = seg
                .at
                .checked_sub_signed(chrono::Duration::microseconds(1))?;
        }
        None
    }

    /// The first periodic cycle strictly after `t`.
    pub fn next_cycle(&self, kind: SyncKind, t: Time) -> Time {
        let seg = self
            .segments
            .iter()
            .rev()
            .find(|s| s.at <= t)
            .unwrap_or(&self.segments[0]);
        let secs = Self::interval(seg, kind);
        crate::directory::model::add_saturating(
            floor_to(t, secs),
            std::time::Duration::from_secs(secs),
        )
    }
}

/// Where both syncs stand at time T.
#[derive(Debug, Clone, Copy)]
pub struct SyncState {
    pub at: Time,
    pub object: CycleState,
    pub password_hash: CycleState,
    pub last_manual: Option<ManualSync>,
}

#[derive(Debug, Clone, Copy)]
pub struct CycleState {
    /// The cycle (periodic or manual) whose result the cloud holds at T.
    pub last: Option<Time>,
    pub next: Time,
    pub cutoff: Cutoff,
}

fn cycle_state(
    schedule: &Schedule,
    kind: SyncKind,
    t: Time,
    manual: Option<ManualSync>,
) -> CycleState {
    let periodic = schedule.last_cycle(kind, t);
    let last = match (periodic, manual.map(|m| m.at)) {
        (Some(p), Some(m)) => Some(p.max(m)),
        (p, m) => p.or(m),
    };
    CycleState {
        last,
        next: schedule.next_cycle(kind, t),
        cutoff: Cutoff {
            before_time: periodic,
            before_seq: manual.map(|m| m.seq),
        },
    }
}

/// The pure part: the sync state from the schedule and the last manual sync.
pub fn state_from(schedule: &Schedule, t: Time, last_manual: Option<ManualSync>) -> SyncState {
    SyncState {
        at: t,
        object: cycle_state(schedule, SyncKind::Object, t, last_manual),
        password_hash: cycle_state(schedule, SyncKind::PasswordHash, t, last_manual),
        last_manual,
    }
}

/// Reads what the state depends on from the store.
pub fn state_at(store: &dyn Store, tenant: &Tenant, t: Time) -> StoreResult<SyncState> {
    let schedule = Schedule::new(store.interval_history()?, tenant);
    let manual = store.last_manual_sync(t)?;
    Ok(state_from(&schedule, t, manual))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_time;

    fn t(s: &str) -> Time {
        parse_time(s).unwrap()
    }

    #[test]
    fn default_object_cycles_fall_on_the_half_hour() {
        let s = Schedule::new(vec![], &Tenant::default());
        let now = t("2026-01-05T10:05:00Z");
        assert_eq!(
            s.last_cycle(SyncKind::Object, now),
            Some(t("2026-01-05T10:00:00Z"))
        );
        assert_eq!(
            s.next_cycle(SyncKind::Object, now),
            t("2026-01-05T10:30:00Z")
        );
        assert_eq!(
            s.next_cycle(SyncKind::PasswordHash, now),
            t("2026-01-05T10:06:00Z")
        );
        // A cycle instant is the cycle: at 10:30:00 the 10:30 cycle has run.
        assert_eq!(
            s.last_cycle(SyncKind::Object, t("2026-01-05T10:30:00Z")),
            Some(t("2026-01-05T10:30:00Z"))
        );
    }

    #[test]
    fn an_interval_change_keeps_earlier_cycles() {
        let tenant = Tenant::default();
        let segs = vec![
            IntervalSegment {
                at: DateTime::<Utc>::MIN_UTC,
                object_secs: 1800,
                phs_secs: 120,
            },
            IntervalSegment {
                at: t("2026-01-05T10:10:00Z"),
                object_secs: 3 * 3600,
                phs_secs: 120,
            },
        ];
        let s = Schedule::new(segs, &tenant);
        // 3h cycles fall on 09:00, 12:00: before 12:00 the last cycle is the old 10:00 one.
        assert_eq!(
            s.last_cycle(SyncKind::Object, t("2026-01-05T11:59:00Z")),
            Some(t("2026-01-05T10:00:00Z"))
        );
        assert_eq!(
            s.last_cycle(SyncKind::Object, t("2026-01-05T12:00:00Z")),
            Some(t("2026-01-05T12:00:00Z"))
        );
    }

    #[test]
    fn manual_sync_moves_both_cutoffs() {
        let s = Schedule::new(vec![], &Tenant::default());
        let m = ManualSync {
            seq: 42,
            at: t("2026-01-05T10:07:00Z"),
        };
        let st = state_from(&s, t("2026-01-05T10:08:00Z"), Some(m));
        assert_eq!(st.object.last, Some(t("2026-01-05T10:07:00Z")));
        assert_eq!(st.object.cutoff.before_seq, Some(42));
        assert_eq!(st.password_hash.last, Some(t("2026-01-05T10:08:00Z")));
    }
}
