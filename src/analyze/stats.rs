//! Latency statistics per service and operation.
//!
//! Percentiles are exact, by the nearest-rank method: the p-th percentile of
//! `n` durations is the smallest duration such that at least p% of them are
//! less than or equal to it, i.e. the `ceil(p/100 · n)`-th smallest. It is
//! always a duration that was observed; nothing is interpolated or binned.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use super::model::{SpanRow, SpanTiming};

/// A percentile in parts per million (50% = 500_000), so that 99.9% is exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quantile(pub u32);

impl Quantile {
    /// p50.
    pub const P50: Quantile = Quantile(500_000);
    /// p90.
    pub const P90: Quantile = Quantile(900_000);
    /// p95.
    pub const P95: Quantile = Quantile(950_000);
    /// p99.
    pub const P99: Quantile = Quantile(990_000);
    /// p99.9.
    pub const P999: Quantile = Quantile(999_000);
}

/// The nearest-rank percentile of `sorted` (ascending): the
/// `ceil(q · n)`-th smallest value, the smallest for `q = 0`. `None` when
/// empty.
pub fn nearest_rank(sorted: &[u64], q: Quantile) -> Option<u64> {
    sorted.get(rank_index(sorted.len(), q)?).copied()
}

/// Where the nearest-rank percentile `q` of `n` values is in their ascending
/// order: `ceil(q · n) - 1`, 0 for `q = 0`. `None` when `n` is 0.
fn rank_index(n: usize, q: Quantile) -> Option<usize> {
    if n == 0 {
        return None;
    }
    let q = u128::from(q.0.min(1_000_000));
    let rank = (q * n as u128).div_ceil(1_000_000).max(1);
    Some(rank as usize - 1)
}

/// The percentiles [`OpStats`] reports, ascending.
const REPORTED: [Quantile; 5] = [
    Quantile::P50,
    Quantile::P90,
    Quantile::P95,
    Quantile::P99,
    Quantile::P999,
];

/// What `stats` groups by: service, operation and optionally the value of one
/// attribute.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct OpKey {
    /// Service name.
    pub service: Arc<str>,
    /// Operation (span name).
    pub operation: Arc<str>,
    /// Value of the `--group-by` attribute (`None`: no grouping, or the span
    /// lacks the attribute).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// Statistics of one operation. Durations in nanoseconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpStats {
    /// Which operation.
    #[serde(flatten)]
    pub key: OpKey,
    /// Spans.
    pub count: u64,
    /// Spans with status error.
    pub errors: u64,
    /// `errors / count`.
    pub error_rate: f64,
    /// Mean duration.
    pub mean_ns: u64,
    /// Shortest.
    pub min_ns: u64,
    /// Median.
    pub p50_ns: u64,
    /// 90th percentile.
    pub p90_ns: u64,
    /// 95th percentile.
    pub p95_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
    /// Longest.
    pub max_ns: u64,
}

impl OpStats {
    /// Statistics of `durations` (any order; reordered in place). Each
    /// percentile is selected, not sorted for: the first in the whole slice,
    /// each next one among the values above the last, so the work is a few
    /// passes over the durations rather than a sort.
    pub fn from_durations(key: OpKey, durations: &mut [u64], errors: u64) -> OpStats {
        let count = durations.len() as u64;
        let sum: u128 = durations.iter().map(|&d| u128::from(d)).sum();
        let min_ns = durations.iter().copied().min().unwrap_or(0);
        let max_ns = durations.iter().copied().max().unwrap_or(0);
        let mut at = [0u64; REPORTED.len()];
        let mut from = 0;
        for (value, q) in at.iter_mut().zip(REPORTED) {
            let Some(i) = rank_index(durations.len(), q) else {
                break;
            };
            // Ranks grow with `q`: everything before `from` is no larger
            // than what is at `from`, so the i-th smallest is in the rest.
            let (_, v, _) = durations[from..].select_nth_unstable(i - from);
            *value = *v;
            from = i;
        }
        let [p50_ns, p90_ns, p95_ns, p99_ns, p999_ns] = at;
        OpStats {
            key,
            count,
            errors,
            error_rate: if count == 0 {
                0.0
            } else {
                errors as f64 / count as f64
            },
            mean_ns: if count == 0 {
                0
            } else {
                (sum / u128::from(count)) as u64
            },
            min_ns,
            p50_ns,
            p90_ns,
            p95_ns,
            p99_ns,
            p999_ns,
            max_ns,
        }
    }
}

/// Durations and errors per (service, operation[, attribute value]), span by
/// span: 8 bytes a span (exact percentiles need every duration) plus one
/// entry per group.
#[derive(Debug, Default)]
pub struct OpDurations {
    group_by: Option<String>,
    /// Each group's key, durations and errors, in the order first met.
    groups: Vec<(OpKey, Vec<u64>, u64)>,
    /// The group of each key.
    by_key: HashMap<OpKey, usize, foldhash::fast::RandomState>,
    /// The group of each (service, operation) by the addresses of the two
    /// names, when not grouping by attribute. Inputs share one allocation
    /// per name ([`super::model::Names`]), so most spans find their group
    /// here without hashing or comparing a string.
    by_address: HashMap<(usize, usize), usize, foldhash::fast::RandomState>,
    /// The names whose addresses are keys of `by_address`, held so that no
    /// other name can be allocated at one of those addresses.
    held: Vec<(Arc<str>, Arc<str>)>,
}

/// Where a name is allocated.
fn address(name: &Arc<str>) -> usize {
    Arc::as_ptr(name).cast::<u8>() as usize
}

impl OpDurations {
    /// Groups by service and operation, and by the value of attribute
    /// `group_by` if given.
    pub fn new(group_by: Option<&str>) -> OpDurations {
        OpDurations {
            group_by: group_by.map(str::to_owned),
            ..OpDurations::default()
        }
    }

    /// Counts one span.
    pub fn add(&mut self, s: &SpanRow) {
        self.add_timing(&SpanTiming::of(s));
    }

    /// Counts one span, from what statistics need of it.
    pub fn add_timing(&mut self, s: &SpanTiming<'_>) {
        let group = match &self.group_by {
            None => {
                let at = (address(s.service), address(s.name));
                match self.by_address.get(&at) {
                    Some(&g) => g,
                    None => {
                        let g = self.group(OpKey {
                            service: s.service.clone(),
                            operation: s.name.clone(),
                            group: None,
                        });
                        self.held.push((s.service.clone(), s.name.clone()));
                        self.by_address.insert(at, g);
                        g
                    }
                }
            }
            Some(k) => {
                let key = OpKey {
                    service: s.service.clone(),
                    operation: s.name.clone(),
                    group: s.attr(k).map(|v| v.to_string()),
                };
                self.group(key)
            }
        };
        let (_, durations, errors) = &mut self.groups[group];
        durations.push(s.duration_ns);
        *errors += u64::from(s.error);
    }

    /// The group of `key`, created if new.
    fn group(&mut self, key: OpKey) -> usize {
        if let Some(&g) = self.by_key.get(&key) {
            return g;
        }
        let g = self.groups.len();
        self.groups.push((key.clone(), Vec::new(), 0));
        self.by_key.insert(key, g);
        g
    }

    /// Statistics of every group, sorted by service, operation, group. Each
    /// group's durations are freed as soon as its statistics are computed.
    pub fn finish(self) -> Vec<OpStats> {
        let mut out: Vec<OpStats> = self
            .groups
            .into_iter()
            .map(|(key, mut durations, errors)| {
                OpStats::from_durations(key, &mut durations, errors)
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }
}

/// Statistics of every (service, operation[, attribute value]) in `spans`,
/// sorted by service, operation, group.
pub fn per_operation(spans: &[SpanRow], group_by: Option<&str>) -> Vec<OpStats> {
    let mut groups = OpDurations::new(group_by);
    for s in spans {
        groups.add(s);
    }
    groups.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::generate::Rng;

    /// The definition, by counting: the smallest observed value `v` such that
    /// at least `q` of all values are `<= v`.
    fn naive(values: &[u64], q: f64) -> u64 {
        let n = values.len() as f64;
        let mut candidates = values.to_vec();
        candidates.sort_unstable();
        candidates.dedup();
        *candidates
            .iter()
            .find(|&&v| values.iter().filter(|&&x| x <= v).count() as f64 >= (q * n - 1e-9))
            .unwrap()
    }

    #[test]
    fn percentiles_match_a_naive_exact_computation_on_random_data() {
        let mut rng = Rng::new(3);
        for round in 0..300 {
            let n = rng.range(1, 400) as usize;
            // Mix of narrow (many ties) and wide ranges.
            let hi = if round % 2 == 0 { 20 } else { 1_000_000_000 };
            let mut values: Vec<u64> = (0..n).map(|_| rng.range(0, hi)).collect();
            let unsorted = values.clone();
            let key = OpKey {
                service: Arc::from("s"),
                operation: Arc::from("o"),
                group: None,
            };
            let st = OpStats::from_durations(key, &mut values, 0);
            values.sort_unstable();
            assert_eq!(st.p50_ns, naive(&unsorted, 0.50));
            assert_eq!(st.p90_ns, naive(&unsorted, 0.90));
            assert_eq!(st.p95_ns, naive(&unsorted, 0.95));
            assert_eq!(st.p99_ns, naive(&unsorted, 0.99));
            assert_eq!(st.p999_ns, naive(&unsorted, 0.999));
            assert_eq!(st.min_ns, *unsorted.iter().min().unwrap());
            assert_eq!(st.max_ns, *unsorted.iter().max().unwrap());
            let mean = unsorted.iter().map(|&v| u128::from(v)).sum::<u128>() / n as u128;
            assert_eq!(u128::from(st.mean_ns), mean);
            for _ in 0..5 {
                let q = rng.range(1, 1_000_001) as u32;
                assert_eq!(
                    nearest_rank(&values, Quantile(q)),
                    Some(naive(&unsorted, f64::from(q) / 1e6)),
                    "q = {q}"
                );
            }
        }
    }

    #[test]
    fn small_samples_use_observed_values() {
        let mut v = vec![10, 20, 30, 40];
        assert_eq!(nearest_rank(&v, Quantile::P50), Some(20));
        assert_eq!(nearest_rank(&v, Quantile::P99), Some(40));
        v.clear();
        assert_eq!(nearest_rank(&v, Quantile::P50), None);
    }

    #[test]
    fn names_in_separate_allocations_still_group_by_their_text() {
        use crate::analyze::testing::span;
        // Interned names (one allocation per name) and names allocated per
        // span, freed and allocated again in between: one group per text.
        let mut groups = OpDurations::new(None);
        let shared: Arc<str> = Arc::from("read");
        for i in 0..100u64 {
            let mut s = span(1, None, 0, i);
            s.name = if i % 2 == 0 {
                shared.clone()
            } else {
                Arc::from(if i % 3 == 0 { "write" } else { "read" })
            };
            groups.add(&s);
        }
        let st = groups.finish();
        let counts: Vec<(&str, u64)> = st.iter().map(|o| (&*o.key.operation, o.count)).collect();
        assert_eq!(counts, [("read", 83), ("write", 17)]);
    }

    #[test]
    fn grouping_by_attribute_splits_operations_and_counts_errors() {
        use crate::analyze::model::{AttrValue, StatusCode};
        use crate::analyze::testing::span;
        let mut spans = Vec::new();
        for i in 0..10u8 {
            let mut s = span(i + 1, None, 0, u64::from(i) * 10);
            s.name = Arc::from("read");
            s.attributes.push((
                "node".into(),
                AttrValue::Str(if i < 4 { "a".into() } else { "b".into() }),
            ));
            if i == 9 {
                s.status = StatusCode::Error;
            }
            spans.push(s);
        }
        let st = per_operation(&spans, Some("node"));
        assert_eq!(st.len(), 2);
        assert_eq!(
            (st[0].key.group.as_deref(), st[0].count, st[0].errors),
            (Some("a"), 4, 0)
        );
        assert_eq!(
            (st[1].key.group.as_deref(), st[1].count, st[1].errors),
            (Some("b"), 6, 1)
        );
        assert_eq!(st[1].max_ns, 90);
        assert!((st[1].error_rate - 1.0 / 6.0).abs() < 1e-12);
    }
}
