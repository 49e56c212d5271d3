//! Scenario files: a hybrid story written once and replayed on a private, throw-away store
//! with the simulated clock (`hybridauth scenario run FILE`).
//!
//! One step per line; `#` starts a comment (outside quotes); words are split as a shell
//! splits them. A step is a hybridauth command without the program name (`clock …`,
//! `tenant set …`, `user …`, `app-password …`, `sync …`), or an expectation:
//!
//! - `expect ENDPOINT LOGIN SECRET accept|reject [CODE…] [--from IP] [--admin-actions]
//!   [--door radius|ldap]`: one decision, as `check` makes it (or through a real front door,
//!   see `door`); every CODE (AD data code `52e`, NPS reason `16`, AADSTS code, or rule id)
//!   must be among the decision's.
//! - `expect refused COMMAND…`: the command must be refused (exit 1), e.g. the 41st app password.
//!
//! `app-password create SAM --name NAME` binds its secret to `{app:SAM/NAME}` for later steps.

pub mod actual;
pub mod door;
pub mod lab_command;
pub mod labdir;
pub mod run;
pub mod steps;

pub use steps::{escapes_lab, parse, BadFile, Expect, Step, StepKind};
