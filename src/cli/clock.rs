//! `hybridauth clock show | advance DURATION | set TIME`

use clap::Subcommand;
use serde_json::json;

use super::output::time;
use super::{CliError, Out};
use crate::app::App;
use crate::config::{parse_duration, parse_time, ClockMode};

#[derive(Subcommand, Debug)]
pub enum ClockCmd {
    Show,
    /// Move the simulated clock forward, e.g. `clock advance 30m`.
    Advance {
        duration: String,
    },
    /// Set the simulated clock to an RFC 3339 time.
    Set {
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
