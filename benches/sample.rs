//! Sample-stage cost per span: `cargo bench --bench sample`.
//!
//! 8192 storage spans of one process (16 spans per trace, random trace ids,
//! one span in 64 with error status) through `Sampler::sample` (and
//! `release` when tail rules are on). Criterion reports spans per second
//! (`thrpt`); ns/span is its inverse.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ringside::record::{Record, SpanKind, StatusCode, Value};
use ringside_agent::batch::{Resource, SpanBatch};
use ringside_agent::sidecar::config::{SamplingConfig, TailConfig};
use ringside_agent::sidecar::sample::Sampler;

const SPANS: usize = 8192;

fn batch(seed: u64) -> SpanBatch {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut trace_id = [0u8; 16];
    let records = (0..SPANS as u64)
        .map(|i| {
            if i % 16 == 0 {
                trace_id[..8].copy_from_slice(&rng.u64(..).to_le_bytes());
                trace_id[8..].copy_from_slice(&rng.u64(..).to_le_bytes());
            }
            let mut r = Record::new("storage.data.write");
            r.trace_id = trace_id;
            r.span_id = (i + 1).to_le_bytes();
            r.parent_span_id = (i / 16 + 1_000_000).to_le_bytes();
            r.trace_flags = 0x03;
            r.kind = SpanKind::Server as u8;
            r.start = 1_764_000_000_000_000_000 + i * 10_000;
            r.end = r.start + 180_000 + i % 977;
            r.push_attr("storage.op", Value::Str("write"));
            r.push_attr("storage.size", Value::I64(4096));
            if i % 64 == 63 {
                r.set_status(StatusCode::Error, "checksum mismatch");
            }
            r
        })
        .collect();
    SpanBatch {
        resource: Arc::new(Resource {
            service: "data-node".into(),
            ..Resource::default()
        }),
        records,
    }
}

fn cases() -> Vec<(&'static str, SamplingConfig)> {
    let base = SamplingConfig::default();
    vec![
        ("ratio_1.0", base.clone()),
        (
            "ratio_0.25",
            SamplingConfig {
                ratio: 0.25,
                ..base.clone()
            },
        ),
        (
            "ratio_0.25_rate_limit",
            SamplingConfig {
                ratio: 0.25,
                rate_limit: 1e9,
                ..base.clone()
            },
        ),
        (
            "ratio_0.1_tail",
            SamplingConfig {
                ratio: 0.1,
                tail: TailConfig {
                    enabled: true,
                    slower_than_ms: 100,
                    ..TailConfig::default()
                },
                ..base
            },
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let input = batch(1);
    // Semantic check before timing: the ratio keeps about its share of traces.
    let mut check = input.clone();
    Sampler::new(&SamplingConfig {
        ratio: 0.25,
        ..SamplingConfig::default()
    })
    .sample(&mut check, Instant::now());
    let kept = check.len() as f64 / SPANS as f64;
    assert!((0.15..0.35).contains(&kept), "ratio 0.25 kept {kept}");

    let mut group = c.benchmark_group("sample");
    group.throughput(Throughput::Elements(SPANS as u64));
    for (name, cfg) in cases() {
        let mut sampler = Sampler::new(&cfg);
        let mut now = Instant::now();
        let mut out = Vec::new();
        group.bench_function(name, |b| {
            b.iter_batched(
                || input.clone(),
                |mut batch| {
                    now += Duration::from_millis(10);
                    sampler.sample(&mut batch, now);
                    sampler.release(now, &mut out);
                    out.clear();
                    black_box(batch)
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
