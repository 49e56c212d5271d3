//! The directory: model, tenant settings, the store, and how a typed login name finds a user
//! (`names`). This file only declares and re-exports; its children import each other.

pub mod backend;
pub mod cloud_names;
pub mod conditional_access;
pub mod domain;
pub mod ids;
pub mod import;
pub mod mfa;
pub mod mfa_registration;
pub mod migrations;
pub mod model;
pub mod names;
pub mod postgres;
mod postgres_bridge;
mod postgres_durable;
mod postgres_scope;
mod read_memo;
pub mod reader;
pub mod service;
pub mod sqlite;
mod sqlite_readers;
pub mod store;
pub mod tenant;

pub use model::{AppPassword, MfaState, SyncedSnapshot, Time, User};
pub use names::{
    candidates, invalid_login, normalize_dn, resolve, user_dn, Candidates, Names, Resolution,
    MAX_DN_BYTES, MAX_SAM_CHARS, MAX_UPN_BYTES,
};
pub use store::{CaughtUp, Store, StoreError};
pub use tenant::Tenant;
