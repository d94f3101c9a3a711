//! Encoding throughput: `cargo bench --bench encode`.
//!
//! 8192 storage spans of one process (a data-node write: name, kind, remote
//! parent, five attributes), encoded as one OTLP request in protobuf and in
//! JSON. Criterion reports spans per second (`thrpt`); the encoded sizes
//! (plain and gzip, as the OTLP/HTTP exporter sends them) are printed first.

#[path = "support/storage_spans.rs"]
mod storage_spans;

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use ringside::record::Record;
use ringside_agent::batch::{Resource, SpanBatch};
use ringside_agent::export::otlp::{encode_json, encode_proto};

const SPANS: usize = 8192;

fn storage_span(i: u64) -> Record {
    let start = 1_764_000_000_000_000_000 + i * 10_000;
    storage_spans::storage_span(i, "storage.data.write", start, 180_000 + i % 977)
}

fn batch() -> Vec<SpanBatch> {
    let resource = Arc::new(Resource {
        service: "data-node".into(),
        pid: 4242,
        host: "storage-host-3".into(),
        ring_id: 1,
        attributes: vec![],
    });
    vec![SpanBatch {
        resource,
        records: (0..SPANS as u64).map(storage_span).collect(),
    }]
}

/// Size of `data` gzip-compressed at the exporter's level (fast).
fn gzip_len(data: &[u8]) -> usize {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).expect("write to memory");
    gz.finish().expect("finish in memory").len()
}

fn bench(c: &mut Criterion) {
    let batches = batch();
    let mut out = Vec::with_capacity(8 << 20);

    // What is timed produces what it should.
    encode_proto(&batches, &mut out);
    let req = ExportTraceServiceRequest::decode(&out[..]).expect("protobuf decodes");
    assert_eq!(req.resource_spans[0].scope_spans[0].spans.len(), SPANS);
    out.clear();
    encode_json(&batches, &mut out);
    let req: ExportTraceServiceRequest = serde_json::from_slice(&out).expect("JSON decodes");
    assert_eq!(req.resource_spans[0].scope_spans[0].spans.len(), SPANS);
    let json_len = out.len();
    let json_gz = gzip_len(&out);
    out.clear();
    encode_proto(&batches, &mut out);
    let (proto_len, proto_gz) = (out.len(), gzip_len(&out));
    let per_span = |n: usize| n as f64 / SPANS as f64;
    println!(
        "encode size, {SPANS} spans: proto {proto_len} B ({:.0} B/span, gzip {:.0} B/span), \
         json {json_len} B ({:.0} B/span, gzip {:.0} B/span), json/proto {:.2}x",
        per_span(proto_len),
        per_span(proto_gz),
        per_span(json_len),
        per_span(json_gz),
        json_len as f64 / proto_len as f64,
    );

    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(SPANS as u64));
    g.bench_function("proto", |b| {
        b.iter(|| {
            out.clear();
            encode_proto(&batches, &mut out);
            out.len()
        })
    });
    g.bench_function("json", |b| {
        b.iter(|| {
            out.clear();
            encode_json(&batches, &mut out);
            out.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
