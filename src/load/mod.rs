//! `hybridauth load`: a load generator for RADIUS and LDAP servers (this one, FreeRADIUS, slapd,
//! AD) that sleeps while it waits — every request is a tokio task parked on its socket — so one
//! core drives thousands of requests a second, where radclient busy-loops a whole core.
//!
//! Closed loop (`--concurrency C`): C requests in flight, each followed by the next.
//! Open loop (`--rate R`, RADIUS): R new requests a second whatever the answers, as a flood of
//! NAS traffic arrives; with `--retransmit 3s,2` each unanswered request is sent again after 3 s,
//! twice, as a NAS does. Latency counts from the first transmission.

pub mod ldap;
pub mod radius;
pub mod radius_stream;
pub mod report;

pub use report::{Report, RequestEnd, Tally};
