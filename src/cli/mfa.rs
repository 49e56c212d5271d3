//! `hybridauth user mfa …` (a user's MFA registration, as done in the cloud) and
//! `hybridauth mfa …` (the simulated authenticator app: approve or deny a push, show a code).

use clap::{Args, Subcommand};
use serde_json::json;

use super::output::time;
use super::output::{CliError, Out};
use crate::app::App;
use crate::directory::mfa::{MfaKind, PushAnswer};

/// Which kind of method.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct Kind {
    /// An authenticator app's six-digit code (TOTP: RFC 6238, 30 s, SHA-1).
    #[arg(long)]
    totp: bool,
    /// An authenticator app's notification (answered with `hybridauth mfa approve|deny`).
    #[arg(long)]
    push: bool,
}

impl Kind {
    fn kind(&self) -> MfaKind {
        if self.totp {
            MfaKind::Totp
        } else {
            MfaKind::Push
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum UserMfaCmd {
    /// Register a method; `--totp` prints the otpauth:// URI and a QR code for a real
    /// authenticator app (shown once).
    Add {
        /// The user's sAMAccountName.
        sam: String,
        #[command(flatten)]
        kind: Kind,
        /// Make it the default method (a user's first method is the default anyway).
        #[arg(long)]
        default: bool,
    },
    /// A user's methods (never a secret).
    List {
        /// The user's sAMAccountName.
        sam: String,
    },
    /// Remove a method.
    Remove {
        /// The user's sAMAccountName.
        sam: String,
        #[command(flatten)]
        kind: Kind,
    },
}

#[derive(Subcommand, Debug)]
pub enum MfaCmd {
    /// Approve the user's waiting push, as the phone's "Approve" button does.
    Approve {
        /// The user's sAMAccountName.
        sam: String,
    },
    /// Deny the user's waiting push.
    Deny {
        /// The user's sAMAccountName.
        sam: String,
    },
    /// The user's current TOTP code (real time, as the phone shows it), for scripts.
    Code {
        /// The user's sAMAccountName.
        sam: String,
    },
}

pub fn run_user(cmd: UserMfaCmd, app: &App, out: &Out) -> Result<(), CliError> {
    let d = &app.directory;
    match cmd {
        UserMfaCmd::Add { sam, kind, default } => {
            let (user, m) = d.add_mfa_method(&sam, kind.kind(), default)?;
            match &m.secret {
                Some(secret) => {
                    let issuer = format!("hybridauth {}", app.config.directory.upn_suffix);
                    let uri = crate::totp::otpauth_uri(&issuer, &user.upn, secret);
                    out.emit(
                        json!({ "sam": user.sam, "method": "totp", "default": m.default, "otpauth_uri": uri }),
                        || {
                            format!(
                                "totp method added for {} (shown once; scan it with an authenticator app):\n{uri}\n{}",
                                user.sam,
                                qr(&uri)
                            )
                        },
                    );
                }
                None => out.emit(
                    json!({ "sam": user.sam, "method": "push", "default": m.default }),
                    || format!("push method added for {}", user.sam),
                ),
            }
        }
        UserMfaCmd::List { sam } => {
            let (_, methods) = d.mfa_methods(&sam)?;
            let list: Vec<_> = methods
                .iter()
                .map(|m| json!({ "method": m.kind.as_str(), "default": m.default, "added": time(m.created_at) }))
                .collect();
            out.emit(json!(list), || {
                if methods.is_empty() {
                    return format!("{sam} has no MFA method");
                }
                methods
                    .iter()
                    .map(|m| {
                        let default = if m.default { " (default)" } else { "" };
                        format!("{}{default}, added {}", m.kind.as_str(), time(m.created_at))
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        UserMfaCmd::Remove { sam, kind } => {
            d.remove_mfa_method(&sam, kind.kind())?;
            out.emit(json!({ "removed": kind.kind().as_str() }), || {
                format!("{} method removed for {sam}", kind.kind().as_str())
            });
        }
    }
    Ok(())
}

pub fn run(cmd: MfaCmd, app: &App, out: &Out) -> Result<(), CliError> {
    let d = &app.directory;
    match cmd {
        MfaCmd::Approve { sam } => {
            let id = d.answer_push(&sam, PushAnswer::Approved)?;
            out.emit(json!({ "push": id, "answer": "approved" }), || {
                format!("push {id} for {sam} approved")
            });
        }
        MfaCmd::Deny { sam } => {
            let id = d.answer_push(&sam, PushAnswer::Denied)?;
            out.emit(json!({ "push": id, "answer": "denied" }), || {
                format!("push {id} for {sam} denied")
            });
        }
        MfaCmd::Code { sam } => {
            let code = d.mfa_code(&sam)?;
            out.emit(json!({ "code": code }), || code.clone());
        }
    }
    Ok(())
}

/// The URI as a QR code drawn with half-block characters (two modules per character
/// vertically), dark on light, with the quiet zone.
fn qr(uri: &str) -> String {
    match qrcode::QrCode::new(uri.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .build(),
        Err(_) => String::new(),
    }
}
