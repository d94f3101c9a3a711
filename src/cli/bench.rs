//! `ringside bench`: the mini file store's latency under a fixed rate with
//! tracing off, ringside, and the OpenTelemetry SDK (see `src/demo/bench.rs`).

use std::process::ExitCode;

pub use crate::demo::bench::BenchArgs;

/// Runs the bench, prints the table and writes the JSON.
pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    crate::demo::bench::run(args)?;
    Ok(ExitCode::SUCCESS)
}
