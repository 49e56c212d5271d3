//! The daemon: opens the store, starts every RADIUS and LDAP listener on one runtime, reloads
//! the RADIUS client table on SIGHUP, and stops everything together on SIGTERM / Ctrl-C.

use std::path::PathBuf;

use crate::app::App;
use crate::config::Config;
use crate::radius::{ClientTable, Clients, RadiusServer, Role};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    App(#[from] crate::app::AppError),
    #[error("{0}")]
    Io(String),
}

pub fn run(config: Config, config_path: Option<PathBuf>) -> Result<(), ServerError> {
    crate::runtime::logging::init(&config.log_level, config.log_json);
    let nofile = crate::runtime::process::raise_nofile_limit();
    // Opening the store and making the dummy hash are blocking: done before the reactor starts.
    let app = App::open(config)?;
    // The logs are opened now and kept open, so that running out of descriptors later never
    // loses a record.
    app.verifier
        .open_logs()
        .map_err(|e| ServerError::Io(e.to_string()))?;
    if let Some(n) = nofile {
        let ldap = app.config.ldap.max_connections as u64;
        if ldap + 64 > n {
            tracing::warn!(open_files = n, max_connections = ldap, "the open-file limit is below ldap.max_connections plus a reserve; raise LimitNOFILE");
        }
    }
    for w in crate::config_check::warnings(&app.config) {
        tracing::warn!("{w}");
    }
    warn_missing_nt_hashes(&app);
    // Sync cycles in /metrics count from now.
    crate::admin::observe_sync(app.store.as_ref(), &app.clock);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| ServerError::Io(e.to_string()))?;
    let served = runtime.block_on(serve(app, config_path));
    // Whatever still runs on the blocking pool (a store read, a search's scan) must not hold
    // the exit: SIGTERM stops the daemon within the grace period, whatever it was doing.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    served
}

async fn serve(app: App, config_path: Option<PathBuf>) -> Result<(), ServerError> {
    let cfg = app.config.clone();
    let (trigger, shutdown) = crate::runtime::shutdown::channel();
    let mut tasks = tokio::task::JoinSet::new();

    let health = crate::admin::Listeners::default();
    let clients = Clients::new(ClientTable::new(cfg.radius.clients.clone()));
    let io = |e: std::io::Error| ServerError::Io(e.to_string());
    let radius =
        RadiusServer::new(&cfg.radius, app.verifier.clone(), clients.clone()).map_err(|e| {
            let file = config_path
                .clone()
                .or_else(crate::config::default_config_file)
                .map(|p| format!(" (configuration {})", p.display()))
                .unwrap_or_default();
            ServerError::Io(format!("{e}{file}"))
        })?;
    for (addrs, role) in [
        (&cfg.radius.listen, Role::Authentication),
        (&cfg.radius.accounting_listen, Role::Accounting),
    ] {
        for socket in crate::radius::server::bind_all(addrs).await.map_err(io)? {
            let local = socket.local_addr().map_err(io)?;
            tracing::info!(%local, ?role, "RADIUS listening");
            let role_name = match role {
                Role::Authentication => "authentication",
                Role::Accounting => "accounting",
                Role::Stream => "stream",
            };
            let serving = health.add("radius", role_name, local);
            let serve = radius.clone().serve(socket, role, shutdown.clone());
            tasks.spawn(async move {
                let _serving = serving;
                serve.await
            });
        }
    }
    // A start-up error names the key and the file it concerns.
    let file = config_path
        .clone()
        .or_else(crate::config::default_config_file)
        .map(|p| format!(" (in {})", p.display()))
        .unwrap_or_default();
    let mut tls_reloads = Vec::new();
    let (mut tls_seen, mut tcp_seen) = (0, 0);
    for listener in &cfg.radius.stream_listeners {
        let transport = listener.transport();
        let seen = if listener.tls.is_some() {
            &mut tls_seen
        } else {
            &mut tcp_seen
        };
        let key = format!("radius.{transport}_listeners[{seen}]");
        *seen += 1;
        let bound = crate::radius::stream::bind(listener, &clients)
            .map_err(|e| ServerError::Io(format!("{key}{file}: {e}")))?;
        let local = bound.local_addr().map_err(io)?;
        tracing::info!(%local, transport, "RADIUS listening");
        tls_reloads.extend(bound.tls().map(|t| (key, t)));
        let serving = health.add("radius", transport, local);
        let serve = bound.serve(radius.clone(), shutdown.clone());
        tasks.spawn(async move {
            let _serving = serving;
            serve.await
        });
    }
    let ldap = crate::ldap::server::Shared::new(app.verifier.clone(), cfg.ldap.clone());
    for (i, listener) in cfg.ldap.listeners.iter().enumerate() {
        let bound = crate::ldap::server::bind(listener)
            .await
            .map_err(|e| ServerError::Io(format!("ldap.listeners[{i}]{file}: {e}")))?;
        tracing::info!(local = %listener.address, endpoint = %listener.endpoint.kind.as_str(), tls = ?listener.tls, "LDAP listening");
        let local = bound.local_addr().map_err(io)?;
        let serving = health.add("ldap", listener.endpoint.kind.as_str(), local);
        let serve = bound.serve(ldap.clone(), shutdown.clone());
        tasks.spawn(async move {
            let _serving = serving;
            serve.await
        });
    }
    if let Some(address) = cfg.admin_listen {
        let admin = crate::admin::bind(
            address,
            health.clone(),
            app.store.clone(),
            app.clock.clone(),
            app.verifier.signin_log().clone(),
        )
        .map_err(ServerError::Io)?;
        let local = admin.local_addr().map_err(io)?;
        tracing::info!(%local, "admin listening (/ page, /metrics, /healthz)");
        let serving = health.add("admin", "metrics-health", local);
        let serve = admin.serve(shutdown.clone());
        tasks.spawn(async move {
            let _serving = serving;
            serve.await
        });
    }
    tracing::info!(
        store = %cfg.store.describe(),
        clock = ?cfg.clock_mode,
        radius_clients = clients.current().len(),
        "hybridauth ready"
    );

    #[cfg(unix)]
    let mut hup =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).map_err(io)?;
    loop {
        #[cfg(unix)]
        let reload = hup.recv();
        #[cfg(not(unix))]
        let reload = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = crate::runtime::shutdown::signal() => break,
            _ = reload => {
                reload_clients(&clients, &app, config_path.as_deref());
                reload_certificates(&tls_reloads);
                reopen_logs(&app, &radius);
            }
        }
    }
    tracing::info!("shutting down: no new requests; answering those in flight");
    trigger.fire();
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(crate::radius::server::SHUTDOWN_GRACE, drain)
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after the grace period; exiting");
    }
    Ok(())
}

/// PEAP (inner MS-CHAPv2) needs each user's NT hash, kept only from the first time a password
/// is set with `hashing.store_nt_hash` on: say at start how many enabled users have none (they
/// can use EAP-TTLS/PAP only). One pass over the users in pages, before serving.
fn warn_missing_nt_hashes(app: &App) {
    let cfg = &app.config;
    if !(cfg.hashing.store_nt_hash
        && cfg
            .radius
            .eap
            .methods
            .contains(&crate::config::EapMethod::Peap))
    {
        return;
    }
    let (mut enabled, mut without) = (0usize, 0usize);
    let mut after: Option<String> = None;
    loop {
        let Ok(page) = app.store.users_after(after.as_deref(), 1000) else {
            return;
        };
        for u in page.iter().filter(|u| u.enabled) {
            enabled += 1;
            without += usize::from(u.nt_hash.is_none());
        }
        match page.last() {
            Some(u) if page.len() == 1000 => after = Some(u.sam.to_lowercase()),
            _ => break,
        }
    }
    if without > 0 {
        tracing::warn!(
            users_without_nt_hash = without,
            enabled_users = enabled,
            "PEAP is offered but {without} of {enabled} enabled users have no NT hash (their passwords were set before hashing.store_nt_hash was on): PEAP fails for them until their passwords are set again; EAP-TTLS/PAP works"
        );
    }
}

/// SIGHUP: the sign-in and accounting logs continue in fresh files at their paths (log
/// rotation: logrotate renames them, then signals). A log that cannot be reopened keeps
/// writing where it was, and says so.
fn reopen_logs(app: &App, radius: &RadiusServer) {
    let signin = app.verifier.reopen_logs();
    let accounting = radius.reopen_accounting_log();
    match (signin, accounting) {
        (Ok(()), Ok(())) => tracing::info!("sign-in and accounting logs reopened"),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "cannot reopen a log; it keeps writing to the old file")
        }
    }
}

/// SIGHUP: each RADIUS over TLS listener reads its certificate, key and CA again (renewed
/// files take effect at the next handshake); a set that does not load keeps the one in use.
fn reload_certificates(listeners: &[(String, crate::radius::stream::TlsSetup)]) {
    for (key, tls) in listeners {
        match tls.reload() {
            Ok(()) => tracing::info!(listener = %key, "RADIUS/TLS certificates reloaded"),
            Err(e) => {
                tracing::error!(listener = %key, error = %e, "RADIUS/TLS certificates not reloaded; keeping those in use")
            }
        }
    }
}

/// SIGHUP: re-reads the configuration and swaps the RADIUS client table and the
/// authorisation policies together. An invalid file keeps both (and says why).
fn reload_clients(clients: &Clients, app: &App, path: Option<&std::path::Path>) {
    match Config::load(path) {
        Ok(c) => {
            let (n, p) = (c.radius.clients.len(), c.radius.policies.len());
            clients.replace(ClientTable::new(c.radius.clients));
            app.verifier
                .set_policies(crate::authorization::Policies::new(c.radius.policies));
            tracing::info!(
                clients = n,
                policies = p,
                "RADIUS client table and authorisation policies reloaded"
            );
        }
        Err(e) => tracing::error!(error = %e, "reload refused; keeping the current client table"),
    }
}
