//! The OTLP/JSON encoding: checked as plain JSON against the OTLP/JSON rules,
//! and decoded with opentelemetry-proto's serde types and compared field by
//! field with the records.

mod otlp_support;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use ringside::record::{Record, Value};
use ringside_agent::batch::SpanBatch;
use ringside_agent::export::otlp::encode_json;
use serde_json::json;

use otlp_support::*;

fn encode(batches: &[SpanBatch]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_json(batches, &mut out);
    out
}

fn spans(doc: &serde_json::Value, resource: usize) -> &Vec<serde_json::Value> {
    doc["resourceSpans"][resource]["scopeSpans"][0]["spans"]
        .as_array()
        .expect("spans array")
}

#[test]
fn json_follows_otlp_json_rules() {
    let out = encode(&sample_batches());
    assert_ne!(out.last(), Some(&b'\n'), "no trailing newline");
    assert!(!out.contains(&b'\n'), "one line");
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let full = &spans(&doc, 0)[0];
    assert_eq!(full["traceId"], "a0010101010101010101010101010101");
    assert_eq!(full["spanId"], "010101010101015c");
    assert_eq!(full["parentSpanId"], "7777777777777777");
    assert_eq!(full["traceState"], "vendor=abc");
    assert_eq!(full["flags"], 0x303);
    assert_eq!(full["kind"], 2);
    assert_eq!(full["startTimeUnixNano"], (T0 + 1000).to_string());
    assert_eq!(full["endTimeUnixNano"], (T0 + 1000 + 250_001).to_string());
    assert_eq!(
        full["attributes"],
        json!([
            {"key": "path", "value": {"stringValue": "/vol/a/\"quoted\"\n"}},
            {"key": "size", "value": {"intValue": "-4096"}},
            {"key": "ratio", "value": {"doubleValue": 0.25}},
            {"key": "sync", "value": {"boolValue": true}},
        ])
    );
    assert_eq!(
        full["events"],
        json!([{"timeUnixNano": (T0 + 1500).to_string(), "name": "retry",
                "attributes": [{"key": "attempt", "value": {"intValue": "2"}}]}])
    );
    assert_eq!(
        full["links"],
        json!([{"traceId": "bb".repeat(16), "spanId": "cc".repeat(8), "flags": 1,
                "attributes": [{"key": "rel", "value": {"stringValue": "follows"}}]}])
    );
    assert_eq!(full["status"], json!({"message": "disk full", "code": 2}));

    let root = &spans(&doc, 0)[1];
    assert!(
        root.get("parentSpanId").is_none(),
        "root span has no parent id"
    );
    assert_eq!(root["flags"], 0x101);
    assert_eq!(root["status"], json!({"code": 1}));
    for absent in [
        "traceState",
        "attributes",
        "events",
        "links",
        "droppedAttributesCount",
    ] {
        assert!(
            root.get(absent).is_none(),
            "{absent} left out at its default"
        );
    }

    let cut = &spans(&doc, 0)[2];
    assert_eq!(cut["droppedAttributesCount"], 1);
    assert_eq!(cut["droppedEventsCount"], 1);
    assert_eq!(cut["droppedLinksCount"], 1);
    assert_eq!(
        cut["attributes"].as_array().unwrap().last().unwrap(),
        &json!({"key": "ringside.truncated", "value": {"arrayValue": {"values": [
            {"stringValue": "name"}, {"stringValue": "trace_state"}, {"stringValue": "path"}]}}})
    );

    let resource = &doc["resourceSpans"][1]["resource"]["attributes"];
    assert_eq!(
        resource,
        &json!([
            {"key": "service.name", "value": {"stringValue": "meta-server"}},
            {"key": "host.name", "value": {"stringValue": "node-7"}},
            {"key": "process.pid", "value": {"intValue": "17"}},
            {"key": "deployment.environment", "value": {"stringValue": "test"}},
        ])
    );
    assert_eq!(
        doc["resourceSpans"][1]["scopeSpans"][0]["scope"],
        json!({"name": "ringside", "version": env!("CARGO_PKG_VERSION")})
    );
}

#[test]
fn every_record_field_survives_json() {
    // opentelemetry-proto's serde types read OTLP/JSON (hex ids, string int64s).
    let out = encode(&sample_batches());
    let req: ExportTraceServiceRequest = serde_json::from_slice(&out).expect("OTLP/JSON");
    assert_sample_request(&req);
}

#[test]
fn non_finite_doubles_use_the_protobuf_json_spelling() {
    let mut r = root_span(1);
    r.push_attr("nan", Value::F64(f64::NAN));
    r.push_attr("inf", Value::F64(f64::INFINITY));
    r.push_attr("ninf", Value::F64(f64::NEG_INFINITY));
    r.push_attr("max", Value::I64(i64::MAX));
    let batch = SpanBatch {
        resource: resource("svc", 1),
        records: vec![r],
    };
    let doc: serde_json::Value = serde_json::from_slice(&encode(&[batch])).unwrap();
    let attrs = &spans(&doc, 0)[0]["attributes"];
    assert_eq!(attrs[0]["value"], json!({"doubleValue": "NaN"}));
    assert_eq!(attrs[1]["value"], json!({"doubleValue": "Infinity"}));
    assert_eq!(attrs[2]["value"], json!({"doubleValue": "-Infinity"}));
    assert_eq!(attrs[3]["value"], json!({"intValue": i64::MAX.to_string()}));
}

#[test]
fn empty_input_is_an_empty_request() {
    assert_eq!(encode(&[]), br#"{"resourceSpans":[]}"#);
    let mut bad = Record::new("x");
    bad.kind = 9;
    let batch = SpanBatch {
        resource: resource("svc", 1),
        records: vec![bad],
    };
    let doc: serde_json::Value = serde_json::from_slice(&encode(&[batch])).unwrap();
    assert_eq!(spans(&doc, 0).len(), 0, "invalid records are skipped");
}
