//! Cost of one span through the C ABI beside the same span through the Rust
//! API, in one run, into rings that a reader thread keeps draining. The span:
//! start, a string and an integer attribute, end.
//!
//! The C ABI functions are called through function pointers laundered by
//! `black_box`, so that LTO cannot inline them into the loop: each call pays
//! what a C caller pays (an out-of-line call, argument checks, `catch_unwind`
//! at the edge, and the copy of the record out of the caller's `rs_span_t`).
//!
//! After criterion's report, interleaved rounds give the median cost per span
//! of each and their ratio.
//!
//! Run: `cargo bench --bench c_abi`

#[path = "support/ring_dir.rs"]
mod ring_dir;
#[path = "support/ring_reader.rs"]
mod ring_reader;
#[path = "support/thread_cpu.rs"]
mod thread_cpu;
use ring_reader::drain;
use thread_cpu::thread_cpu_ns;

use std::ffi::c_char;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use criterion::{Criterion, criterion_group};
use ringside::ffi::*;
use ringside::record::RecordView;
use ringside::ring::Consumer;
use ringside::trace::Tracer;

/// The C ABI entry points, as a C program sees them: opaque calls.
struct CAbi {
    start: unsafe extern "C" fn(
        *const rs_tracer_t,
        *mut rs_span_t,
        *const c_char,
        usize,
        rs_span_kind_t,
        *const rs_span_context_t,
    ) -> rs_status_t,
    set_str: unsafe extern "C" fn(
        *mut rs_span_t,
        *const c_char,
        usize,
        *const c_char,
        usize,
    ) -> rs_status_t,
    set_i64: unsafe extern "C" fn(*mut rs_span_t, *const c_char, usize, i64) -> rs_status_t,
    end: unsafe extern "C" fn(*mut rs_span_t) -> rs_status_t,
}

impl CAbi {
    fn new() -> CAbi {
        CAbi {
            start: black_box(rs_span_start),
            set_str: black_box(rs_span_set_str),
            set_i64: black_box(rs_span_set_i64),
            end: black_box(rs_span_end),
        }
    }

    /// One span, as `storage_daemon.c` writes them.
    #[inline(never)]
    fn span(&self, tracer: *const rs_tracer_t) {
        let name = black_box("storage.read");
        let path = black_box("/vol/a/b");
        // Not initialized, as `rs_span_t span;` in C: `rs_span_start` fills it.
        let mut span = std::mem::MaybeUninit::<rs_span_t>::uninit();
        // SAFETY: a live tracer, a span on our stack (written by
        // `rs_span_start` before anything reads it), strings valid for their
        // lengths.
        unsafe {
            let s = span.as_mut_ptr();
            (self.start)(
                tracer,
                s,
                name.as_ptr().cast(),
                name.len(),
                1,
                std::ptr::null(),
            );
            (self.set_str)(
                s,
                c"file.path".as_ptr(),
                9,
                path.as_ptr().cast(),
                path.len(),
            );
            (self.set_i64)(s, c"file.size".as_ptr(), 9, black_box(4096));
            (self.end)(s);
        }
    }
}

/// One span through the Rust API.
#[inline(never)]
fn rust_span(tracer: &Tracer) {
    let mut s = tracer.span(black_box("storage.read"));
    s.set_attr("file.path", black_box("/vol/a/b"))
        .set_attr("file.size", black_box(4096i64));
}

/// Nanoseconds of this thread's CPU time per span of `n` calls to `f` (CPU
/// time: the machine is shared, and time spent descheduled is not the code's).
fn per_span(n: u32, mut f: impl FnMut()) -> f64 {
    let t = thread_cpu_ns();
    for _ in 0..n {
        f();
    }
    (thread_cpu_ns() - t) as f64 / f64::from(n)
}

/// The counters of the C tracer.
fn c_stats(tracer: *const rs_tracer_t) -> rs_ring_stats_t {
    let mut s = rs_ring_stats_t::default();
    // SAFETY: a live tracer and a valid out pointer.
    assert_eq!(unsafe { rs_tracer_stats(tracer, &mut s) }, RS_OK);
    s
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn c_vs_rust(c: &mut Criterion) {
    let dir = ring_dir::ring_base().join(format!("ringside-bench-c-abi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rust = Tracer::builder("bench-rust").dir(&dir).build();
    rust.open().unwrap();
    let dir_c = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
    let mut status = -1;
    // SAFETY: NUL-terminated strings and a status to write.
    let tracer = unsafe { rs_tracer_new(c"bench-c".as_ptr(), dir_c.as_ptr(), &mut status) };
    assert_eq!(status, RS_OK);
    // SAFETY: the tracer just made.
    assert_eq!(unsafe { rs_tracer_open(tracer) }, RS_OK);
    let abi = CAbi::new();

    // Semantic check before timing: both write the same span, whole.
    rust_span(&rust);
    abi.span(tracer);
    let c_ring = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_str().unwrap().contains("bench-c."))
        .unwrap();
    let mut shapes = Vec::new();
    for path in [rust.ring_path().unwrap(), c_ring.clone()] {
        let mut check = Consumer::open(&path).unwrap();
        let mut out = Vec::new();
        assert_eq!(check.read(10, &mut out).records, 1);
        let v = RecordView::new(&out[0]).unwrap();
        shapes.push((
            v.name().to_string(),
            v.attrs().map(|a| a.key).collect::<Vec<_>>().join(","),
        ));
        check.release(check.read_position());
    }
    assert_eq!(shapes[0], shapes[1]);
    assert_eq!(shapes[0].1, "file.path,file.size");

    let stop = Arc::new(AtomicBool::new(false));
    let readers = [
        drain(rust.ring_path().unwrap(), stop.clone()),
        drain(c_ring.clone(), stop.clone()),
    ];

    let mut g = c.benchmark_group("c_abi_span");
    g.bench_function("rust_api", |b| b.iter(|| rust_span(&rust)));
    g.bench_function("c_abi", |b| b.iter(|| abi.span(tracer)));
    g.finish();

    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        black_box(reader.join().unwrap());
    }

    // Interleaved rounds that never fill a ring (criterion's millions of
    // iterations can outrun the reader, and a dropped span skips the copy):
    // each round writes ROUND spans per API, then both rings are drained.
    const ROUND: u32 = 50_000;
    const ROUNDS: usize = 21;
    let mut consumers = [
        Consumer::open(&rust.ring_path().unwrap()).unwrap(),
        Consumer::open(&c_ring).unwrap(),
    ];
    let drain_all = |consumers: &mut [Consumer; 2]| {
        let mut buf = Vec::with_capacity(8192);
        for c in consumers.iter_mut() {
            while c.read(8192, &mut buf).records > 0 {
                buf.clear();
            }
            c.release(c.read_position());
        }
    };
    drain_all(&mut consumers);
    let dropped_before = (rust.stats().unwrap().dropped, c_stats(tracer).dropped);
    let (mut r, mut cc) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        r.push(per_span(ROUND, || rust_span(&rust)));
        cc.push(per_span(ROUND, || abi.span(tracer)));
        drain_all(&mut consumers);
    }
    let dropped_after = (rust.stats().unwrap().dropped, c_stats(tracer).dropped);
    assert_eq!(
        dropped_before, dropped_after,
        "no span was dropped in the rounds"
    );
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let (r_min, c_min) = (min(&r), min(&cc));
    let (r, cc) = (median(&mut r), median(&mut cc));
    println!(
        "CPU ns/span over {ROUNDS} interleaved rounds of {ROUND} (every span written): \
         median rust_api {r:.1}, c_abi {cc:.1}, c_abi/rust_api {:.2}; \
         fastest round rust_api {r_min:.1}, c_abi {c_min:.1}, c_abi/rust_api {:.2}",
        cc / r,
        c_min / r_min
    );

    // SAFETY: no span is open and no other thread uses the tracer.
    unsafe { rs_tracer_free(tracer) };
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, c_vs_rust);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
