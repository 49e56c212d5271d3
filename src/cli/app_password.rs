//! `hybridauth app-password …`

use clap::Subcommand;
use serde_json::json;

use super::output::time;
use super::output::{CliError, Out};
use crate::app::App;

#[derive(Subcommand, Debug)]
pub enum AppPasswordCmd {
    /// Create an app password; its secret is printed once and never stored.
    Create {
        /// The user's sAMAccountName.
        sam: String,
        /// A name for it, unique per user (at most 40 app passwords per user).
        #[arg(long)]
        name: String,
    },
    /// List a user's app passwords (names, creation and last use; never the secrets).
    List {
        /// The user's sAMAccountName.
        sam: String,
    },
    /// Delete an app password (it stops working at once, in the cloud).
    Delete {
        /// The user's sAMAccountName.
        sam: String,
        /// The app password's name.
        #[arg(long)]
        name: String,
        /// Act as an administrator (allowed even when the tenant setting is off).
        #[arg(long)]
        as_admin: bool,
    },
}

pub fn run(cmd: AppPasswordCmd, app: &App, out: &Out) -> Result<(), CliError> {
    let d = &app.directory;
    match cmd {
        AppPasswordCmd::Create { sam, name } => {
            let (ap, secret) = d.create_app_password(&sam, &name)?;
            out.emit(json!({ "name": ap.name, "secret": secret }), || {
                format!(
                    "app password {:?} for {sam}: {secret}\n(shown once; only its hash is kept)",
                    ap.name
                )
            });
        }
        AppPasswordCmd::List { sam } => {
            let aps = d.app_passwords(&sam)?;
            let list: Vec<_> = aps
                .iter()
                .map(|a| {
                    json!({
                        "name": a.name,
                        "created": time(a.created_at),
                        "last_used": a.last_used.map(time),
                    })
                })
                .collect();
            out.emit(json!(list), || {
                if aps.is_empty() {
                    return format!("{sam} has no app passwords");
                }
                aps.iter()
                    .map(|a| {
                        format!(
                            "{:<24} created {}  last used {}",
                            a.name,
                            time(a.created_at),
                            a.last_used.map(time).unwrap_or_else(|| "never".into())
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        AppPasswordCmd::Delete {
            sam,
            name,
            as_admin,
        } => {
            d.delete_app_password(&sam, &name, as_admin)?;
            out.emit(json!({ "deleted": name }), || {
                format!("deleted app password {name:?} of {sam}")
            });
        }
    }
    Ok(())
}
