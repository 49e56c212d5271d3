//! `hybridauth config check [FILE]`

use clap::Subcommand;
use serde_json::json;

use super::output::{CliError, Out};

#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Check a configuration as `radiusd -C` does: exit 0 if the daemon can start with it,
    /// else 3 with every problem listed.
    Check {
        /// The file to check [default: --config, else conf/hybridauth.toml, else
        /// /etc/hybridauth/hybridauth.toml].
        file: Option<std::path::PathBuf>,
    },
}

pub fn run(cmd: ConfigCmd, explicit: Option<&std::path::Path>, out: &Out) -> Result<(), CliError> {
    let ConfigCmd::Check { file } = cmd;
    let path = file.as_deref().or(explicit);
    let shown = path
        .map(|p| p.display().to_string())
        .or_else(|| crate::config::default_config_file().map(|p| p.display().to_string()))
        .unwrap_or_else(|| "the embedded defaults".into());
    // Every problem of loading and validation (key by key), then what only a loaded
    // configuration shows (listeners, files).
    let (problems, warnings) = match crate::config_all::load(path) {
        Ok(config) => (
            crate::config_check::problems(&config),
            crate::config_check::warnings(&config),
        ),
        Err(problems) => (problems, vec![]),
    };
    if problems.is_empty() {
        out.emit(
            json!({"file": shown, "ok": true, "problems": [], "warnings": warnings}),
            || {
                let mut text = format!("{shown}: configuration OK");
                for w in &warnings {
                    text.push_str(&format!("\nwarning: {w}"));
                }
                text
            },
        );
        return Ok(());
    }
    if out.json {
        out.emit(
            json!({"file": shown, "ok": false, "problems": problems}),
            String::new,
        );
        return Err(CliError::Failure(format!(
            "{shown}: {} problem(s)",
            problems.len()
        )));
    }
    Err(CliError::Failure(format!(
        "{shown}: {} problem(s)\n  {}",
        problems.len(),
        problems.join("\n  ")
    )))
}
