//! `hybridauth clock show | advance DURATION | set TIME`

use clap::Subcommand;
use serde_json::json;

use super::output::time;
use super::output::{CliError, Out};
use crate::app::App;
use crate::config::{parse_duration, parse_time, ClockMode};

#[derive(Subcommand, Debug)]
pub enum ClockCmd {
    /// Show the time decisions use, and whether it is simulated.
    Show,
    /// Move the simulated clock forward, e.g. `clock advance 30m`.
    Advance {
        /// How far: 30s, 5m, 2h, 1d (humantime).
        duration: String,
    },
    /// Set the simulated clock to an RFC 3339 time.
    Set {
        /// The time, e.g. 2026-01-05T10:00:00Z (never before the newest recorded change).
        time: String,
    },
}

pub fn run(cmd: ClockCmd, app: &App, out: &Out) -> Result<(), CliError> {
    let mode = match app.clock.mode() {
        ClockMode::System => "system",
        ClockMode::Simulated => "simulated",
    };
    let now = match cmd {
        ClockCmd::Show => app.clock.now()?,
        ClockCmd::Advance { duration } => {
            let d = parse_duration(&duration).map_err(CliError::Usage)?;
            app.clock.advance(d)?
        }
        ClockCmd::Set { time: t } => {
            let t = parse_time(&t).map_err(CliError::Usage)?;
            app.clock.set(t)?
        }
    };
    out.emit(json!({ "now": time(now), "mode": mode }), || {
        format!("{} ({mode} clock)", time(now))
    });
    Ok(())
}
