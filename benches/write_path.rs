//! Cost of one span on the write path, side by side in one run:
//!
//! - `ringside`: start, two attributes, end, through the Tracer into a ring that
//!   a reader thread keeps draining;
//! - `opentelemetry_sdk`: the same span through the OpenTelemetry Rust SDK with
//!   its `BatchSpanProcessor` and an exporter that discards;
//! - `floor`: one `fetch_add` and a copy of one record into a mapped buffer, the
//!   least any shared-memory design can do.
//!
//! Then two writer threads at once with the reader draining: per-span latency
//! percentiles from an HDR histogram.
//!
//! Run: `cargo bench --bench write_path`

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter};
use ringside::record::Record;
use ringside::ring::Consumer;
use ringside::trace::Tracer;

#[derive(Debug)]
struct Discard;

impl SpanExporter for Discard {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        black_box(batch);
        Ok(())
    }
}

/// Drains `path` until `stop`, as the sidecar would (without the spool).
fn drain(path: std::path::PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut c = Consumer::open(&path).unwrap();
        let mut buf = Vec::with_capacity(8192);
        let mut total = 0;
        while !stop.load(Ordering::Relaxed) {
            buf.clear();
            let d = c.read(8192, &mut buf);
            total += d.records as u64;
            c.release(c.read_position());
            if d.records == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        total
    })
}

fn ring_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ringside-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn one_span(c: &mut Criterion) {
    let dir = ring_dir();
    let tracer = Tracer::builder("bench").dir(&dir).build();
    tracer.open().unwrap();
    // Semantic check before timing: a span really lands in the ring whole.
    {
        let mut s = tracer.span("storage.read");
        s.set_attr("file.path", "/vol/a/b")
            .set_attr("file.size", 4096);
    }
    let mut check = Consumer::open(&tracer.ring_path().unwrap()).unwrap();
    let mut out = Vec::new();
    assert_eq!(check.read(10, &mut out).records, 1);
    let v = ringside::record::RecordView::new(&out[0]).unwrap();
    assert_eq!((v.name(), v.attrs().count()), ("storage.read", 2));
    check.release(check.read_position());
    drop(check);

    let stop = Arc::new(AtomicBool::new(false));
    let reader = drain(tracer.ring_path().unwrap(), stop.clone());

    let provider = SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(Discard).build())
        .build();
    let otel = provider.tracer("bench");

    let mut g = c.benchmark_group("one_span");
    g.bench_function("ringside", |b| {
        b.iter(|| {
            let mut s = tracer.span(black_box("storage.read"));
            s.set_attr("file.path", black_box("/vol/a/b"))
                .set_attr("file.size", black_box(4096i64));
        })
    });
    g.bench_function("opentelemetry_sdk", |b| {
        b.iter(|| {
            let mut s = otel.start(black_box("storage.read"));
            s.set_attribute(KeyValue::new("file.path", black_box("/vol/a/b")));
            s.set_attribute(KeyValue::new("file.size", black_box(4096i64)));
            s.end();
        })
    });
    // The floor: reserve with one fetch_add, copy one record into mapped memory.
    let mut map = memmap2::MmapMut::map_anon(1 << 24).unwrap();
    let slots = (1 << 24) / 256;
    let pos = AtomicU64::new(0);
    let rec = Record::new("storage.read");
    g.bench_function("floor", |b| {
        b.iter(|| {
            let p = pos.fetch_add(1, Ordering::Relaxed) as usize % slots;
            let dst = &mut map[p * 256 + 8..p * 256 + 256];
            dst.copy_from_slice(bytemuck::bytes_of(black_box(&rec)));
        })
    });
    g.finish();
    stop.store(true, Ordering::Relaxed);
    let _ = provider.shutdown();
    black_box(reader.join().unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two threads writing at full speed while a reader drains: the latency of
/// each span (start to end call returning), as percentiles.
fn concurrent_percentiles() {
    let dir = ring_dir();
    let tracer = Tracer::builder("bench-mt").dir(&dir).build();
    tracer.open().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = drain(tracer.ring_path().unwrap(), stop.clone());
    let per_thread = 2_000_000;
    let hists: Vec<hdrhistogram::Histogram<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let tracer = &tracer;
                s.spawn(move || {
                    let mut h = hdrhistogram::Histogram::<u64>::new(3).unwrap();
                    for i in 0..per_thread {
                        let t0 = ringside::clock::now();
                        {
                            let mut sp = tracer.span("storage.read");
                            sp.set_attr("file.path", "/vol/a/b")
                                .set_attr("file.size", i);
                        }
                        let t1 = ringside::clock::now();
                        h.record(t1 - t0).unwrap();
                    }
                    h
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    stop.store(true, Ordering::Relaxed);
    let drained = reader.join().unwrap();
    let mut all = hdrhistogram::Histogram::<u64>::new(3).unwrap();
    for h in &hists {
        all.add(h).unwrap();
    }
    let hz = ringside::clock::TickConverter::new().tick_hz() as f64;
    let ns = |ticks: u64| ticks as f64 * 1e9 / hz;
    let stats = tracer.stats().unwrap();
    println!(
        "two_writers_with_reader: spans={} p50={:.0}ns p99={:.0}ns p99.9={:.0}ns max={:.0}ns drained={} dropped={}",
        all.len(),
        ns(all.value_at_quantile(0.5)),
        ns(all.value_at_quantile(0.99)),
        ns(all.value_at_quantile(0.999)),
        ns(all.max()),
        drained,
        stats.dropped
    );
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, one_span);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    concurrent_percentiles();
}
