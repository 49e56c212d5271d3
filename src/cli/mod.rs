//! The command line: the contract scripts rely on. One file per command group; this file only
//! declares the grammar and dispatches.

mod app_password;
mod args;
mod cert;
mod cert_files;
mod cert_radsec;
mod check;
mod clock;
mod config;
mod health;
mod load;
mod mfa;
pub mod output;
mod scenario;
mod serve;
mod sync;
mod tenant;
mod timeline;
mod user;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::app::App;
use crate::config::Config;
pub use args::{parse_bool, read_secret};
pub use output::{CliError, Out};

#[derive(Parser, Debug)]
#[command(
    name = "hybridauth",
    version,
    about = "RADIUS and LDAP front end with hybrid AD / Entra credential semantics"
)]
pub struct Cli {
    /// Configuration file (default: conf/hybridauth.toml, else /etc/hybridauth/hybridauth.toml).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Machine-readable output on stdout; errors on stderr.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the RADIUS and LDAP listeners.
    Serve(serve::ServeArgs),
    /// Tenant settings (docs/model.md §8).
    #[command(subcommand)]
    Tenant(tenant::TenantCmd),
    /// On-prem users and their cloud-side settings.
    #[command(subcommand)]
    User(user::UserCmd),
    /// App passwords (cloud only).
    #[command(subcommand, name = "app-password")]
    AppPassword(app_password::AppPasswordCmd),
    /// The simulated authenticator app: approve or deny a push, show a code (MFA over RADIUS,
    /// `[radius.mfa]`).
    #[command(subcommand)]
    Mfa(mfa::MfaCmd),
    /// Object sync and password hash sync.
    #[command(subcommand)]
    Sync(sync::SyncCmd),
    /// The clock (moving it needs [clock] mode = "simulated").
    #[command(subcommand)]
    Clock(clock::ClockCmd),
    /// Run one decision without the network and print it.
    Check(check::CheckArgs),
    /// Write a self-signed certificate and key for a lab LDAPS/StartTLS listener.
    Cert(cert::CertArgs),
    /// Drive a RADIUS or LDAP server (this one or another) and report rate and latency.
    #[command(subcommand)]
    Load(load::LoadCmd),
    /// Check a configuration file (`config check`), as `radiusd -C` does.
    #[command(subcommand)]
    Config(config::ConfigCmd),
    /// Ask the running daemon whether it is healthy (its /healthz on [admin] listen): exit 0
    /// healthy, 1 unhealthy, 3 unreachable.
    Health(health::HealthArgs),
    /// Scenario files: replay a hybrid story on a private lab and check it (`run`), or see
    /// what changes with other tenant settings (`diff`).
    #[command(subcommand)]
    Scenario(scenario::ScenarioCmd),
    /// A user's on-prem changes, the sync cycles that carried them (and what the cloud saw
    /// after each), and the sign-ins from both logs, in time order.
    Timeline(timeline::TimelineArgs),
}

/// Runs the parsed command; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    // Every file a command creates (store, logs, lab keys) is for the service alone.
    crate::runtime::process::restrict_umask();
    let out = Out { json: cli.json };
    let result = dispatch(cli, &out);
    match result {
        Ok(()) => 0,
        Err(e) => out.error(&e),
    }
}

fn dispatch(cli: Cli, out: &Out) -> Result<(), CliError> {
    if let Command::Cert(args) = &cli.command {
        return cert::run(args, out);
    }
    // A client of any server: it needs no configuration or store.
    if let Command::Load(cmd) = cli.command {
        return load::run(cmd, out);
    }
    // Checks a configuration; never opens the store.
    if let Command::Config(cmd) = cli.command {
        return config::run(cmd, cli.config.as_deref(), out);
    }
    // Runs on a private lab of its own; never opens the configured store.
    if let Command::Scenario(cmd) = cli.command {
        return scenario::run(cmd, cli.config.as_deref(), out);
    }
    let config = Config::load(cli.config.as_deref())?;
    // Root on the service's state (see `service_user`).
    if let Some((uid, gid, dir, name)) = crate::service_user::other_owner(&config.store_path) {
        if matches!(cli.command, Command::Serve(_)) {
            return Err(CliError::Failure(format!(
                "running as root on {}, which belongs to {name}: start the daemon as that user (`systemctl start hybridauth`, or without systemd `setpriv --reuid={name} --regid={name} --init-groups hybridauth --config FILE serve`)",
                dir.display()
            )));
        }
        if !matches!(cli.command, Command::Health(_)) {
            crate::service_user::become_user(uid, gid).map_err(|e| {
                CliError::Failure(format!(
                    "running as root on {}, which belongs to {name}: cannot become {name} ({e}); run the command as {name} (`runuser -u {name} -- hybridauth …`)",
                    dir.display()
                ))
            })?;
            eprintln!(
                "hybridauth: running as {name}, the owner of {} (files made there as root would be unreadable to the service)",
                dir.display()
            );
        }
    }
    if let Command::Serve(args) = &cli.command {
        if config.radius.listen.is_empty()
            && config.radius.accounting_listen.is_empty()
            && config.radius.stream_listeners.is_empty()
            && config.ldap.listeners.is_empty()
        {
            return Err(CliError::Failure(
                "no listener: radius.listen, radius.accounting_listen, radius.tls_listeners, radius.tcp_listeners and ldap.listeners are all empty; nothing to serve".into(),
            ));
        }
        return serve::run(config, args, cli.config.clone());
    }
    // A client of the running daemon: it never opens the store.
    if let Command::Health(args) = &cli.command {
        return health::run(&config, args, out);
    }
    // A command that only reads never creates a store: a missing one is most often the wrong
    // directory or configuration, and an empty answer would hide that.
    if reads_only(&cli.command) && !config.store.is_shared() && !config.store_path.exists() {
        return Err(CliError::Failure(format!(
            "no store at {} ({}); a command that only reads never creates one: point --config or HYBRIDAUTH_STORE__PATH at the store, or create it with a command that writes (user add, user import, clock set)",
            config.store_path.display(),
            store_path_origin(cli.config.as_deref())
        )));
    }
    let app = App::open(config)?;
    match cli.command {
        Command::Tenant(c) => tenant::run(c, &app, out),
        Command::User(c) => user::run(c, &app, out),
        Command::AppPassword(c) => app_password::run(c, &app, out),
        Command::Mfa(c) => mfa::run(c, &app, out),
        Command::Sync(c) => sync::run(c, &app, out),
        Command::Clock(c) => clock::run(c, &app, out),
        Command::Check(a) => check::run(a, &app, out),
        Command::Timeline(a) => timeline::run(a, &app, out),
        Command::Serve(_)
        | Command::Cert(_)
        | Command::Load(_)
        | Command::Config(_)
        | Command::Health(_)
        | Command::Scenario(_) => Ok(()),
    }
}

/// Whether a command only reads the store (so must not create it).
fn reads_only(c: &Command) -> bool {
    matches!(
        c,
        Command::Tenant(tenant::TenantCmd::Show)
            | Command::User(user::UserCmd::Show { .. } | user::UserCmd::List)
            | Command::AppPassword(app_password::AppPasswordCmd::List { .. })
            | Command::Sync(sync::SyncCmd::Status)
            | Command::Clock(clock::ClockCmd::Show)
            | Command::Timeline(_)
    )
}

/// How the store's path was chosen, in words: the key in a file, the environment variable, or
/// the built-in default relative to the current directory.
fn store_path_origin(explicit: Option<&std::path::Path>) -> String {
    let md = Config::figment(explicit)
        .ok()
        .and_then(|f| f.find_metadata("store.path").cloned());
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| "the current directory".into());
    match md.as_ref().and_then(|m| m.source.clone()) {
        Some(figment::Source::File(path)) => format!("store.path in {}", path.display()),
        _ if md.as_ref().is_some_and(|m| m.name.contains("environment")) => {
            "from HYBRIDAUTH_STORE__PATH".into()
        }
        _ => format!(
            "the built-in default, relative to the current directory {cwd}, as no configuration file was found (conf/hybridauth.toml, /etc/hybridauth/hybridauth.toml)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every subcommand and every option and argument, at every depth.
    fn walk(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let name = format!("{path} {}", sub.get_name());
            if sub
                .get_about()
                .is_none_or(|a| a.to_string().trim().is_empty())
            {
                out.push(format!("{name}: no description"));
            }
            for arg in sub.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                if help.trim().is_empty() {
                    out.push(format!("{name} {id}: no help"));
                }
            }
            walk(sub, &name, out);
        }
    }

    #[test]
    fn every_subcommand_and_option_has_help() {
        let mut missing = vec![];
        walk(&Cli::command(), "hybridauth", &mut missing);
        assert!(missing.is_empty(), "{}", missing.join("\n"));
    }

    #[test]
    fn option_help_lists_the_allowed_values() {
        let help = |path: &[&str], arg: &str| {
            let mut cmd = Cli::command();
            for p in path {
                cmd = cmd.find_subcommand(p).expect(p).clone();
            }
            let a = cmd
                .get_arguments()
                .find(|a| a.get_id().as_str() == arg)
                .expect(arg);
            format!(
                "{} {}",
                a.get_help().map(|h| h.to_string()).unwrap_or_default(),
                a.get_long_help().map(|h| h.to_string()).unwrap_or_default()
            )
        };
        assert!(help(&["check"], "endpoint").contains("on-prem|cloud|hybrid"));
        assert!(help(&["user", "add"], "mfa").contains("disabled|enabled|enforced"));
        assert!(help(&["user", "set"], "mfa").contains("disabled|enabled|enforced"));
        assert!(help(&["user", "import"], "format").contains("csv|ldif"));
        let keys = help(&["tenant", "set"], "key");
        for (k, _) in crate::directory::Tenant::default().entries() {
            assert!(keys.contains(&format!("{k} (default: ")), "{k} in {keys}");
        }
    }
}
