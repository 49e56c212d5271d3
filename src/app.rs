//! Wiring: from a validated configuration to the store, clock, hasher, verifier and directory
//! service that the CLI and the front doors share.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Config;
use crate::directory::service::Directory;
use crate::directory::{Store, StoreError};
use crate::signin_log::SigninLog;
use crate::verify::hashing::HashError;
use crate::verify::{Hasher, Verifier};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(#[from] HashError),
}

pub struct App {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub clock: Clock,
    pub hasher: Arc<Hasher>,
    pub verifier: Arc<Verifier>,
    pub directory: Directory,
}

impl App {
    pub fn open(config: Config) -> Result<App, AppError> {
        let store: Arc<dyn Store> = config.store.open()?;
        let clock = Clock::new(config.clock_mode, config.clock_start, store.clone());
        let hasher = Arc::new(Hasher::new(&config.hashing, store.secret_key()?)?);
        let signin = SigninLog::new(&config.signin_onprem, &config.signin_cloud);
        let verifier = Arc::new(Verifier::new(
            store.clone(),
            clock.clone(),
            config.directory.clone(),
            hasher.clone(),
            signin,
            config.hashing.max_concurrent,
            config.hashing.max_wait,
        ));
        verifier.set_policies(crate::authorization::Policies::new(
            config.radius.policies.clone(),
        ));
        let directory = Directory::new(
            store.clone(),
            clock.clone(),
            config.directory.clone(),
            hasher.clone(),
        );
        Ok(App {
            config,
            store,
            clock,
            hasher,
            verifier,
            directory,
        })
    }
}
