//! The two sign-in logs, on-prem and cloud: one JSON object per line, appended and flushed per
//! decision. The secret is never part of a record.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::directory::Time;
use crate::verify::{Attempt, Codes, Credential, Decision, Door, EndpointKind, Outcome, Side};

#[derive(Serialize)]
struct Record<'a> {
    time: String,
    log: Side,
    door: Door,
    endpoint: EndpointKind,
    client: Option<String>,
    login: &'a str,
    user: Option<&'a str>,
    credential: Credential,
    app_password: Option<&'a str>,
    outcome: Outcome,
    rule: &'a str,
    codes: Codes,
    explanation: &'a str,
}

struct Sink {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl Sink {
    fn new(path: &Path) -> Sink {
        Sink {
            path: path.to_path_buf(),
            file: Mutex::new(None),
        }
    }

    fn append(&self, line: &[u8]) {
        let Ok(mut guard) = self.file.lock() else {
            return;
        };
        if guard.is_none() {
            if let Some(dir) = self.path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            match OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
            {
                Ok(f) => *guard = Some(f),
                Err(e) => {
                    tracing::error!(path = %self.path.display(), error = %e, "cannot open sign-in log");
                    return;
                }
            }
        }
        if let Some(f) = guard.as_mut() {
            // One write per record: O_APPEND keeps lines whole across processes (CLI + serve).
            if let Err(e) = f.write_all(line) {
                tracing::error!(path = %self.path.display(), error = %e, "cannot write sign-in log");
                *guard = None;
            }
        }
    }
}

#[derive(Clone)]
pub struct SigninLog {
    onprem: Arc<Sink>,
    cloud: Arc<Sink>,
}

impl SigninLog {
    pub fn new(onprem: &Path, cloud: &Path) -> SigninLog {
        SigninLog {
            onprem: Arc::new(Sink::new(onprem)),
            cloud: Arc::new(Sink::new(cloud)),
        }
    }

    pub fn record(&self, log: Side, now: Time, attempt: &Attempt, d: &Decision) {
        // App passwords exist only in the cloud: AD (and so the on-prem log) sees one presented
        // on-prem as nothing but a wrong password. The caller's Decision keeps the full story.
        let hide_app_password = log == Side::OnPrem && d.credential == Credential::AppPassword;
        let (credential, app_password, explanation) = if hide_app_password {
            (
                Credential::None,
                None,
                "the secret is not the current domain password",
            )
        } else {
            (
                d.credential,
                d.app_password.as_deref(),
                d.explanation.as_str(),
            )
        };
        let rec = Record {
            time: now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            log,
            door: attempt.door,
            endpoint: attempt.endpoint.kind,
            client: attempt.client.map(|c| c.to_string()),
            login: &attempt.login,
            user: d.user.as_deref(),
            credential,
            app_password,
            outcome: d.outcome,
            rule: d.rule,
            codes: d.codes,
            explanation,
        };
        let Ok(mut line) = serde_json::to_vec(&rec) else {
            return;
        };
        line.push(b'\n');
        match log {
            Side::OnPrem => self.onprem.append(&line),
            Side::Cloud => self.cloud.append(&line),
        }
    }
}
