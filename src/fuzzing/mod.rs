//! Entry points for the coverage-guided fuzzers (`fuzz/`, `scripts/fuzz.sh`) and for the
//! regression tests that replay what they found (`tests/fuzz_regressions.rs`).
//!
//! Each entry takes the octets a peer or a file would supply and hands them to the very
//! function the server calls with them, then checks the cheap properties that must hold
//! whatever the input (a decoded RADIUS packet re-encodes to its own octets, a normalised DN
//! normalises to itself, a paging cookie round-trips, an import commits all its rows or none).
//! A property that fails panics, which is what a fuzzer reports.
//!
//! Nothing here is on a request path; it is wiring, like `app`.

pub mod admin;
pub mod eap;
pub mod files;
pub mod lab;
pub mod ldap;
pub mod radius;

/// What a fuzz target runs on one input.
pub type Entry = fn(&[u8]);

/// Every target: its name (the fuzz binary's and the corpus folder's) and its entry.
pub const TARGETS: &[(&str, Entry)] = &[
    ("radius_packet", radius::packet),
    ("radius_request", radius::request),
    ("eap_message", eap::message),
    ("eap_tunnel", eap::tunnel),
    ("ldap_message", ldap::message),
    ("dn_and_names", ldap::names),
    ("paged_cookie", ldap::paged_cookie),
    ("admin_http", admin::request),
    ("import_csv", files::import_csv),
    ("import_ldif", files::import_ldif),
    ("scenario_file", files::scenario),
    ("config_file", files::config),
];

/// The entry for a target name.
pub fn target(name: &str) -> Option<Entry> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}
