//! The RADIUS front door (RFC 2865 authentication, RFC 2866 accounting, RFC 5997
//! Status-Server). It knows packets, not policy: every Access-Request becomes a
//! `verify::Attempt`, every `Decision` an Access-Accept or Access-Reject.

pub mod accounting;
pub mod clients;
pub mod dedup;
pub mod describe;
pub mod eap;
pub mod mfa_door;
pub mod mschap_attrs;
pub mod reject_delay;
pub mod reply;
pub mod request;
pub mod server;
pub mod stream;

pub use clients::{ClientTable, Clients};
pub use server::{RadiusServer, Role};
