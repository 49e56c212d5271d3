//! `hybridauth check`: a third front door. It builds an Attempt, runs the verifier (lockout
//! counters and sign-in logs included, exactly as a real sign-in would) and prints the Decision.

use clap::Args;
use serde_json::json;

use super::args::read_secret;
use super::output::{CliError, Out};
use crate::app::App;
use crate::verify::{Attempt, Door, Endpoint, EndpointKind};

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Which endpoint decides: on-prem|cloud|hybrid.
    #[arg(long, value_parser = parse_endpoint)]
    endpoint: EndpointKind,
    /// The endpoint performs administrative actions (security defaults' rule for everyone).
    #[arg(long)]
    admin_actions: bool,
    /// The login name as typed: sAMAccountName, UPN, DN or DOMAIN\user.
    #[arg(long)]
    user: String,
    /// The secret: a domain password or an app password (or --password-stdin).
    #[arg(long)]
    password: Option<String>,
    /// Read the secret from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    /// The client address the sign-in comes from (for trusted IPs).
    #[arg(long)]
    from: Option<std::net::IpAddr>,
    /// Also show every rule the verifier evaluated, in order, and what each found (with
    /// --json: a "trace" array).
    #[arg(long)]
    trace: bool,
}

fn parse_endpoint(s: &str) -> Result<EndpointKind, String> {
    EndpointKind::parse(s).ok_or_else(|| format!("expected on-prem, cloud or hybrid, got {s:?}"))
}

pub fn run(args: CheckArgs, app: &App, out: &Out) -> Result<(), CliError> {
    let secret = read_secret(args.password, args.password_stdin, "password")?;
    let attempt = Attempt {
        endpoint: Endpoint {
            kind: args.endpoint,
            admin_actions: args.admin_actions,
        },
        door: Door::Cli,
        client: args.from,
        login: args.user,
        secret,
        now: None,
        trace: args.trace,
        nas: None,
        mschap: None,
        outer_identity: None,
    };
    let d = app
        .verifier
        .decide(&attempt)
        .map_err(|e| CliError::Failure(e.to_string()))?;
    let mut v = json!({
        "outcome": d.outcome,
        "credential": d.credential,
        "app_password": d.app_password,
        "rule": d.rule,
        "codes": { "ad": d.codes.ad, "nps": d.codes.nps, "aadsts": d.codes.aadsts },
        "explanation": d.explanation,
    });
    if args.trace {
        v["trace"] = json!(d.trace);
    }
    out.emit(v, || {
        let code = d
            .codes
            .ad
            .map(|c| format!(" data {c}"))
            .into_iter()
            .chain(d.codes.nps.map(|c| format!(" nps {c}")))
            .chain(d.codes.aadsts.map(|c| format!(" {c}")))
            .collect::<String>();
        let steps: String = d
            .trace
            .iter()
            .enumerate()
            .map(|(i, s)| format!("\n  {}. {s}", i + 1))
            .collect();
        format!(
            "{}  [{}]{code}\n{}{steps}",
            match d.outcome {
                crate::verify::Outcome::Accept => "ACCEPT",
                crate::verify::Outcome::Reject => "REJECT",
            },
            d.rule,
            d.explanation
        )
    });
    Ok(())
}
