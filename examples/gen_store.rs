//! Fills a span store with synthetic storage-cluster traces
//! ([`ringside::store::generate`]) and reports the write rate.
//!
//! `cargo run --release --example gen_store -- /tmp/traces.db 71429`
//! (71 429 traces of 14 spans: 1M spans). Writes 500 traces (7 000 spans) per
//! transaction, as the sidecar's SQLite exporter does per export call.

use std::path::PathBuf;
use std::time::Instant;

use ringside::sidecar::spool::SpoolCursor;
use ringside::store::{Store, generate};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().unwrap_or_else(|| "traces.db".into()));
    let traces: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(71_429);
    const PER_TX: usize = 500;
    let mut store = Store::open(&path)?;
    let start_ns = ringside::clock::unix_ns() - traces as u64 * 1_000_000;
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
        let t = Instant::now();
        let out = store.write(
            &batches,
            SpoolCursor {
                segment: done as u64 + 1,
                offset: 0,
            },
        )?;
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
