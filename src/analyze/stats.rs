//! Latency statistics per service and operation.
//!
//! Percentiles are exact, by the nearest-rank method: the p-th percentile of
//! `n` durations is the smallest duration such that at least p% of them are
//! less than or equal to it, i.e. the `ceil(p/100 · n)`-th smallest. It is
//! always a duration that was observed; nothing is interpolated or binned.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use super::model::SpanRow;

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
    let n = sorted.len() as u128;
    if n == 0 {
        return None;
    }
    let q = u128::from(q.0.min(1_000_000));
    let rank = (q * n).div_ceil(1_000_000).max(1);
    sorted.get(rank as usize - 1).copied()
}

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
    /// Statistics of `durations` (any order; sorted in place).
    pub fn from_durations(key: OpKey, durations: &mut [u64], errors: u64) -> OpStats {
        durations.sort_unstable();
        let count = durations.len() as u64;
        let sum: u128 = durations.iter().map(|&d| u128::from(d)).sum();
        let q = |q| nearest_rank(durations, q).unwrap_or(0);
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
            min_ns: durations.first().copied().unwrap_or(0),
            p50_ns: q(Quantile::P50),
            p90_ns: q(Quantile::P90),
            p95_ns: q(Quantile::P95),
            p99_ns: q(Quantile::P99),
            p999_ns: q(Quantile::P999),
            max_ns: durations.last().copied().unwrap_or(0),
        }
    }
}

/// Durations and errors per (service, operation[, attribute value]), span by
/// span: 8 bytes a span (exact percentiles need every duration) plus one
/// entry per group.
#[derive(Debug, Default)]
pub struct OpDurations {
    group_by: Option<String>,
    groups: HashMap<OpKey, (Vec<u64>, u64)>,
}

impl OpDurations {
    /// Groups by service and operation, and by the value of attribute
    /// `group_by` if given.
    pub fn new(group_by: Option<&str>) -> OpDurations {
        OpDurations {
            group_by: group_by.map(str::to_owned),
            groups: HashMap::new(),
        }
    }

    /// Counts one span.
    pub fn add(&mut self, s: &SpanRow) {
        let key = OpKey {
            service: s.service.clone(),
            operation: s.name.clone(),
            group: self
                .group_by
                .as_deref()
                .and_then(|k| s.attr(k))
                .map(|v| v.to_string()),
        };
        let entry = self.groups.entry(key).or_default();
        entry.0.push(s.duration_ns());
        entry.1 += u64::from(s.is_error());
    }

    /// Statistics of every group, sorted by service, operation, group. Each
    /// group's durations are freed as soon as its statistics are computed.
    pub fn finish(self) -> Vec<OpStats> {
        let mut out: Vec<OpStats> = self
            .groups
            .into_iter()
            .map(|(key, (mut durations, errors))| {
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
