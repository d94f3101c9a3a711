//! `ringside search`: find traces by their spans.

use std::ops::ControlFlow;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde::Serialize;

use super::common::{self, InputArgs, WindowArgs};
use super::exit::{self, BadInput};
use ringside_agent::analyze::input::Skipped;
use ringside_agent::analyze::model::StatusCode;
use ringside_agent::analyze::search::{SortBy, SpanFilter, TopTraces, TraceSummary};
use ringside_agent::analyze::time::{fmt_ns, fmt_time, parse_duration};
use ringside_agent::analyze::tree::Trace;

/// Find traces with a span matching every filter given.
#[derive(Args, Debug)]
#[command(after_help = "\
A trace is listed when one of its spans (starting inside the window) matches
every filter given. Attribute values compare as text: strings as they are,
numbers in decimal, booleans as true/false.

Examples:
  ringside search --service osd --status error --since 1h
  ringside search --name 'osd read' --min-duration 10ms --sort longest --limit 5
  ringside search --attr file.path=/pool/obj7 --since 2026-05-01T12:00:00Z --json
  ringside search --jsonl /var/log/ringside/spans.jsonl --service gateway

Exit status: 0 traces found, 1 none, 2 bad input.")]
pub struct SearchArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    window: WindowArgs,
    /// Service name (exact).
    #[arg(long)]
    service: Option<String>,
    /// Span name (exact).
    #[arg(long)]
    name: Option<String>,
    /// Span status.
    #[arg(long, value_enum)]
    status: Option<Status>,
    /// Minimum span duration, e.g. 10ms, 1s, 500us.
    #[arg(long, value_name = "DURATION")]
    min_duration: Option<String>,
    /// Attribute equality, KEY=VALUE; repeatable (all must hold).
    #[arg(long, value_name = "KEY=VALUE")]
    attr: Vec<String>,
    /// Order of the traces listed.
    #[arg(long, value_enum, default_value = "recent")]
    sort: Sort,
    /// At most this many traces.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Span status, as the filter takes it.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Status {
    Unset,
    Ok,
    Error,
}

/// Orders, as the flag takes them.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Sort {
    /// Latest start first.
    Recent,
    /// Earliest start first.
    Oldest,
    /// Longest root duration first.
    Longest,
    /// Shortest root duration first.
    Shortest,
    /// Most spans first.
    MostSpans,
}

#[derive(Serialize)]
struct Output {
    skipped: u64,
    traces: Vec<TraceSummary>,
}

/// Runs `ringside search`.
pub fn run(args: SearchArgs) -> anyhow::Result<ExitCode> {
    let attrs = args
        .attr
        .iter()
        .map(|a| {
            a.split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| BadInput(format!("--attr {a:?}: expected KEY=VALUE")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let min_duration_ns = args
        .min_duration
        .as_deref()
        .map(|d| parse_duration(d).map_err(|e| BadInput(format!("--min-duration: {e}"))))
        .transpose()?;
    let filter = SpanFilter {
        service: args.service.clone(),
        name: args.name.clone(),
        status: args.status.map(|s| match s {
            Status::Unset => StatusCode::Unset,
            Status::Ok => StatusCode::Ok,
            Status::Error => StatusCode::Error,
        }),
        min_duration_ns,
        attrs,
    };
    let sort = match args.sort {
        Sort::Recent => SortBy::Recent,
        Sort::Oldest => SortBy::Oldest,
        Sort::Longest => SortBy::Longest,
        Sort::Shortest => SortBy::Shortest,
        Sort::MostSpans => SortBy::MostSpans,
    };
    let mut query = args.window.query()?;
    let input = args.input.open()?;
    let mut skipped = Skipped::default();
    if !filter.is_empty() {
        // First the traces with a matching span (filters in SQL), then
        // their spans in the window, one trace at a time.
        let (ids, s) = input
            .traces_matching(&query, &filter)
            .map_err(common::load_error)?;
        skipped = s;
        query.within_traces = Some(ids);
    }
    let mut top = TopTraces::new(sort, args.limit);
    let s = if filter.is_empty() && matches!(sort, SortBy::Recent | SortBy::Oldest) {
        // The answer is at one end of the window: read from that end until
        // no trace further in can rank.
        input.for_each_trace_from_end(&query, sort == SortBy::Recent, &mut |bound, spans| {
            if top.settled(bound) {
                return ControlFlow::Break(());
            }
            if let Some(t) = TraceSummary::of(&Trace::new(spans)) {
                top.offer(t);
            }
            ControlFlow::Continue(())
        })
    } else {
        input.for_each_trace(&query, &mut |spans| {
            if let Some(t) = TraceSummary::of(&Trace::new(spans)) {
                top.offer(t);
            }
        })
    }
    .map_err(common::load_error)?;
    // The matching pass reads the same rows again: count bad ones once.
    if skipped.count == 0 {
        skipped = s;
    }
    common::warn_skipped(&skipped);
    let found = top.finish();
    let code = if found.is_empty() {
        ExitCode::from(exit::NOT_FOUND)
    } else {
        ExitCode::from(exit::OK)
    };
    if args.json {
        common::print_json(&Output {
            skipped: skipped.count,
            traces: found,
        })?;
        return Ok(code);
    }
    if found.is_empty() {
        eprintln!("ringside: no trace matches");
        return Ok(code);
    }
    let rows: Vec<Vec<String>> = found
        .iter()
        .map(|t| {
            vec![
                t.trace_id.to_string(),
                fmt_time(t.start_ns),
                fmt_ns(t.duration_ns),
                t.spans.to_string(),
                if t.errors > 0 {
                    format!("{} errors", t.errors)
                } else {
                    String::new()
                },
                t.root_service.to_string(),
                if t.root_missing {
                    format!("{} (root missing)", t.root_name)
                } else {
                    t.root_name.to_string()
                },
            ]
        })
        .collect();
    common::print_table(
        &[
            "trace", "start", "duration", "spans", "errors", "service", "root",
        ],
        &rows,
        &[2, 3],
    );
    Ok(code)
}
