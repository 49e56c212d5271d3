//! One user's timeline as an SVG drawing: the account's state on-prem and in the cloud as
//! bands over time, the sign-ins of both logs as dots, the sync cycles as vertical lines (those
//! that carried a change of this user stand out; cycles still to come are dashed), and now.
//!
//! A pure function of the timeline's events: everything it prints from them is escaped, and
//! it holds no secret because the events hold none.

use std::fmt::Write;

use chrono::Duration;

use crate::directory::Time;
use crate::sync::{Schedule, SyncKind};
use crate::timeline::{Event, Presence};

const WIDTH: f64 = 960.0;
const LEFT: f64 = 112.0;
const RIGHT: f64 = 16.0;
const HEIGHT: f64 = 172.0;
const ONPREM_Y: f64 = 24.0;
const CLOUD_Y: f64 = 52.0;
const BAND: f64 = 18.0;
const ONPREM_LOG_Y: f64 = 94.0;
const CLOUD_LOG_Y: f64 = 118.0;
/// Centre to centre of two sign-in dots (radius 5) set side by side.
const DOT_SPACING: f64 = 11.0;
const AXIS_Y: f64 = 138.0;
/// Periodic cycles drawn at most per kind: past that the lines would only blacken the
/// drawing (a 2-minute password-hash-sync over days); those that carried a change always show.
const MAX_TICKS: usize = 240;

/// The span a drawing covers.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    pub from: Time,
    pub to: Time,
}

impl Span {
    /// The default span: from the first event (at most `longest` before now) to the last
    /// pending cycle (or now), at least `shortest` long, with a little room at both ends.
    pub fn around(events: &[Event], now: Time, shortest: Duration, longest: Duration) -> Span {
        let first = events.first().map_or(now, |e| e.time);
        let last = events.iter().map(|e| e.time).max().unwrap_or(now).max(now);
        let mut from = first.max(now - longest).min(now);
        let mut to = last;
        if to - from < shortest {
            from = to - shortest;
        }
        let pad = (to - from) / 25;
        from -= pad;
        to += pad;
        Span { from, to }
    }

    fn x(&self, t: Time) -> f64 {
        let total = (self.to - self.from).num_milliseconds().max(1) as f64;
        let at = (t - self.from).num_milliseconds() as f64;
        LEFT + (at / total).clamp(0.0, 1.0) * (WIDTH - LEFT - RIGHT)
    }

    fn contains(&self, t: Time) -> bool {
        t >= self.from && t <= self.to
    }
}

/// Escapes text for XML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0 at all.
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn stamp(t: Time) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn fill(p: Presence) -> &'static str {
    match p {
        Presence::Enabled => "#2e7d32",
        Presence::Disabled => "#c62828",
        Presence::Absent => "#bdbdbd",
    }
}

/// The state bands of one lane: each state from the event that set it to the next one.
fn bands(
    svg: &mut String,
    lane: &str,
    y: f64,
    changes: &[(Time, Presence, bool)],
    span: &Span,
    now: Time,
) {
    for (i, (at, presence, pending)) in changes.iter().enumerate() {
        let end = changes.get(i + 1).map_or(span.to, |c| c.0);
        if end < span.from || *at > span.to {
            continue;
        }
        let (x0, x1) = (span.x(*at), span.x(end));
        let class = if *pending { " pending" } else { "" };
        let _ = write!(
            svg,
            r#"<rect class="band {lane} {state}{class}" data-lane="{lane}" data-state="{state}" data-from="{from}" data-to="{to}" x="{x0:.1}" y="{y}" width="{w:.1}" height="{BAND}" fill="{fill}" fill-opacity="{op}"><title>{lane}: {state} from {from_h}{until}</title></rect>"#,
            state = presence.as_str(),
            from = esc(&crate::time::rfc3339(*at)),
            to = esc(&crate::time::rfc3339(end)),
            w = (x1 - x0).max(0.5),
            fill = fill(*presence),
            op = if *pending || *at > now { 0.35 } else { 0.85 },
            from_h = stamp(*at),
            until = if *pending {
                " (once this cycle runs)".to_string()
            } else {
                String::new()
            },
        );
    }
}

/// Draws the timeline of `sam` over `span`. `events` are the timeline's (any order).
pub fn draw(sam: &str, events: &[Event], schedule: &Schedule, now: Time, span: Span) -> String {
    let mut svg = String::with_capacity(8192);
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="timeline" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="11" role="img" aria-label="timeline of {sam}" data-user="{sam}" data-from="{from}" data-to="{to}" data-now="{now_s}">"#,
        sam = esc(sam),
        from = esc(&crate::time::rfc3339(span.from)),
        to = esc(&crate::time::rfc3339(span.to)),
        now_s = esc(&crate::time::rfc3339(now)),
    );
    let _ = write!(svg, "<title>timeline of {}</title>", esc(sam));
    for (label, y) in [
        ("on-prem", ONPREM_Y + 13.0),
        ("cloud", CLOUD_Y + 13.0),
        ("on-prem log", ONPREM_LOG_Y + 4.0),
        ("cloud log", CLOUD_LOG_Y + 4.0),
    ] {
        let _ = write!(
            svg,
            r#"<text class="lane-label" x="6" y="{y}">{label}</text>"#
        );
    }

    // Cycle lines first, so that bands and dots sit above them.
    for (kind, class, color) in [
        (SyncKind::Object, "object-sync", "#1565c0"),
        (SyncKind::PasswordHash, "password-hash-sync", "#8e24aa"),
    ] {
        let mut t = schedule.next_cycle(kind, span.from);
        let mut n = 0;
        while t <= span.to && n < MAX_TICKS {
            cycle_line(&mut svg, class, color, t, now, &span, false);
            t = schedule.next_cycle(kind, t);
            n += 1;
        }
    }
    for e in events.iter().filter(|e| {
        matches!(e.kind, "object-sync" | "password-hash-sync" | "manual-sync")
            && span.contains(e.time)
    }) {
        let color = match e.kind {
            "password-hash-sync" => "#8e24aa",
            "manual-sync" => "#ef6c00",
            _ => "#1565c0",
        };
        cycle_line(&mut svg, e.kind, color, e.time, now, &span, true);
        let _ = write!(
            svg,
            r#"<title>{} at {}: {}{}</title></line>"#,
            e.kind,
            stamp(e.time),
            esc(&e.what),
            e.cloud
                .as_deref()
                .map(|c| format!("; the cloud then sees: {}", esc(c)))
                .unwrap_or_default()
        );
    }

    let mut onprem = Vec::new();
    let mut cloud = Vec::new();
    let mut sorted: Vec<&Event> = events.iter().collect();
    sorted.sort_by_key(|e| e.time);
    for e in &sorted {
        match (e.kind, e.presence) {
            ("on-prem-change", Some(p)) => onprem.push((e.time, p, false)),
            ("object-sync" | "manual-sync", Some(p)) => cloud.push((e.time, p, e.pending)),
            _ => {}
        }
    }
    bands(&mut svg, "onprem", ONPREM_Y, &onprem, &span, now);
    bands(&mut svg, "cloud", CLOUD_Y, &cloud, &span, now);

    // Sign-ins closer together than a dot's width (a simulated clock that stands still puts
    // them all at one instant) are set side by side in time order, each still titled with its
    // own time: every dot stays visible and can be hovered.
    let mut last_x: [Option<f64>; 2] = [None, None];
    for e in sorted
        .iter()
        .filter(|e| e.kind == "sign-in" && span.contains(e.time))
    {
        let Some(rec) = &e.sign_in else { continue };
        let s = |k: &str| rec[k].as_str().unwrap_or_default().to_string();
        let (log, outcome) = (s("log"), s("outcome"));
        let (y, row) = if log == "cloud" {
            (CLOUD_LOG_Y, 1)
        } else {
            (ONPREM_LOG_Y, 0)
        };
        let x = match last_x[row] {
            Some(prev) if span.x(e.time) < prev + DOT_SPACING => prev + DOT_SPACING,
            _ => span.x(e.time),
        };
        last_x[row] = Some(x);
        let outcome_class = if outcome == "accept" {
            "accept"
        } else {
            "reject"
        };
        let _ = write!(
            svg,
            r##"<circle class="signin {outcome_class}" data-log="{log}" data-outcome="{outcome_class}" data-time="{time}" cx="{x:.1}" cy="{y}" r="5" fill="{fill}" stroke="#fff"><title>{when}: {door} {endpoint} {login} {outcome} [{rule}] {explanation}</title></circle>"##,
            log = esc(&log),
            time = esc(&crate::time::rfc3339(e.time)),
            fill = if outcome_class == "accept" {
                "#2e7d32"
            } else {
                "#c62828"
            },
            when = stamp(e.time),
            door = esc(&s("door")),
            endpoint = esc(&s("endpoint")),
            login = esc(&s("login")),
            outcome = esc(&outcome),
            rule = esc(&s("rule")),
            explanation = esc(&s("explanation")),
        );
    }

    // Now, and the time axis.
    if span.contains(now) {
        let x = span.x(now);
        let _ = write!(
            svg,
            r##"<line class="now" x1="{x:.1}" x2="{x:.1}" y1="14" y2="{AXIS_Y}" stroke="#000" stroke-width="2"><title>now: {}</title></line><text class="now-label" x="{x:.1}" y="11" text-anchor="middle">now</text>"##,
            stamp(now)
        );
    }
    let _ = write!(
        svg,
        r##"<line class="axis" x1="{LEFT}" x2="{}" y1="{AXIS_Y}" y2="{AXIS_Y}" stroke="#555"/>"##,
        WIDTH - RIGHT
    );
    for i in 0..=4 {
        let t = span.from + (span.to - span.from) * i / 4;
        let x = span.x(t);
        let anchor = match i {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{AXIS_Y}" y2="{}" stroke="#555"/><text class="tick" x="{x:.1}" y="{}" text-anchor="{anchor}">{}</text>"##,
            AXIS_Y + 5.0,
            AXIS_Y + 18.0,
            t.format("%m-%d %H:%M")
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A vertical line for one cycle; a carrying one is left open for its `<title>`.
fn cycle_line(
    svg: &mut String,
    class: &str,
    color: &str,
    t: Time,
    now: Time,
    span: &Span,
    carried: bool,
) {
    let x = span.x(t);
    let pending = t > now;
    let _ = write!(
        svg,
        r#"<line class="cycle {class}{c}{p}" data-time="{time}" x1="{x:.1}" x2="{x:.1}" y1="{top}" y2="{AXIS_Y}" stroke="{color}" stroke-width="{w}" stroke-opacity="{o}"{dash}"#,
        c = if carried { " carried" } else { "" },
        p = if pending { " pending" } else { "" },
        time = esc(&crate::time::rfc3339(t)),
        top = if carried { 14.0 } else { 20.0 },
        w = if carried { 2.0 } else { 1.0 },
        o = if carried { 0.9 } else { 0.25 },
        dash = if pending {
            r#" stroke-dasharray="4 3""#
        } else {
            ""
        },
    );
    svg.push_str(if carried { ">" } else { "/>" });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::Tenant;
    use crate::time::parse_time;

    fn t(s: &str) -> Time {
        parse_time(s).unwrap()
    }

    fn event(time: &str, kind: &'static str, presence: Option<Presence>, pending: bool) -> Event {
        Event {
            time: t(time),
            kind,
            what: "w".into(),
            pending,
            cloud: None,
            sign_in: None,
            presence,
        }
    }

    #[test]
    fn bands_follow_the_changes_and_cycles_and_sign_ins_are_marked() {
        let now = t("2026-01-05T10:20:00Z");
        let mut signin = event("2026-01-05T10:10:00Z", "sign-in", None, false);
        signin.sign_in = Some(serde_json::json!({
            "log": "cloud", "outcome": "accept", "door": "radius", "endpoint": "cloud",
            "login": "<script>alice</script>", "rule": "cloud.app-password", "explanation": "x & y"
        }));
        let events = vec![
            event(
                "2026-01-05T09:55:00Z",
                "on-prem-change",
                Some(Presence::Enabled),
                false,
            ),
            event(
                "2026-01-05T10:00:00Z",
                "object-sync",
                Some(Presence::Enabled),
                false,
            ),
            event(
                "2026-01-05T10:05:00Z",
                "on-prem-change",
                Some(Presence::Disabled),
                false,
            ),
            signin,
            event(
                "2026-01-05T10:30:00Z",
                "object-sync",
                Some(Presence::Disabled),
                true,
            ),
        ];
        let schedule = Schedule::new(vec![], &Tenant::default());
        let span = Span::around(&events, now, Duration::hours(1), Duration::days(7));
        let svg = draw("alice", &events, &schedule, now, span);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        // On-prem: enabled, then disabled from 10:05.
        assert!(svg.contains(r#"data-lane="onprem" data-state="enabled" data-from="2026-01-05T09:55:00Z" data-to="2026-01-05T10:05:00Z""#), "{svg}");
        assert!(svg.contains(
            r#"data-lane="onprem" data-state="disabled" data-from="2026-01-05T10:05:00Z""#
        ));
        // Cloud: enabled from the 10:00 cycle until the 10:30 one, which is still to come.
        assert!(svg.contains(r#"data-lane="cloud" data-state="enabled" data-from="2026-01-05T10:00:00Z" data-to="2026-01-05T10:30:00Z""#));
        assert!(svg.contains(r#"class="band cloud disabled pending""#));
        assert!(svg.contains(r#"class="cycle object-sync carried pending""#));
        // The sign-in dot, with every field escaped.
        assert!(svg.contains(r#"class="signin accept" data-log="cloud""#));
        assert!(svg.contains("&lt;script&gt;alice&lt;/script&gt;"));
        assert!(!svg.contains("<script"));
        assert!(svg.contains("x &amp; y"));
        assert!(svg.contains(r#"class="now""#));
    }

    #[test]
    fn sign_ins_at_one_instant_are_set_side_by_side() {
        let now = t("2026-01-05T10:20:00Z");
        let at = |log: &str| {
            let mut e = event("2026-01-05T10:10:00Z", "sign-in", None, false);
            e.sign_in = Some(serde_json::json!({"log": log, "outcome": "reject"}));
            e
        };
        let events = vec![at("on-prem"), at("on-prem"), at("on-prem"), at("cloud")];
        let schedule = Schedule::new(vec![], &Tenant::default());
        let span = Span::around(&events, now, Duration::hours(1), Duration::days(7));
        let svg = draw("alice", &events, &schedule, now, span);
        let cx: Vec<f64> = svg
            .split("<circle ")
            .skip(1)
            .map(|c| {
                let v = c.split("cx=\"").nth(1).unwrap().split('"').next().unwrap();
                v.parse().unwrap()
            })
            .collect();
        assert_eq!(cx.len(), 4);
        // The on-prem row: three dots, 11 apart, in order; the cloud row's dot at the instant.
        assert!((cx[1] - cx[0] - DOT_SPACING).abs() < 0.2, "{cx:?}");
        assert!((cx[2] - cx[1] - DOT_SPACING).abs() < 0.2, "{cx:?}");
        assert!((cx[3] - cx[0]).abs() < 0.2, "{cx:?}");
    }

    #[test]
    fn periodic_ticks_are_bounded_over_long_spans() {
        let now = t("2026-03-01T00:00:00Z");
        let schedule = Schedule::new(vec![], &Tenant::default());
        let span = Span {
            from: now - Duration::days(30),
            to: now,
        };
        let svg = draw("bob", &[], &schedule, now, span);
        assert!(svg.matches("class=\"cycle password-hash-sync").count() <= MAX_TICKS);
        assert!(svg.matches("class=\"cycle object-sync").count() <= MAX_TICKS);
    }

    #[test]
    fn a_short_history_still_spans_the_shortest_window() {
        let now = t("2026-01-05T10:00:00Z");
        let span = Span::around(&[], now, Duration::hours(1), Duration::days(7));
        assert!(span.to - span.from >= Duration::hours(1));
        assert!(span.contains(now));
    }
}
