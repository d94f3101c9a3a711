//! Span durations in two histograms kept side by side:
//!
//! - [`Fine`]: log-linear buckets (16 per power of two, from 128 ns to
//!   2^36 ns ≈ 68.7 s), like HDR histograms with 4 bits of sub-bucket
//!   precision. A quantile read from it is the midpoint of its bucket, within
//!   [`RELATIVE_ERROR`] (1/32 = 3.125 %) of the true value between 128 ns and
//!   68.7 s; outside that range it is clamped to the smallest or largest
//!   duration seen. Fixed size ([`FINE_BUCKETS`] counters), so a series costs
//!   the same memory whatever it sees. `ringside top` reads it.
//! - Classic Prometheus buckets ([`Layout`]): exact counts below each
//!   configured upper bound, for `/metrics` and OTLP, where the bounds must be
//!   the same for every series and every scrape.

/// Sub-buckets per power of two, as a power of two.
const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
/// Durations below 2^MIN_EXP ns share bucket 0.
const MIN_EXP: u32 = 7;
/// Durations from 2^MAX_EXP ns on share the last bucket.
const MAX_EXP: u32 = 36;
/// Number of fine buckets.
pub const FINE_BUCKETS: usize = 2 + (MAX_EXP - MIN_EXP) as usize * SUB;
/// Largest relative error of a quantile read from [`Fine`] between 128 ns
/// and 2^36 ns: half a bucket's width over its lower bound.
pub const RELATIVE_ERROR: f64 = 1.0 / (2 * SUB) as f64;

/// The fine bucket of a duration in nanoseconds.
#[inline]
pub fn fine_index(ns: u64) -> usize {
    if ns < 1 << MIN_EXP {
        return 0;
    }
    let exp = 63 - ns.leading_zeros();
    if exp >= MAX_EXP {
        return FINE_BUCKETS - 1;
    }
    let sub = (ns >> (exp - SUB_BITS)) as usize & (SUB - 1);
    1 + (exp - MIN_EXP) as usize * SUB + sub
}

/// The range `[low, high)` of durations (ns) in fine bucket `i`; the last
/// bucket's high end is `u64::MAX`.
pub fn fine_bounds(i: usize) -> (u64, u64) {
    if i == 0 {
        return (0, 1 << MIN_EXP);
    }
    if i >= FINE_BUCKETS - 1 {
        return (1 << MAX_EXP, u64::MAX);
    }
    let exp = MIN_EXP + ((i - 1) / SUB) as u32;
    let sub = ((i - 1) % SUB) as u64;
    let shift = exp - SUB_BITS;
    ((SUB as u64 + sub) << shift, (SUB as u64 + sub + 1) << shift)
}

/// The value reported for fine bucket `i`: its midpoint (the two open-ended
/// buckets report their finite end).
pub fn fine_value(i: usize) -> u64 {
    let (lo, hi) = fine_bounds(i);
    match i {
        0 => hi / 2,
        _ if i >= FINE_BUCKETS - 1 => lo,
        _ => lo + (hi - lo) / 2,
    }
}

/// Log-linear duration histogram with exact count, sum, min and max.
#[derive(Clone, Debug)]
pub struct Fine {
    counts: Box<[u64; FINE_BUCKETS]>,
    /// Durations recorded.
    pub count: u64,
    /// Sum of the durations, ns (saturating).
    pub sum_ns: u64,
    /// Shortest duration, ns (`u64::MAX` while empty).
    pub min_ns: u64,
    /// Longest duration, ns.
    pub max_ns: u64,
}

impl Default for Fine {
    fn default() -> Self {
        Fine {
            counts: Box::new([0; FINE_BUCKETS]),
            count: 0,
            sum_ns: 0,
            min_ns: u64::MAX,
            max_ns: 0,
        }
    }
}

impl Fine {
    /// Records one duration.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        self.counts[fine_index(ns)] += 1;
        self.count += 1;
        self.sum_ns = self.sum_ns.saturating_add(ns);
        self.min_ns = self.min_ns.min(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &Fine) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.count += other.count;
        self.sum_ns = self.sum_ns.saturating_add(other.sum_ns);
        self.min_ns = self.min_ns.min(other.min_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// The counts of the non-empty buckets, as `(bucket, count)`.
    pub fn sparse(&self) -> Vec<(u16, u64)> {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| (i as u16, *c))
            .collect()
    }

    /// The `q` quantile (0.0..=1.0) in ns, `None` when empty; within
    /// [`RELATIVE_ERROR`] of the true value, clamped to `[min, max]`.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let v = quantile_of(self.counts.iter().copied().enumerate(), self.count, q)?;
        Some(v.clamp(self.min_ns, self.max_ns))
    }
}

/// The `q` quantile of sparse fine counts `(bucket, count)` in bucket
/// order whose counts add up to `total`: the value of the bucket holding the
/// rank `ceil(q × total)`. `None` when `total` is 0.
pub fn quantile_of(counts: impl Iterator<Item = (usize, u64)>, total: u64, q: f64) -> Option<u64> {
    if total == 0 {
        return None;
    }
    let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
    let mut seen = 0;
    let mut last = 0;
    for (i, c) in counts {
        if c == 0 {
            continue;
        }
        seen += c;
        last = i;
        if seen >= rank {
            return Some(fine_value(i));
        }
    }
    Some(fine_value(last))
}

/// The classic bucket bounds shared by every series, in ns, ascending; the
/// `+Inf` bucket is implicit.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    bounds_ns: Vec<u64>,
    bounds_s: Vec<f64>,
}

impl Layout {
    /// Bounds given in seconds; they must be positive and ascending (the
    /// configuration checks).
    pub fn new(bounds_s: &[f64]) -> Layout {
        Layout {
            bounds_ns: bounds_s.iter().map(|s| (s * 1e9).round() as u64).collect(),
            bounds_s: bounds_s.to_vec(),
        }
    }

    /// Number of buckets including `+Inf`.
    pub fn len(&self) -> usize {
        self.bounds_ns.len() + 1
    }

    /// Always false: there is at least the `+Inf` bucket.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Upper bounds in seconds (without `+Inf`).
    pub fn bounds_s(&self) -> &[f64] {
        &self.bounds_s
    }

    /// The bucket of a duration: the first whose bound is ≥ `ns`.
    #[inline]
    pub fn index(&self, ns: u64) -> usize {
        self.bounds_ns.partition_point(|&b| b < ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_tile_the_range() {
        assert_eq!(fine_bounds(0), (0, 128));
        for i in 1..FINE_BUCKETS - 1 {
            let (lo, hi) = fine_bounds(i);
            assert_eq!(fine_index(lo), i, "low end of {i}");
            assert_eq!(fine_index(hi - 1), i, "high end of {i}");
            assert_eq!(fine_index(hi), i + 1, "next after {i}");
            // The relative error bound: half the width over the low end.
            assert!((hi - lo) as f64 / 2.0 / lo as f64 <= RELATIVE_ERROR + 1e-12);
        }
        assert_eq!(fine_index(u64::MAX), FINE_BUCKETS - 1);
        assert_eq!(fine_index(127), 0);
    }

    #[test]
    fn quantiles_are_within_the_stated_error() {
        let mut h = Fine::default();
        let mut exact: Vec<u64> = Vec::new();
        let mut x = 12345u64;
        for _ in 0..50_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Log-uniform between ~1 µs and ~10 s.
            let v = (1e3 * (1e7f64).powf((x >> 11) as f64 / (1u64 << 53) as f64)) as u64;
            h.record(v);
            exact.push(v);
        }
        exact.sort_unstable();
        for q in [0.5, 0.9, 0.99, 0.999] {
            let rank = ((q * exact.len() as f64).ceil() as usize).max(1);
            let truth = exact[rank - 1] as f64;
            let got = h.quantile(q).unwrap() as f64;
            assert!(
                (got - truth).abs() / truth <= RELATIVE_ERROR,
                "q{q}: {got} vs {truth}"
            );
        }
        assert!(h.quantile(1.0).unwrap() <= *exact.last().unwrap());
        assert_eq!(h.count, 50_000);
    }

    #[test]
    fn classic_layout_is_inclusive_of_bounds() {
        let l = Layout::new(&[0.001, 0.01]);
        assert_eq!(l.len(), 3);
        assert_eq!(l.index(1_000_000), 0);
        assert_eq!(l.index(1_000_001), 1);
        assert_eq!(l.index(10_000_001), 2);
    }
}
