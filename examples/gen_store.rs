//! Fills a span store with synthetic storage-cluster traces
//! ([`ringside_agent::store::generate`]) and reports the write rate.
//!
//! `cargo run --release --example gen_store -- /tmp/traces.db 71429`
//! (71 429 traces of 14 spans: 1M spans). Writes 500 traces (7 000 spans) per
//! transaction, as the sidecar's SQLite exporter does per export call.
//! A third argument names an OTLP-JSON lines file to write the same spans to
//! (the `--jsonl` input of the analysis commands; `-` for none), a fourth the
//! first trace's start in Unix ns (default: the last trace starts now).

use std::path::PathBuf;
use std::time::Instant;

use ringside_agent::batch::SpoolCursor;
use ringside_agent::export::Exporter;
use ringside_agent::export::jsonl::JsonlExporter;
use ringside_agent::store::{Store, generate};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().unwrap_or_else(|| "traces.db".into()));
    let traces: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(71_429);
    let mut jsonl = args
        .next()
        .filter(|p| p != "-")
        .map(|p| JsonlExporter::new(std::path::Path::new(&p), 0, 1));
    // The first trace's start, Unix ns (default: so that the last trace
    // starts now).
    let t0: Option<u64> = args.next().map(|s| s.parse()).transpose()?;
    const PER_TX: usize = 500;
    let mut store = Store::open(&path)?;
    let start_ns = t0.unwrap_or_else(|| ringside::clock::unix_ns() - traces as u64 * 1_000_000);
    let mut written = 0u64;
    let mut spent = std::time::Duration::ZERO;
    let mut done = 0usize;
    while done < traces {
        let n = PER_TX.min(traces - done);
        let batches = generate::traces(
            done as u64,
            n,
            start_ns + done as u64 * 1_000_000,
            1_000_000,
        );
        // Through 16 MiB spool segments (the default) at 256 bytes a span,
        // as the sidecar's cursor moves.
        let cursor = SpoolCursor {
            segment: ((done + n) as u64 * 14 * 256) >> 24,
            offset: ((done + n) as u64 * 14 * 256) & ((1 << 24) - 1),
        };
        if let Some(e) = jsonl.as_mut() {
            e.export(&batches, cursor)
                .map_err(|e| anyhow::anyhow!("jsonl: {e:?}"))?;
        }
        let t = Instant::now();
        let out = store.write(&batches, cursor)?;
        spent += t.elapsed();
        written += out.inserted;
        done += n;
    }
    println!(
        "{written} spans in {:.2} s of writing: {:.0} spans/s",
        spent.as_secs_f64(),
        written as f64 / spent.as_secs_f64()
    );
    Ok(())
}
