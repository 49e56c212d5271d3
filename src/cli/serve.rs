//! `hybridauth serve`: the daemon.

use super::CliError;
use crate::config::Config;

pub fn run(config: Config) -> Result<(), CliError> {
    crate::server::run(config).map_err(|e| CliError::Failure(e.to_string()))
}
