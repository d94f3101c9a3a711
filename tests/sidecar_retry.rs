//! A collector away far longer than any give-up time would allow (time
//! compressed by `[retry]`), then throttling with `Retry-After` of ten
//! minutes, a value that does not fit 64 bits and a date in year 9999: the
//! exporter keeps retrying while the spool holds the batches, cuts every
//! wait to `retry.max_retry_after_ms`, never panics, and in the end every
//! span arrives exactly once, in requests of at most `batch.max_spans`.

mod common;
mod fake_otlp;
#[path = "common/roles.rs"]
mod writer_roles;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use fake_otlp::{FakeReceiver, Reply, Request};

#[test]
fn role_tracer_writer() {
    if role().as_deref() == Some("tracer_writer") {
        writer_roles::tracer_writer();
    }
}

const SPANS: u64 = 3000;
/// Spans per ring read: each spool entry holds 500, more than a request may.
const PER_RING: usize = 500;
/// `batch.max_spans`.
const MAX_SPANS: usize = 64;
/// `retry.max_retry_after_ms`.
const MAX_WAIT_MS: u64 = 150;
/// Failed attempts while nothing listens: with the old give-up (300 s at a
/// backoff growing to 30 s) a batch got about 14.
const DOWN_ATTEMPTS: f64 = 100.0;

/// The collector once it is back: throttles, then accepts.
fn script(i: usize) -> Reply {
    match i {
        0..=2 => Reply::status(503).header("Retry-After", "600"),
        3 => Reply::status(429).header("Retry-After", "18446744073709551615"),
        4 => Reply::status(429).header("Retry-After", "99999999999999999999999"),
        5 => Reply::status(503).header("Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT"),
        6 => Reply::status(503).header("Retry-After", "-5"),
        _ => Reply::ok(),
    }
}

#[test]
fn a_long_outage_and_huge_retry_after_lose_nothing_while_the_spool_has_room() {
    let tmp = TempDir::new("retry");
    let (rings, spool, out, log) = layout(&tmp);
    let (written, dropped) = run_tracer_writer("role_tracer_writer", &rings, 0, 1, SPANS);
    assert_eq!((written, dropped), (SPANS, 0), "the ring took every span");

    let port = otlp_sidecar::free_port();
    let settings = format!(
        "[rings]\nmax_per_ring = {PER_RING}\n[batch]\nmax_spans = {MAX_SPANS}\n\
         [retry]\ninitial_backoff_ms = 2\nmax_backoff_ms = 10\nmax_retry_after_ms = {MAX_WAIT_MS}\n"
    );
    let endpoint = format!("http://127.0.0.1:{port}/v1/traces");
    let (mut sidecar, metrics) = otlp_sidecar::start(
        &tmp,
        (&rings, &spool, &out, &log),
        &settings,
        &endpoint,
        &[],
    );
    let otlp = otlp_sidecar::otlp_metric;

    // The collector is away for many times the attempts the old give-up
    // allowed.
    // Until the exporter has started, its series are not on the page yet.
    wait_for("many failed attempts", Duration::from_secs(120), || {
        let page = scrape::page(&metrics);
        scrape::metric(
            &page,
            &["exporter=\"otlp\"", "ringside_export_retries_total{"],
        )
        .is_some_and(|n| n >= DOWN_ATTEMPTS)
    });
    let page = scrape::page(&metrics);
    assert_eq!(
        otlp(&page, &["ringside_export_spans_total{", "result=\"ok\""]),
        0.0
    );
    assert_eq!(
        scrape::metric(&page, &["ringside_export_failed_spans_total"]),
        None
    );

    let receiver = FakeReceiver::start_on(port, script);
    let mut requests: Vec<Request> = Vec::new();
    let delivered = |requests: &[Request]| -> usize {
        requests
            .iter()
            .filter(|r| r.answered == 200)
            .map(|r| r.span_ids().len())
            .sum()
    };
    wait_for("every span delivered", Duration::from_secs(120), || {
        requests.extend(receiver.requests());
        delivered(&requests) >= SPANS as usize
    });
    std::thread::sleep(Duration::from_millis(500));
    requests.extend(receiver.requests());
    let page = scrape::page(&metrics);
    assert!(
        sidecar
            .stop_with(libc::SIGTERM, Duration::from_secs(30))
            .success()
    );

    // Exactly once, within the span limit.
    let mut seen: HashMap<Vec<u8>, u32> = HashMap::new();
    for r in requests.iter().filter(|r| r.answered == 200) {
        for id in r.span_ids() {
            *seen.entry(id).or_default() += 1;
        }
    }
    assert_eq!(seen.len() as u64, SPANS, "every span arrived");
    assert!(seen.values().all(|&n| n == 1), "no span arrived twice");
    for r in &requests {
        let n = r.span_ids().len();
        assert!(
            n <= MAX_SPANS,
            "a request held {n} spans; batch.max_spans is {MAX_SPANS}"
        );
    }
    assert!(delivered(&requests) / MAX_SPANS <= requests.len());

    // Every throttled answer was honoured up to the cap: the next request
    // came no earlier than the cap (all these waits are longer).
    for i in 0..6 {
        let gap = requests[i + 1].received - requests[i].received;
        assert!(
            gap >= Duration::from_millis(MAX_WAIT_MS),
            "request {} came {gap:?} after a Retry-After of at least 600 s (cap {MAX_WAIT_MS} ms)",
            i + 1
        );
    }

    // Nothing counted as lost or failed, no panic, healthy.
    assert_eq!(
        otlp(&page, &["ringside_export_spans_total{", "result=\"ok\""]),
        SPANS as f64
    );
    assert_eq!(
        otlp(
            &page,
            &["ringside_export_spans_total{", "result=\"lost_in_spool\""]
        ),
        0.0
    );
    assert_eq!(otlp(&page, &["ringside_export_panics_total{"]), 0.0);
    assert_eq!(
        scrape::metric(&page, &["ringside_export_failed_spans_total"]),
        None
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("panicked"), "{text}");
    assert!(text.contains("export succeeded after retries"), "{text}");
}
