//! Shared by the span metrics tests: a writer role whose operations have
//! known counts, statuses and (roughly) durations, and the Python
//! `prometheus_client` parsers run on a scraped page.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use ringside::record::{SpanKind, StatusCode};
use ringside::trace::Tracer;

/// Spans of the fast operation, and how many of them fail (every seventh).
pub const FAST: u64 = 20_000;
pub const FAST_ERRORS: u64 = FAST.div_ceil(7);
/// Spans of the slow operation (each sleeps `SLOW_MS`), every tenth fails.
pub const SLOW: u64 = 200;
pub const SLOW_ERRORS: u64 = SLOW.div_ceil(10);
pub const SLOW_MS: u64 = 2;

/// Writes [`FAST`] `get` and [`SLOW`] `scrub` server spans as service
/// `SERVICE` (default `data-1`); with `FOREVER=1` keeps going until killed,
/// the slow operation sleeping `SLOW_MS` (env) each.
pub fn ops_writer() {
    let service = std::env::var("SERVICE").unwrap_or_else(|_| "data-1".into());
    let forever = std::env::var("FOREVER").is_ok_and(|v| v == "1");
    let slow_ms = std::env::var("SLOW_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SLOW_MS);
    let tracer = Tracer::new(&service);
    tracer.open().expect("ring");
    let mut round = 0u64;
    loop {
        for i in 0..FAST {
            let mut span = tracer.span("get");
            span.set_kind(SpanKind::Server);
            if i % 7 == 0 {
                span.set_status(StatusCode::Error, "no such object");
            }
            span.end();
            if forever && i % 100 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        for i in 0..SLOW {
            let mut span = tracer.span("scrub");
            span.set_kind(SpanKind::Server);
            std::thread::sleep(Duration::from_millis(slow_ms));
            if i % 10 == 0 {
                span.set_status(StatusCode::Error, "checksum mismatch");
            }
            span.end();
        }
        round += 1;
        if !forever {
            break;
        }
    }
    let stats = tracer.stats().unwrap();
    println!("\nSTATS {} {} {round}", stats.written, stats.dropped);
}

/// Runs the `ops_writer` role (through the test named `role_test` of the
/// calling test binary) on the ring directory `rings` to completion and
/// returns its `(written, dropped)`.
pub fn run_ops_writer(role_test: &str, rings: &Path) -> (u64, u64) {
    let mut w = crate::common::spawn_role(
        role_test,
        "ops_writer",
        &[("RINGSIDE_DIR", rings.display().to_string())],
    );
    let lines = crate::common::child_lines(&mut w);
    assert!(w.wait(Duration::from_secs(120)).success());
    crate::common::writer_stats(&lines)
}

/// One parsed sample.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Sample {
    pub family: String,
    pub name: String,
    pub labels: std::collections::HashMap<String, String>,
    pub value: f64,
    pub exemplar: Option<Exemplar>,
}

/// A parsed exemplar.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Exemplar {
    pub labels: std::collections::HashMap<String, String>,
    pub value: f64,
    pub timestamp: Option<f64>,
}

/// The Python in `target/venv` (created by `.ci/run`, with prometheus_client).
pub fn venv_python() -> std::path::PathBuf {
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/venv/bin/python");
    assert!(
        py.exists(),
        "{} is missing: run .ci/run's venv step, or `python3 -m venv target/venv && target/venv/bin/python -m pip install prometheus_client`",
        py.display()
    );
    py
}

/// Parses `page` with prometheus_client (`openmetrics` or `text`); a page
/// the parser refuses fails the test with the parser's message.
pub fn parse(page: &str, format: &str) -> Vec<Sample> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/span_metrics_support/parse_exposition.py");
    let mut child = Command::new(venv_python())
        .arg(script)
        .arg(format)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client refused the {format} page: {}\n{page}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
