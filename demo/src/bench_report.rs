//! The bench's results: draining the rings while it runs (as the sidecar
//! would, so that they do not fill), percentiles from the histograms, the
//! table and the JSON file.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use hdrhistogram::Histogram;
use ringside::record::Record;
use ringside::ring::Consumer;

use super::bench::{BenchArgs, Mode, ModeResult, Target};
use super::traces::ring_files;

/// Reads and releases every ring in `dir` until `stop`, then once more;
/// returns the number of spans read.
pub fn drain_rings(dir: PathBuf, stop: Arc<AtomicBool>) -> JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut rings: HashMap<PathBuf, Consumer> = HashMap::new();
        let mut batch: Vec<Record> = Vec::with_capacity(4096);
        let mut spans = 0u64;
        let mut last_round = false;
        loop {
            let stopping = stop.load(Ordering::Relaxed);
            for path in ring_files(&dir).unwrap_or_default() {
                if !rings.contains_key(&path)
                    && let Ok(c) = Consumer::open(&path)
                {
                    rings.insert(path, c);
                }
            }
            for c in rings.values_mut() {
                loop {
                    batch.clear();
                    let n = c.read(4096, &mut batch).records;
                    spans += n as u64;
                    let pos = c.read_position();
                    c.release(pos);
                    if n == 0 {
                        break;
                    }
                }
            }
            if last_round {
                return spans;
            }
            last_round = stopping;
            std::thread::sleep(Duration::from_millis(5));
        }
    })
}

/// A mode's result from its histogram (nanoseconds), error count and the
/// seconds the recorded requests took.
pub fn result(
    target: Target,
    mode: Mode,
    (hist, errors, recorded_secs): &(Histogram<u64>, u64, f64),
    spans: u64,
    dropped: u64,
) -> ModeResult {
    let us = |ns: u64| ns as f64 / 1000.0;
    ModeResult {
        target,
        mode,
        requests: hist.len(),
        errors: *errors,
        throughput: hist.len() as f64 / recorded_secs,
        p50_us: us(hist.value_at_quantile(0.5)),
        p99_us: us(hist.value_at_quantile(0.99)),
        p999_us: us(hist.value_at_quantile(0.999)),
        max_us: us(hist.max()),
        spans,
        dropped,
        p50_overhead_pct: None,
        p99_overhead_pct: None,
    }
}

/// Fills each tracing mode's overhead against tracing off on its target.
pub fn fill_overheads(results: &mut [ModeResult]) {
    let off: Vec<(Target, f64, f64)> = results
        .iter()
        .filter(|r| r.mode == Mode::Off)
        .map(|r| (r.target, r.p50_us, r.p99_us))
        .collect();
    for r in results.iter_mut().filter(|r| r.mode != Mode::Off) {
        if let Some(&(_, p50, p99)) = off.iter().find(|(t, _, _)| *t == r.target) {
            r.p50_overhead_pct = Some((r.p50_us / p50 - 1.0) * 100.0);
            r.p99_overhead_pct = Some((r.p99_us / p99 - 1.0) * 100.0);
        }
    }
}

/// The results as a text table.
pub fn table(args: &BenchArgs, results: &[ModeResult]) -> String {
    let mut out = format!(
        "\n{} clients, {} req/s, {} s per mode ({} s warm-up), {} B files; latency in us from each request's scheduled time\n",
        args.clients,
        args.rate,
        args.duration,
        args.duration * 0.1,
        args.size
    );
    let _ = writeln!(
        out,
        "{:<6} {:<9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7} {:>8} {:>8}",
        "target",
        "tracing",
        "req/s",
        "p50",
        "p99",
        "p99.9",
        "max",
        "spans",
        "dropped",
        "p50 +%",
        "p99 +%"
    );
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:+.1}"));
    for r in results {
        let _ = writeln!(
            out,
            "{:<6} {:<9} {:>9.0} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9} {:>7} {:>8} {:>8}",
            format!("{:?}", r.target).to_lowercase(),
            format!("{:?}", r.mode).to_lowercase(),
            r.throughput,
            r.p50_us,
            r.p99_us,
            r.p999_us,
            r.max_us,
            r.spans,
            r.dropped,
            pct(r.p50_overhead_pct),
            pct(r.p99_overhead_pct),
        );
        if r.errors > 0 {
            let _ = writeln!(out, "       ({} requests failed)", r.errors);
        }
    }
    out
}

/// Writes the results and the settings as JSON.
pub fn write_json(args: &BenchArgs, results: &[ModeResult]) -> anyhow::Result<()> {
    let doc = serde_json::json!({
        "clients": args.clients,
        "rate": args.rate,
        "duration_s": args.duration,
        "file_size": args.size,
        "results": results,
    });
    std::fs::write(&args.json, serde_json::to_string_pretty(&doc)? + "\n")
        .with_context(|| format!("cannot write {}", args.json.display()))
}
