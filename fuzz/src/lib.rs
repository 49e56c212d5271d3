//! What every fuzz target shares: the entry it runs (`hybridauth::fuzzing`), panics anywhere in
//! the process reported as crashes, and memory per input bounded — a counting allocator sees the
//! most live memory one input took, and an input over `MAX_LIVE_BYTES` is a finding, as a
//! slow one is (libFuzzer's `-timeout`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The most live heap one input may take, on top of what the process held before it.
pub const MAX_LIVE_BYTES: usize = 64 * 1024 * 1024;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

pub struct Counting;

// SAFETY: every call is passed to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let grew = new_size - layout.size();
                let now = LIVE.fetch_add(grew, Ordering::Relaxed) + grew;
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

/// Once per process: SIGPIPE ignored and a panic on any thread turned into an abort
/// (`prepare_process`), and the lab made before the first input (its memory is not the input's).
pub fn init(name: &str) {
    hybridauth::fuzzing::lab::prepare_process();
    let _ = hybridauth::fuzzing::lab::lab();
    let entry = hybridauth::fuzzing::target(name).expect("a known target");
    // Warm what each target makes on first use (the admin listener, the entries).
    entry(b"");
}

/// One input through the target's entry, with its peak live memory checked.
pub fn run(name: &str, data: &[u8]) {
    let entry = hybridauth::fuzzing::target(name).expect("a known target");
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    entry(data);
    let took = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    assert!(
        took <= MAX_LIVE_BYTES,
        "one input of {} octets took {took} bytes of live heap (bound {MAX_LIVE_BYTES})",
        data.len()
    );
}

/// A fuzz target for one entry of `hybridauth::fuzzing::TARGETS`.
#[macro_export]
macro_rules! target {
    ($name:literal) => {
        #[global_allocator]
        static ALLOCATOR: $crate::Counting = $crate::Counting;
        libfuzzer_sys::fuzz_target!(init: $crate::init($name), |data: &[u8]| {
            $crate::run($name, data)
        });
    };
}
