//! `ringside critical-path <id>`: the chain of spans that set a trace's latency.

use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use super::common::{self, InputArgs, outln};
use super::exit;
use ringside_agent::analyze::critical_path::CriticalPath;
use ringside_agent::analyze::model::{SpanId, TraceId, serialize_display};
use ringside_agent::analyze::time::fmt_ns;

/// Show the critical path of one trace, segment by segment.
#[derive(Args, Debug)]
#[command(after_help = "\
The critical path: walk back from the root's end; at each point the span was
waiting for its child whose end is the latest at or before that point; time
covered by no child is the span's own. Children that outlive their parent are
clipped to it; orphans are never on the root's path. The segments tile the
root's interval, so they sum to its duration.

Examples:
  ringside critical-path 4bf92f3577b34da6a3ce929d0e0e4736
  ringside critical-path 4bf92f3577b34da6a3ce929d0e0e4736 --jsonl spans.jsonl --json

Exit status: 0 found, 1 no such trace, 2 bad input.")]
pub struct CriticalPathArgs {
    /// Trace id, 32 hex digits.
    pub trace_id: String,
    #[command(flatten)]
    input: InputArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Segment<'a> {
    #[serde(serialize_with = "serialize_display")]
    span_id: SpanId,
    service: &'a str,
    name: &'a str,
    /// Start relative to the root's start.
    offset_ns: u64,
    duration_ns: u64,
}

#[derive(Serialize)]
struct Output<'a> {
    #[serde(serialize_with = "serialize_display")]
    trace_id: TraceId,
    total_ns: u64,
    segments: Vec<Segment<'a>>,
}

/// Runs `ringside critical-path`.
pub fn run(args: CriticalPathArgs) -> anyhow::Result<ExitCode> {
    let id = common::trace_id(&args.trace_id)?;
    let (trace, _) = super::trace::load_trace(&args.input, id)?;
    let Some(path) = CriticalPath::of(&trace) else {
        eprintln!("ringside: trace {id} not found");
        return Ok(ExitCode::from(exit::NOT_FOUND));
    };
    let base = trace.spans[path.root].start_ns;
    let segments: Vec<Segment<'_>> = path
        .segments
        .iter()
        .map(|s| {
            let span = &trace.spans[s.span];
            Segment {
                span_id: span.span_id,
                service: &span.service,
                name: &span.name,
                offset_ns: s.start_ns - base,
                duration_ns: s.duration_ns(),
            }
        })
        .collect();
    let total_ns = path.total_ns();
    if args.json {
        common::print_json(&Output {
            trace_id: id,
            total_ns,
            segments,
        })?;
        return Ok(ExitCode::from(exit::OK));
    }
    outln!(
        "critical path of trace {id}: {} in {} segments",
        fmt_ns(total_ns),
        segments.len()
    );
    let rows: Vec<Vec<String>> = segments
        .iter()
        .map(|s| {
            vec![
                format!("+{}", fmt_ns(s.offset_ns)),
                fmt_ns(s.duration_ns),
                format!(
                    "{:.1}%",
                    100.0 * s.duration_ns as f64 / total_ns.max(1) as f64
                ),
                s.service.to_string(),
                s.name.to_string(),
                s.span_id.to_string(),
            ]
        })
        .collect();
    common::print_table(
        &["offset", "time", "share", "service", "name", "span"],
        &rows,
        &[0, 1, 2],
    );
    Ok(ExitCode::from(exit::OK))
}
