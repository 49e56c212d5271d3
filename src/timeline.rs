//! A user's story in time order (`hybridauth timeline SAM`): each on-prem change, the sync cycle
//! that carried it to the cloud (or will), what the cloud sees after that cycle, and the
//! sign-ins from both logs.

use std::path::Path;

use serde::Serialize;

use crate::directory::store::ManualSync;
use crate::directory::{Store, SyncedSnapshot, Tenant, Time};
use crate::sync::{Schedule, SyncKind};

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub time: Time,
    /// `on-prem-change`, `object-sync`, `password-hash-sync`, `manual-sync` or `sign-in`.
    pub kind: &'static str,
    /// What happened, in words.
    pub what: String,
    /// A cycle still to come (the clock has not reached it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
    /// For cycles: what the cloud sees once it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud: Option<String>,
    /// For sign-ins: the record as logged (never holds a secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign_in: Option<serde_json::Value>,
    /// For an on-prem change, the account on-prem after it; for a cycle that carried an object
    /// change, the account in the cloud after it (for drawings; the words say the same).
    #[serde(skip)]
    pub presence: Option<Presence>,
}

/// An account's state on one side, as a drawing shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Absent,
    Enabled,
    Disabled,
}

impl Presence {
    pub fn of(s: &SyncedSnapshot) -> Presence {
        match (s.exists, s.enabled) {
            (false, _) => Presence::Absent,
            (true, true) => Presence::Enabled,
            (true, false) => Presence::Disabled,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Absent => "absent",
            Presence::Enabled => "enabled",
            Presence::Disabled => "disabled",
        }
    }
}

/// The on-prem changes between two states of the synced fields.
fn changes(before: Option<&SyncedSnapshot>, after: &SyncedSnapshot) -> (Vec<String>, bool, bool) {
    let mut object = Vec::new();
    let mut password = false;
    match before {
        None => object.push(format!("created as {} ({})", after.sam, after.upn)),
        Some(b) => {
            if b.exists && !after.exists {
                object.push("deleted".into());
            }
            if b.enabled != after.enabled {
                object.push(if after.enabled { "enabled" } else { "disabled" }.into());
            }
            if b.upn != after.upn {
                object.push(format!("UPN {} -> {}", b.upn, after.upn));
            }
            if b.mail != after.mail {
                object.push(format!(
                    "mail {} -> {}",
                    b.mail.as_deref().unwrap_or("none"),
                    after.mail.as_deref().unwrap_or("none")
                ));
            }
            if b.groups != after.groups {
                object.push(format!("groups -> {}", after.groups.join(", ")));
            }
            password = b.syncable_hash != after.syncable_hash;
        }
    }
    let object_changed = !object.is_empty();
    let mut what = object;
    if password {
        what.push(if after.syncable_hash.is_some() {
            "password changed".into()
        } else {
            "password set with must-change (not synced until changed)".into()
        });
    }
    (what, object_changed, password)
}

fn cloud_view(s: &SyncedSnapshot, password_since: Option<Time>, now: Time) -> String {
    if !s.exists {
        return "the account is gone from the cloud".into();
    }
    let state = if s.enabled { "enabled" } else { "disabled" };
    let pw = password_since
        .map(|t| format!(", password as set on-prem at {}", crate::time::rfc3339(t)))
        .unwrap_or_default();
    let _ = now;
    format!("{} {state}{pw}", s.upn)
}

/// The first cycle that carries a change made at `at` (sequence `seq`): the next periodic one,
/// or a manual sync recorded after the change and before it.
fn carrier(
    schedule: &Schedule,
    kind: SyncKind,
    at: Time,
    seq: i64,
    manual: &[ManualSync],
) -> (Time, &'static str) {
    let periodic = schedule.next_cycle(kind, at);
    match manual.iter().find(|m| m.seq > seq && m.at < periodic) {
        Some(m) => (m.at, "manual-sync"),
        None => (
            periodic,
            match kind {
                SyncKind::Object => "object-sync",
                SyncKind::PasswordHash => "password-hash-sync",
            },
        ),
    }
}

pub struct Window {
    pub since: Option<Time>,
    pub until: Option<Time>,
}

/// Builds the timeline of user `user_id` (`sam`) up to the clock's `now` and a little beyond:
/// cycles still to come are included, marked pending.
pub fn build(
    store: &dyn Store,
    tenant: &Tenant,
    user_id: i64,
    sam: &str,
    now: Time,
    logs: [&Path; 2],
) -> crate::directory::store::StoreResult<Vec<Event>> {
    let history = store.user_history(user_id)?;
    let manual = store.manual_syncs()?;
    let schedule = Schedule::new(store.interval_history()?, tenant);
    let mut events = Vec::new();
    // When each password (by its syncable hash) was set on-prem.
    let mut password_set: Vec<(Option<String>, Time)> = Vec::new();
    // Each cycle that carried something: what it carried.
    let mut cycles: std::collections::BTreeMap<(Time, &'static str), Vec<String>> =
        std::collections::BTreeMap::new();
    let mut prev: Option<&SyncedSnapshot> = None;
    for (seq, at, snap) in &history {
        let (what, object, password) = changes(prev, snap);
        if prev.is_none() || password {
            password_set.push((snap.syncable_hash.clone(), *at));
        }
        if what.is_empty() {
            prev = Some(snap);
            continue;
        }
        events.push(Event {
            time: *at,
            kind: "on-prem-change",
            what: what.join("; "),
            pending: false,
            cloud: None,
            sign_in: None,
            presence: Some(Presence::of(snap)),
        });
        let stamp = crate::time::rfc3339(*at);
        if object || prev.is_none() {
            let key = carrier(&schedule, SyncKind::Object, *at, *seq, &manual);
            let mut carried: Vec<String> = what.clone();
            if password {
                carried.retain(|w| !w.starts_with("password"));
            }
            cycles
                .entry(key)
                .or_default()
                .push(format!("{} ({stamp})", carried.join("; ")));
        }
        if password {
            let key = carrier(&schedule, SyncKind::PasswordHash, *at, *seq, &manual);
            cycles
                .entry(key)
                .or_default()
                .push(format!("the password set at {stamp}"));
        }
        prev = Some(snap);
    }
    for ((t, kind), carried) in cycles {
        let st = crate::sync::state_at(store, tenant, t)?;
        let carries_object = kind != "password-hash-sync";
        let copy = store.cloud_snapshot(user_id, st.object.cutoff)?;
        let pw = store
            .cloud_snapshot(user_id, st.password_hash.cutoff)?
            .and_then(|c| c.snapshot.syncable_hash);
        let since = password_set
            .iter()
            .rev()
            .find(|(h, _)| pw.is_some() && *h == pw)
            .map(|(_, t)| *t);
        events.push(Event {
            time: t,
            kind,
            what: format!("carries: {}", carried.join("; ")),
            pending: t > now,
            presence: carries_object.then(|| {
                copy.as_ref()
                    .map_or(Presence::Absent, |c| Presence::of(&c.snapshot))
            }),
            cloud: Some(match copy {
                Some(c) => cloud_view(&c.snapshot, since, now),
                None => {
                    "the account is not in the cloud yet (object sync has not carried it)".into()
                }
            }),
            sign_in: None,
        });
    }
    let names: Vec<String> = history
        .iter()
        .flat_map(|(_, _, s)| [s.sam.clone(), s.upn.clone()])
        .collect();
    for path in logs {
        let Ok(file) = std::fs::File::open(path) else {
            continue;
        };
        // Line by line: a log of any size costs one record's memory, plus the matches.
        for line in std::io::BufRead::lines(std::io::BufReader::new(file)) {
            let Ok(line) = line else {
                break;
            };
            // Cheap filter first: a record about this user names it somewhere.
            if !names.iter().any(|n| contains_ignore_ascii_case(&line, n)) {
                continue;
            }
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            // Resolved to this user, or (unknown to that side) signed in under one of its names.
            let resolved = v["user"]
                .as_str()
                .is_some_and(|u| u.eq_ignore_ascii_case(sam));
            let typed = v["login"].as_str().is_some_and(|l| {
                v["user"].is_null() && names.iter().any(|n| n.eq_ignore_ascii_case(l.trim()))
            });
            if !resolved && !typed {
                continue;
            }
            let Some(t) = v["time"]
                .as_str()
                .and_then(|t| crate::time::parse_time(t).ok())
            else {
                continue;
            };
            events.push(Event {
                time: t,
                kind: "sign-in",
                what: format!(
                    "{} log: {} {} {} [{}]",
                    v["log"].as_str().unwrap_or_default(),
                    v["door"].as_str().unwrap_or_default(),
                    v["endpoint"].as_str().unwrap_or_default(),
                    v["outcome"].as_str().unwrap_or_default(),
                    v["rule"].as_str().unwrap_or_default()
                ),
                pending: false,
                cloud: None,
                sign_in: Some(v),
                presence: None,
            });
        }
    }
    // Stable: a change comes before the cycle it triggers, sign-ins at a cycle instant after it.
    events.sort_by_key(|e| e.time);
    Ok(events)
}

fn contains_ignore_ascii_case(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

pub fn within(events: Vec<Event>, w: &Window) -> Vec<Event> {
    events
        .into_iter()
        .filter(|e| w.since.is_none_or(|s| e.time >= s) && w.until.is_none_or(|u| e.time <= u))
        .collect()
}
