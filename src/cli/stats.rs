//! `ringside stats`: latency percentiles and error rates per operation.

use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use super::common::{self, InputArgs, WindowArgs};
use super::exit;
use ringside_agent::analyze::input::AttrSelection;
use ringside_agent::analyze::stats::{OpDurations, OpStats};
use ringside_agent::analyze::time::fmt_ns;

/// Latency and errors per service and operation.
#[derive(Args, Debug)]
#[command(after_help = "\
Percentiles are exact, by the nearest-rank method: the p-th percentile of n
durations is the ceil(p/100 * n)-th smallest, i.e. the smallest observed
duration such that at least p% of the spans took no longer. Nothing is
interpolated or binned, so every value shown was observed.

Examples:
  ringside stats --since 1h
  ringside stats --service osd --group-by target.node
  ringside stats --since 2026-05-01T12:00:00Z --until 2026-05-01T13:00:00Z --json
  ringside stats --jsonl spans.jsonl

Exit status: 0 spans found, 1 none in the window, 2 bad input.")]
pub struct StatsArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    window: WindowArgs,
    /// Only this service.
    #[arg(long)]
    service: Option<String>,
    /// Split each operation by the value of this attribute (e.g. target.node).
    #[arg(long, value_name = "KEY")]
    group_by: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Output {
    skipped: u64,
    percentile_method: &'static str,
    operations: Vec<OpStats>,
}

/// Runs `ringside stats`.
pub fn run(args: StatsArgs) -> anyhow::Result<ExitCode> {
    let mut query = args.window.query()?;
    if let Some(k) = &args.group_by {
        query.attributes = AttrSelection::Keys(vec![k.clone()]);
    }
    query.service = args.service.clone();
    let input = args.input.open()?;
    let mut groups = OpDurations::new(args.group_by.as_deref());
    let skipped = input
        .for_each_timing(&query, &mut |span| groups.add_timing(span))
        .map_err(common::load_error)?;
    common::warn_skipped(&skipped);
    let ops = groups.finish();
    let code = if ops.is_empty() {
        ExitCode::from(exit::NOT_FOUND)
    } else {
        ExitCode::from(exit::OK)
    };
    if args.json {
        common::print_json(&Output {
            skipped: skipped.count,
            percentile_method: "nearest-rank (exact)",
            operations: ops,
        })?;
        return Ok(code);
    }
    if ops.is_empty() {
        eprintln!("ringside: no spans in the window");
        return Ok(code);
    }
    let mut header = vec!["service", "operation"];
    if args.group_by.is_some() {
        header.push("group");
    }
    header.extend([
        "count", "errors", "err%", "mean", "min", "p50", "p90", "p95", "p99", "p99.9", "max",
    ]);
    let first_num = if args.group_by.is_some() { 3 } else { 2 };
    let rows: Vec<Vec<String>> = ops
        .iter()
        .map(|o| {
            let mut r = vec![o.key.service.to_string(), o.key.operation.to_string()];
            if args.group_by.is_some() {
                r.push(o.key.group.clone().unwrap_or_else(|| "-".into()));
            }
            r.extend([
                o.count.to_string(),
                o.errors.to_string(),
                format!("{:.2}", 100.0 * o.error_rate),
                fmt_ns(o.mean_ns),
                fmt_ns(o.min_ns),
                fmt_ns(o.p50_ns),
                fmt_ns(o.p90_ns),
                fmt_ns(o.p95_ns),
                fmt_ns(o.p99_ns),
                fmt_ns(o.p999_ns),
                fmt_ns(o.max_ns),
            ]);
            r
        })
        .collect();
    let right: Vec<usize> = (first_num..header.len()).collect();
    common::print_table(&header, &rows, &right);
    Ok(code)
}
