//! `ringside bench`: the mini file store's latency under a fixed rate with
//! tracing off, ringside, and the OpenTelemetry SDK, the modes interleaved in
//! rounds and compared with confidence intervals (see `demo/src/bench.rs`).

use std::process::ExitCode;

pub use ringside_demo::bench::BenchArgs;

/// Runs the bench, prints the tables, writes the JSON (and the plot).
pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    ringside_demo::bench::run(args)?;
    Ok(ExitCode::SUCCESS)
}
