//! Which operations hurt: ranked by time on critical paths, by tail latency
//! (p99 against the operation's own p50) and by error rate.
//!
//! Severity thresholds:
//!
//! | ranking | low | medium | high |
//! |---|---|---|---|
//! | share of all critical-path time | ≥ 2% | ≥ 10% | ≥ 30% |
//! | p99 / p50 | ≥ 3 | ≥ 5 | ≥ 10 |
//! | error rate | > 0 | ≥ 1% | ≥ 5% |
//!
//! Below the low threshold the severity is `ok`. An operation with fewer spans
//! than the minimum sample size is not ranked at all (its p99 and rates say
//! little) but listed under `too_few_samples`.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use super::critical_path::CriticalPath;
use super::stats::OpStats;
use super::tree::Trace;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Below every threshold.
    Ok,
    /// Worth a look.
    Low,
    /// Hurts.
    Medium,
    /// Hurts a lot.
    High,
}

impl Severity {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }

    fn grade(value: f64, [low, medium, high]: [f64; 3]) -> Severity {
        if value >= high {
            Severity::High
        } else if value >= medium {
            Severity::Medium
        } else if value >= low {
            Severity::Low
        } else {
            Severity::Ok
        }
    }
}

/// Share of critical-path time: low, medium, high.
pub const CRITICAL_SHARE: [f64; 3] = [0.02, 0.10, 0.30];
/// p99 / p50: low, medium, high.
pub const TAIL_RATIO: [f64; 3] = [3.0, 5.0, 10.0];
/// Error rate: low (any error), medium, high.
pub const ERROR_RATE: [f64; 3] = [f64::MIN_POSITIVE, 0.01, 0.05];
/// Default minimum sample size.
pub const MIN_SAMPLES: u64 = 50;

/// A service and operation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Op {
    /// Service.
    pub service: Arc<str>,
    /// Operation.
    pub operation: Arc<str>,
}

/// Time an operation spent on critical paths.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CriticalTime {
    /// Which operation.
    #[serde(flatten)]
    pub op: Op,
    /// Spans of it in the window.
    pub samples: u64,
    /// Traces whose critical path it is on.
    pub traces: u64,
    /// Its own time on critical paths, summed, ns.
    pub critical_ns: u64,
    /// `critical_ns` over all critical-path time (the sum of root durations).
    pub share: f64,
    /// Severity by share.
    pub severity: Severity,
}

/// An operation's tail latency against its median.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tail {
    /// Which operation.
    #[serde(flatten)]
    pub op: Op,
    /// Spans of it.
    pub samples: u64,
    /// Median, ns.
    pub p50_ns: u64,
    /// 99th percentile, ns.
    pub p99_ns: u64,
    /// `p99 / p50`.
    pub ratio: f64,
    /// Severity by ratio.
    pub severity: Severity,
}

/// An operation's errors.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Errors {
    /// Which operation.
    #[serde(flatten)]
    pub op: Op,
    /// Spans of it.
    pub samples: u64,
    /// Spans with status error.
    pub errors: u64,
    /// `errors / samples`.
    pub rate: f64,
    /// Severity by rate.
    pub severity: Severity,
}

/// An operation left out of the rankings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TooFew {
    /// Which operation.
    #[serde(flatten)]
    pub op: Op,
    /// Spans of it (fewer than the minimum).
    pub samples: u64,
}

/// All three rankings, most severe first.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bottlenecks {
    /// Traces with a root in the window.
    pub traces: u64,
    /// Sum of their root durations (= all critical-path time), ns.
    pub critical_total_ns: u64,
    /// The minimum sample size used.
    pub min_samples: u64,
    /// By time on critical paths.
    pub critical_path: Vec<CriticalTime>,
    /// By p99 / p50.
    pub tail_latency: Vec<Tail>,
    /// By error rate.
    pub error_rate: Vec<Errors>,
    /// Not ranked for want of samples.
    pub too_few_samples: Vec<TooFew>,
}

/// Time on critical paths per operation, added up trace by trace: one entry
/// per operation, nothing per trace.
#[derive(Debug, Default)]
pub struct CriticalTally {
    on_path: HashMap<Op, (u64, u64), foldhash::fast::RandomState>,
    total: u64,
    traces: u64,
}

impl CriticalTally {
    /// Adds one trace's critical path.
    pub fn add(&mut self, trace: &Trace) {
        let Some(path) = CriticalPath::of(trace) else {
            return;
        };
        self.traces += 1;
        self.total += path.total_ns();
        let mut seen: Vec<Op> = Vec::new();
        for (i, ns) in path.per_span(trace.spans.len()).into_iter().enumerate() {
            if ns == 0 {
                continue;
            }
            let s = &trace.spans[i];
            let op = Op {
                service: s.service.clone(),
                operation: s.name.clone(),
            };
            let entry = self.on_path.entry(op.clone()).or_default();
            entry.0 += ns;
            if !seen.contains(&op) {
                entry.1 += 1;
                seen.push(op);
            }
        }
    }
}

/// Ranks operations. `stats` are per operation without grouping (see
/// [`super::stats::per_operation`]), `traces` the same spans as traces.
pub fn rank(traces: &[Trace], stats: &[OpStats], min_samples: u64) -> Bottlenecks {
    let mut tally = CriticalTally::default();
    for trace in traces {
        tally.add(trace);
    }
    rank_tally(tally, stats, min_samples)
}

/// Ranks operations from their statistics and their critical-path tally
/// (over the same spans).
pub fn rank_tally(tally: CriticalTally, stats: &[OpStats], min_samples: u64) -> Bottlenecks {
    let CriticalTally {
        on_path,
        total,
        traces: trace_count,
    } = tally;
    let mut out = Bottlenecks {
        traces: trace_count,
        critical_total_ns: total,
        min_samples,
        critical_path: Vec::new(),
        tail_latency: Vec::new(),
        error_rate: Vec::new(),
        too_few_samples: Vec::new(),
    };
    for st in stats {
        let op = Op {
            service: st.key.service.clone(),
            operation: st.key.operation.clone(),
        };
        if st.count < min_samples {
            out.too_few_samples.push(TooFew {
                op,
                samples: st.count,
            });
            continue;
        }
        let (critical_ns, traces) = on_path.get(&op).copied().unwrap_or_default();
        let share = if total == 0 {
            0.0
        } else {
            critical_ns as f64 / total as f64
        };
        out.critical_path.push(CriticalTime {
            op: op.clone(),
            samples: st.count,
            traces,
            critical_ns,
            share,
            severity: Severity::grade(share, CRITICAL_SHARE),
        });
        let ratio = st.p99_ns as f64 / st.p50_ns.max(1) as f64;
        out.tail_latency.push(Tail {
            op: op.clone(),
            samples: st.count,
            p50_ns: st.p50_ns,
            p99_ns: st.p99_ns,
            ratio,
            severity: Severity::grade(ratio, TAIL_RATIO),
        });
        out.error_rate.push(Errors {
            op,
            samples: st.count,
            errors: st.errors,
            rate: st.error_rate,
            severity: Severity::grade(st.error_rate, ERROR_RATE),
        });
    }
    out.critical_path
        .sort_by(|a, b| b.critical_ns.cmp(&a.critical_ns).then(a.op.cmp(&b.op)));
    out.tail_latency
        .sort_by(|a, b| b.ratio.total_cmp(&a.ratio).then(a.op.cmp(&b.op)));
    out.error_rate
        .sort_by(|a, b| b.rate.total_cmp(&a.rate).then(a.op.cmp(&b.op)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::model::StatusCode;
    use crate::analyze::stats::per_operation;
    use crate::analyze::testing::span;

    #[test]
    fn grades_at_the_documented_thresholds() {
        assert_eq!(Severity::grade(0.019, CRITICAL_SHARE), Severity::Ok);
        assert_eq!(Severity::grade(0.02, CRITICAL_SHARE), Severity::Low);
        assert_eq!(Severity::grade(0.10, CRITICAL_SHARE), Severity::Medium);
        assert_eq!(Severity::grade(0.30, CRITICAL_SHARE), Severity::High);
        assert_eq!(Severity::grade(2.99, TAIL_RATIO), Severity::Ok);
        assert_eq!(Severity::grade(5.0, TAIL_RATIO), Severity::Medium);
        assert_eq!(Severity::grade(0.0, ERROR_RATE), Severity::Ok);
        assert_eq!(Severity::grade(0.001, ERROR_RATE), Severity::Low);
        assert_eq!(Severity::grade(0.05, ERROR_RATE), Severity::High);
    }

    /// `n` traces: root `op1` [0, 100] with child `op2` [10, 90]; every
    /// tenth `op2` is slow-tailed and errors.
    fn traces(n: u8) -> Vec<Trace> {
        (0..n)
            .map(|i| {
                let mut root = span(1, None, 0, 100);
                let mut child = span(2, Some(1), 10, 90);
                root.trace_id.0[0] = i;
                child.trace_id.0[0] = i;
                if i % 10 == 0 {
                    child.end_ns = 1000;
                    root.end_ns = 1010;
                    child.status = StatusCode::Error;
                }
                Trace::new(vec![root, child])
            })
            .collect()
    }

    #[test]
    fn ranks_by_critical_time_tail_and_errors_with_evidence() {
        let traces = traces(100);
        let spans: Vec<_> = traces.iter().flat_map(|t| t.spans.clone()).collect();
        let stats = per_operation(&spans, None);
        let b = rank(&traces, &stats, 50);
        assert_eq!(b.traces, 100);
        // 90 traces of 100 ns and 10 of 1010 ns.
        assert_eq!(b.critical_total_ns, 90 * 100 + 10 * 1010);
        let top = &b.critical_path[0];
        assert_eq!(&*top.op.operation, "op2");
        assert_eq!(top.critical_ns, 90 * 80 + 10 * 990);
        assert_eq!(top.traces, 100);
        assert_eq!(top.severity, Severity::High);
        let tail = b
            .tail_latency
            .iter()
            .find(|t| &*t.op.operation == "op2")
            .unwrap();
        assert_eq!((tail.p50_ns, tail.p99_ns), (80, 990));
        assert_eq!(tail.severity, Severity::High);
        assert_eq!(&*b.error_rate[0].op.operation, "op2");
        assert_eq!(b.error_rate[0].errors, 10);
        assert_eq!(b.error_rate[0].severity, Severity::High);
        assert!(b.too_few_samples.is_empty());
    }

    #[test]
    fn operations_below_the_minimum_sample_size_are_not_ranked() {
        let traces = traces(20);
        let spans: Vec<_> = traces.iter().flat_map(|t| t.spans.clone()).collect();
        let b = rank(&traces, &per_operation(&spans, None), 50);
        assert!(b.critical_path.is_empty() && b.tail_latency.is_empty() && b.error_rate.is_empty());
        assert_eq!(b.too_few_samples.len(), 2);
        assert!(b.too_few_samples.iter().all(|t| t.samples == 20));
    }
}
