//! The local trace store at scale: write rate of the SQLite store (the
//! sidecar's sqlite exporter path), then `stats` over all of it and
//! `trace <id>` on a store of 1M spans.
//!
//! `cargo bench --bench store` (builds the store under
//! `target/bench-store/`, about 220 MB). Targets (issue "Answers from
//! spans"): stats over 1M spans ≤ 3 s, one trace ≤ 50 ms, writes ≥ 200k
//! spans/s. Numbers are printed, not asserted.

use std::path::Path;
use std::time::{Duration, Instant};

use ringside_agent::analyze::input::{Input, SpanQuery};
use ringside_agent::analyze::stats;
use ringside_agent::analyze::tree::Trace;
use ringside_agent::batch::SpoolCursor;
use ringside_agent::store::{Store, generate};

/// 71 429 traces of 14 spans.
const TRACES: usize = 71_429;
/// Traces per transaction: 7 000 spans, close to the sidecar's batch of 8 192.
const PER_TX: usize = 500;
/// The spool's default segment size: the cursor passed with each write moves
/// through segments of this size (256 bytes per span), as the sidecar's does,
/// and the store fsyncs each time it leaves one behind.
const SEGMENT_BYTES: u64 = 16 << 20;
/// Spool bytes per trace (14 spans of 256 bytes).
const TRACE_BYTES: u64 = generate::SPANS_PER_TRACE as u64 * 256;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-store");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("traces-1m.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let t0 = 1_760_000_000_000_000_000u64;
    let mut store = Store::open(&path).unwrap();
    let mut spent = Duration::ZERO;
    let mut spans = 0u64;
    let mut done = 0;
    while done < TRACES {
        let n = PER_TX.min(TRACES - done);
        let batches = generate::traces(done as u64, n, t0 + done as u64 * 1_000_000, 1_000_000);
        let t = Instant::now();
        spans += store
            .write(
                &batches,
                SpoolCursor {
                    segment: (done + n) as u64 * TRACE_BYTES / SEGMENT_BYTES,
                    offset: (done + n) as u64 * TRACE_BYTES % SEGMENT_BYTES,
                },
            )
            .unwrap()
            .inserted;
        spent += t.elapsed();
        done += n;
    }
    drop(store);
    println!(
        "store write: {spans} spans in {:.2} s = {:.0} spans/s ({} spans per transaction, WAL, synchronous=NORMAL, fsync per 16 MiB spool segment)",
        spent.as_secs_f64(),
        spans as f64 / spent.as_secs_f64(),
        PER_TX * generate::SPANS_PER_TRACE
    );

    let input = Input::store(&path).unwrap();
    let mut best = Duration::MAX;
    let mut ops = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let loaded = input.load(&SpanQuery::default()).unwrap();
        ops = stats::per_operation(&loaded.spans, None).len();
        best = best.min(t.elapsed());
    }
    println!(
        "stats over {spans} spans ({ops} operations): best of 3 {:.3} s",
        best.as_secs_f64()
    );

    let loaded = input.load(&SpanQuery::default()).unwrap();
    let ids: Vec<_> = loaded
        .spans
        .iter()
        .step_by(997)
        .map(|s| s.trace_id)
        .take(200)
        .collect();
    drop(loaded);
    let mut times: Vec<Duration> = ids
        .iter()
        .map(|id| {
            let t = Instant::now();
            let loaded = Input::store(&path)
                .unwrap()
                .load(&SpanQuery {
                    trace_ids: Some(vec![*id]),
                    attributes: ringside_agent::analyze::input::AttrSelection::All,
                    details: true,
                    ..SpanQuery::default()
                })
                .unwrap();
            let trace = Trace::new(loaded.spans);
            assert_eq!(trace.spans.len(), generate::SPANS_PER_TRACE);
            t.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "trace <id> (open store, load, link) over {} traces: median {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        times.len(),
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() * 99 / 100].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
}
