//! The OTLP/HTTP exporter against a scripted receiver on 127.0.0.1: what it
//! sends (format, compression, headers, size limit) and how it reads every
//! class of response the OTLP/HTTP specification defines.

mod fake_otlp;
mod otlp_support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fake_otlp::{FakeReceiver, Reply};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use otlp_support::*;
use prost::Message;
use ringside::record::Record;
use ringside_agent::batch::SpanBatch;
use ringside_agent::batch::SpoolCursor;
use ringside_agent::export::otlp::http::{Compression, Protocol};
use ringside_agent::export::otlp::{OtlpHttpExporter, OtlpSettings, encode_proto};
use ringside_agent::export::{ExportError, ExportOutcome, Exporter};

fn exporter(settings: &OtlpSettings) -> OtlpHttpExporter {
    OtlpHttpExporter::new(settings).expect("valid settings")
}

fn cursor(offset: u64) -> SpoolCursor {
    SpoolCursor { segment: 1, offset }
}

/// `count` spans with distinct span ids (big-endian index) in one batch.
fn many_spans(count: u32) -> Vec<SpanBatch> {
    let records = (0..count)
        .map(|i| {
            let mut r = full_span();
            r.span_id[..4].copy_from_slice(&(i + 1).to_be_bytes());
            r
        })
        .collect();
    vec![SpanBatch {
        resource: resource("data-node", 42),
        records,
    }]
}

fn span_count(batches: &[SpanBatch]) -> u64 {
    batches.iter().map(|b| b.records.len() as u64).sum()
}

#[test]
fn protobuf_request_carries_spans_and_headers() {
    let rx = FakeReceiver::start(|_| Reply::ok());
    let mut s = OtlpSettings::new(&rx.endpoint);
    s.headers = vec![("Authorization".into(), "Bearer s3cret".into())];
    let batches = sample_batches();
    let outcome = exporter(&s).export(&batches, cursor(1)).expect("accepted");
    assert_eq!(
        outcome,
        ExportOutcome {
            accepted: span_count(&batches),
            rejected: 0
        }
    );
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/v1/traces"));
    assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.header("authorization"), Some("Bearer s3cret"));
    assert_eq!(
        r.header("user-agent"),
        Some(concat!("ringside/", env!("CARGO_PKG_VERSION")))
    );
    assert_sample_request(&r.export_request());
}

#[test]
fn json_request_with_gzip_decodes_to_the_same_spans() {
    let rx = FakeReceiver::start(|_| Reply::ok());
    let mut s = OtlpSettings::new(&rx.endpoint);
    s.protocol = Protocol::Json;
    s.compression = Compression::Gzip;
    exporter(&s)
        .export(&sample_batches(), cursor(1))
        .expect("accepted");
    let r = &rx.requests()[0];
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert!(r.body.starts_with(&[0x1f, 0x8b]), "gzip magic");
    assert_sample_request(&r.export_request());
}

#[test]
fn protobuf_gzip_decodes() {
    let rx = FakeReceiver::start(|_| Reply::ok());
    let mut s = OtlpSettings::new(&rx.endpoint);
    s.compression = Compression::Gzip;
    exporter(&s)
        .export(&sample_batches(), cursor(1))
        .expect("accepted");
    let r = &rx.requests()[0];
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_sample_request(&r.export_request());
}

#[test]
fn partial_success_counts_rejected_spans() {
    let proto = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: 2,
            error_message: "spans too old".into(),
        }),
    }
    .encode_to_vec();
    let rx = FakeReceiver::start(move |i| match i {
        0 => Reply::ok().body("application/x-protobuf", proto.clone()),
        _ => Reply::ok().body(
            "application/json",
            br#"{"partialSuccess":{"rejectedSpans":"3","errorMessage":"x"}}"#.to_vec(),
        ),
    });
    let batches = many_spans(10);
    let mut s = OtlpSettings::new(&rx.endpoint);
    let got = exporter(&s).export(&batches, cursor(1)).expect("accepted");
    assert_eq!(
        got,
        ExportOutcome {
            accepted: 8,
            rejected: 2
        }
    );
    s.protocol = Protocol::Json;
    let got = exporter(&s).export(&batches, cursor(2)).expect("accepted");
    assert_eq!(
        got,
        ExportOutcome {
            accepted: 7,
            rejected: 3
        }
    );
}

fn export_once(reply: Reply) -> Result<ExportOutcome, ExportError> {
    let rx = FakeReceiver::start(move |_| reply.clone());
    exporter(&OtlpSettings::new(&rx.endpoint)).export(&many_spans(3), cursor(1))
}

#[test]
fn throttling_and_gateway_statuses_are_retryable_with_retry_after() {
    let in_an_hour = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3600));
    let cases = [
        (Reply::status(429).header("Retry-After", "7"), Some((7, 7))),
        (
            Reply::status(503).header("Retry-After", &in_an_hour),
            Some((3500, 3600)),
        ),
        (Reply::status(502), None),
        (Reply::status(504).header("Retry-After", "later"), None),
    ];
    for (reply, wait) in cases {
        let status = reply.status;
        match export_once(reply) {
            Err(ExportError::Retryable {
                reason,
                retry_after,
            }) => {
                assert!(reason.contains(&status.to_string()), "{status}: {reason}");
                match (wait, retry_after) {
                    (None, None) => {}
                    (Some((lo, hi)), Some(d)) => {
                        assert!((lo..=hi).contains(&d.as_secs()), "{status}: {d:?}")
                    }
                    other => panic!("{status}: retry_after {other:?}"),
                }
            }
            other => panic!("{status}: expected retryable, got {other:?}"),
        }
    }
}

#[test]
fn other_statuses_are_permanent_with_the_receivers_message() {
    // google.rpc.Status { code: 3, message: "invalid trace id" }
    let mut status = vec![0x08, 3, 0x12, 16];
    status.extend_from_slice(b"invalid trace id");
    let cases = [
        (
            Reply::status(400).body("application/x-protobuf", status),
            "HTTP 400: invalid trace id",
        ),
        (
            Reply::status(400).body(
                "application/json",
                br#"{"code":3,"message":"bad json"}"#.to_vec(),
            ),
            "HTTP 400: bad json",
        ),
        (
            Reply::status(401).body("text/plain", b"no token\n".to_vec()),
            "HTTP 401: no token",
        ),
        (Reply::status(404), "HTTP 404"),
        (Reply::status(413), "HTTP 413"),
        (Reply::status(500).header("Retry-After", "1"), "HTTP 500"),
        (
            Reply::status(308).header("Location", "http://elsewhere/v1/traces"),
            "http://elsewhere/v1/traces",
        ),
    ];
    for (reply, want) in cases {
        match export_once(reply) {
            Err(ExportError::Permanent { reason }) => assert!(reason.contains(want), "{reason}"),
            other => panic!("{want}: expected permanent, got {other:?}"),
        }
    }
}

#[test]
fn timeout_and_refused_connection_are_retryable() {
    let rx = FakeReceiver::start(|_| Reply::hang());
    let mut s = OtlpSettings::new(&rx.endpoint);
    s.timeout = Duration::from_millis(300);
    match exporter(&s).export(&many_spans(1), cursor(1)) {
        Err(ExportError::Retryable {
            reason,
            retry_after: None,
        }) => {
            assert!(
                reason.contains("timeout") || reason.contains("timed out"),
                "{reason}"
            )
        }
        other => panic!("expected retryable timeout, got {other:?}"),
    }

    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = closed.local_addr().expect("addr");
    drop(closed);
    let s = OtlpSettings::new(format!("http://{addr}/v1/traces"));
    match exporter(&s).export(&many_spans(1), cursor(1)) {
        Err(ExportError::Retryable { .. }) => {}
        other => panic!("expected retryable refusal, got {other:?}"),
    }
}

/// Size of a protobuf request holding the first `n` spans of `batches`.
fn proto_size(batches: &[SpanBatch], n: usize) -> usize {
    let part = vec![SpanBatch {
        resource: batches[0].resource.clone(),
        records: batches[0].records[..n].to_vec(),
    }];
    let mut out = Vec::new();
    encode_proto(&part, &mut out);
    out.len()
}

#[test]
fn a_large_export_is_split_into_requests_under_the_limit() {
    let rx = FakeReceiver::start(|_| Reply::ok());
    let batches = many_spans(300);
    let mut s = OtlpSettings::new(&rx.endpoint);
    s.max_request_bytes = proto_size(&batches, 300) / 4;
    let outcome = exporter(&s).export(&batches, cursor(1)).expect("accepted");
    assert_eq!(
        outcome,
        ExportOutcome {
            accepted: 300,
            rejected: 0
        }
    );
    let reqs = rx.requests();
    assert!(reqs.len() >= 4, "{} requests", reqs.len());
    for r in &reqs {
        assert!(
            r.body.len() <= s.max_request_bytes,
            "{} bytes",
            r.body.len()
        );
    }
    let sent: Vec<Vec<u8>> = reqs.iter().flat_map(|r| r.span_ids()).collect();
    let want: Vec<Vec<u8>> = batches[0]
        .records
        .iter()
        .map(|r| r.span_id.to_vec())
        .collect();
    assert_eq!(sent, want, "every span once, in order");
}

#[test]
fn retry_after_a_partial_split_export_sends_only_the_rest() {
    // Request 1 (the second piece) fails; the retry must start at that piece.
    let rx = FakeReceiver::start(|i| {
        if i == 1 {
            Reply::status(503)
        } else {
            Reply::ok()
        }
    });
    let batches = many_spans(100);
    let mut s = OtlpSettings::new(&rx.endpoint);
    s.max_request_bytes = proto_size(&batches, 100) / 3;
    let mut e = exporter(&s);
    assert!(matches!(
        e.export(&batches, cursor(7)),
        Err(ExportError::Retryable { .. })
    ));
    let first = rx.requests();
    assert_eq!(first.len(), 2);
    let outcome = e.export(&batches, cursor(7)).expect("retry accepted");
    assert_eq!(
        outcome,
        ExportOutcome {
            accepted: 100,
            rejected: 0
        },
        "whole export counted"
    );
    let retry = rx.requests();
    // The failed piece is sent again; the accepted one is not.
    assert_eq!(retry[0].span_ids(), first[1].span_ids());
    let delivered: Vec<Vec<u8>> = first[..1]
        .iter()
        .chain(&retry)
        .flat_map(|r| r.span_ids())
        .collect();
    let want: Vec<Vec<u8>> = batches[0]
        .records
        .iter()
        .map(|r| r.span_id.to_vec())
        .collect();
    assert_eq!(delivered, want, "every span delivered once, in order");

    // Another cursor is another export: it starts from its first span.
    e.export(&batches, cursor(8)).expect("accepted");
    let again: Vec<Vec<u8>> = rx.requests().iter().flat_map(|r| r.span_ids()).collect();
    assert_eq!(again, want);
}

#[test]
fn a_span_larger_than_a_request_is_rejected_and_the_rest_sent() {
    let rx = FakeReceiver::start(|_| Reply::ok());
    let small = root_span(5);
    let mut big = full_span();
    big.span_id = [9; 8];
    let batches = vec![SpanBatch {
        resource: resource("data-node", 42),
        records: vec![small, big, root_span(6)],
    }];
    let one = |r: &Record| {
        proto_size(
            &[SpanBatch {
                resource: Arc::clone(&batches[0].resource),
                records: vec![*r],
            }],
            1,
        )
    };
    let mut s = OtlpSettings::new(&rx.endpoint);
    s.max_request_bytes = one(&small) + 8;
    assert!(
        one(&big) > s.max_request_bytes,
        "the full span must not fit"
    );
    let outcome = exporter(&s)
        .export(&batches, cursor(1))
        .expect("rest accepted");
    assert_eq!(
        outcome,
        ExportOutcome {
            accepted: 2,
            rejected: 1
        }
    );
    let sent: Vec<Vec<u8>> = rx.requests().iter().flat_map(|r| r.span_ids()).collect();
    assert_eq!(
        sent,
        vec![root_span(5).span_id.to_vec(), root_span(6).span_id.to_vec()]
    );
}
