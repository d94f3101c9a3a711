//! Cost of one span on the write path, side by side in one run. The span:
//! start, two attributes (a string and an integer), end.
//!
//! - `ringside`: through the Tracer into a 16 MiB ring;
//! - `floor`: the design floor: two `rdtsc`, one `fetch_add` and a copy of one
//!   248-byte record into a mapped 16 MiB buffer;
//! - `opentelemetry_sdk`: the OpenTelemetry Rust SDK, `BatchSpanProcessor`, an
//!   exporter that discards;
//! - `fastrace`: children of one request (`LocalSpan` under a root), two
//!   properties, a reporter that discards.
//!
//! Each is timed in interleaved rounds of 50 000 spans (the rings are drained
//! between rounds, untimed, so no span is dropped and every one is copied), in
//! CPU time of the calling thread; the medians and ratios come from the same
//! run. Then 1, 2 and 4 writer
//! threads at once (per-span CPU time of each thread, so that four threads on
//! two cores are not charged for waiting their turn), and the in-situ case:
//! requests of 10 spans with a 4 MiB memory sweep between requests, per-span
//! p50/p99.
//!
//! Run: `cargo bench --bench write_path`

#[path = "support/thread_cpu.rs"]
mod thread_cpu;
use thread_cpu::thread_cpu_ns;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use fastrace::collector::{Config, Reporter, SpanContext as FtContext};
use fastrace::prelude::{LocalSpan, Span as FtSpan, SpanRecord};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter};
use ringside::record::{Record, RecordView};
use ringside::ring::Consumer;
use ringside::trace::Tracer;

const ROUND: u32 = 50_000;
const ROUNDS: usize = 15;

#[derive(Debug)]
struct Discard;

impl SpanExporter for Discard {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        black_box(batch);
        Ok(())
    }
}

struct DiscardReports;

impl Reporter for DiscardReports {
    fn report(&mut self, spans: Vec<SpanRecord>) {
        black_box(spans);
    }
}

fn ring_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("ringside-bench-")
        .tempdir()
        .unwrap()
}

/// Reads and releases everything in the ring.
fn drain(c: &mut Consumer) -> u64 {
    let mut buf = Vec::with_capacity(8192);
    let mut n = 0;
    loop {
        buf.clear();
        let got = c.read(8192, &mut buf).records;
        if got == 0 {
            break;
        }
        n += got as u64;
    }
    c.release(c.read_position());
    n
}

/// The span every library writes.
#[inline(never)]
fn ringside_span(tracer: &Tracer) {
    let mut s = tracer.span(black_box("storage.read"));
    s.set_attr("file.path", black_box("/vol/a/b"))
        .set_attr("file.size", black_box(4096i64));
}

/// Nanoseconds of this thread's CPU time per call of `n` calls to `f`. CPU
/// time, not wall time: on a machine shared with other builds, time spent
/// descheduled is not the code's cost.
fn per_call(n: u32, mut f: impl FnMut()) -> f64 {
    let t = thread_cpu_ns();
    for _ in 0..n {
        f();
    }
    (thread_cpu_ns() - t) as f64 / f64::from(n)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn one_thread() {
    let dir = ring_dir();
    let tracer = Tracer::builder("bench").dir(dir.path()).build();
    tracer.open().unwrap();
    // Semantic check before timing: a span really lands in the ring whole.
    ringside_span(&tracer);
    let mut consumer = Consumer::open(&tracer.ring_path().unwrap()).unwrap();
    let mut out = Vec::new();
    assert_eq!(consumer.read(10, &mut out).records, 1);
    let v = RecordView::new(&out[0]).unwrap();
    assert_eq!((v.name(), v.attrs().count()), ("storage.read", 2));
    consumer.release(consumer.read_position());

    // The floor, into mapped memory as large as the ring's slots.
    let slots = 1usize << 16;
    let mut map = memmap2::MmapMut::map_anon(slots * 256).unwrap();
    let pos = AtomicU64::new(0);
    let rec = Record::new("storage.read");
    let mut floor = || {
        let start = ringside::clock::now();
        let p = pos.fetch_add(1, Ordering::Relaxed) as usize % slots;
        let mut r = *black_box(&rec);
        r.start = start;
        r.end = ringside::clock::now();
        map[p * 256 + 8..p * 256 + 256].copy_from_slice(bytemuck::bytes_of(&r));
    };

    let provider = SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(Discard).build())
        .build();
    let otel = provider.tracer("bench");
    let otel_span = || {
        let mut s = otel.start(black_box("storage.read"));
        s.set_attribute(KeyValue::new("file.path", black_box("/vol/a/b")));
        s.set_attribute(KeyValue::new("file.size", black_box(4096i64)));
        s.end();
    };

    fastrace::set_reporter(DiscardReports, Config::default());
    // Children of one request: a root per 1000 children.
    let fastrace_round = |n: u32| {
        let mut spent = 0.0;
        for _ in 0..n / 1000 {
            let root = FtSpan::root("request", FtContext::random());
            let _g = root.set_local_parent();
            spent += per_call(1000, || {
                let _s = LocalSpan::enter_with_local_parent(black_box("storage.read"))
                    .with_properties(|| {
                        [
                            ("file.path", black_box("/vol/a/b")),
                            ("file.size", black_box("4096")),
                        ]
                    });
            }) * 1000.0;
        }
        spent / f64::from(n)
    };

    let dropped_before = tracer.stats().unwrap().dropped;
    let (mut r, mut f, mut o, mut ft) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        r.push(per_call(ROUND, || ringside_span(&tracer)));
        assert_eq!(drain(&mut consumer), u64::from(ROUND));
        f.push(per_call(ROUND, &mut floor));
        o.push(per_call(ROUND, otel_span));
        ft.push(fastrace_round(ROUND));
    }
    assert_eq!(
        tracer.stats().unwrap().dropped,
        dropped_before,
        "no span dropped"
    );
    let _ = provider.shutdown();
    fastrace::flush();
    let (r, f, o, ft) = (
        median(&mut r),
        median(&mut f),
        median(&mut o),
        median(&mut ft),
    );
    println!(
        "one span, CPU ns (median of {ROUNDS} interleaved rounds of {ROUND}):\n  \
         ringside          {r:7.1}\n  \
         floor             {f:7.1}   ringside/floor {:.2}\n  \
         opentelemetry_sdk {o:7.1}   otel/ringside {:.1}\n  \
         fastrace          {ft:7.1}   fastrace/ringside {:.1}",
        r / f,
        o / r,
        ft / r
    );
}

/// `threads` writers at once, each writing `per` spans per round; the ring is
/// drained between rounds. Median per-span CPU ns of a thread.
fn threads(threads: usize) -> f64 {
    let dir = ring_dir();
    let tracer = Tracer::builder("bench-mt").dir(dir.path()).build();
    tracer.open().unwrap();
    let mut consumer = Consumer::open(&tracer.ring_path().unwrap()).unwrap();
    let per = 60_000 / threads as u32;
    let mut costs = Vec::new();
    for _ in 0..ROUNDS {
        let round: Vec<f64> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let tracer = &tracer;
                    s.spawn(move || {
                        ringside_span(tracer); // takes the thread's lane
                        let t0 = thread_cpu_ns();
                        for _ in 0..per {
                            ringside_span(tracer);
                        }
                        (thread_cpu_ns() - t0) as f64 / f64::from(per)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        costs.extend(round);
        drain(&mut consumer);
    }
    assert_eq!(tracer.stats().unwrap().dropped, 0, "no span dropped");
    median(&mut costs)
}

/// Requests of 10 spans (a root and 9 children) with a 4 MiB sweep between
/// requests: per-span p50 and p99, in ns.
fn in_situ() -> (f64, f64) {
    let dir = ring_dir();
    let tracer = Tracer::builder("bench-situ").dir(dir.path()).build();
    tracer.open().unwrap();
    let mut consumer = Consumer::open(&tracer.ring_path().unwrap()).unwrap();
    let mut sweep = vec![0u8; 4 << 20];
    let mut h = hdrhistogram::Histogram::<u64>::new(3).unwrap();
    for req in 0..20_000u64 {
        for i in (0..sweep.len()).step_by(64) {
            sweep[i] = sweep[i].wrapping_add(1);
        }
        black_box(&sweep);
        let t0 = ringside::clock::now();
        let root = tracer.span("storage.request");
        let t1 = ringside::clock::now();
        {
            let _inside = root.enter();
            for c in 0..9 {
                let a = ringside::clock::now();
                let mut s = tracer.span(black_box("storage.read"));
                s.set_attr("file.path", black_box("/vol/a/b"))
                    .set_attr("file.size", black_box(c as i64));
                drop(s);
                h.record(ringside::clock::now() - a).unwrap();
            }
        }
        let t2 = ringside::clock::now();
        drop(root);
        h.record(t1 - t0 + ringside::clock::now() - t2).unwrap();
        if req % 4000 == 3999 {
            drain(&mut consumer);
        }
    }
    assert_eq!(tracer.stats().unwrap().dropped, 0, "no span dropped");
    let hz = ringside::clock::TickConverter::new().tick_hz() as f64;
    let ns = |ticks: u64| ticks as f64 * 1e9 / hz;
    (ns(h.value_at_quantile(0.5)), ns(h.value_at_quantile(0.99)))
}

fn main() {
    one_thread();
    let one = threads(1);
    let two = threads(2);
    let four = threads(4);
    println!(
        "writer threads, CPU ns per span per thread (median of {ROUNDS} rounds):\n  \
         1 thread  {one:6.1}\n  \
         2 threads {two:6.1}   2/1 {:.2}\n  \
         4 threads {four:6.1}   4/1 {:.2}   ({} cores)",
        two / one,
        four / one,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let (p50, p99) = in_situ();
    println!(
        "in situ (requests of 10 spans, 4 MiB sweep between requests), per span: \
         p50 {p50:.0} ns, p99 {p99:.0} ns"
    );
}
