//! `hybridauth serve`: the daemon.

use clap::Args;

use super::output::CliError;
use crate::config::Config;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Show every request as `radiusd -X` does: attributes received (secrets masked), the
    /// client matched, the decision with its rule and explanation, the attributes sent (the
    /// daemon log at debug, whatever logging.level says).
    #[arg(long)]
    debug: bool,
}

pub fn run(
    mut config: Config,
    args: &ServeArgs,
    config_path: Option<std::path::PathBuf>,
) -> Result<(), CliError> {
    if args.debug {
        config.log_level = "debug".into();
    }
    crate::daemon::run(config, config_path).map_err(|e| CliError::Failure(e.to_string()))
}
