//! Sidecar throughput on one core: `cargo bench --bench sidecar`.
//!
//! A writer first fills a ring with 65,536 storage spans (a data-node write:
//! name, kind, remote parent, five attributes); then, timed, the sidecar's
//! stages run on one thread as `ringside run` runs them: drain the ring
//! (validate, convert times), sample (the sample stage with the default
//! configuration: ratio 1.0, every span kept), cut batches of 8192 and encode each as an OTLP protobuf request (no
//! network), or as an OTLP/JSON line (the JSONL exporter's format), or go
//! through the disk spool first (append, read back, then protobuf). Criterion
//! reports spans per second (`thrpt`) of this thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`), so that other work on a shared machine does
//! not count against it: "per core" throughput.
//!
//! `sidecar_fsync` prices the spool's fsync policy (`spool.sync_interval_ms`):
//! the drain → spool path as the poll loop runs it, syncing the spool when
//! the interval has passed since the last sync (`every_turn` is an interval
//! of 0, a sync after every drain turn of up to 8192 spans; `never` leaves it
//! to the page cache). Waiting for the disk is not CPU time, so this group
//! measures wall time, with the spool in `target/tmp` (the build's disk, not a
//! tmpfs where fsync costs nothing).

#[path = "support/storage_spans.rs"]
mod storage_spans;
#[path = "support/thread_cpu.rs"]
mod thread_cpu;
use storage_spans::{FilledRing, filled_ring};
use thread_cpu::ThreadCpuTime;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ringside::record::Record;
use ringside_agent::batch::SpanBatch;
use ringside_agent::export::otlp::{encode_json, encode_proto};
use ringside_agent::sidecar::config::SamplingConfig;
use ringside_agent::sidecar::sample::Sampler;
use ringside_agent::sidecar::spool::{Spool, SpoolLimits};
use std::time::{Duration, Instant};

/// A spool that never fills during a run: 1 GiB in 16 MiB segments.
const LIMITS: SpoolLimits = SpoolLimits {
    max_bytes: 1 << 30,
    segment_bytes: 16 << 20,
};
const SPANS: usize = 1 << 16;
const BATCH: usize = 8192;

fn storage_span(i: u64) -> Record {
    let start = ringside::clock::now();
    storage_spans::storage_span(i, "storage.data.write", start, 180_000 + i % 977)
}

/// A ring full of spans with a source that has found it, and a sampler.
struct Filled {
    ring: FilledRing,
    sampler: Sampler,
}

fn filled(records: &[Record]) -> Filled {
    Filled {
        ring: filled_ring(records),
        sampler: Sampler::new(&SamplingConfig::default()),
    }
}

/// Drains every span of the ring in batches of [`BATCH`], samples them and
/// hands each batch to `stage`; returns the spans drained.
fn drain(filled: &mut Filled, mut stage: impl FnMut(&SpanBatch)) -> usize {
    let sampler = &mut filled.sampler;
    filled.ring.drain_all(BATCH, |batch| {
        sampler.sample(batch, std::time::Instant::now());
        stage(batch);
    })
}

fn bench(c: &mut Criterion<ThreadCpuTime>) {
    let records: Vec<Record> = (0..SPANS as u64).map(storage_span).collect();
    let mut out = Vec::with_capacity(8 << 20);

    // What is timed does what it says: every span drained and encoded.
    let mut encoded = 0;
    let mut f = filled(&records);
    let drained = drain(&mut f, |b| {
        out.clear();
        encode_proto(std::slice::from_ref(b), &mut out);
        encoded += b.records.len();
    });
    assert_eq!((drained, encoded), (SPANS, SPANS));
    assert_eq!(
        f.sampler.stats().kept_total(),
        SPANS as u64,
        "sampled at 100 %"
    );

    let mut g = c.benchmark_group("sidecar");
    g.throughput(Throughput::Elements(SPANS as u64));
    g.sample_size(20);
    g.bench_function("drain", |b| {
        b.iter_batched(
            || filled(&records),
            |mut f| drain(&mut f, |_| {}),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("drain_otlp_proto", |b| {
        b.iter_batched(
            || filled(&records),
            |mut f| {
                drain(&mut f, |batch| {
                    out.clear();
                    encode_proto(std::slice::from_ref(batch), &mut out);
                })
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("drain_jsonl", |b| {
        b.iter_batched(
            || filled(&records),
            |mut f| {
                drain(&mut f, |batch| {
                    out.clear();
                    encode_json(std::slice::from_ref(batch), &mut out);
                    out.push(b'\n');
                })
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("drain_spool_otlp_proto", |b| {
        b.iter_batched(
            || {
                let f = filled(&records);
                let spool_dir = tempfile::tempdir().expect("temporary directory");
                (f, spool_dir)
            },
            |(mut f, spool_dir)| {
                let mut spool = Spool::open(spool_dir.path(), LIMITS).expect("spool");
                let mut reader = spool.reader("otlp").expect("reader");
                let mut n = 0;
                drain(&mut f, |batch| {
                    spool
                        .append(batch, Some((batch.resource.ring_id, 0)))
                        .expect("append");
                    let read = reader.read(BATCH, 4 << 20).expect("read");
                    out.clear();
                    encode_proto(&read.batches, &mut out);
                    n += read.batches.iter().map(|b| b.len()).sum::<usize>();
                    reader.ack(read.next).expect("ack");
                });
                assert_eq!(n, SPANS);
                spool_dir
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// Drain → spool append, syncing as `spool.sync_interval_ms = interval`
/// would (`None`: never); wall time.
fn bench_fsync(c: &mut Criterion) {
    let records: Vec<Record> = (0..SPANS as u64).map(storage_span).collect();
    let mut g = c.benchmark_group("sidecar_fsync");
    g.throughput(Throughput::Elements(SPANS as u64));
    g.sample_size(20);
    let policies = [
        ("never", None),
        ("every_turn", Some(Duration::ZERO)),
        ("interval_10ms", Some(Duration::from_millis(10))),
        ("interval_1000ms_default", Some(Duration::from_millis(1000))),
    ];
    for (name, interval) in policies {
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let f = filled(&records);
                    let spool_dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))
                        .expect("temporary directory on the build's disk");
                    (f, spool_dir)
                },
                |(mut f, spool_dir)| {
                    let mut spool = Spool::open(spool_dir.path(), LIMITS).expect("spool");
                    let mut last_sync = Instant::now();
                    let mut syncs = 0;
                    let n = drain(&mut f, |batch| {
                        spool
                            .append(batch, Some((batch.resource.ring_id, 0)))
                            .expect("append");
                        if interval.is_some_and(|i| last_sync.elapsed() >= i) {
                            spool.sync().expect("sync");
                            last_sync = Instant::now();
                            syncs += 1;
                        }
                    });
                    assert_eq!(n, SPANS);
                    if interval == Some(Duration::ZERO) {
                        assert_eq!(syncs, SPANS / BATCH, "a sync per drain turn");
                    }
                    spool_dir
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = bench
}
criterion_group!(fsync_benches, bench_fsync);
criterion_main!(benches, fsync_benches);
