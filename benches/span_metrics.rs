//! What the span metrics stage adds to the drain, on one core:
//! `cargo bench --bench span_metrics`.
//!
//! A writer fills a ring with 65,536 storage spans (32 operation names, five
//! attributes, one in 16 an error); then, timed, the sidecar drains it in
//! batches of 8192 and samples (ratio 1.0 or 0.01) — `drain` — or does the
//! same with the span metrics stage around the sampler as `ringside run`
//! does: every span counted before sampling, kept spans offered as exemplars
//! — `drain_span_metrics` (default configuration), `drain_span_metrics_dim`
//! (with `storage.node` as an extra dimension, looked up in each record's
//! attributes). The
//! stage's cost per span is the difference; the budget is 15 % of the
//! drain. Criterion reports spans per second of this thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`), so other work on a shared machine does not
//! count against it.

#[path = "support/storage_spans.rs"]
mod storage_spans;
#[path = "support/thread_cpu.rs"]
mod thread_cpu;
use storage_spans::{FilledRing, filled_ring};
use thread_cpu::ThreadCpuTime;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ringside::record::{Record, StatusCode};
use ringside_agent::sidecar::config::SamplingConfig;
use ringside_agent::sidecar::sample::Sampler;
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
    let start = ringside::clock::now();
    let duration = 180_000 + (i * 7919) % 5_000_000;
    let mut r = storage_spans::storage_span(i, &name, start, duration);
    if (i / 32) % 16 == 0 {
        r.set_status(StatusCode::Error, "EIO");
    }
    r
}

/// A ring full of spans with a source that has found it, a sampler and a
/// fresh stage (not timed).
struct Filled {
    ring: FilledRing,
    sampler: Sampler,
    stage: SpanMetrics,
}

fn filled(records: &[Record], ratio: f64, dimension: bool) -> Filled {
    let config = SpanMetricsConfig {
        dimensions: if dimension {
            vec!["storage.node".into()]
        } else {
            Vec::new()
        },
        ..SpanMetricsConfig::default()
    };
    Filled {
        ring: filled_ring(records),
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
    let (sampler, stage) = (&mut f.sampler, &mut f.stage);
    f.ring.drain_all(BATCH, |batch| {
        if metrics {
            stage.observe(batch);
        }
        sampler.sample(batch, std::time::Instant::now());
        if metrics {
            stage.offer_kept(batch);
        }
    })
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
