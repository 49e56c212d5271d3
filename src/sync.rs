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

    /// How many periodic cycles ran in `(from, to]` (0 when `to <= from`). A segment's cycles
    /// are its interval's multiples from its start until the next segment starts, as
    /// `last_cycle` reads them.
    pub fn cycles_between(&self, kind: SyncKind, from: Time, to: Time) -> u64 {
        let (from, to) = (
            from.timestamp_micros() as i128,
            to.timestamp_micros() as i128,
        );
        if to <= from {
            return 0;
        }
        let mut n: i128 = 0;
        for (i, seg) in self.segments.iter().enumerate() {
            let step = (Self::interval(seg, kind).max(1) as i128) * 1_000_000;
            let start = seg.at.timestamp_micros() as i128;
            // Exclusive end: the next segment's start belongs to the next segment.
            let end = self
                .segments
                .get(i + 1)
                .map_or(i128::MAX, |s| s.at.timestamp_micros() as i128);
            let lo = (from + 1).max(start);
            let hi = to.min(end - 1);
            if hi < lo {
                continue;
            }
            // Multiples of `step` in [lo, hi].
            let first = lo.div_euclid(step) + i128::from(lo.rem_euclid(step) != 0);
            let last = hi.div_euclid(step);
            n += (last - first + 1).max(0);
        }
        u64::try_from(n).unwrap_or(u64::MAX)
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
    use crate::time::parse_time;

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
    fn cycles_between_counts_each_cycle_instant_once_across_interval_changes() {
        let s = Schedule::new(vec![], &Tenant::default());
        let (a, b) = (t("2026-01-05T10:00:00Z"), t("2026-01-05T11:00:00Z"));
        // (10:00, 11:00]: the 10:30 and 11:00 object cycles, 30 two-minute PHS cycles.
        assert_eq!(s.cycles_between(SyncKind::Object, a, b), 2);
        assert_eq!(s.cycles_between(SyncKind::PasswordHash, a, b), 30);
        assert_eq!(s.cycles_between(SyncKind::Object, b, a), 0);
        assert_eq!(s.cycles_between(SyncKind::Object, a, a), 0);
        // Split anywhere, the parts add up.
        let mid = t("2026-01-05T10:30:00Z");
        assert_eq!(
            s.cycles_between(SyncKind::Object, a, mid) + s.cycles_between(SyncKind::Object, mid, b),
            2
        );
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
        let s = Schedule::new(segs, &Tenant::default());
        // 09:30 and 10:00 on the old schedule; then 3 h cycles: 12:00 only before 14:00.
        let n = s.cycles_between(
            SyncKind::Object,
            t("2026-01-05T09:00:00Z"),
            t("2026-01-05T14:00:00Z"),
        );
        assert_eq!(n, 3);
        // Every counted instant is a cycle `last_cycle` reports.
        let mut seen = 0;
        let mut at = t("2026-01-05T14:00:00Z");
        while let Some(c) = s.last_cycle(SyncKind::Object, at) {
            if c <= t("2026-01-05T09:00:00Z") {
                break;
            }
            seen += 1;
            at = c - chrono::Duration::microseconds(1);
        }
        assert_eq!(seen, n);
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
