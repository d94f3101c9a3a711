//! `/metrics` and `/healthz` of a running sidecar agree with what the writers
//! and the exporter saw, and head sampling's decisions are counted.

mod common;
#[path = "common/roles.rs"]
mod writer_roles;

use std::time::Duration;

use common::*;

#[test]
fn role_tracer_writer() {
    if role().as_deref() == Some("tracer_writer") {
        writer_roles::tracer_writer();
    }
}

/// Head sampling's counts of kept and dropped spans.
const KEPT: &[&str] = &[
    "ringside_sampled_spans_total{",
    "decision=\"kept\"",
    "reason=\"head_ratio\"",
];
const DROPPED: &[&str] = &[
    "ringside_sampled_spans_total{",
    "decision=\"dropped\"",
    "reason=\"head_ratio\"",
];

#[test]
fn metrics_count_rings_sampling_and_exports() {
    let tmp = TempDir::new("metrics");
    let (rings, spool, out, log) = layout(&tmp);
    let (mut sidecar, addr) = scrape::start_sidecar_with_metrics(
        (&rings, &spool, &out, &log),
        &["--sample-ratio", "0.5"],
        &[],
    );
    let health = scrape::get(&addr, "/healthz", None);
    assert_eq!(health.status, 200, "healthz: {}", health.body);

    let written = run_tracer_writer("role_tracer_writer", &rings, 4, 2, 20_000).0 as f64;

    // Once the ring is gone its counters leave the page; the sampler and
    // exporter counters stay.
    wait_for("ring drained and removed", Duration::from_secs(60), || {
        ring_files(&rings).is_empty()
    });
    let mut page = String::new();
    wait_for(
        "every span decided and every kept one exported",
        Duration::from_secs(60),
        || {
            page = scrape::page(&addr);
            let kept = scrape::metric(&page, KEPT).unwrap_or(-1.0);
            let ok = scrape::metric(
                &page,
                &[
                    "ringside_export_spans_total{",
                    "exporter=\"jsonl\"",
                    "result=\"ok\"",
                ],
            )
            .unwrap_or(-2.0);
            let dropped = scrape::metric(&page, DROPPED).unwrap_or(0.0);
            // The page is a snapshot published a few times a second: wait until
            // it has seen every span, then until every kept one was exported.
            kept + dropped == written && kept == ok && read_jsonl(&out).len() as f64 == ok
        },
    );
    let kept = scrape::metric(&page, KEPT).unwrap();
    let dropped = scrape::metric(&page, DROPPED).unwrap();
    assert_eq!(kept + dropped, written, "every span decided once");
    let fraction = kept / written;
    assert!(
        (0.45..0.55).contains(&fraction),
        "ratio 0.5 kept {fraction}"
    );
    assert_eq!(
        scrape::metric(&page, &["ringside_rings_removed_total"]),
        Some(1.0)
    );
    assert_eq!(
        scrape::metric(&page, &["ringside_spool_dropped_spans_total"]),
        Some(0.0)
    );
    assert!(page.contains("# TYPE ringside_spool_bytes gauge"));
    assert!(
        sidecar
            .stop_with(libc::SIGTERM, Duration::from_secs(30))
            .success()
    );
}
