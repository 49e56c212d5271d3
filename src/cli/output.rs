//! Output conventions: human text by default, one JSON document with `--json`; errors always on
//! stderr with a non-zero exit code (1: refused or invalid request, 2: usage, 3: configuration
//! or store failure).

use serde_json::Value;

use crate::app::AppError;
use crate::clock::ClockError;
use crate::config::ConfigError;
use crate::directory::service::ServiceError;
use crate::directory::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Failure(String),
}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> Self {
        CliError::Failure(e.to_string())
    }
}
impl From<AppError> for CliError {
    fn from(e: AppError) -> Self {
        CliError::Failure(e.to_string())
    }
}
impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        CliError::Failure(e.to_string())
    }
}
impl From<ServiceError> for CliError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(m) => CliError::Usage(m),
            ServiceError::Refused(m) | ServiceError::NotFound(m) => CliError::Refused(m),
            other => CliError::Failure(other.to_string()),
        }
    }
}
impl From<ClockError> for CliError {
    fn from(e: ClockError) -> Self {
        match e {
            ClockError::Store(s) => CliError::Failure(s.to_string()),
            other => CliError::Refused(other.to_string()),
        }
    }
}

pub struct Out {
    pub json: bool,
}

pub use crate::time::rfc3339 as time;

impl Out {
    /// Prints `json` with `--json`, else the human text.
    /// A reader that went away (`| head -1`) is not an error worth a panic: the output is
    /// simply not wanted any more.
    pub fn emit(&self, json: Value, human: impl FnOnce() -> String) {
        use std::io::Write;
        let text = if self.json { json.to_string() } else { human() };
        if !text.is_empty() {
            let _ = writeln!(std::io::stdout().lock(), "{text}");
        }
    }

    pub fn error(&self, e: &CliError) -> i32 {
        let code = match e {
            CliError::Refused(_) => 1,
            CliError::Usage(_) => 2,
            CliError::Failure(_) => 3,
        };
        use std::io::Write;
        let line = if self.json {
            serde_json::json!({ "error": e.to_string() }).to_string()
        } else {
            format!("hybridauth: {e}")
        };
        let _ = writeln!(std::io::stderr().lock(), "{line}");
        code
    }
}
