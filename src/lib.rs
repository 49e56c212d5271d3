//! hybridauth: a RADIUS and LDAP authentication front end whose one verifier reproduces how
//! hybrid Active Directory / Microsoft Entra credentials behave.

pub mod admin;
pub mod app;
pub mod authorization;
pub mod cli;
pub mod clock;
pub mod config;
pub mod config_all;
pub mod config_check;
pub mod daemon;
pub mod decision;
pub mod directory;
pub mod endpoint;
#[doc(hidden)]
pub mod fuzzing;
pub mod ldap;
pub mod load;
pub mod metrics;
pub mod progress;
pub mod protocol;
pub mod radius;
pub mod runtime;
pub mod scenario;
pub mod secret;
pub mod service_user;
pub mod signin_log;
pub mod sync;
pub mod textfile;
pub mod time;
pub mod timeline;
pub mod tls;
pub mod totp;
pub mod verify;
