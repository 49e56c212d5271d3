//! Argument helpers the command modules share: secrets from the command line or stdin, and
//! the boolean words the CLI accepts.

use std::io::BufRead;

use super::output::CliError;
use crate::verify::Secret;

/// `--password PW` or `--password-stdin` (one line; the trailing newline is dropped).
pub fn read_secret(value: Option<String>, stdin: bool, what: &str) -> Result<Secret, CliError> {
    match (value, stdin) {
        (Some(_), true) => Err(CliError::Usage(format!(
            "give --{what} or --{what}-stdin, not both"
        ))),
        (Some(v), false) => Ok(Secret::new(v.into_bytes())),
        (None, true) => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| CliError::Usage(format!("cannot read the {what} from stdin: {e}")))?;
            let trimmed = line.trim_end_matches(['\n', '\r']);
            Ok(Secret::new(trimmed.as_bytes().to_vec()))
        }
        (None, false) => Err(CliError::Usage(format!(
            "a {what} is required: --{what} or --{what}-stdin"
        ))),
    }
}

pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!("expected true or false, got {s:?}")),
    }
}
