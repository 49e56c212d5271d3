//! `hybridauth user …`

use clap::Subcommand;
use serde_json::json;

use super::args::{parse_bool, read_secret};
use super::output::time;
use super::output::{CliError, Out};
use crate::app::App;
use crate::directory::service::{NewUser, UserChanges};
use crate::directory::{user_dn, MfaState, User};
use crate::time::parse_time;
use crate::verify::lockout;

fn parse_mfa(s: &str) -> Result<MfaState, String> {
    MfaState::parse(s).ok_or_else(|| format!("expected disabled, enabled or enforced, got {s:?}"))
}

/// `--expires TIME|never`. A named type, because clap reads `Option<Option<T>>` as "a flag
/// whose value may be left out" and would then expect the parser to yield `T`.
#[derive(Debug, Clone, Copy)]
pub struct Expiry(Option<crate::directory::Time>);

fn parse_expires(s: &str) -> Result<Expiry, String> {
    if s.eq_ignore_ascii_case("never") {
        Ok(Expiry(None))
    } else {
        parse_time(s).map(|t| Expiry(Some(t)))
    }
}

fn groups(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_string)
        .collect()
}

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Create an on-prem user (it reaches the cloud at the next object-sync cycle).
    Add {
        /// The sAMAccountName (at most 20 characters, none of "/\[]:;|=,+*?<>@).
        sam: String,
        /// The userPrincipalName [default: SAM@<directory.upn_suffix>].
        #[arg(long)]
        upn: Option<String>,
        /// The password (or --password-stdin, which keeps it out of the process list).
        #[arg(long)]
        password: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Per-user MFA in the cloud: disabled|enabled|enforced.
        #[arg(long, value_parser = parse_mfa, default_value = "disabled")]
        mfa: MfaState,
        /// An administrator (Entra role; security defaults require MFA for admins).
        #[arg(long)]
        admin: bool,
        /// Legacy authentication blocked for this user (docs/model.md §4b).
        #[arg(long)]
        modern_auth_only: bool,
        /// Group names, comma-separated (memberOf, Conditional Access scopes).
        #[arg(long, value_name = "g1,g2")]
        groups: Option<String>,
        /// The displayName [default: SAM].
        #[arg(long)]
        display_name: Option<String>,
        /// The mail attribute (also a cloud sign-in name with the tenant's email-sign-in).
        #[arg(long)]
        mail: Option<String>,
    },
    /// Change a user's attributes (only those given).
    Set {
        /// The user's sAMAccountName.
        sam: String,
        /// Per-user MFA in the cloud: disabled|enabled|enforced.
        #[arg(long, value_parser = parse_mfa)]
        mfa: Option<MfaState>,
        /// An administrator: true|false.
        #[arg(long, value_parser = parse_bool)]
        admin: Option<bool>,
        /// Legacy authentication blocked for this user: true|false.
        #[arg(long, value_parser = parse_bool)]
        modern_auth_only: Option<bool>,
        /// When the account expires: an RFC 3339 time, or `never`.
        #[arg(long, value_parser = parse_expires)]
        expires: Option<Expiry>,
        /// The user must change the password at next logon: true|false.
        #[arg(long, value_parser = parse_bool)]
        must_change: Option<bool>,
        /// The password has expired: true|false.
        #[arg(long, value_parser = parse_bool)]
        password_expired: Option<bool>,
        /// A new userPrincipalName.
        #[arg(long)]
        upn: Option<String>,
        /// A new displayName.
        #[arg(long)]
        display_name: Option<String>,
        /// A new mail attribute.
        #[arg(long)]
        mail: Option<String>,
        /// The user's groups, comma-separated (replaces the list; empty for none).
        #[arg(long, value_name = "g1,g2")]
        groups: Option<String>,
    },
    /// Disable the account on-prem (the cloud follows at the next object-sync cycle).
    Disable {
        /// The user's sAMAccountName.
        sam: String,
    },
    /// Enable the account on-prem (the cloud follows at the next object-sync cycle).
    Enable {
        /// The user's sAMAccountName.
        sam: String,
    },
    /// Delete the account on-prem (the cloud object lives until the deletion syncs).
    Delete {
        /// The user's sAMAccountName.
        sam: String,
    },
    /// Clear the AD lockout (and with --smart-lockout, Entra's smart lockout).
    Unlock {
        /// The user's sAMAccountName.
        sam: String,
        /// Also clear Entra's smart lockout.
        #[arg(long)]
        smart_lockout: bool,
    },
    /// Set a new password (the cloud gets its hash at the next password-hash-sync cycle).
    ResetPassword {
        /// The user's sAMAccountName.
        sam: String,
        /// The new password (or --password-stdin).
        #[arg(long)]
        password: Option<String>,
        /// Read the new password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// The user must change it at next logon (its hash is then not synced).
        #[arg(long)]
        must_change: bool,
    },
    /// Show one user, with lockout state and app-password count.
    Show {
        /// The user's sAMAccountName.
        sam: String,
    },
    /// List every on-prem user.
    List,
    /// A user's MFA methods, registered in the cloud (used by the NPS extension over RADIUS,
    /// `[radius.mfa]`).
    #[command(subcommand)]
    Mfa(super::mfa::UserMfaCmd),
    /// Import users from CSV or an AD LDIF export, all or none.
    ///
    /// CSV: a header naming any of sam (required), upn, password or password_hash (an Argon2id
    /// PHC string), display_name, mail, groups (`;`-separated), mfa (disabled|enabled|enforced),
    /// admin, enabled (true|false). LDIF: user objects of an AD export (sAMAccountName,
    /// userPrincipalName, displayName, mail, memberOf, userAccountControl); AD exports no
    /// passwords, so those accounts have none until `user reset-password`. Every bad line is
    /// listed as FILE:LINE with exit code 2, and nothing is imported.
    Import {
        /// The file to import.
        file: std::path::PathBuf,
        /// csv|ldif [default: ldif for a `.ldif` file name, else csv].
        #[arg(long, value_parser = ["csv", "ldif"])]
        format: Option<String>,
    },
}

fn user_json(app: &App, u: &User, detail: bool) -> Result<serde_json::Value, CliError> {
    let mut v = json!({
        "sam": u.sam,
        "upn": u.upn,
        "dn": user_dn(&app.config.directory, &u.sam),
        "display_name": u.display_name,
        "mail": u.mail,
        "groups": u.groups,
        "enabled": u.enabled,
        "account_expires": u.account_expires.map(time),
        "password_set_at": time(u.password_set_at),
        "password_expired": u.password_expired,
        "must_change": u.must_change,
        "admin": u.admin,
        "mfa": u.mfa.as_str(),
        "modern_auth_only": u.modern_auth_only,
        "created_at": time(u.created_at),
    });
    if detail {
        let now = app.directory.now()?;
        let tenant = app.store.tenant()?;
        let ad = app.store.ad_lockout(u.id)?;
        let smart = app.store.smart_lockout(u.id)?;
        let aps = app.store.app_passwords(u.id)?;
        v["app_passwords"] = json!(aps.len());
        v["ad_lockout"] = json!({
            "bad_count": ad.bad_count,
            "locked": lockout::ad_locked(&ad, &tenant, now).is_some(),
        });
        v["smart_lockout"] = json!({
            "failures": smart.failures,
            "locked_until": lockout::smart_locked_until(&smart, now).map(time),
        });
    }
    Ok(v)
}

fn human(v: &serde_json::Value) -> String {
    let Some(obj) = v.as_object() else {
        return v.to_string();
    };
    obj.iter()
        .map(|(k, v)| {
            format!(
                "{k:<18} {}",
                match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                }
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn run(cmd: UserCmd, app: &App, out: &Out) -> Result<(), CliError> {
    let d = &app.directory;
    match cmd {
        UserCmd::Mfa(c) => return super::mfa::run_user(c, app, out),
        UserCmd::Add {
            sam,
            upn,
            password,
            password_stdin,
            mfa,
            admin,
            modern_auth_only,
            groups: g,
            display_name,
            mail,
        } => {
            let password = read_secret(password, password_stdin, "password")?;
            let u = d.add_user(NewUser {
                sam,
                upn,
                password,
                display_name,
                mail,
                groups: g.as_deref().map(groups).unwrap_or_default(),
                mfa,
                admin,
                modern_auth_only,
            })?;
            let v = user_json(app, &u, false)?;
            out.emit(v, || format!("created {} ({})", u.sam, u.upn));
        }
        UserCmd::Set {
            sam,
            mfa,
            admin,
            modern_auth_only,
            expires,
            must_change,
            password_expired,
            upn,
            display_name,
            mail,
            groups: g,
        } => {
            let u = d.set_user(
                &sam,
                UserChanges {
                    upn,
                    display_name,
                    mail: mail.map(|m| (!m.is_empty()).then_some(m)),
                    groups: g.as_deref().map(groups),
                    mfa,
                    admin,
                    modern_auth_only,
                    expires: expires.map(|e| e.0),
                    must_change,
                    password_expired,
                },
            )?;
            let v = user_json(app, &u, false)?;
            out.emit(v, || format!("updated {}", u.sam));
        }
        UserCmd::Disable { sam } => {
            let u = d.set_enabled(&sam, false)?;
            let v = user_json(app, &u, false)?;
            out.emit(v, || {
                format!(
                    "disabled {} on-prem; the cloud sees it at the next object-sync cycle",
                    u.sam
                )
            });
        }
        UserCmd::Enable { sam } => {
            let u = d.set_enabled(&sam, true)?;
            let v = user_json(app, &u, false)?;
            out.emit(v, || format!("enabled {} on-prem", u.sam));
        }
        UserCmd::Delete { sam } => {
            d.delete(&sam)?;
            out.emit(json!({ "deleted": sam }), || {
                format!(
                    "deleted {sam} on-prem; the cloud keeps it until the next object-sync cycle"
                )
            });
        }
        UserCmd::Unlock { sam, smart_lockout } => {
            d.unlock(&sam, smart_lockout)?;
            out.emit(
                json!({ "unlocked": sam, "smart_lockout": smart_lockout }),
                || format!("unlocked {sam}"),
            );
        }
        UserCmd::ResetPassword {
            sam,
            password,
            password_stdin,
            must_change,
        } => {
            let password = read_secret(password, password_stdin, "password")?;
            let u = d.reset_password(&sam, &password, must_change)?;
            let v = user_json(app, &u, false)?;
            out.emit(v, || {
                format!("password reset for {}; the cloud keeps the old one until the next password-hash-sync cycle", u.sam)
            });
        }
        UserCmd::Show { sam } => {
            let u = d.get(&sam)?;
            let v = user_json(app, &u, true)?;
            let text = human(&v);
            out.emit(v, || text);
        }
        UserCmd::Import { file, format } => {
            let name = file.display().to_string();
            // Streamed row by row: a file is never read whole (see `textfile`).
            let input = std::fs::File::open(&file)
                .map(std::io::BufReader::new)
                .map_err(|e| CliError::Usage(format!("cannot read {name}: {e}")))?;
            let ldif = match format.as_deref() {
                Some(f) => f == "ldif",
                None => file
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("ldif")),
            };
            let parsed = if ldif {
                crate::directory::import::parse_ldif(input)
            } else {
                crate::directory::import::parse_csv(input)
            };
            let bar = crate::progress::Bar::new("hashing passwords", !out.json);
            let summary = d.import_users(&name, parsed, &|done, total| bar.show(done, total))?;
            bar.finish();
            out.emit(json!(summary), || {
                format!(
                    "imported {} users ({} passwords hashed here, {} given as Argon2id hashes, {} without a password)",
                    summary.imported, summary.hashed, summary.prehashed, summary.without_password
                )
            });
        }
        UserCmd::List => {
            let users = d.list()?;
            let list = users
                .iter()
                .map(|u| user_json(app, u, false))
                .collect::<Result<Vec<_>, _>>()?;
            out.emit(json!(list), || {
                users
                    .iter()
                    .map(|u| {
                        format!(
                            "{:<20} {:<32} {:<8} mfa={}{}",
                            u.sam,
                            u.upn,
                            if u.enabled { "enabled" } else { "disabled" },
                            u.mfa.as_str(),
                            if u.admin { " admin" } else { "" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    Ok(())
}
