//! What the fuzzers found, replayed in the normal suite: every input under
//! `fuzz/regressions/TARGET/` (each one crashed, hung or blew up memory before its fix, and is
//! named after what it broke) runs through the same entry its fuzz target calls
//! (`hybridauth::fuzzing`), as does every seed under `fuzz/seeds/TARGET/` (real traffic), so
//! the entries themselves stay working between fuzzing runs. A panic anywhere in the process,
//! a server task's included, fails the run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.is_file() && p.extension().is_none_or(|e| e != "md"));
    files.sort();
    files
}

fn replay(kind: &str) -> usize {
    hybridauth::fuzzing::lab::prepare_process();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind);
    let mut ran = 0;
    for (name, entry) in hybridauth::fuzzing::TARGETS {
        for file in inputs(&root.join(name)) {
            let data = std::fs::read(&file).unwrap();
            let started = Instant::now();
            entry(&data);
            // libFuzzer's -timeout is 10 s; a fixed input must be far below it.
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{} took {:?}",
                file.display(),
                started.elapsed()
            );
            ran += 1;
        }
    }
    ran
}

#[test]
fn every_fuzzing_finding_stays_fixed() {
    replay("regressions");
}

#[test]
fn every_seed_runs_through_its_entry() {
    let ran = replay("seeds");
    assert!(
        ran >= 100,
        "only {ran} seeds: fuzz/seeds is missing targets"
    );
    for (name, _) in hybridauth::fuzzing::TARGETS {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/seeds")
            .join(name);
        assert!(!inputs(&dir).is_empty(), "no seed for {name}");
    }
}
