//! Span metrics exported as OTLP/HTTP metrics are accepted by rotel (an
//! OpenTelemetry collector in Rust), with the exact call counts: rotel
//! prints what it receives (`--debug-log metrics`). `#[ignore]`d: needs rotel
//! in `target/venv` (`.ci/run` installs it); run with
//! cargo test --test span_metrics_rotel -- --ignored

mod common;
mod rotel_support;
mod span_metrics_support;

use std::time::Duration;

use common::*;
use rotel_support::Rotel;
use span_metrics_support::*;

#[test]
fn role_ops_writer() {
    if role().as_deref() == Some("ops_writer") {
        ops_writer();
    }
}

#[test]
#[ignore = "needs rotel in target/venv (.ci/run installs it)"]
fn rotel_accepts_span_metrics_with_exact_counts() {
    let mut rotel = Rotel::start_with(
        "span-metrics",
        &[
            "--exporter",
            "blackhole",
            "--disable-batching",
            "--debug-log",
            "metrics",
            "--debug-log-verbosity",
            "detailed",
        ],
    );
    let tmp = TempDir::new("span-metrics-rotel");
    let (rings, spool, out, log) = layout(&tmp);
    let config = tmp.join("ringside.toml");
    std::fs::write(&config, "[span_metrics]\nexport_interval_s = 1\n").unwrap();
    let mut sidecar = start_sidecar(
        &rings,
        &spool,
        &out,
        &log,
        &[
            "-c",
            config.to_str().unwrap(),
            "--otlp-endpoint",
            &rotel.endpoint,
            "--sample-ratio",
            "0.01",
        ],
    );
    assert_eq!(run_ops_writer("role_ops_writer", &rings), (FAST + SLOW, 0));

    // The totals of the last export: every span, whatever was sampled.
    let errors = format!("{FAST_ERRORS}");
    let ok = format!("{}", FAST - FAST_ERRORS);
    rotel.wait_for(
        |r| {
            let text = r.output();
            text.contains("traces.span.metrics.duration")
                && text.contains(&format!("Value: {errors}"))
                && text.contains(&format!("Value: {ok}"))
        },
        "printing the exact call counts",
        Duration::from_secs(60),
    );
    let text = rotel.output();
    for want in [
        "traces.span.metrics.calls",
        "AGGREGATION_TEMPORALITY_CUMULATIVE",
        "span.name",
        "STATUS_CODE_ERROR",
        "data-1",
    ] {
        assert!(
            text.contains(want),
            "no {want:?} in rotel's output:\n{text}"
        );
    }
    sidecar.stop_with(libc::SIGTERM, Duration::from_secs(30));
}
