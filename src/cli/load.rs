//! `hybridauth load radius|ldap`: drive a RADIUS or LDAP server and report rate, latency
//! percentiles, answers by kind and timeouts (see `crate::load`).

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::output::{CliError, Out};
use crate::load::{self, Tally};

#[derive(Subcommand, Debug)]
pub enum LoadCmd {
    /// PAP Access-Requests (with Message-Authenticator) against a RADIUS server.
    Radius(RadiusArgs),
    /// Simple binds against an LDAP server.
    Ldap(LdapArgs),
}

#[derive(Args, Debug)]
pub struct Common {
    /// Requests in flight at once (closed loop: each answer starts the next request).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// How many requests in all.
    #[arg(long, default_value_t = 1000)]
    requests: u64,
}

#[derive(Args, Debug)]
pub struct RadiusArgs {
    /// The server, HOST:PORT.
    #[arg(long)]
    server: SocketAddr,
    /// The shared secret.
    #[arg(long)]
    secret: String,
    /// User-Name.
    #[arg(long)]
    user: String,
    /// User-Password.
    #[arg(long)]
    password: String,
    #[command(flatten)]
    common: Common,
    /// Open loop: start this many requests a second whatever the answers (instead of
    /// --concurrency), as NAS traffic arrives.
    #[arg(long)]
    rate: Option<f64>,
    /// TIMEOUT,RETRIES: send again after TIMEOUT without an answer, RETRIES times (a NAS's
    /// 3s,2). Latency counts from the first transmission.
    #[arg(long, default_value = "3s,0", value_parser = parse_retransmit)]
    retransmit: (Duration, u32),
    /// udp, tcp (RFC 6613) or tls (RFC 6614: needs --tls-ca, --tls-cert, --tls-key). Over a
    /// stream the --concurrency requests are pipelined over --connections connections; a
    /// request unanswered after the --retransmit timeout counts as timed out (no resend).
    #[arg(long, default_value = "udp", value_parser = ["udp", "tcp", "tls"])]
    transport: String,
    /// tcp and tls: how many connections carry the requests in flight.
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// tcp and tls: every request on a new connection (for TLS, a handshake each).
    #[arg(long)]
    reconnect: bool,
    /// tls: the CA the server's certificate must chain to.
    #[arg(long)]
    tls_ca: Option<std::path::PathBuf>,
    /// tls: this client's certificate.
    #[arg(long)]
    tls_cert: Option<std::path::PathBuf>,
    /// tls: this client's private key.
    #[arg(long)]
    tls_key: Option<std::path::PathBuf>,
}

/// The stream a RADIUS load travels on, or `None` for UDP.
fn stream_of(a: &RadiusArgs) -> Result<Option<load::radius_stream::Stream>, CliError> {
    let tls = match a.transport.as_str() {
        "udp" => return Ok(None),
        "tcp" => None,
        _ => {
            let (Some(ca), Some(cert), Some(key)) = (&a.tls_ca, &a.tls_cert, &a.tls_key) else {
                return Err(CliError::Usage(
                    "--transport tls needs --tls-ca, --tls-cert and --tls-key".into(),
                ));
            };
            let client = load::radius_stream::TlsClient {
                ca: ca.clone(),
                cert: cert.clone(),
                key: key.clone(),
            };
            Some(std::sync::Arc::new(
                client.connector().map_err(CliError::Usage)?,
            ))
        }
    };
    if a.rate.is_some() {
        return Err(CliError::Usage("--rate is for --transport udp".into()));
    }
    Ok(Some(load::radius_stream::Stream {
        tls,
        connections: a.connections,
        reconnect: a.reconnect,
    }))
}

#[derive(Args, Debug)]
pub struct LdapArgs {
    /// The server, HOST:PORT.
    #[arg(long)]
    server: SocketAddr,
    /// The bind name (a DN, or any form the server accepts).
    #[arg(long)]
    bind_dn: String,
    /// The bind password.
    #[arg(long)]
    password: String,
    #[command(flatten)]
    common: Common,
    /// Give up on a bind after this long.
    #[arg(long, default_value = "10s", value_parser = parse_timeout)]
    timeout: Duration,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    crate::time::parse_duration(s).and_then(|d| {
        (!d.is_zero())
            .then_some(d)
            .ok_or_else(|| "must be more than 0".to_string())
    })
}

fn parse_retransmit(s: &str) -> Result<(Duration, u32), String> {
    let (t, r) = s
        .split_once(',')
        .ok_or_else(|| format!("expected TIMEOUT,RETRIES such as 3s,2, got {s:?}"))?;
    let r: u32 = r
        .trim()
        .parse()
        .map_err(|_| format!("RETRIES must be a number, got {r:?}"))?;
    if r > 10 {
        return Err("at most 10 retries".into());
    }
    Ok((parse_timeout(t)?, r))
}

pub fn run(cmd: LoadCmd, out: &Out) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failure(e.to_string()))?;
    let report = runtime.block_on(async {
        match cmd {
            LoadCmd::Radius(a) => {
                let stream = stream_of(&a)?;
                let tally = Tally::new(a.retransmit.0);
                let planned = a.common.requests;
                let progress = tokio::spawn(load::report::progress(tally.clone(), planned));
                let t = load::radius::Target {
                    server: a.server,
                    secret: a.secret.into_bytes(),
                    user: a.user,
                    password: a.password.into_bytes(),
                    timeout: a.retransmit.0,
                    retries: a.retransmit.1,
                };
                match (stream, a.rate) {
                    (Some(s), _) => {
                        let c = a.common.concurrency;
                        load::radius_stream::closed_loop(t, s, c, planned, tally.clone()).await
                    }
                    (None, Some(rate)) if rate > 0.0 => {
                        load::radius::open_loop(t, rate, planned, tally.clone()).await
                    }
                    (None, Some(_)) => {
                        return Err(CliError::Usage("--rate must be more than 0".into()))
                    }
                    (None, None) => {
                        load::radius::closed_loop(t, a.common.concurrency, planned, tally.clone())
                            .await
                    }
                }
                .map_err(|e| CliError::Failure(format!("cannot send: {e}")))?;
                let _ = progress.await;
                Ok(tally.report("radius", planned))
            }
            LoadCmd::Ldap(a) => {
                let tally = Tally::new(a.timeout);
                let planned = a.common.requests;
                let progress = tokio::spawn(load::report::progress(tally.clone(), planned));
                let t = load::ldap::Target {
                    server: a.server,
                    bind_dn: a.bind_dn,
                    password: a.password,
                    timeout: a.timeout,
                };
                load::ldap::closed_loop(t, a.common.concurrency, planned, tally.clone())
                    .await
                    .map_err(|e| CliError::Failure(format!("cannot connect: {e}")))?;
                let _ = progress.await;
                Ok(tally.report("ldap", planned))
            }
        }
    })?;
    let json = serde_json::to_value(&report).map_err(|e| CliError::Failure(e.to_string()))?;
    out.emit(json, || report.text());
    Ok(())
}
