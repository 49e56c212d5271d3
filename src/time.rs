//! Time, as every layer speaks it: the instant type, the product's horizon, durations as they
//! are configured (`30m`, `24h`) and RFC 3339 instants as they are typed and printed. A leaf:
//! it imports nothing of the domain, so config, store, sync, the CLI and the page share it.

use std::time::Duration;

use chrono::{DateTime, Utc};

pub type Time = DateTime<Utc>;

/// The latest instant the product deals in (the end of year 9999). The simulated clock and
/// every time an operator types are refused beyond it, so that no date arithmetic built on
/// them can leave chrono's range.
pub fn horizon() -> Time {
    chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 9999, 12, 31, 23, 59, 59)
        .single()
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

/// `t + d`, saturating at chrono's largest instant instead of panicking.
pub fn add_saturating(t: Time, d: std::time::Duration) -> Time {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

/// Human-readable durations: `30m`, `2m`, `3h`, `90s`, `1h 30m`. A bare `0` means zero.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(t)
        .map_err(|_| format!("expected a duration such as 30s, 2m, 30m or 3h, got {s:?}"))
}

/// In the units durations are configured in (`h`, `m`, `s`, `ms`): 24 hours is `24h`, as the
/// README and the configuration say it, never humantime's `1day`.
pub fn format_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0".into();
    }
    let ms = d.as_millis();
    let parts: Vec<String> = [
        (ms / 3_600_000, "h"),
        (ms / 60_000 % 60, "m"),
        (ms / 1000 % 60, "s"),
        (ms % 1000, "ms"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, unit)| format!("{n}{unit}"))
    .collect();
    if parts.is_empty() {
        // Below a millisecond (never configured; kept exact anyway).
        return humantime::format_duration(d).to_string();
    }
    parts.join(" ")
}

/// RFC 3339 times, as used on the command line and in JSON.
pub fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let t = chrono::DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| {
            format!("expected an RFC 3339 time such as 2026-01-05T10:00:00Z, got {s:?}")
        })?;
    if t > horizon() {
        return Err(format!("{s:?} is after the end of year 9999 (UTC)"));
    }
    Ok(t)
}

/// An instant as the CLI, JSON and the page print it (RFC 3339, UTC, seconds unless finer).
pub fn rfc3339(t: Time) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}
