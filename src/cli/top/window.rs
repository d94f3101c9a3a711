//! What `ringside top` shows, computed from the sidecar's cumulative
//! snapshots: the difference between the newest and the oldest snapshot in
//! the window gives each series' calls, errors and histogram over that
//! window; series are then grouped by operation or service and sorted.

use std::collections::{HashMap, VecDeque};

use serde::Serialize;

use ringside_agent::sidecar::span_metrics::histogram::{FINE_BUCKETS, quantile_of};
use ringside_agent::sidecar::span_metrics::live::{LiveSeries, LiveSnapshot};

/// What the rows are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// One row per service and span name.
    Operations,
    /// One row per service.
    Services,
    /// The slowest kept spans that ended in the window.
    Traces,
}

impl View {
    /// The next view (the `v`/Tab key).
    pub fn next(self) -> View {
        match self {
            View::Operations => View::Services,
            View::Services => View::Traces,
            View::Traces => View::Operations,
        }
    }
}

/// The sort column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SortKey {
    /// Service and operation name (ascending).
    Name,
    /// Calls per second.
    Rate,
    /// Error percentage.
    Errors,
    /// Median.
    P50,
    /// 99th percentile.
    P99,
    /// 99.9th percentile.
    P999,
}

impl SortKey {
    /// Columns in screen order.
    pub const ALL: [SortKey; 6] = [
        SortKey::Name,
        SortKey::Rate,
        SortKey::Errors,
        SortKey::P50,
        SortKey::P99,
        SortKey::P999,
    ];

    /// The column's heading.
    pub fn title(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Rate => "rate/s",
            SortKey::Errors => "err%",
            SortKey::P50 => "p50",
            SortKey::P99 => "p99",
            SortKey::P999 => "p99.9",
        }
    }

    /// The column `step` places to the right (negative: left), wrapping.
    pub fn step(self, step: isize) -> SortKey {
        let n = Self::ALL.len() as isize;
        let at = Self::ALL.iter().position(|k| *k == self).unwrap_or(0) as isize;
        Self::ALL[((at + step).rem_euclid(n)) as usize]
    }
}

/// One row of the operations or services view.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Row {
    /// Service.
    pub service: String,
    /// Span name; empty in the services view, `(overflow)` for the overflow series.
    pub operation: String,
    /// Calls in the window.
    pub calls: u64,
    /// Calls per second.
    pub rate: f64,
    /// Percentage of calls with status error.
    pub error_pct: f64,
    /// Quantiles, ns (within the histogram's 3.125 %).
    pub p50_ns: u64,
    /// 99th percentile, ns.
    pub p99_ns: u64,
    /// 99.9th percentile, ns.
    pub p999_ns: u64,
}

/// A slow kept span of the window.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TraceRow {
    /// Service.
    pub service: String,
    /// Span name.
    pub operation: String,
    /// Duration, ns.
    pub duration_ns: u64,
    /// Error status.
    pub error: bool,
    /// For `ringside trace <id>`.
    pub trace_id: String,
}

/// The last snapshots, oldest first, covering the window.
#[derive(Debug, Default)]
pub struct History {
    snapshots: VecDeque<LiveSnapshot>,
    window_ns: u64,
}

fn series_key(s: &LiveSeries) -> (&str, &str, &str, &str, &[(String, String)], u64) {
    (
        &s.service,
        &s.name,
        &s.kind,
        &s.status,
        &s.dimensions,
        s.start_unix_ns,
    )
}

/// Windowed figures of one group of series.
#[derive(Default)]
struct Acc {
    calls: u64,
    errors: u64,
    buckets: Vec<u64>,
}

impl History {
    /// Keeps snapshots for `window_secs`.
    pub fn new(window_secs: u64) -> History {
        History {
            snapshots: VecDeque::new(),
            window_ns: window_secs.max(1) * 1_000_000_000,
        }
    }

    /// Adds the newest snapshot; drops those no longer needed.
    pub fn push(&mut self, snap: LiveSnapshot) {
        self.snapshots.push_back(snap);
        while self.snapshots.len() > 2 {
            let newest = self.snapshots.back().map_or(0, |s| s.unix_ns);
            // Keep the newest snapshot at least a window old as the base.
            if newest.saturating_sub(self.snapshots[1].unix_ns) >= self.window_ns {
                self.snapshots.pop_front();
            } else {
                break;
            }
        }
    }

    /// The newest snapshot.
    pub fn latest(&self) -> Option<&LiveSnapshot> {
        self.snapshots.back()
    }

    /// Seconds between the base and the newest snapshot (0 with one).
    pub fn span_secs(&self) -> f64 {
        match (self.snapshots.front(), self.snapshots.back()) {
            (Some(a), Some(b)) => b.unix_ns.saturating_sub(a.unix_ns) as f64 / 1e9,
            _ => 0.0,
        }
    }

    /// Rows of `view` (operations or services), sorted by `key`.
    pub fn rows(&self, services_only: bool, key: SortKey, reverse: bool) -> Vec<Row> {
        let (Some(base), Some(now)) = (self.snapshots.front(), self.snapshots.back()) else {
            return Vec::new();
        };
        let single = self.snapshots.len() == 1;
        let before: HashMap<_, &LiveSeries> =
            base.series.iter().map(|s| (series_key(s), s)).collect();
        let mut groups: HashMap<(String, String), Acc> = HashMap::new();
        for s in &now.series {
            let old = (!single).then(|| before.get(&series_key(s))).flatten();
            let calls = s.calls - old.map_or(0, |o| o.calls.min(s.calls));
            if calls == 0 {
                continue;
            }
            let operation = match (s.overflow, services_only) {
                (true, _) => "(overflow)".to_string(),
                (false, true) => String::new(),
                (false, false) => s.name.clone(),
            };
            let acc = groups.entry((s.service.clone(), operation)).or_default();
            acc.buckets.resize(FINE_BUCKETS, 0);
            acc.calls += calls;
            if s.status == "STATUS_CODE_ERROR" {
                acc.errors += calls;
            }
            for &(i, c) in &s.buckets {
                if let Some(b) = acc.buckets.get_mut(i as usize) {
                    *b += c;
                }
            }
            if let Some(o) = old {
                for &(i, c) in &o.buckets {
                    if let Some(b) = acc.buckets.get_mut(i as usize) {
                        *b = b.saturating_sub(c);
                    }
                }
            }
        }
        let secs = if single {
            // No window yet: since the oldest series started.
            let start = now
                .series
                .iter()
                .map(|s| s.start_unix_ns)
                .min()
                .unwrap_or(now.unix_ns);
            (now.unix_ns.saturating_sub(start) as f64 / 1e9).max(1.0)
        } else {
            self.span_secs().max(1e-3)
        };
        let mut rows: Vec<Row> = groups
            .into_iter()
            .map(|((service, operation), a)| {
                let q = |q: f64| {
                    let total = a.buckets.iter().sum();
                    quantile_of(a.buckets.iter().copied().enumerate(), total, q).unwrap_or(0)
                };
                Row {
                    rate: a.calls as f64 / secs,
                    error_pct: 100.0 * a.errors as f64 / a.calls as f64,
                    p50_ns: q(0.5),
                    p99_ns: q(0.99),
                    p999_ns: q(0.999),
                    calls: a.calls,
                    service,
                    operation,
                }
            })
            .collect();
        sort_rows(&mut rows, key, reverse);
        rows
    }

    /// Kept spans that ended in the window, slowest first.
    pub fn traces(&self) -> Vec<TraceRow> {
        let (Some(base), Some(now)) = (self.snapshots.front(), self.snapshots.back()) else {
            return Vec::new();
        };
        let since = if self.snapshots.len() == 1 {
            now.unix_ns.saturating_sub(self.window_ns)
        } else {
            base.unix_ns
        };
        let mut rows: Vec<TraceRow> = now
            .traces
            .iter()
            .filter(|t| t.end_unix_ns >= since)
            .map(|t| TraceRow {
                service: t.service.clone(),
                operation: t.name.clone(),
                duration_ns: t.duration_ns,
                error: t.status == "STATUS_CODE_ERROR",
                trace_id: t.trace_id.clone(),
            })
            .collect();
        rows.sort_by_key(|t| std::cmp::Reverse(t.duration_ns));
        rows
    }
}

/// Sorts: numbers descending (largest first), names ascending; `reverse`
/// flips either. Ties fall back to the name so rows do not jump around.
pub fn sort_rows(rows: &mut [Row], key: SortKey, reverse: bool) {
    let name = |r: &Row| (r.service.clone(), r.operation.clone());
    rows.sort_by(|a, b| {
        let by = match key {
            SortKey::Name => name(a).cmp(&name(b)),
            SortKey::Rate => b.rate.total_cmp(&a.rate),
            SortKey::Errors => b.error_pct.total_cmp(&a.error_pct),
            SortKey::P50 => b.p50_ns.cmp(&a.p50_ns),
            SortKey::P99 => b.p99_ns.cmp(&a.p99_ns),
            SortKey::P999 => b.p999_ns.cmp(&a.p999_ns),
        };
        let by = if reverse { by.reverse() } else { by };
        by.then_with(|| name(a).cmp(&name(b)))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringside_agent::sidecar::span_metrics::histogram::fine_index;

    fn series(name: &str, status: &str, calls: u64, ns: u64) -> LiveSeries {
        LiveSeries {
            service: "svc".into(),
            name: name.into(),
            kind: "SPAN_KIND_SERVER".into(),
            status: status.into(),
            dimensions: Vec::new(),
            overflow: false,
            calls,
            sum_ns: calls * ns,
            buckets: vec![(fine_index(ns) as u16, calls)],
            start_unix_ns: 1,
        }
    }

    fn snap(at_s: u64, series: Vec<LiveSeries>) -> LiveSnapshot {
        LiveSnapshot {
            unix_ns: at_s * 1_000_000_000,
            series,
            ..LiveSnapshot::default()
        }
    }

    #[test]
    fn the_window_is_the_difference_of_snapshots() {
        let mut h = History::new(10);
        h.push(snap(
            100,
            vec![series("slow", "STATUS_CODE_UNSET", 1000, 50_000_000)],
        ));
        h.push(snap(
            105,
            vec![
                series("slow", "STATUS_CODE_UNSET", 1000, 50_000_000),
                series("fast", "STATUS_CODE_UNSET", 400, 10_000),
                series("fast", "STATUS_CODE_ERROR", 100, 10_000),
            ],
        ));
        // "slow" saw nothing in the window: no row.
        let rows = h.rows(false, SortKey::P99, false);
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!((r.operation.as_str(), r.calls), ("fast", 500));
        assert_eq!(r.rate, 100.0);
        assert_eq!(r.error_pct, 20.0);
        assert!((r.p99_ns as f64 - 10_000.0).abs() / 10_000.0 < 0.04);
    }

    #[test]
    fn sorting_puts_the_slowest_first_and_reverses() {
        let mut h = History::new(10);
        h.push(snap(
            1,
            vec![
                series("a", "STATUS_CODE_UNSET", 10, 1_000_000),
                series("b", "STATUS_CODE_UNSET", 10, 30_000_000),
            ],
        ));
        let names = |rows: Vec<Row>| rows.into_iter().map(|r| r.operation).collect::<Vec<_>>();
        assert_eq!(names(h.rows(false, SortKey::P99, false)), ["b", "a"]);
        assert_eq!(names(h.rows(false, SortKey::P99, true)), ["a", "b"]);
        assert_eq!(names(h.rows(false, SortKey::Name, false)), ["a", "b"]);
        assert_eq!(SortKey::P999.step(1), SortKey::Name);
        assert_eq!(SortKey::Name.step(-1), SortKey::P999);
    }

    #[test]
    fn old_snapshots_leave_once_a_newer_one_covers_the_window() {
        let mut h = History::new(10);
        for t in 0..30 {
            h.push(snap(t, Vec::new()));
        }
        assert!(
            h.span_secs() >= 10.0 && h.span_secs() <= 11.0,
            "{}",
            h.span_secs()
        );
    }
}
