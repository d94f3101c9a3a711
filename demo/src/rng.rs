//! Random numbers for the workload and fault injection: SplitMix64 over a
//! shared counter seeded from the clock. Not for anything secret.

use std::sync::atomic::{AtomicU64, Ordering};

static STATE: AtomicU64 = AtomicU64::new(0);

/// The next random `u64`.
pub fn next_u64() -> u64 {
    let mut seed = STATE.load(Ordering::Relaxed);
    if seed == 0 {
        seed = ringside::clock::unix_ns() | 1;
        let _ = STATE.compare_exchange(0, seed, Ordering::Relaxed, Ordering::Relaxed);
    }
    let mut z = STATE
        .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform float in [0, 1).
pub fn unit() -> f64 {
    (next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// True with probability `p`.
pub fn chance(p: f64) -> bool {
    unit() < p
}

/// A size between `min` and `max` bytes, log-uniform (as many files of 4-8 KiB
/// as of 2-4 MiB).
pub fn log_uniform(min: u64, max: u64) -> u64 {
    let (lo, hi) = ((min.max(1)) as f64, (max.max(min.max(1))) as f64);
    (lo * (hi / lo).powf(unit())).round() as u64
}
