//! `/metrics` and `/healthz` of a running sidecar agree with what the writers
//! and the exporter saw, and head sampling's decisions are counted.

mod common;
#[path = "common/roles.rs"]
mod writer_roles;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

#[test]
fn role_tracer_writer() {
    if role().as_deref() == Some("tracer_writer") {
        writer_roles::tracer_writer();
    }
}

fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The value of the sample line whose name and labels contain all of `parts`.
fn metric(page: &str, parts: &[&str]) -> Option<f64> {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| parts.iter().all(|p| l.contains(p)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn metrics_count_rings_sampling_and_exports() {
    let tmp = TempDir::new("metrics");
    let (rings, spool, out, log) = layout(&tmp);
    let mut sidecar = start_sidecar(
        &rings,
        &spool,
        &out,
        &log,
        &["--metrics-listen", "127.0.0.1:0", "--sample-ratio", "0.5"],
    );
    let mut addr = String::new();
    wait_for("metrics endpoint up", Duration::from_secs(30), || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let line = text.lines().find(|l| l.contains("metrics endpoint up"));
        if let Some(a) = line.and_then(|l| l.split("listen=").nth(1)) {
            addr = a
                .split_whitespace()
                .next()
                .unwrap()
                .trim_matches('"')
                .to_string();
        }
        !addr.is_empty()
    });
    let (code, body) = get(&addr, "/healthz");
    assert_eq!(code, 200, "healthz: {body}");

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
            page = get(&addr, "/metrics").1;
            let kept = metric(
                &page,
                &[
                    "ringside_sampled_spans_total{",
                    "decision=\"kept\"",
                    "reason=\"head_ratio\"",
                ],
            )
            .unwrap_or(-1.0);
            let ok = metric(
                &page,
                &[
                    "ringside_export_spans_total{",
                    "exporter=\"jsonl\"",
                    "result=\"ok\"",
                ],
            )
            .unwrap_or(-2.0);
            let dropped = metric(
                &page,
                &[
                    "ringside_sampled_spans_total{",
                    "decision=\"dropped\"",
                    "reason=\"head_ratio\"",
                ],
            )
            .unwrap_or(0.0);
            // The page is a snapshot published a few times a second: wait until
            // it has seen every span, then until every kept one was exported.
            kept + dropped == written && kept == ok && read_jsonl(&out).len() as f64 == ok
        },
    );
    let kept = metric(
        &page,
        &[
            "ringside_sampled_spans_total{",
            "decision=\"kept\"",
            "reason=\"head_ratio\"",
        ],
    )
    .unwrap();
    let dropped = metric(
        &page,
        &[
            "ringside_sampled_spans_total{",
            "decision=\"dropped\"",
            "reason=\"head_ratio\"",
        ],
    )
    .unwrap();
    assert_eq!(kept + dropped, written, "every span decided once");
    let fraction = kept / written;
    assert!(
        (0.45..0.55).contains(&fraction),
        "ratio 0.5 kept {fraction}"
    );
    assert_eq!(metric(&page, &["ringside_rings_removed_total"]), Some(1.0));
    assert_eq!(
        metric(&page, &["ringside_spool_dropped_spans_total"]),
        Some(0.0)
    );
    assert!(page.contains("# TYPE ringside_spool_bytes gauge"));
    assert!(
        sidecar
            .stop_with(libc::SIGTERM, Duration::from_secs(30))
            .success()
    );
}
