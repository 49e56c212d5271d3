//! The clock every decision reads: the system's, or a simulated one persisted in the store so
//! that `hybridauth clock advance` moves a running server's time too.
//!
//! The simulated clock stands still until moved. It never moves back before the newest
//! recorded change: the cloud view is a function of on-prem history up to "now", and history
//! in the future would make that meaningless.

use std::sync::Arc;

use chrono::{SubsecRound, Utc};

use crate::directory::{Store, StoreError};
use crate::time::{horizon, Time};

/// How many times `advance` retries when another command moved the clock between its read and
/// its write (each retry re-reads; only a clock moved without pause by others runs out).
const ADVANCE_TRIES: usize = 100;

/// Where the time comes from (`clock.mode`): the system clock, or a simulated one kept in the
/// store that the CLI moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockMode {
    System,
    Simulated,
}

#[derive(Clone)]
pub struct Clock {
    mode: ClockMode,
    start: Option<Time>,
    store: Arc<dyn Store>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    #[error("the clock is in system mode; set [clock] mode = \"simulated\" (or HYBRIDAUTH_CLOCK__MODE=simulated) to move it")]
    NotSimulated,
    #[error("the simulated clock cannot go back to {to}: the store already records changes at {now}; use a fresh store (HYBRIDAUTH_STORE__PATH) to start earlier")]
    Backwards { now: String, to: String },
    #[error("cannot move the clock past {}: the simulated clock ends with year 9999", horizon().to_rfc3339())]
    OutOfRange,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Clock {
    pub fn new(mode: ClockMode, start: Option<Time>, store: Arc<dyn Store>) -> Clock {
        Clock { mode, start, store }
    }

    pub fn mode(&self) -> ClockMode {
        self.mode
    }

    pub fn now(&self) -> Result<Time, StoreError> {
        match self.mode {
            ClockMode::System => Ok(Utc::now()),
            ClockMode::Simulated => match self.store.simulated_time()? {
                Some(t) => Ok(t),
                None => {
                    // First use: one start time for every node and command, whoever is first.
                    let t = self.start.unwrap_or_else(|| Utc::now().trunc_subsecs(0));
                    if self.store.compare_and_set_simulated_time(None, t)? {
                        return Ok(t);
                    }
                    self.store
                        .simulated_time()?
                        .ok_or_else(|| StoreError::Db("the simulated clock vanished".into()))
                }
            },
        }
    }

    pub fn advance(&self, by: std::time::Duration) -> Result<Time, ClockError> {
        if self.mode != ClockMode::Simulated {
            return Err(ClockError::NotSimulated);
        }
        // Compare-and-set, so that two commands (or nodes) advancing at once add both steps.
        for _ in 0..ADVANCE_TRIES {
            let now = self.now()?;
            let to = chrono::Duration::from_std(by)
                .ok()
                .and_then(|by| now.checked_add_signed(by))
                .filter(|t| *t <= horizon())
                .ok_or(ClockError::OutOfRange)?;
            if self.store.compare_and_set_simulated_time(Some(now), to)? {
                return Ok(to);
            }
        }
        Err(ClockError::Store(StoreError::Db(
            "the simulated clock kept moving while this command tried to advance it".into(),
        )))
    }

    pub fn set(&self, to: Time) -> Result<Time, ClockError> {
        if self.mode != ClockMode::Simulated {
            return Err(ClockError::NotSimulated);
        }
        if to > horizon() {
            return Err(ClockError::OutOfRange);
        }
        // Going back is allowed only to a time after everything the store has recorded, so
        // that no recorded history ever lies in the future.
        if let Some(latest) = self.store.latest_event_time()? {
            if to < latest {
                return Err(ClockError::Backwards {
                    now: latest.to_rfc3339(),
                    to: to.to_rfc3339(),
                });
            }
        }
        self.store.set_simulated_time(to)?;
        Ok(to)
    }
}
