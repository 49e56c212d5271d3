//! `hybridauth health`: asks the running daemon's admin listener (`[admin] listen` of the
//! configuration) for `/healthz` and prints its answer, for scripts and monitors.

use std::time::Duration;

use clap::Args;

use super::output::{CliError, Out};
use crate::config::Config;

#[derive(Args, Debug)]
pub struct HealthArgs {
    /// How long to wait for the daemon's answer (e.g. 5s, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_timeout)]
    timeout: Duration,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    crate::time::parse_duration(s)
        .map_err(|e| e.to_string())
        .and_then(|d| {
            if d.is_zero() {
                Err("must be more than 0".into())
            } else {
                Ok(d)
            }
        })
}

/// Exit 0 when the daemon says it is healthy, 1 when it answers unhealthy, 3 when it cannot be
/// asked (not running, admin listener disabled, no answer in time).
pub fn run(config: &Config, args: &HealthArgs, out: &Out) -> Result<(), CliError> {
    let Some(address) = config.admin_listen else {
        return Err(CliError::Failure(
            "the admin listener is disabled ([admin] listen is empty): nothing to ask".into(),
        ));
    };
    let path = if out.json {
        "/healthz?format=json"
    } else {
        "/healthz"
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failure(e.to_string()))?;
    let (status, body) = runtime
        .block_on(crate::admin::client_get(address, path, args.timeout))
        .map_err(|e| CliError::Failure(format!("{e} (is the daemon running?)")))?;
    match status {
        200 => {
            print!("{body}");
            Ok(())
        }
        503 => {
            print!("{body}");
            Err(CliError::Refused(format!(
                "the daemon at {address} is unhealthy"
            )))
        }
        other => Err(CliError::Failure(format!(
            "unexpected answer from {address}: HTTP {other}"
        ))),
    }
}
