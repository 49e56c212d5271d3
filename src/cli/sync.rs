//! `hybridauth sync now | status`

use clap::Subcommand;
use serde_json::json;

use super::output::time;
use super::output::{CliError, Out};
use crate::app::App;
use crate::sync::CycleState;

#[derive(Subcommand, Debug)]
pub enum SyncCmd {
    /// Run object sync and password hash sync now (like Start-ADSyncSyncCycle -PolicyType Delta).
    Now,
    /// Last and next cycle times.
    Status,
}

fn cycle(c: &CycleState) -> serde_json::Value {
    json!({ "last": c.last.map(time), "next": time(c.next) })
}

pub fn run(cmd: SyncCmd, app: &App, out: &Out) -> Result<(), CliError> {
    match cmd {
        SyncCmd::Now => {
            let m = app.directory.sync_now()?;
            out.emit(json!({ "synced_at": time(m.at) }), || {
                format!("object sync and password hash sync ran at {}", time(m.at))
            });
        }
        SyncCmd::Status => {
            let s = app.directory.sync_state()?;
            let tenant = app.directory.tenant()?;
            let v = json!({
                "now": time(s.at),
                "object_sync": cycle(&s.object),
                "password_hash_sync": cycle(&s.password_hash),
                "last_manual_sync": s.last_manual.map(|m| time(m.at)),
                "object_sync_interval": crate::time::format_duration(tenant.object_sync_interval),
                "password_hash_sync_interval": crate::time::format_duration(tenant.password_hash_sync_interval),
            });
            out.emit(v, || {
                let last = |c: &CycleState| c.last.map(time).unwrap_or_else(|| "never".into());
                format!(
                    "now                 {}\nobject sync         last {}  next {}  (every {})\npassword hash sync  last {}  next {}  (every {})",
                    time(s.at),
                    last(&s.object),
                    time(s.object.next),
                    crate::time::format_duration(tenant.object_sync_interval),
                    last(&s.password_hash),
                    time(s.password_hash.next),
                    crate::time::format_duration(tenant.password_hash_sync_interval),
                )
            });
        }
    }
    Ok(())
}
