//! What the span metrics stage adds to the drain, on one core:
//! `cargo bench --bench span_metrics`.
//!
//! A writer fills a ring with 65,536 storage spans (32 operation names, five
//! attributes, one in 16 an error); then, timed, the sidecar drains it in
//! batches of 8192 and samples (ratio 1.0 or 0.01) — `drain` — or does the
//! same with the span metrics stage around the sampler as `ringside run`
//! does: every span counted before sampling, kept spans offered as exemplars
//! — `drain_span_metrics` (default configuration), `drain_span_metrics_dim`
//! (with `storage.node` as an extra dimension, which has to decode each
//! record's attributes). The
//! stage's cost per span is the difference; the budget is 15 % of the
//! drain. Criterion reports spans per second of this thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`), so other work on a shared machine does not
//! count against it.

#[path = "support/thread_cpu.rs"]
mod thread_cpu;
use thread_cpu::ThreadCpuTime;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ringside::record::{Record, SpanKind, StatusCode, Value};
use ringside::ring::Ring;
use ringside_agent::batch::SpanBatch;
use ringside_agent::sidecar::config::SamplingConfig;
use ringside_agent::sidecar::sample::Sampler;
use ringside_agent::sidecar::source::Source;
use ringside_agent::sidecar::span_metrics::{SpanMetrics, SpanMetricsConfig};

const SPANS: usize = 1 << 16;
const BATCH: usize = 8192;
const NAMES: [&str; 4] = [
    "storage.data.write",
    "storage.data.read",
    "meta/Lookup",
    "x",
];

fn storage_span(i: u64) -> Record {
    let name = format!("{}-{}", NAMES[(i % 4) as usize], (i / 4) % 8);
    let mut r = Record::new(&name);
    r.trace_id = [0x5a; 16];
    r.trace_id[..8].copy_from_slice(&(i / 16).to_le_bytes());
    r.span_id = (i + 1).to_le_bytes();
    r.parent_span_id = (i / 16 + 1_000_000).to_le_bytes();
    r.flags = Record::FLAG_PARENT_REMOTE;
    r.trace_flags = 1;
    r.kind = SpanKind::Server as u8;
    r.start = ringside::clock::now();
    r.end = r.start + 180_000 + (i * 7919) % 5_000_000;
    let path = format!("/vol/data-07/chunks/{:04x}/{:016x}.chk", i % 4096, i * 7919);
    r.push_attr("storage.path", Value::Str(&path));
    r.push_attr("storage.size", Value::I64(4096 * (1 + (i % 256) as i64)));
    r.push_attr("storage.op", Value::Str("write"));
    r.push_attr("storage.node", Value::Str("data-node-17"));
    r.push_attr("client.id", Value::I64(10_000 + (i % 64) as i64));
    if (i / 32) % 16 == 0 {
        r.set_status(StatusCode::Error, "EIO");
    }
    r
}

/// A ring directory holding one full ring, the writer that keeps it alive,
/// a source that has found it, a sampler and a fresh stage (not timed).
struct Filled {
    _dir: tempfile::TempDir,
    _ring: Ring,
    source: Source,
    sampler: Sampler,
    stage: SpanMetrics,
}

fn filled(records: &[Record], ratio: f64, dimension: bool) -> Filled {
    let dir = tempfile::tempdir().expect("temporary directory");
    let ring = Ring::create(dir.path(), "data-node", SPANS).expect("ring");
    for r in records {
        ring.push(r).expect("ring has room");
    }
    let mut source = Source::new(dir.path(), Vec::new());
    source.scan(|_| None);
    let config = SpanMetricsConfig {
        dimensions: if dimension {
            vec!["storage.node".into()]
        } else {
            Vec::new()
        },
        ..SpanMetricsConfig::default()
    };
    Filled {
        _dir: dir,
        _ring: ring,
        source,
        sampler: Sampler::new(&SamplingConfig {
            ratio,
            ..SamplingConfig::default()
        }),
        stage: SpanMetrics::new(&config),
    }
}

/// Drains every span in batches of [`BATCH`] and samples them, with or
/// without the stage; returns the spans drained.
fn drain(f: &mut Filled, metrics: bool) -> usize {
    let (source, sampler, stage) = (&mut f.source, &mut f.sampler, &mut f.stage);
    let mut total = 0;
    loop {
        let report = source.drain(BATCH, |batch: &mut SpanBatch, _, _| {
            if metrics {
                stage.observe(batch);
            }
            sampler.sample(batch, std::time::Instant::now());
            if metrics {
                stage.offer_kept(batch);
            }
            Ok(())
        });
        total += report.records;
        if report.records == 0 {
            return total;
        }
    }
}

fn bench(c: &mut Criterion<ThreadCpuTime>) {
    let records: Vec<Record> = (0..SPANS as u64).map(storage_span).collect();

    // What is timed does what it says: every span counted, in 64 series
    // (32 names × error or not), exemplars left.
    let mut f = filled(&records, 1.0, true);
    assert_eq!(drain(&mut f, true), SPANS);
    let stats = f.stage.stats();
    assert_eq!((stats.series, stats.overflow_spans), (64, 0));
    let calls: u64 = f.stage.series().map(|(_, s)| s.fine.count).sum();
    assert_eq!(calls, SPANS as u64);

    let mut g = c.benchmark_group("span_metrics");
    g.throughput(Throughput::Elements(SPANS as u64));
    g.sample_size(20);
    for (ratio, tag) in [(0.01, "ratio_0.01"), (1.0, "ratio_1")] {
        g.bench_function(format!("drain/{tag}"), |b| {
            b.iter_batched(
                || filled(&records, ratio, false),
                |mut f| drain(&mut f, false),
                BatchSize::PerIteration,
            )
        });
        g.bench_function(format!("drain_span_metrics/{tag}"), |b| {
            b.iter_batched(
                || filled(&records, ratio, false),
                |mut f| drain(&mut f, true),
                BatchSize::PerIteration,
            )
        });
        g.bench_function(format!("drain_span_metrics_dim/{tag}"), |b| {
            b.iter_batched(
                || filled(&records, ratio, true),
                |mut f| drain(&mut f, true),
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
criterion_main!(benches);
