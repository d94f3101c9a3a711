//! Span metrics of a running sidecar at sampling ratio 0.01: calls exact per
//! operation and status, durations in the right buckets, the page parsed by
//! prometheus_client in both formats, and every exemplar a span the exporter
//! received.

mod common;
mod span_metrics_support;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use span_metrics_support::*;

#[test]
fn role_ops_writer() {
    if role().as_deref() == Some("ops_writer") {
        ops_writer();
    }
}

fn calls(samples: &[Sample], name: &str, status: &str) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == "traces_span_metrics_calls_total")
        .filter(|s| s.labels["span_name"] == name && s.labels["status_code"] == status)
        .map(|s| s.value)
        .sum()
}

fn bucket(samples: &[Sample], name: &str, le: &str) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == "traces_span_metrics_duration_seconds_bucket")
        .filter(|s| s.labels["span_name"] == name && s.labels["le"] == le)
        .map(|s| s.value)
        .sum()
}

#[test]
fn span_metrics_are_exact_at_ratio_one_percent_and_exemplars_point_at_exported_spans() {
    let tmp = TempDir::new("span-metrics");
    let (rings, spool, out, log) = layout(&tmp);
    let (mut sidecar, addr) = scrape::start_sidecar_with_metrics(
        (&rings, &spool, &out, &log),
        &["--sample-ratio", "0.01"],
        &[],
    );
    let (written, dropped) = run_ops_writer("role_ops_writer", &rings);
    assert_eq!(
        (written, dropped),
        (FAST + SLOW, 0),
        "the ring took every span"
    );

    wait_for("ring drained and removed", Duration::from_secs(60), || {
        ring_files(&rings).is_empty()
    });
    let mut page = String::new();
    wait_for(
        "every span counted and every kept one exported",
        Duration::from_secs(60),
        || {
            page = scrape::page(&addr);
            let m = |parts: &[&str]| scrape::metric(&page, parts).unwrap_or(-1.0);
            let counted = m(&[
                "traces_span_metrics_duration_seconds_count{",
                "span_name=\"get\"",
                "STATUS_CODE_UNSET",
            ]) + m(&[
                "traces_span_metrics_duration_seconds_count{",
                "span_name=\"get\"",
                "STATUS_CODE_ERROR",
            ]);
            let kept = m(&[
                "ringside_sampled_spans_total{",
                "decision=\"kept\"",
                "reason=\"head_ratio\"",
            ]);
            let exported = m(&[
                "ringside_export_spans_total{",
                "exporter=\"jsonl\"",
                "result=\"ok\"",
            ]);
            // The sampler's counters are published a few times a second: the
            // first snapshot without the ring has its final counts.
            let rings = m(&["ringside_rings "]);
            let written = read_jsonl(&out).len() as f64;
            counted == FAST as f64
                && rings == 0.0
                && kept >= 0.0
                && kept == exported
                && written == kept
        },
    );

    // The 0.0.4 text format, by the text parser: counts exact although only
    // about 1 % of the spans were kept.
    let text = parse(&page, "text");
    assert_eq!(calls(&text, "get", "STATUS_CODE_ERROR"), FAST_ERRORS as f64);
    assert_eq!(
        calls(&text, "get", "STATUS_CODE_UNSET"),
        (FAST - FAST_ERRORS) as f64
    );
    assert_eq!(
        calls(&text, "scrub", "STATUS_CODE_ERROR"),
        SLOW_ERRORS as f64
    );
    assert_eq!(
        calls(&text, "scrub", "STATUS_CODE_UNSET"),
        (SLOW - SLOW_ERRORS) as f64
    );
    // Every scrub slept 2 ms: none at or under 1 ms, all under +Inf.
    assert_eq!(bucket(&text, "scrub", "0.001"), 0.0);
    assert_eq!(bucket(&text, "scrub", "+Inf"), SLOW as f64);
    let kept: f64 = text
        .iter()
        .filter(|s| s.name == "ringside_sampled_spans_total" && s.labels["decision"] == "kept")
        .map(|s| s.value)
        .sum();
    assert!(kept < (FAST + SLOW) as f64 / 20.0, "ratio 0.01 kept {kept}");
    assert!(text.iter().all(|s| s.exemplar.is_none()));

    // OpenMetrics, by the OpenMetrics parser, with exemplars.
    let openmetrics = scrape::get(
        &addr,
        "/metrics",
        Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"),
    );
    let (kind, om) = (openmetrics.content_type, openmetrics.body);
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    let samples = parse(&om, "openmetrics");
    assert_eq!(
        calls(&samples, "get", "STATUS_CODE_ERROR"),
        FAST_ERRORS as f64
    );
    let exported: HashSet<(String, String)> = read_jsonl(&out)
        .into_iter()
        .map(|s| (s.trace_id, s.span_id))
        .collect();
    assert_eq!(exported.len() as f64, kept);
    let exemplars: Vec<&Exemplar> = samples
        .iter()
        .filter(|s| s.name == "traces_span_metrics_duration_seconds_bucket")
        .filter_map(|s| s.exemplar.as_ref())
        .collect();
    assert!(!exemplars.is_empty(), "no exemplars:\n{om}");
    for x in &exemplars {
        let id = (x.labels["trace_id"].clone(), x.labels["span_id"].clone());
        assert!(exported.contains(&id), "exemplar {id:?} was never exported");
        assert!(x.timestamp.is_some());
    }
    sidecar.stop_with(libc::SIGTERM, Duration::from_secs(30));
}
