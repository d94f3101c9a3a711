//! `ringside top`: a live view of this node from the sidecar's span metrics
//! (read over its Unix socket in the ring directory, not from the store):
//! rate, error % and p50/p99/p99.9 per operation or service over a sliding
//! window, or the slowest kept traces. Full screen on a terminal; a plain
//! table every interval otherwise; `--once` and `--json` print one snapshot.

mod screen;
mod window;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::config_args::ConfigArgs;
use super::exit::BadInput;
use ringside_agent::analyze::time::fmt_ns;
use ringside_agent::sidecar::span_metrics::live;
use window::{History, Row, SortKey, TraceRow, View};

/// Live per-operation rates, errors and latency percentiles of this node.
#[derive(Args, Debug)]
#[command(after_help = "\
Keys: s or → next sort column, ← previous, r reverse, v or Tab switch view
(operations, services, slowest traces), q or Esc quit.

Percentiles come from the sidecar's log-linear histograms (16 buckets per
power of two): within 3.125 % of the exact value. Counts are exact: the
sidecar counts every span before sampling.

Examples:
  ringside top
  ringside top --ring-dir /run/ringside --sort rate
  ringside top --once --json | jq '.operations[0]'

Exit status: 0 done, 1 the sidecar cannot be reached, 2 bad input.")]
pub struct TopArgs {
    /// Configuration file (for rings.dir) [default: /etc/ringside/ringside.toml if it exists]
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Ring directory of the sidecar to watch (rings.dir)
    #[arg(long, value_name = "DIR")]
    ring_dir: Option<PathBuf>,
    /// Sliding window, in seconds
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    window: u64,
    /// Refresh interval, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    interval: u64,
    /// Sort column
    #[arg(long, value_enum, default_value_t = SortKey::P99)]
    sort: SortKey,
    /// Print one snapshot (over one interval) and exit
    #[arg(long)]
    once: bool,
    /// Print JSON (with --once: one object; else one object per line)
    #[arg(long)]
    json: bool,
}

/// Runs `ringside top`.
pub fn run(args: TopArgs) -> anyhow::Result<ExitCode> {
    if args.interval == 0 || args.window == 0 {
        return Err(BadInput("--interval and --window must be at least 1".into()).into());
    }
    let dir = ConfigArgs {
        config: args.config.clone(),
        ring_dir: args.ring_dir.clone(),
        ..ConfigArgs::default()
    }
    .load()?
    .rings
    .dir;
    let interval = Duration::from_millis(args.interval);
    let mut history = History::new(args.window);
    history.push(live::fetch(&dir)?);
    let tty = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    if tty && !args.once && !args.json {
        screen::run(&dir, history, interval, args.sort)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    loop {
        std::thread::sleep(interval);
        history.push(live::fetch(&dir)?);
        if args.json {
            let page = serde_json::json!({
                "window_secs": history.span_secs(),
                "operations": history.rows(false, args.sort, false),
                "services": history.rows(true, args.sort, false),
                "traces": history.traces(),
            });
            writeln!(out, "{page}")?;
        } else {
            let rows = history.rows(false, args.sort, false);
            write!(out, "{}", plain_table(&dir, &history, &rows, args.sort))?;
        }
        out.flush()?;
        if args.once {
            return Ok(ExitCode::SUCCESS);
        }
    }
}

/// The heading shown above the rows.
fn heading(dir: &Path, history: &History, view: View, key: SortKey, reverse: bool) -> String {
    let (series, overflow) = history
        .latest()
        .map_or((0, 0), |s| (s.series.len(), s.overflow_spans));
    let view = match view {
        View::Operations => "operations",
        View::Services => "services",
        View::Traces => "slowest traces",
    };
    format!(
        "ringside top  {}  {view} over {:.0}s  sorted by {}{}  {series} series, {overflow} overflow spans",
        dir.display(),
        history.span_secs(),
        key.title(),
        if reverse { " (reversed)" } else { "" },
    )
}

/// The cells of an operations or services row, in [`SortKey::ALL`] order
/// after the name, then calls.
fn cells(r: &Row) -> [String; 7] {
    [
        if r.operation.is_empty() {
            r.service.clone()
        } else {
            format!("{} {}", r.service, r.operation)
        },
        format!("{:.1}", r.rate),
        format!("{:.2}", r.error_pct),
        fmt_ns(r.p50_ns),
        fmt_ns(r.p99_ns),
        fmt_ns(r.p999_ns),
        r.calls.to_string(),
    ]
}

/// The cells of a trace row.
fn trace_cells(t: &TraceRow) -> [String; 4] {
    [
        fmt_ns(t.duration_ns),
        format!("{} {}", t.service, t.operation),
        if t.error { "error" } else { "" }.to_string(),
        t.trace_id.clone(),
    ]
}

/// One plain-text snapshot (when stdout is not a terminal).
fn plain_table(dir: &Path, history: &History, rows: &[Row], key: SortKey) -> String {
    let mut out = heading(dir, history, View::Operations, key, false);
    out.push('\n');
    let width = rows
        .iter()
        .map(|r| cells(r)[0].chars().count())
        .max()
        .unwrap_or(0)
        .max(9);
    out.push_str(&format!(
        "{:<width$} {:>10} {:>7} {:>10} {:>10} {:>10} {:>10}\n",
        "OPERATION", "RATE/S", "ERR%", "P50", "P99", "P99.9", "CALLS"
    ));
    for r in rows {
        let c = cells(r);
        out.push_str(&format!(
            "{:<width$} {:>10} {:>7} {:>10} {:>10} {:>10} {:>10}\n",
            c[0], c[1], c[2], c[3], c[4], c[5], c[6]
        ));
    }
    out.push('\n');
    out
}
