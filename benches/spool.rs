//! Spool throughput: `cargo bench --bench spool`.
//!
//! Appends 64 batches of 256 spans (16384 spans, ~4 MB) to a fresh spool in a
//! temporary directory, then reads them all back with one reader and
//! acknowledges them. Criterion reports spans per second (`thrpt`) for the
//! append alone and for append plus read.

use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ringside::record::{Record, Value};
use ringside_agent::batch::{Resource, SpanBatch};
use ringside_agent::sidecar::spool::{Spool, SpoolLimits};

const BATCHES: u64 = 64;
const PER_BATCH: u64 = 256;
const SPANS: u64 = BATCHES * PER_BATCH;

fn batch(n: u64) -> SpanBatch {
    let resource = Arc::new(Resource {
        service: "data-node".into(),
        pid: 4242,
        host: "storage-host-3".into(),
        ring_id: 7,
        attributes: vec![("deployment.environment".into(), "bench".into())],
    });
    let records = (0..PER_BATCH)
        .map(|i| {
            let mut r = Record::new("storage.data.write");
            r.span_id = (n * PER_BATCH + i + 1).to_le_bytes();
            r.start = 1_764_000_000_000_000_000 + i;
            r.end = r.start + 1000;
            r.push_attr("storage.size", Value::I64(4096));
            r
        })
        .collect();
    SpanBatch { resource, records }
}

const LIMITS: SpoolLimits = SpoolLimits {
    max_bytes: 1 << 30,
    segment_bytes: 1 << 20,
};

fn bench(c: &mut Criterion) {
    let batches: Vec<SpanBatch> = (0..BATCHES).map(batch).collect();
    let mut g = c.benchmark_group("spool");
    g.throughput(Throughput::Elements(SPANS));
    g.bench_function("append", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("temporary directory"),
            |dir| {
                let mut spool = Spool::open(dir.path(), LIMITS).expect("open");
                for (i, batch) in batches.iter().enumerate() {
                    spool.append(batch, Some((7, i as u64))).expect("append");
                }
                dir
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("append_read_ack", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("temporary directory"),
            |dir| {
                let mut spool = Spool::open(dir.path(), LIMITS).expect("open");
                let mut reader = spool.reader("bench").expect("reader");
                for (i, batch) in batches.iter().enumerate() {
                    spool.append(batch, Some((7, i as u64))).expect("append");
                }
                let mut seen = 0;
                while seen < SPANS {
                    let read = reader.read(4096, 4 << 20).expect("read");
                    seen += read.batches.iter().map(|b| b.len() as u64).sum::<u64>();
                    reader.ack(read.next).expect("ack");
                }
                assert_eq!(seen, SPANS);
                dir
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
