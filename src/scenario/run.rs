//! Replaying a scenario: every step runs as the hybridauth command it names, against a private
//! lab — a throw-away store in a temporary directory, the simulated clock, the configuration's
//! other settings — so a run never touches the configured store and two runs never meet.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde::Serialize;

pub use super::actual::Actual;
use super::lab_command::lab_command;
use super::steps::{BadFile, Expect, Step, StepKind};
use crate::config::RawConfig;

/// Where the simulated clock starts when the configuration names no `clock.start`.
pub const DEFAULT_START: &str = "2026-01-05T10:00:00Z";

/// One expectation and what happened.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    pub line: usize,
    pub step: String,
    pub ok: bool,
    pub actual: Actual,
}

struct Lab {
    dir: super::labdir::LabDir,
    config: PathBuf,
    exe: PathBuf,
    /// Ports of the lab server's listeners, when a step goes through a front door.
    ports: Option<super::door::Ports>,
    /// Started the first time a step needs it; stopped with the lab.
    server: Option<super::door::Server>,
    /// The lab's configuration as written, and whether its RADIUS client runs the MFA
    /// extension: to choose other ports when another program took one first.
    raw: RawConfig,
    mfa: bool,
}

impl Lab {
    fn new(mut raw: RawConfig, doors: bool, mfa: bool) -> Result<Lab, String> {
        let dir = super::labdir::create()?;
        let at = |f: &str| dir.path().join(f).display().to_string();
        raw.store.path = at("store.sqlite3");
        // The lab's own SQLite file, never the configuration's shared database.
        raw.store.url = String::new();
        raw.clock.mode = "simulated".into();
        if raw.clock.start.trim().is_empty() {
            raw.clock.start = DEFAULT_START.into();
        }
        raw.signin_log.onprem = at("signin-onprem.jsonl");
        raw.signin_log.cloud = at("signin-cloud.jsonl");
        raw.radius.accounting_log = at("accounting.jsonl");
        raw.admin.listen = String::new();
        let ports = if doors {
            Some(super::door::configure(&mut raw, mfa)?)
        } else {
            None
        };
        let config = dir.path().join("lab.toml");
        write_config(&config, &raw)?;
        // The lab's store exists from the start: a first step that only reads (`clock show`)
        // finds it, as it would find a configured one.
        crate::directory::sqlite::SqliteStore::open(std::path::Path::new(&raw.store.path))
            .map_err(|e| format!("cannot create the lab's store: {e}"))?;
        let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
        Ok(Lab {
            dir,
            config,
            exe,
            ports,
            server: None,
            raw,
            mfa,
        })
    }

    /// Starts the lab server if it is not running. Its ports were free when chosen, but
    /// another program may bind one before the server does: then the lab chooses again (at
    /// most five times).
    fn start_server(&mut self) -> Result<(), String> {
        for attempt in 1.. {
            if self.server.is_some() {
                return Ok(());
            }
            let ports = self.ports.take().ok_or("no lab ports")?;
            match super::door::Server::start(&self.exe, &self.config, self.dir.path(), ports) {
                Ok(server) => self.server = Some(server),
                Err(e) if attempt < 5 && e.contains("Address already in use") => {
                    self.ports = Some(super::door::configure(&mut self.raw, self.mfa)?);
                    write_config(&self.config, &self.raw)?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Runs `hybridauth --config LAB --json WORDS…`. The caller's HYBRIDAUTH_SECTION__KEY
    /// variables are already in the lab configuration; passing them on would let one point
    /// the run at the real store.
    fn run(&self, words: &[String]) -> Result<Output, String> {
        // Refused when the file is read; checked again where it matters.
        if let Some(opt) = super::steps::escapes_lab(words) {
            return Err(format!("{opt} is not allowed in a step"));
        }
        let mut cmd = lab_command(&self.exe);
        cmd.arg("--config")
            .arg(&self.config)
            .arg("--json")
            .args(words)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.exe.display()))
    }
}

fn write_config(path: &Path, raw: &RawConfig) -> Result<(), String> {
    let text =
        toml::to_string(raw).map_err(|e| format!("cannot write the lab configuration: {e}"))?;
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

/// `{app:SAM/NAME}` placeholders, replaced by the secrets `app-password create` returned.
fn substitute(words: &[String], bound: &HashMap<String, String>) -> Result<Vec<String>, String> {
    words
        .iter()
        .map(|w| {
            let mut out = String::new();
            let mut rest = w.as_str();
            while let Some(start) = rest.find("{app:") {
                out.push_str(&rest[..start]);
                let end = rest[start..]
                    .find('}')
                    .ok_or_else(|| format!("unclosed placeholder in {w:?}"))?;
                let key = &rest[start + 5..start + end];
                let secret = bound.get(&key.to_lowercase()).ok_or_else(|| {
                    format!("{{app:{key}}} is not bound: an earlier step must run `app-password create SAM --name NAME`")
                })?;
                out.push_str(secret);
                rest = &rest[start + end + 1..];
            }
            out.push_str(rest);
            Ok(out)
        })
        .collect()
}

fn tenant_key(words: &[String]) -> Option<&str> {
    match words {
        [t, s, key, ..] if t == "tenant" && s == "set" => Some(key.as_str()),
        _ => None,
    }
}

/// Runs the steps; `sets` are tenant settings applied first and kept (a scenario's own
/// `tenant set` of those keys is skipped). A step the lab refuses, or a placeholder never
/// bound, is a problem with the file.
pub fn run(
    steps: &[Step],
    raw: RawConfig,
    sets: &[(String, String)],
) -> Result<Vec<Checked>, BadFile> {
    let doors = steps
        .iter()
        .any(|s| matches!(&s.kind, StepKind::Expect(e) if e.door.is_some()));
    let mfa = steps
        .iter()
        .any(|s| matches!(&s.kind, StepKind::Expect(e) if e.mfa.is_some()));
    let mut lab = Lab::new(raw, doors, mfa).map_err(|message| BadFile { line: 0, message })?;
    for (k, v) in sets {
        let o = lab
            .run(&["tenant".into(), "set".into(), k.clone(), v.clone()])
            .map_err(|message| BadFile { line: 0, message })?;
        if !o.status.success() {
            return Err(BadFile {
                line: 0,
                message: format!("--set {k}={v}: {}", stderr(&o)),
            });
        }
    }
    let mut bound: HashMap<String, String> = HashMap::new();
    let mut out = Vec::new();
    for step in steps {
        let bad = |message: String| BadFile {
            line: step.line,
            message,
        };
        match &step.kind {
            StepKind::Command(words) => {
                if tenant_key(words).is_some_and(|k| sets.iter().any(|(s, _)| s == k)) {
                    continue;
                }
                let words = substitute(words, &bound).map_err(bad)?;
                let o = lab.run(&words).map_err(bad)?;
                if !o.status.success() {
                    return Err(bad(format!("`{}` failed: {}", step.text, stderr(&o))));
                }
                if let [a, c, sam, rest @ ..] = words.as_slice() {
                    if a == "app-password" && c == "create" {
                        let name = rest
                            .iter()
                            .position(|w| w == "--name")
                            .and_then(|i| rest.get(i + 1))
                            .cloned()
                            .unwrap_or_default();
                        let v: serde_json::Value =
                            serde_json::from_slice(&o.stdout).unwrap_or_default();
                        if let Some(secret) = v["secret"].as_str() {
                            bound
                                .insert(format!("{sam}/{name}").to_lowercase(), secret.to_string());
                        }
                    }
                }
            }
            StepKind::ExpectRefused(words) => {
                let words = substitute(words, &bound).map_err(bad)?;
                let o = lab.run(&words).map_err(bad)?;
                let refused = o.status.code() == Some(1);
                out.push(Checked {
                    line: step.line,
                    step: step.text.clone(),
                    ok: refused,
                    actual: Actual {
                        outcome: if o.status.success() {
                            "done"
                        } else {
                            "refused"
                        }
                        .into(),
                        rule: None,
                        codes: vec![],
                        explanation: if o.status.success() {
                            "the command succeeded".into()
                        } else {
                            stderr(&o)
                        },
                    },
                });
            }
            StepKind::Expect(e) => {
                let secret = substitute(std::slice::from_ref(&e.secret), &bound).map_err(bad)?;
                let actual = match e.door {
                    None => decide(&lab, e, &secret[0]).map_err(bad)?,
                    Some(door) => {
                        lab.start_server().map_err(bad)?;
                        let server = lab
                            .server
                            .as_ref()
                            .ok_or_else(|| bad("no lab server".into()))?;
                        server
                            .decide(
                                door,
                                e.endpoint,
                                e.admin_actions,
                                &e.login,
                                &secret[0],
                                e.mfa,
                            )
                            .map_err(bad)?
                    }
                };
                out.push(Checked {
                    line: step.line,
                    step: step.text.clone(),
                    ok: holds(e, &actual),
                    actual,
                });
            }
        }
    }
    Ok(out)
}

fn decide(lab: &Lab, e: &Expect, secret: &str) -> Result<Actual, String> {
    let mut words: Vec<String> = [
        "check",
        "--endpoint",
        e.endpoint.as_str(),
        "--user",
        &e.login,
        "--password-stdin",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(ip) = e.from {
        words.push("--from".into());
        words.push(ip.to_string());
    }
    if e.admin_actions {
        words.push("--admin-actions".into());
    }
    // The secret goes on standard input, never on a command line other users can read.
    let mut cmd = lab_command(&lab.exe);
    let mut child = cmd
        .arg("--config")
        .arg(&lab.config)
        .arg("--json")
        .args(&words)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run check: {e}"))?;
    if let Some(mut input) = child.stdin.take() {
        use std::io::Write;
        let _ = writeln!(input, "{secret}");
    }
    let o = child
        .wait_with_output()
        .map_err(|e| format!("check: {e}"))?;
    if !o.status.success() {
        return Err(format!("the decision could not be made: {}", stderr(&o)));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).map_err(|e| format!("check printed no decision: {e}"))?;
    let mut codes = vec![];
    if let Some(c) = v["codes"]["ad"].as_str() {
        codes.push(c.to_string());
    }
    if let Some(n) = v["codes"]["nps"].as_u64() {
        codes.push(n.to_string());
    }
    if let Some(c) = v["codes"]["aadsts"].as_str() {
        codes.push(c.to_string());
    }
    Ok(Actual {
        outcome: v["outcome"].as_str().unwrap_or_default().to_string(),
        rule: v["rule"].as_str().map(str::to_string),
        codes,
        explanation: v["explanation"].as_str().unwrap_or_default().to_string(),
    })
}

/// The outcome matches and every code given is among the decision's (an AADSTS code may be
/// written with or without its prefix; a rule id counts as a code).
fn holds(e: &Expect, a: &Actual) -> bool {
    let outcome = if e.accept { "accept" } else { "reject" };
    a.outcome == outcome
        && e.codes.iter().all(|c| {
            let c = c.to_ascii_lowercase();
            a.rule
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case(&c))
                || a.codes.iter().any(|have| {
                    let have = have.to_ascii_lowercase();
                    have == c || have.strip_prefix("aadsts") == Some(c.as_str())
                })
        })
}

/// The scenario file's directory-independent name, for reports.
pub fn display(path: &Path) -> String {
    path.display().to_string()
}
