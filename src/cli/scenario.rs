//! `hybridauth scenario run|diff`: replay a hybrid story and check it (see `scenario`).

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::json;

use super::output::{CliError, Out};
use crate::config::Config;
use crate::scenario::run::{self, Checked};

#[derive(Subcommand, Debug)]
pub enum ScenarioCmd {
    /// Replay a scenario file on a private lab store with the simulated clock and check every
    /// expectation: exit 0 when all hold, 1 when any fails, 2 for a bad file.
    Run {
        /// The scenario file (format: the README's "Scenarios"; examples under scenarios/).
        file: PathBuf,
        /// What if: a tenant setting (KEY=VALUE, as `tenant set KEY VALUE`; repeatable) applied
        /// first and kept for the whole run.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Also write a JUnit XML report (one test case per expectation) to this file.
        #[arg(long, value_name = "OUT.xml")]
        junit: Option<PathBuf>,
    },
    /// Run a scenario as written and again with --set overrides; print only the expectations
    /// whose answer changes, side by side.
    Diff {
        /// The scenario file.
        file: PathBuf,
        /// A tenant setting KEY=VALUE for the second run (repeatable; at least one).
        #[arg(long = "set", value_name = "KEY=VALUE", required = true)]
        set: Vec<String>,
    },
}

fn settings(set: &[String]) -> Result<Vec<(String, String)>, CliError> {
    set.iter()
        .map(|s| {
            s.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| CliError::Usage(format!("--set expects KEY=VALUE, got {s:?}")))
        })
        .collect()
}

fn replay(
    file: &Path,
    explicit: Option<&Path>,
    sets: &[(String, String)],
) -> Result<Vec<Checked>, CliError> {
    let raw = Config::load_raw(explicit)?;
    // Refuse an invalid configuration with its own message, before any step runs.
    Config::validate(raw.clone())?;
    let shown = run::display(file);
    let at = |line: usize| {
        if line == 0 {
            shown.clone()
        } else {
            format!("{shown}:{line}")
        }
    };
    let text = crate::textfile::read(file, crate::textfile::SCENARIO).map_err(|e| match e {
        crate::textfile::TextError::Io(e) => CliError::Usage(format!("{shown}: cannot read: {e}")),
        e => CliError::Usage(format!("{}: {}", at(e.line()), e.message())),
    })?;
    let steps = crate::scenario::parse(&text)
        .map_err(|b| CliError::Usage(format!("{}: {}", at(b.line), b.message)))?;
    run::run(&steps, raw, sets)
        .map_err(|b| CliError::Usage(format!("{}: {}", at(b.line), b.message)))
}

fn answer(c: &Checked) -> String {
    let a = &c.actual;
    let rule = a
        .rule
        .as_deref()
        .map(|r| format!(" [{r}]"))
        .unwrap_or_default();
    let codes = if a.codes.is_empty() {
        String::new()
    } else {
        format!(" {}", a.codes.join(" "))
    };
    format!(
        "{}{rule}{codes}: {}",
        a.outcome.to_uppercase(),
        a.explanation
    )
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn junit(file: &str, checked: &[Checked]) -> String {
    let failed = checked.iter().filter(|c| !c.ok).count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\">\n",
        xml(file),
        checked.len()
    );
    for c in checked {
        out.push_str(&format!(
            "  <testcase classname=\"{}\" name=\"line {}: {}\">",
            xml(file),
            c.line,
            xml(&c.step)
        ));
        if !c.ok {
            out.push_str(&format!("<failure message=\"{}\"/>", xml(&answer(c))));
        }
        out.push_str("</testcase>\n");
    }
    out.push_str("</testsuite>\n");
    out
}

pub fn run(cmd: ScenarioCmd, explicit: Option<&Path>, out: &Out) -> Result<(), CliError> {
    match cmd {
        ScenarioCmd::Run {
            file,
            set,
            junit: report,
        } => {
            let sets = settings(&set)?;
            let checked = replay(&file, explicit, &sets)?;
            let shown = run::display(&file);
            let failed = checked.iter().filter(|c| !c.ok).count();
            if let Some(path) = report {
                std::fs::write(&path, junit(&shown, &checked)).map_err(|e| {
                    CliError::Failure(format!("cannot write {}: {e}", path.display()))
                })?;
            }
            let sets_json: serde_json::Map<String, serde_json::Value> =
                sets.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            out.emit(
                json!({
                    "file": shown,
                    "settings": sets_json,
                    "expectations": checked,
                    "total": checked.len(),
                    "failed": failed,
                }),
                || {
                    let mut text = String::new();
                    for c in &checked {
                        let mark = if c.ok { "ok    " } else { "FAILED" };
                        text.push_str(&format!(
                            "{mark}  {shown}:{}  {}\n        {}\n",
                            c.line,
                            c.step,
                            answer(c)
                        ));
                    }
                    text.push_str(&format!("{} expectations, {failed} failed", checked.len()));
                    text
                },
            );
            if failed > 0 {
                return Err(CliError::Refused(format!(
                    "{shown}: {failed} of {} expectations failed",
                    checked.len()
                )));
            }
            Ok(())
        }
        ScenarioCmd::Diff { file, set } => {
            let sets = settings(&set)?;
            let base = replay(&file, explicit, &[])?;
            let what_if = replay(&file, explicit, &sets)?;
            let shown = run::display(&file);
            let label = set.join(" ");
            let changed: Vec<(&Checked, &Checked)> = base
                .iter()
                .zip(what_if.iter())
                .filter(|(a, b)| {
                    a.actual.outcome != b.actual.outcome || a.actual.rule != b.actual.rule
                })
                .collect();
            out.emit(
                json!({
                    "file": shown,
                    "settings": set,
                    "changed": changed.iter().map(|(a, b)| json!({
                        "line": a.line,
                        "step": a.step,
                        "as_written": a.actual,
                        "what_if": b.actual,
                    })).collect::<Vec<_>>(),
                }),
                || {
                    let mut text = String::new();
                    for (a, b) in &changed {
                        text.push_str(&format!(
                            "{shown}:{}  {}\n    as written:   {}\n    with {label}:  {}\n",
                            a.line,
                            a.step,
                            answer(a),
                            answer(b)
                        ));
                    }
                    text.push_str(&format!(
                        "{} of {} expectations change with {label}",
                        changed.len(),
                        base.len()
                    ));
                    text
                },
            );
            Ok(())
        }
    }
}
