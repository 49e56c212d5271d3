//! `hybridauth tenant show | set KEY VALUE`

use clap::Subcommand;
use serde_json::{json, Map, Value};

use super::{CliError, Out};
use crate::app::App;
use crate::directory::Tenant;

#[derive(Subcommand, Debug)]
pub enum TenantCmd {
    Show,
    /// Set one setting, e.g. `tenant set allow-app-passwords on`.
    Set {
        key: String,
        value: String,
    },
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
