//! The span metrics stage's memory stays under the stated bound
//! (`span_metrics::memory_bound`) when 100 000 distinct span names arrive:
//! an allocator that tracks live bytes measures the stage's peak.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};

use ringside::record::{Record, SpanKind};
use ringside_agent::batch::{Resource, SpanBatch};
use ringside_agent::sidecar::span_metrics::{SpanMetrics, SpanMetricsConfig, memory_bound};

/// Forwards to the system allocator; tracks live bytes and their peak.
struct Tracking;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn grew(by: isize) {
    let now = LIVE.fetch_add(by, Ordering::SeqCst) + by;
    PEAK.fetch_max(now, Ordering::SeqCst);
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size() as isize);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::SeqCst);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(new_size as isize - layout.size() as isize);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

fn batches(resource: &Arc<Resource>, names: usize, per_batch: usize) -> Vec<SpanBatch> {
    let mut rng = fastrand::Rng::with_seed(9);
    (0..names / per_batch)
        .map(|b| SpanBatch {
            resource: resource.clone(),
            records: (0..per_batch)
                .map(|i| {
                    // Long names, so the keys weigh what they can.
                    let mut r = Record::new(&format!("{:0>120}", b * per_batch + i));
                    r.trace_id = rng.u128(1..).to_le_bytes();
                    r.span_id = rng.u64(1..).to_le_bytes();
                    r.kind = SpanKind::Server as u8;
                    r.start = 1_000;
                    r.end = 1_000 + rng.u64(1..10_000_000_000);
                    r
                })
                .collect(),
        })
        .collect()
}

#[test]
fn memory_stays_under_the_bound_with_100k_distinct_span_names() {
    let config = SpanMetricsConfig {
        max_series: 2000,
        dimensions: vec!["storage.node".into()],
        ..SpanMetricsConfig::default()
    };
    let bound = memory_bound(&config);
    let resource = Arc::new(Resource {
        service: "s".repeat(200),
        attributes: vec![("storage.node".into(), "n".repeat(200))],
        ..Resource::default()
    });
    let input = batches(&resource, 100_000, 1000);

    let before = LIVE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let mut stage = SpanMetrics::new(&config);
    for b in &input {
        stage.observe(b);
        stage.offer_kept(b);
    }
    let peak = PEAK.load(Ordering::SeqCst) - before;
    let held = LIVE.load(Ordering::SeqCst) - before;
    let stats = stage.stats();
    assert_eq!(stats.series, 2000);
    assert_eq!(stats.overflow_spans, 98_000);
    assert!(
        peak as usize <= bound,
        "peak {peak} bytes over the bound {bound}"
    );
    // Twice as many spans again, all of new names: nothing grows.
    for b in input.iter().chain(&input) {
        stage.observe(b);
    }
    let held_after = LIVE.load(Ordering::SeqCst) - before;
    assert_eq!(held_after, held, "memory grew after the limit");
    // Printed last: captured test output is itself allocated.
    println!(
        "held {held} bytes, peak {peak}, bound {bound} ({} per series)",
        bound / 2001
    );
    drop(stage);
}
