//! Random numbers for the workload and fault injection, from fastrand's
//! per-thread generator (seeded at random). Not for anything secret.

/// The next random `u64`.
pub fn next_u64() -> u64 {
    fastrand::u64(..)
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
