//! The process around the product: admission to the hashing slots, shutdown, sockets, process
//! limits and thread priorities, logging and the append-only log files. Nothing here knows
//! the hybrid model; everything above may use it.

pub mod admission;
pub mod logfile;
pub mod logging;
pub mod net;
pub mod process;
pub mod shutdown;
