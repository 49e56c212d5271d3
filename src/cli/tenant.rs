//! `hybridauth tenant show | set KEY VALUE`

use clap::Subcommand;
use serde_json::{json, Map, Value};

use super::output::{CliError, Out};
use crate::app::App;
use crate::directory::Tenant;

#[derive(Subcommand, Debug)]
pub enum TenantCmd {
    /// Show every tenant setting.
    Show,
    /// Set one setting, e.g. `tenant set allow-app-passwords on`.
    Set {
        /// The setting.
        #[arg(long_help = keys_help(), help = "The setting (see --help for keys and defaults)")]
        key: String,
        /// Its new value (on|off for switches, a duration such as 30m, a number, or a list).
        value: String,
    },
}

/// The settings and their defaults, for `tenant set --help`.
fn keys_help() -> String {
    let keys: Vec<String> = Tenant::default()
        .entries()
        .into_iter()
        .map(|(k, v)| {
            let shown = match v {
                Value::String(s) => s,
                Value::Bool(true) => "on".into(),
                Value::Bool(false) => "off".into(),
                Value::Array(a) if a.is_empty() => "none".into(),
                other => other.to_string(),
            };
            format!("  {k} (default: {shown})")
        })
        .collect();
    format!("The setting, one of:\n{}", keys.join("\n"))
}

fn render(t: &Tenant) -> (Value, String) {
    let entries = t.entries();
    let mut map = Map::new();
    let mut text = Vec::new();
    for (k, v) in entries {
        let shown = match &v {
            Value::String(s) => s.clone(),
            Value::Array(a) if a.is_empty() => "none".into(),
            Value::Array(a) => a
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        };
        text.push(format!("{k:<40} {shown}"));
        map.insert(k.to_string(), v);
    }
    (Value::Object(map), text.join("\n"))
}

pub fn run(cmd: TenantCmd, app: &App, out: &Out) -> Result<(), CliError> {
    match cmd {
        TenantCmd::Show => {
            let (v, text) = render(&app.directory.tenant()?);
            out.emit(v, || text);
        }
        TenantCmd::Set { key, value } => {
            let t = app.directory.set_tenant(&key, &value)?;
            let (v, _) = render(&t);
            let shown = v.get(&key).cloned().unwrap_or(Value::Null);
            if key == "trusted-ips" && !out.json {
                let private = t.trusted_ips.iter().any(|n| {
                    let a = n.addr();
                    a.is_private() || a.is_loopback() || a.is_link_local()
                });
                if private {
                    eprintln!("note: Entra expects public ranges as trusted IPs; private and loopback ranges are accepted here for lab use");
                }
            }
            out.emit(json!({ "key": key, "value": shown }), || {
                format!("{key} = {shown}")
            });
        }
    }
    Ok(())
}
