//! Span metrics on `/metrics`, named as the OpenTelemetry Collector's span
//! metrics connector names them (so Jaeger's Service Performance Monitoring
//! and its dashboards read them unchanged): `traces_span_metrics_calls_total`
//! and the classic histogram `traces_span_metrics_duration_seconds`, labelled
//! `service_name`, `span_name`, `span_kind`, `status_code` and one label per
//! configured dimension (`storage.node` → `storage_node`). Errors are the
//! calls with `status_code="STATUS_CODE_ERROR"`.

use ringside::id::hex;

use super::Snapshot;
use super::series::{kind_label, status_label};
use crate::sidecar::metrics::{Bucket, ExemplarText, Exposition};

const CALLS: &str = "traces_span_metrics_calls_total";
const CALLS_HELP: &str = "Spans drained (before sampling), by service, span name, kind and status.";
const DURATION: &str = "traces_span_metrics_duration_seconds";
const DURATION_HELP: &str = "Span durations (before sampling); exemplars are kept spans.";

/// Writes every series of `snap`, then the stage's own counters.
pub fn expose(e: &mut Exposition, snap: &Snapshot) {
    let dimension_labels: Vec<String> = snap
        .dimensions
        .iter()
        .map(|d| d.replace(|c: char| !c.is_ascii_alphanumeric(), "_"))
        .collect();
    for (labels, series) in &snap.series {
        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(4 + dimension_labels.len());
        match labels {
            Some(l) => {
                pairs.push(("service_name", &l.service));
                pairs.push(("span_name", &l.name));
                pairs.push(("span_kind", kind_label(l.kind)));
                pairs.push(("status_code", status_label(l.status)));
                for (k, v) in dimension_labels.iter().zip(&l.dimensions) {
                    pairs.push((k, v));
                }
            }
            None => pairs.push(("otel_metric_overflow", "true")),
        }
        e.counter(CALLS, CALLS_HELP, &pairs, series.fine.count);
        let mut cumulative = 0;
        let bounds = snap
            .layout
            .bounds_s()
            .iter()
            .copied()
            .chain([f64::INFINITY]);
        let buckets: Vec<Bucket> = bounds
            .zip(series.classic.iter().zip(series.exemplars.iter()))
            .map(|(le, (n, x))| {
                cumulative += n;
                let x = x.map(|x| ExemplarText {
                    trace_id: hex(&x.trace_id),
                    span_id: hex(&x.span_id),
                    value: x.duration_ns as f64 / 1e9,
                    timestamp: x.end_unix_ns as f64 / 1e9,
                });
                (le, cumulative, x)
            })
            .collect();
        e.histogram(
            DURATION,
            DURATION_HELP,
            &pairs,
            &buckets,
            series.fine.sum_ns as f64 / 1e9,
        );
    }
    let s = &snap.stats;
    e.gauge(
        "ringside_span_metrics_series",
        "Span metric series held.",
        &[],
        s.series as f64,
    );
    e.gauge(
        "ringside_span_metrics_series_limit",
        "Most span metric series (span_metrics.max_series).",
        &[],
        s.max_series as f64,
    );
    e.counter(
        "ringside_span_metrics_overflow_spans_total",
        "Spans counted in the overflow series because the series limit was reached.",
        &[],
        s.overflow_spans,
    );
    e.counter(
        "ringside_span_metrics_stale_series_total",
        "Series dropped after span_metrics.stale_after_s without a span.",
        &[],
        s.stale_series,
    );
}
