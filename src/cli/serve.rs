//! `hybridauth serve`: the daemon.

use super::CliError;
use crate::config::Config;

pub fn run(config: Config, config_path: Option<std::path::PathBuf>) -> Result<(), CliError> {
    crate::server::run(config, config_path).map_err(|e| CliError::Failure(e.to_string()))
}
