//! The protobuf encoding decoded with opentelemetry-proto's prost types and
//! compared field by field with the records.

mod otlp_support;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use ringside_agent::batch::SpanBatch;
use ringside_agent::export::otlp::encode_proto;

use otlp_support::*;

fn decode(batches: &[SpanBatch]) -> ExportTraceServiceRequest {
    let mut out = Vec::new();
    encode_proto(batches, &mut out);
    ExportTraceServiceRequest::decode(&out[..]).expect("valid protobuf")
}

#[test]
fn every_record_field_survives_protobuf() {
    assert_samples_cover_features();
    assert_sample_request(&decode(&sample_batches()));
}

#[test]
fn encoding_is_canonical_protobuf() {
    // prost writes fields in field-number order with minimal lengths; ours
    // writes trace state after the name, so compare sizes, not bytes: a
    // non-minimal length prefix would make ours longer.
    let req = decode(&sample_batches());
    let mut ours = Vec::new();
    encode_proto(&sample_batches(), &mut ours);
    assert_eq!(ours.len(), req.encoded_len());
}

#[test]
fn empty_input_is_an_empty_request() {
    let mut out = Vec::new();
    encode_proto(&[], &mut out);
    assert!(out.is_empty());
    let batch = SpanBatch {
        resource: resource("svc", 1),
        records: vec![],
    };
    let req = decode(&[batch]);
    assert_eq!(req.resource_spans.len(), 1);
    assert!(req.resource_spans[0].scope_spans[0].spans.is_empty());
}

#[test]
fn invalid_records_are_skipped() {
    let mut bad = root_span(9);
    bad.kind = 42;
    let batch = SpanBatch {
        resource: resource("svc", 1),
        records: vec![bad, root_span(2)],
    };
    let req = decode(&[batch]);
    let spans = &req.resource_spans[0].scope_spans[0].spans;
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].span_id, root_span(2).span_id);
}

#[test]
fn large_requests_round_trip() {
    // Enough spans that the per-resource wrappers need 3- and 4-byte lengths.
    let records: Vec<_> = (0..20_000u32)
        .map(|i| {
            let mut r = full_span();
            r.span_id[..4].copy_from_slice(&i.to_le_bytes());
            r
        })
        .collect();
    let batch = SpanBatch {
        resource: resource("svc", 1),
        records,
    };
    let req = decode(std::slice::from_ref(&batch));
    let spans = &req.resource_spans[0].scope_spans[0].spans;
    assert_eq!(spans.len(), 20_000);
    for (span, rec) in spans.iter().zip(&batch.records) {
        assert_span_matches(span, rec);
    }
}
