//! Cost of one span on the write path, side by side in one run. The span:
//! start, two attributes (a string and an integer), end.
//!
//! - `ringside`: through the Tracer into a 16 MiB ring; a root span, and in
//!   the steady case also a child of the thread's current context, and a child
//!   in a trace that carries a W3C `tracestate` (its text goes into every
//!   child's record, and each child holds a reference to it);
//! - `floor`: the design floor: two `rdtsc`, one `fetch_add` and a copy of one
//!   248-byte record into a mapped 16 MiB buffer; like the ringside span, one
//!   call (not inlined) per span from the timing loop;
//! - `opentelemetry_sdk`: the OpenTelemetry Rust SDK, `BatchSpanProcessor`, an
//!   exporter that discards; timed on the calling thread and, since the
//!   processor works on a thread of its own, also in process CPU time over the
//!   round and a flush (ringside and fastrace are timed on the calling thread
//!   only; ringside's reader is another process, measured by `--bench sidecar`);
//! - `fastrace`: children of one request (`LocalSpan` under a root), two
//!   properties, a reporter that discards.
//!
//! Each is timed in interleaved rounds of 50 000 spans, in CPU time of the
//! calling thread; the medians and ratios come from the same run. ringside and
//! the floor are timed twice:
//!
//! - steady: the ring is drained (untimed) every 1 000 spans, as a sidecar
//!   keeps up with a writer, so a writer stays in its own lane (1 024 slots,
//!   256 KiB) and the floor copies into a buffer of one lane's size: both write
//!   memory the cache holds. This is the case the write path is designed for.
//! - bulk: 50 000 spans between drains, 12.8 MB of slots (the floor into a
//!   16 MiB buffer): every slot line is a cache miss, so both measure how fast
//!   this machine's memory takes stores more than the code.
//!
//! Then 1, 2 and 4 writer
//! threads at once (per-span CPU time of each thread, so that four threads on
//! two cores are not charged for waiting their turn), and the in-situ case:
//! requests of 10 spans with a 4 MiB memory sweep between requests, per-span
//! p50/p99.
//!
//! Run: `cargo bench --bench write_path`

#[path = "support/ring_dir.rs"]
mod ring_dir;
#[path = "support/thread_cpu.rs"]
mod thread_cpu;
use thread_cpu::{process_cpu_ns, thread_cpu_ns};

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use fastrace::collector::{Config, Reporter, SpanContext as FtContext};
use fastrace::prelude::{LocalSpan, Span as FtSpan, SpanRecord};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter};
use ringside::record::{Record, RecordView};
use ringside::ring::{self, Consumer};
use ringside::trace::{SpanContext, SpanId, TraceFlags, TraceId, Tracer, context, propagation};

const ROUND: u32 = 50_000;
const ROUNDS: usize = 15;
/// Spans between two drains in the steady case: fewer than one lane holds.
const LANE_SPANS: u32 = 1_000;

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
        .tempdir_in(ring_dir::ring_base())
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

/// The design floor's span: two clock reads, a `fetch_add` for the slot and
/// one copy of a whole record into mapped memory. Not inlined, like
/// [`ringside_span`]: both are one call per span from the timing loop.
#[inline(never)]
fn floor_span(map: &mut [u8], pos: &AtomicU64, rec: &Record) {
    let slots = map.len() / 256; // a power of two
    let start = ringside::clock::now();
    let p = pos.fetch_add(1, Ordering::Relaxed) as usize & (slots - 1);
    let mut r = *black_box(rec);
    r.start = start;
    r.end = ringside::clock::now();
    map[p * 256 + 8..p * 256 + 256].copy_from_slice(bytemuck::bytes_of(&r));
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

/// Like [`per_call`], timed in chunks of [`LANE_SPANS`] calls with `between`
/// (untimed) after each chunk.
fn steady(n: u32, mut f: impl FnMut(), mut between: impl FnMut()) -> f64 {
    let mut spent = 0.0;
    for _ in 0..n / LANE_SPANS {
        spent += per_call(LANE_SPANS, &mut f) * f64::from(LANE_SPANS);
        between();
    }
    spent / f64::from(n)
}

/// ringside's steady case: [`ringside_span`] in a round of [`steady`] chunks,
/// the ring drained (and checked) between chunks.
fn ringside_steady(tracer: &Tracer, consumer: &mut Consumer) -> f64 {
    steady(
        ROUND,
        || ringside_span(tracer),
        || {
            assert_eq!(drain(consumer), u64::from(LANE_SPANS));
        },
    )
}

/// The per-span CPU ns of each round of [`one_thread`], one list per
/// measurement.
#[derive(Default)]
struct Samples {
    ringside_steady: Vec<f64>,
    floor_steady: Vec<f64>,
    ringside_bulk: Vec<f64>,
    floor_bulk: Vec<f64>,
    otel: Vec<f64>,
    /// The SDK with its export thread: process CPU time.
    otel_process: Vec<f64>,
    fastrace: Vec<f64>,
    child: Vec<f64>,
    /// A child span in a trace that carries a `tracestate`.
    child_tracestate: Vec<f64>,
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

    // The floor, into mapped memory: one lane's slots (steady) or the whole
    // ring's (bulk), as the tracer's ring of the default capacity has them.
    let lane_slots = ring::DEFAULT_CAPACITY / ring::lanes_for(ring::DEFAULT_CAPACITY);
    assert_eq!((lane_slots, ring::DEFAULT_CAPACITY), (1024, 1 << 16));
    let floor_of = |slots: usize| {
        assert!(slots.is_power_of_two());
        let mut map = memmap2::MmapMut::map_anon(slots * 256).unwrap();
        map.fill(1); // fault the pages in, as a ring's are after its first lap
        let pos = AtomicU64::new(0);
        let rec = Record::new("storage.read");
        move || floor_span(&mut map, &pos, &rec)
    };
    let mut floor_steady = floor_of(lane_slots);
    let mut floor_bulk = floor_of(ring::DEFAULT_CAPACITY);

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

    // Parents for child spans: one of this process, and one extracted from a
    // request that carries a `tracestate` (its entries go into every child).
    let local_parent = SpanContext {
        trace_id: TraceId::random(),
        span_id: SpanId::random(),
        flags: TraceFlags(TraceFlags::SAMPLED),
        ..Default::default()
    };
    let remote_parent = propagation::extract(
        Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        Some("vendor=abc123,other=xyz"),
    )
    .unwrap();

    let dropped_before = tracer.stats().unwrap().dropped;
    let mut m = Samples::default();
    for _ in 0..ROUNDS {
        m.ringside_steady
            .push(ringside_steady(&tracer, &mut consumer));
        m.floor_steady.push(per_call(ROUND, &mut floor_steady));
        m.ringside_bulk
            .push(per_call(ROUND, || ringside_span(&tracer)));
        assert_eq!(drain(&mut consumer), u64::from(ROUND));
        m.floor_bulk.push(per_call(ROUND, &mut floor_bulk));
        // The SDK also spends CPU on its export thread: the process's CPU
        // time over the round and a flush counts it.
        let p0 = process_cpu_ns();
        m.otel.push(per_call(ROUND, otel_span));
        let _ = provider.force_flush();
        m.otel_process
            .push((process_cpu_ns() - p0) as f64 / f64::from(ROUND));
        m.fastrace.push(fastrace_round(ROUND));
        for (samples, parent) in [
            (&mut m.child, &local_parent),
            (&mut m.child_tracestate, &remote_parent),
        ] {
            let _inside = context::attach(parent.clone());
            samples.push(ringside_steady(&tracer, &mut consumer));
        }
    }
    assert_eq!(
        tracer.stats().unwrap().dropped,
        dropped_before,
        "no span dropped"
    );
    let _ = provider.shutdown();
    fastrace::flush();
    let r = median(&mut m.ringside_steady);
    let f = median(&mut m.floor_steady);
    let rb = median(&mut m.ringside_bulk);
    let fb = median(&mut m.floor_bulk);
    let o = median(&mut m.otel);
    let op = median(&mut m.otel_process);
    let ft = median(&mut m.fastrace);
    let child = median(&mut m.child);
    let child_state = median(&mut m.child_tracestate);
    println!(
        "one span, CPU ns (median of {ROUNDS} interleaved rounds of {ROUND}):\n  \
         ringside, steady  {r:7.1}\n  \
         floor, steady     {f:7.1}   ringside/floor {:.2}\n  \
         ringside, bulk    {rb:7.1}\n  \
         floor, bulk       {fb:7.1}   ringside/floor {:.2}\n  \
         opentelemetry_sdk {o:7.1}   otel/ringside {:.1} (steady), {:.1} (bulk)\n  \
         opentelemetry_sdk {op:7.1}   with its export thread (process CPU): otel/ringside {:.1} (steady)\n  \
         fastrace          {ft:7.1}   fastrace/ringside {:.1} (steady), {:.1} (bulk)\n  \
         ringside, steady, child span      {child:7.1}\n  \
         ringside, steady, child span of a trace with a tracestate {child_state:7.1}",
        r / f,
        rb / fb,
        o / r,
        o / rb,
        op / r,
        ft / r,
        ft / rb,
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
