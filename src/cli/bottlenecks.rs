//! `ringside bottlenecks`: which operations hurt, with evidence.

use std::process::ExitCode;

use clap::Args;

use super::common::{self, InputArgs, WindowArgs, outln};
use super::exit;
use ringside_agent::analyze::bottlenecks::{self, Bottlenecks, CriticalTally, MIN_SAMPLES};
use ringside_agent::analyze::stats::{OpDurations, OpStats};
use ringside_agent::analyze::time::fmt_ns;
use ringside_agent::analyze::tree::Trace;

/// Rank operations by critical-path time, tail latency and error rate.
#[derive(Args, Debug)]
#[command(after_help = "\
Three rankings of (service, operation), each with its evidence and a severity:

  ranking                          low     medium  high
  share of all critical-path time  >= 2%   >= 10%  >= 30%
  p99 / p50                        >= 3    >= 5    >= 10
  error rate                       > 0     >= 1%   >= 5%

Below low the severity is `ok`. Critical-path time is summed over the traces
whose root starts in the window (see `ringside critical-path --help`).
Operations with fewer spans than --min-samples (default 50) are listed as too
few samples, not ranked. Percentiles are nearest-rank (see `ringside stats`).

Examples:
  ringside bottlenecks --since 1h
  ringside bottlenecks --min-samples 200 --top 5 --json

Exit status: 0 something ranked, 1 nothing to rank, 2 bad input.")]
pub struct BottlenecksArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    window: WindowArgs,
    /// Operations with fewer spans are not ranked.
    #[arg(long, default_value_t = MIN_SAMPLES)]
    min_samples: u64,
    /// Rows per ranking in the table (JSON has all).
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

/// Reads the window trace by trace and ranks it; `each` sees every trace
/// after it is counted.
pub fn compute(
    input: &InputArgs,
    window: &WindowArgs,
    min_samples: u64,
    each: &mut dyn FnMut(Trace),
) -> anyhow::Result<(Vec<OpStats>, Bottlenecks, u64)> {
    let query = window.query()?;
    let input = input.open()?;
    let mut durations = OpDurations::new(None);
    let mut tally = CriticalTally::default();
    let skipped = input
        .for_each_trace(&query, &mut |spans| {
            // Every span read counts in the statistics, duplicates too.
            for s in &spans {
                durations.add(s);
            }
            let trace = Trace::new(spans);
            tally.add(&trace);
            each(trace);
        })
        .map_err(common::load_error)?;
    common::warn_skipped(&skipped);
    let ops = durations.finish();
    let ranked = bottlenecks::rank_tally(tally, &ops, min_samples);
    Ok((ops, ranked, skipped.count))
}

/// Runs `ringside bottlenecks`.
pub fn run(args: BottlenecksArgs) -> anyhow::Result<ExitCode> {
    let (_, b, _) = compute(&args.input, &args.window, args.min_samples, &mut |_| {})?;
    let code = if b.critical_path.is_empty() {
        ExitCode::from(exit::NOT_FOUND)
    } else {
        ExitCode::from(exit::OK)
    };
    if args.json {
        common::print_json(&b)?;
        return Ok(code);
    }
    outln!(
        "{} traces, {} on critical paths; minimum sample size {}",
        b.traces,
        fmt_ns(b.critical_total_ns),
        b.min_samples
    );
    outln!("\nby time on critical paths:");
    let rows: Vec<Vec<String>> = b
        .critical_path
        .iter()
        .take(args.top)
        .map(|c| {
            vec![
                c.severity.as_str().into(),
                c.op.service.to_string(),
                c.op.operation.to_string(),
                format!("{:.1}%", 100.0 * c.share),
                fmt_ns(c.critical_ns),
                c.traces.to_string(),
                c.samples.to_string(),
            ]
        })
        .collect();
    common::print_table(
        &[
            "severity",
            "service",
            "operation",
            "share",
            "time",
            "traces",
            "spans",
        ],
        &rows,
        &[3, 4, 5, 6],
    );
    outln!("\nby p99 / p50:");
    let rows: Vec<Vec<String>> = b
        .tail_latency
        .iter()
        .take(args.top)
        .map(|t| {
            vec![
                t.severity.as_str().into(),
                t.op.service.to_string(),
                t.op.operation.to_string(),
                format!("{:.1}", t.ratio),
                fmt_ns(t.p50_ns),
                fmt_ns(t.p99_ns),
                t.samples.to_string(),
            ]
        })
        .collect();
    common::print_table(
        &[
            "severity",
            "service",
            "operation",
            "p99/p50",
            "p50",
            "p99",
            "spans",
        ],
        &rows,
        &[3, 4, 5, 6],
    );
    outln!("\nby error rate:");
    let rows: Vec<Vec<String>> = b
        .error_rate
        .iter()
        .take(args.top)
        .map(|e| {
            vec![
                e.severity.as_str().into(),
                e.op.service.to_string(),
                e.op.operation.to_string(),
                format!("{:.2}%", 100.0 * e.rate),
                e.errors.to_string(),
                e.samples.to_string(),
            ]
        })
        .collect();
    common::print_table(
        &[
            "severity",
            "service",
            "operation",
            "rate",
            "errors",
            "spans",
        ],
        &rows,
        &[3, 4, 5],
    );
    if !b.too_few_samples.is_empty() {
        outln!("\ntoo few samples to rank (< {}):", b.min_samples);
        for t in &b.too_few_samples {
            outln!(
                "  {} {} ({} spans)",
                t.op.service,
                t.op.operation,
                t.samples
            );
        }
    }
    Ok(code)
}
