//! The two sign-in logs, on-prem and cloud: one JSON object per line, appended and flushed per
//! decision. The secret is never part of a record.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use crate::decision::{Attempt, Codes, Credential, Decision, Door, Outcome, Side};
use crate::endpoint::EndpointKind;
use crate::runtime::logfile::AppendLog;
use crate::runtime::logging::cap;
use crate::time::Time;

#[derive(Serialize)]
struct Record<'a> {
    time: String,
    log: Side,
    door: Door,
    endpoint: EndpointKind,
    client: Option<String>,
    login: String,
    /// EAP's outer identity, when it differs from the inner `login` (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    outer_identity: Option<String>,
    user: Option<&'a str>,
    /// The UPN a bind DN stood for on a cloud LDAP listener (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    dn_stands_for: Option<&'a str>,
    credential: Credential,
    app_password: Option<&'a str>,
    outcome: Outcome,
    rule: &'a str,
    codes: Codes,
    explanation: &'a str,
}

#[derive(Clone)]
pub struct SigninLog {
    onprem: Arc<AppendLog>,
    cloud: Arc<AppendLog>,
    /// Every record written, for live watchers (the admin page); nothing is queued while no
    /// one watches, and a watcher that falls behind loses the oldest records, never the log.
    feed: tokio::sync::broadcast::Sender<Arc<str>>,
}

thread_local! {
    /// The line being written (see `SigninLog::record`).
    static LINE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The largest line buffer a thread keeps between records.
const MAX_KEPT_LINE: usize = 16 * 1024;

/// How many records a slow live watcher may fall behind before it skips some.
const FEED_BACKLOG: usize = 256;

/// The most characters of a login name a record keeps (AD's names are far shorter; anything
/// longer was refused, and is kept only as a prefix and its size).
pub const MAX_LOGGED_LOGIN: usize = 256;

impl SigninLog {
    pub fn new(onprem: &Path, cloud: &Path) -> SigninLog {
        SigninLog {
            onprem: Arc::new(AppendLog::new(onprem)),
            cloud: Arc::new(AppendLog::new(cloud)),
            feed: tokio::sync::broadcast::channel(FEED_BACKLOG).0,
        }
    }

    /// The records written from now on, one JSON object (as logged, without the newline) each.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<str>> {
        self.feed.subscribe()
    }

    /// The files the two logs are written to (on-prem, cloud).
    pub fn paths(&self) -> [std::path::PathBuf; 2] {
        [
            self.onprem.path().to_path_buf(),
            self.cloud.path().to_path_buf(),
        ]
    }

    /// Opens both files now and keeps them open.
    pub fn open(&self) -> std::io::Result<()> {
        self.onprem.open()?;
        self.cloud.open()
    }

    /// Log rotation: both logs continue in fresh files at their paths.
    pub fn reopen(&self) -> std::io::Result<()> {
        self.onprem.reopen()?;
        self.cloud.reopen()
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
            login: cap(&attempt.login, MAX_LOGGED_LOGIN),
            outer_identity: attempt
                .outer_identity
                .as_deref()
                .map(|o| cap(o, MAX_LOGGED_LOGIN)),
            user: d.user.as_deref(),
            dn_stands_for: d.dn_stands_for.as_deref(),
            credential,
            app_password,
            outcome: d.outcome,
            rule: d.rule,
            codes: d.codes,
            explanation,
        };
        let sink = match log {
            Side::OnPrem => &self.onprem,
            Side::Cloud => &self.cloud,
        };
        // Serialised into this thread's buffer, kept between records: a decision writes one or
        // two lines, tens of thousands of times a second.
        let write = |line: &mut Vec<u8>| {
            line.clear();
            if serde_json::to_writer(&mut *line, &rec).is_err() {
                return;
            }
            line.push(b'\n');
            if let Err(e) = sink.append(line, false) {
                tracing::error!(path = %sink.path().display(), error = %e, "cannot write sign-in log");
            }
            if self.feed.receiver_count() > 0 {
                if let Ok(text) = std::str::from_utf8(&line[..line.len() - 1]) {
                    let _ = self.feed.send(Arc::from(text));
                }
            }
        };
        LINE.with(|buf| match buf.try_borrow_mut() {
            Ok(mut line) => {
                write(&mut line);
                // A record with a huge explanation must not keep its buffer for the thread's life.
                if line.capacity() > MAX_KEPT_LINE {
                    *line = Vec::new();
                }
            }
            // Never expected (nothing in `write` records), but a record is never dropped.
            Err(_) => write(&mut Vec::new()),
        });
    }
}
