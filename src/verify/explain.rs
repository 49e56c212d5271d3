//! Small helpers that keep explanations short and readable for a network engineer.

use crate::time::Time;

/// `10:30` on the same day as `now` (`10:30:15` when seconds matter), else `2026-01-05 10:30`.
pub fn when(t: Time, now: Time) -> String {
    let clock = if t.timestamp() % 60 == 0 {
        t.format("%H:%M")
    } else {
        t.format("%H:%M:%S")
    };
    if t.date_naive() == now.date_naive() {
        format!("{clock} UTC")
    } else {
        format!("{} {clock} UTC", t.format("%Y-%m-%d"))
    }
}

/// "12 min ago", "3 h 5 min ago", "just now".
pub fn ago(t: Time, now: Time) -> String {
    let secs = (now - t).num_seconds();
    if secs < 60 {
        return "just now".into();
    }
    let mins = secs / 60;
    if mins < 60 {
        format!("{mins} min ago")
    } else {
        format!("{} h {} min ago", mins / 60, mins % 60)
    }
}
