//! `ringside run` against a scripted OTLP receiver on 127.0.0.1 that answers,
//! in order: 503 with `Retry-After: 1`, 429, 400, 200 with a partial success,
//! no answer at all (the exporter's request timeout fires), then 200 for good.
//! The retries, drops and rejected counts follow the OTLP specification, the
//! waits are honoured (no request comes early, and the number of requests is
//! exactly what the script asks for: no busy loop), and memory stays bounded.

mod common;
mod fake_otlp;
#[path = "common/roles.rs"]
mod writer_roles;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use fake_otlp::{FakeReceiver, Reply, Request};

#[test]
fn role_tracer_writer() {
    if role().as_deref() == Some("tracer_writer") {
        writer_roles::tracer_writer();
    }
}

/// Spans written; with 100 per ring read and per batch, one request carries
/// exactly 100 of them.
const SPANS: u64 = 1000;
const BATCH: usize = 100;
const REJECTED: i64 = 7;

fn script(i: usize) -> Reply {
    match i {
        0 => Reply::status(503).header("Retry-After", "1"),
        1 => Reply::status(429),
        2 => Reply::status(400).body("text/plain", b"bad span".to_vec()),
        3 => Reply::partial_success(REJECTED, "too old"),
        4 => Reply::hang(),
        _ => Reply::ok(),
    }
}

/// Peak resident set of a process, in kB (`VmHWM` in /proc/<pid>/status).
fn peak_rss_kb(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

fn ids(r: &Request) -> HashSet<Vec<u8>> {
    r.span_ids().into_iter().collect()
}

#[test]
fn scripted_receiver_faults_are_retried_dropped_and_counted_by_the_spec() {
    let receiver = FakeReceiver::start(script);
    let tmp = TempDir::new("otlpfaults");
    let (rings, spool, out, log) = layout(&tmp);
    // The writer fills its ring before the sidecar starts, so every ring read
    // takes a full 100 and every request holds one read.
    let mut writer = spawn_role(
        "role_tracer_writer",
        "tracer_writer",
        &[
            ("RINGSIDE_DIR", rings.display().to_string()),
            ("THREADS", "1".into()),
            ("PER_THREAD", SPANS.to_string()),
        ],
    );
    let lines = child_lines(&mut writer);
    assert!(writer.wait(Duration::from_secs(60)).success());
    assert_eq!(
        lines.iter().find_map(|l| l.strip_prefix("STATS ")),
        Some(format!("{SPANS} 0").as_str()),
        "the ring took every span"
    );
    let (mut sidecar, metrics) = otlp_sidecar::start(
        &tmp,
        (&rings, &spool, &out, &log),
        &format!("[rings]\nmax_per_ring = {BATCH}\n[batch]\nmax_spans = {BATCH}\n"),
        &receiver.endpoint,
        &[("RUST_LOG", "debug")],
    );

    // Every span but the 100 of the refused batch is acknowledged.
    let mut requests: Vec<Request> = Vec::new();
    let acked = |requests: &[Request]| -> usize {
        requests
            .iter()
            .enumerate()
            .filter(|(i, _)| matches!(i, 3 | 5..))
            .map(|(_, r)| r.span_ids().len())
            .sum()
    };
    wait_for(
        "the receiver has every span",
        Duration::from_secs(120),
        || {
            requests.extend(receiver.requests());
            acked(&requests) >= SPANS as usize - BATCH
        },
    );
    let peak_kb = peak_rss_kb(sidecar.pid());
    // Idle for a while: nothing more may be sent.
    std::thread::sleep(Duration::from_secs(2));
    requests.extend(receiver.requests());
    let page = scrape::page(&metrics);
    assert!(
        sidecar
            .stop_with(libc::SIGTERM, Duration::from_secs(30))
            .success()
    );
    requests.extend(receiver.requests());

    // The script, request by request: the same batch until it is acknowledged
    // or refused, then the next.
    let sets: Vec<HashSet<Vec<u8>>> = requests.iter().map(ids).collect();
    assert!(sets.iter().all(|s| s.len() == BATCH), "100 spans a request");
    assert_eq!(sets[0], sets[1], "503 is retried with the same batch");
    assert_eq!(sets[1], sets[2], "429 is retried with the same batch");
    assert!(
        sets[3].is_disjoint(&sets[2]),
        "400 drops the batch: not sent again"
    );
    assert!(
        sets[4].is_disjoint(&sets[3]),
        "a partial success is not retried"
    );
    assert_eq!(
        sets[4], sets[5],
        "a timed-out request is retried with the same batch"
    );
    // 10 batches, 3 of them sent again: 13 requests and no more.
    assert_eq!(
        requests.len(),
        SPANS as usize / BATCH + 3,
        "one request per batch plus one per retry"
    );
    let mut delivered = HashSet::new();
    for (i, s) in sets
        .iter()
        .enumerate()
        .filter(|(i, _)| matches!(i, 3 | 5..))
    {
        for id in s {
            assert!(
                delivered.insert(id.clone()),
                "request {i} repeats a delivered span"
            );
        }
    }
    assert_eq!(delivered.len() as u64, SPANS - BATCH as u64);
    assert!(
        delivered.is_disjoint(&sets[0]),
        "the refused batch never arrives"
    );

    // The waits: Retry-After, then the backoff (1 s ± 20 %), then the timeout.
    let gap = |a: usize, b: usize| requests[b].received - requests[a].received;
    assert!(
        gap(0, 1) >= Duration::from_secs(1),
        "Retry-After: 1 honoured"
    );
    assert!(gap(1, 2) >= Duration::from_millis(800), "backoff after 429");
    assert!(
        gap(4, 5) >= Duration::from_secs(2),
        "the hung request was given up after the 2 s timeout, not before"
    );

    // What the sidecar says about it.
    let text = std::fs::read_to_string(&log).unwrap();
    let refused: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("export refused; batch dropped"))
        .collect();
    assert_eq!(refused.len(), 1, "one batch refused:\n{text}");
    assert!(
        refused[0].contains(&format!("spans={BATCH}")) && refused[0].contains("HTTP 400"),
        "{}",
        refused[0]
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.contains("export failed; retrying"))
            .count(),
        3,
        "503, 429 and the timeout are retried, once each:\n{text}"
    );
    // And what it counts.
    let otlp = |parts: &[&str]| otlp_sidecar::otlp_metric(&page, parts);
    let spans = |result: &str| {
        otlp(&[
            "ringside_export_spans_total{",
            &format!("result=\"{result}\""),
        ])
    };
    assert_eq!(spans("ok"), 800.0 + (BATCH as i64 - REJECTED) as f64);
    assert_eq!(
        spans("rejected"),
        REJECTED as f64,
        "partial success counted"
    );
    assert_eq!(
        otlp(&["ringside_export_batches_total{", "result=\"ok\""]),
        9.0,
        "the partially accepted batch, the retried one and seven more"
    );
    assert_eq!(
        otlp(&["ringside_export_failed_spans_total{", "reason=\"HTTP 400"]),
        BATCH as f64,
        "the refused batch is dropped and counted"
    );
    assert_eq!(
        otlp(&["ringside_export_failed_batches_total{", "reason=\"HTTP 400"]),
        1.0
    );
    assert_eq!(otlp(&["ringside_export_retries_total{"]), 3.0);
    assert_eq!(otlp(&["ringside_exporter_in_flight_spans{"]), 0.0);
    eprintln!("sidecar peak RSS {peak_kb} kB");
    assert!(
        peak_kb < 200 * 1024,
        "peak RSS of the sidecar {peak_kb} kB stays under 200 MB"
    );
}
