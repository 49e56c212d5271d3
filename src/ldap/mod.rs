//! The LDAP front door: an LDAPv3 listener (plain, StartTLS, LDAPS) that hands simple binds to
//! the verifier and answers as Active Directory would. It knows LDAP, not policy.

pub mod ad_errors;
pub mod conn_ctx;
pub mod entries;
pub mod filter_limits;
pub mod lookup;
pub mod ops;
pub mod search;
pub mod search_pool;
pub mod server;
pub mod session;
pub mod tls_accept;
