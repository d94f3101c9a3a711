//! Cost of one `tracing` span through each layer, side by side in one run:
//!
//! - `ringside-tracing`: `RingsideLayer` into a ring that a reader thread keeps
//!   draining (as the sidecar would);
//! - `tracing-opentelemetry`: `OpenTelemetryLayer` over the OpenTelemetry SDK
//!   with its `BatchSpanProcessor` and an exporter that discards;
//! - `registry only`: the same span with no layer, what `tracing` itself costs.
//!
//! Each span has two fields (a string and an integer) and is entered and
//! exited once; the `span_with_event` group adds one `info!` event inside it.
//! At the end it prints how many spans each pipeline kept: a full ring or a
//! full batch queue drops spans, which is cheaper than keeping them.
//!
//! Run: `cargo bench -p ringside-tracing --bench layer`

#[path = "../../benches/support/ring_dir.rs"]
mod ring_dir;
#[path = "../../benches/support/ring_reader.rs"]
mod ring_reader;

use std::cell::Cell;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter};
use ring_reader::drain;
use ringside::trace::Tracer;
use ringside_tracing::RingsideLayer;
use tracing::{Dispatch, info, info_span};
use tracing_subscriber::prelude::*;

/// Counts what it is given and keeps nothing.
#[derive(Debug, Clone, Default)]
struct Discard(Arc<AtomicU64>);

impl SpanExporter for Discard {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

fn span() {
    let span = info_span!(
        "storage.read",
        file.path = black_box("/vol/a/b"),
        file.size = black_box(4096i64)
    );
    let _entered = span.enter();
}

fn span_with_event() {
    let span = info_span!(
        "storage.read",
        file.path = black_box("/vol/a/b"),
        file.size = black_box(4096i64)
    );
    let _entered = span.enter();
    info!(storage.offset = black_box(8192), "read done");
}

fn layers(c: &mut Criterion) {
    let dir = ring_dir::ring_base().join(format!("ringside-tracing-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tracer = Tracer::builder("bench").dir(&dir).build();
    tracer.open().unwrap();
    let ringside =
        Dispatch::new(tracing_subscriber::registry().with(RingsideLayer::new(tracer.clone())));
    // Semantic check before timing: a span really becomes one record.
    tracing::dispatcher::with_default(&ringside, span);
    assert_eq!(tracer.stats().unwrap().written, 1);
    let stop = Arc::new(AtomicBool::new(false));
    let reader = drain(tracer.ring_path().unwrap(), stop.clone());

    let exported = Discard::default();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(exported.clone()).build())
        .build();
    let otel = Dispatch::new(
        tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"))),
    );
    tracing::dispatcher::with_default(&otel, span);
    provider.force_flush().unwrap();
    assert_eq!(exported.0.load(Ordering::Relaxed), 1);

    let bare = Dispatch::new(tracing_subscriber::registry());

    // Spans each case started, to compare with what each pipeline kept.
    let started = [Cell::new(0u64), Cell::new(0), Cell::new(0)];
    let cases = [
        ("ringside-tracing", &ringside),
        ("tracing-opentelemetry", &otel),
        ("registry only", &bare),
    ];
    for (group, work) in [("span", span as fn()), ("span_with_event", span_with_event)] {
        let mut g = c.benchmark_group(group);
        for ((name, dispatch), count) in cases.iter().zip(&started) {
            g.bench_function(*name, |b| {
                tracing::dispatcher::with_default(dispatch, || {
                    b.iter(|| {
                        work();
                        count.set(count.get() + 1);
                    })
                })
            });
        }
        g.finish();
    }
    let _ = provider.force_flush();
    let ring = tracer.stats().unwrap();
    println!(
        "ringside-tracing: {} spans started, {} written, {} dropped (ring full)",
        started[0].get() + 1,
        ring.written,
        ring.dropped
    );
    println!(
        "tracing-opentelemetry: {} spans started, {} exported (the rest dropped by the batch processor's full queue)",
        started[1].get() + 1,
        exported.0.load(Ordering::Relaxed)
    );

    stop.store(true, Ordering::Relaxed);
    let _ = provider.shutdown();
    black_box(reader.join().unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, layers);
criterion_main!(benches);
