//! `ringside report --out report.html`: everything on one page.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::common::{self, InputArgs, WindowArgs};
use super::exit;
use ringside_agent::analyze::bottlenecks::MIN_SAMPLES;
use ringside_agent::analyze::report::{self, ReportData, TraceOverview};

/// Write a self-contained HTML report.
#[derive(Args, Debug)]
#[command(after_help = "\
The report is one HTML file with inline CSS and SVG (no scripts, nothing
fetched): per-operation latency percentiles (nearest-rank), error rates, a
heatmap of trace latency over time, the bottleneck ranking (see `ringside
bottlenecks --help` for the thresholds) and waterfalls of the slowest traces
with their critical paths, coloured by service.

Examples:
  ringside report --out report.html
  ringside report --since 1h --slowest 20 --out /tmp/last-hour.html
  ringside report --jsonl spans.jsonl --out report.html

Exit status: 0 written, 1 no spans in the window, 2 bad input.")]
pub struct ReportArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    window: WindowArgs,
    /// Output file.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// How many of the slowest traces to draw.
    #[arg(long, default_value_t = 10)]
    slowest: usize,
    /// Operations with fewer spans are not ranked as bottlenecks.
    #[arg(long, default_value_t = MIN_SAMPLES)]
    min_samples: u64,
}

/// Runs `ringside report`.
pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let mut overview = TraceOverview::new(args.slowest);
    let (ops, ranked, skipped) =
        super::bottlenecks::compute(&args.input, &args.window, args.min_samples, &mut |trace| {
            overview.add(trace)
        })?;
    if overview.spans == 0 {
        eprintln!("ringside: no spans in the window; no report written");
        return Ok(ExitCode::from(exit::NOT_FOUND));
    }
    let source = if args.input.jsonl.is_empty() {
        args.input.store_path()?.display().to_string()
    } else {
        let names: Vec<String> = args
            .input
            .jsonl
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        names.join(", ")
    };
    let html = report::html(&mut ReportData {
        source,
        stats: &ops,
        bottlenecks: &ranked,
        traces: &mut overview,
        skipped,
    })?;
    common::write_file(&args.out, &html)?;
    eprintln!("ringside: wrote {}", args.out.display());
    Ok(ExitCode::from(exit::OK))
}
