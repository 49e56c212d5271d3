//! Progress lines on stderr for long CLI work (load runs, imports), drawn only when stderr is
//! a terminal, so scripts and logs never see them.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `[#####-----] done/total`.
pub fn line(done: u64, total: u64) -> String {
    let width = 30u64;
    let filled = (done * width).checked_div(total).unwrap_or(0).min(width) as usize;
    format!(
        "[{}{}] {done}/{total}",
        "#".repeat(filled),
        "-".repeat(width as usize - filled)
    )
}

/// A bar updated from any thread, redrawn at most ten times a second.
pub struct Bar {
    label: &'static str,
    on: bool,
    last: Mutex<Option<Instant>>,
}

impl Bar {
    pub fn new(label: &'static str, wanted: bool) -> Bar {
        Bar {
            label,
            on: wanted && std::io::stderr().is_terminal(),
            last: Mutex::new(None),
        }
    }

    pub fn show(&self, done: usize, total: usize) {
        if !self.on {
            return;
        }
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let due = last.is_none_or(|t| t.elapsed() >= Duration::from_millis(100));
        if due || done >= total {
            *last = Some(Instant::now());
            eprint!("\r{} {}", self.label, line(done as u64, total as u64));
        }
    }

    pub fn finish(&self) {
        let shown = self
            .last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some();
        if self.on && shown {
            eprintln!();
        }
    }
}
