//! `hybridauth timeline SAM [--since TIME] [--until TIME]`: on-prem changes, the sync cycles
//! that carried them (with what the cloud sees after each), and sign-ins from both logs.

use clap::Args;
use serde_json::json;

use super::output::time;
use super::output::{CliError, Out};
use crate::app::App;
use crate::directory::Time;

#[derive(Args, Debug)]
pub struct TimelineArgs {
    /// The user's sAMAccountName.
    sam: String,
    /// Only events at or after this time (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = crate::time::parse_time)]
    since: Option<Time>,
    /// Only events at or before this time (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = crate::time::parse_time)]
    until: Option<Time>,
}

pub fn run(args: TimelineArgs, app: &App, out: &Out) -> Result<(), CliError> {
    let user = app
        .store
        .user_by_sam(&args.sam)?
        .ok_or_else(|| CliError::Refused(format!("no user with sAMAccountName {:?}", args.sam)))?;
    let now = app.clock.now()?;
    let tenant = app.store.tenant()?;
    let events = crate::timeline::build(
        app.store.as_ref(),
        &tenant,
        user.id,
        &user.sam,
        now,
        [&app.config.signin_onprem, &app.config.signin_cloud],
    )?;
    let events = crate::timeline::within(
        events,
        &crate::timeline::Window {
            since: args.since,
            until: args.until,
        },
    );
    out.emit(
        json!({ "user": user.sam, "now": time(now), "events": events }),
        || {
            let mut text = format!("timeline of {} (now {})\n", user.sam, time(now));
            for e in &events {
                let pending = if e.pending { " (pending)" } else { "" };
                text.push_str(&format!(
                    "{}  {:<18} {}{pending}\n",
                    time(e.time),
                    e.kind,
                    e.what
                ));
                if let Some(c) = &e.cloud {
                    text.push_str(&format!("{:22}{:<18} the cloud then sees: {c}\n", "", ""));
                }
            }
            text.trim_end().to_string()
        },
    );
    Ok(())
}
