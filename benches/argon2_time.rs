//! Single-thread Argon2id verification time at given parameters: the unit of the cold limit
//! (cores / this time) that scripts/bench.sh reports every figure against.
//!
//! `cargo bench --bench argon2_time -- --memory-kib 19456 --iterations 2 --parallelism 1`

use std::time::Instant;

use hybridauth::config::HashingConfig;
use hybridauth::verify::Hasher;

fn arg(name: &str, default: u32) -> u32 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo test --all-targets` runs this binary without --bench: not a test.
    if !std::env::args().any(|a| a == "--bench") {
        println!("argon2_time is a benchmark: run it with `cargo bench --bench argon2_time`");
        return;
    }
    // With --threads N, N threads verify at once: the machine's real parallel rate, which
    // memory bandwidth shared between cores may hold below N times the single-thread rate.
    let threads = arg("--threads", 1).max(1);
    let cfg = HashingConfig {
        memory_kib: arg("--memory-kib", 19456),
        iterations: arg("--iterations", 2),
        parallelism: arg("--parallelism", 1),
        // One Argon2 buffer per thread: the hasher lets no more run at once than it has.
        max_concurrent: threads as usize,
        max_wait: std::time::Duration::from_secs(2),
        cache_ttl: std::time::Duration::ZERO,
        cache_entries: 1,
        store_nt_hash: false,
    };
    let h = Hasher::new(&cfg, [0; 32]).expect("parameters");
    let phc = h.hash(b"Winter2026!").expect("hash");
    let runs = arg("--runs", 50);
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                h.verify(Some(&phc), b"Winter2026!");
                for _ in 0..runs {
                    assert!(h.verify(Some(&phc), b"Winter2026!"));
                }
            });
        }
    });
    let ms = t0.elapsed().as_secs_f64() * 1000.0 / (runs + 1) as f64;
    println!(
        "argon2id m={} KiB t={} p={}: {ms:.2} ms per verification ({threads} thread(s) at once, {runs} runs each)",
        cfg.memory_kib, cfg.iterations, cfg.parallelism
    );
    println!("argon2_ms {ms:.3}");
}
