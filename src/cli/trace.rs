//! `ringside trace <id>`: one trace as an indented tree.

use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use super::common::{self, InputArgs, outln};
use super::exit;
use ringside_agent::analyze::critical_path::CriticalPath;
use ringside_agent::analyze::input::{AttrSelection, SpanQuery};
use ringside_agent::analyze::model::{TraceId, serialize_display};
use ringside_agent::analyze::time::{fmt_ns, fmt_time};
use ringside_agent::analyze::tree::Trace;
use ringside_agent::analyze::view::{self, Row};

/// Attributes shown inline in the tree (the rest with `--all-attrs`).
const KEY_ATTRS: usize = 3;

/// Show one trace as a tree, critical path marked.
#[derive(Args, Debug)]
#[command(after_help = "\
Columns: `*` marks spans on the critical path; offset from the root's start;
duration; self time (not covered by children); status; service; name [kind];
key attributes. Orphans (parent missing) are listed after the tree, flagged
`orphan`; a child starting before its parent is flagged `skew` (the hosts'
clocks disagree).

Examples:
  ringside trace 4bf92f3577b34da6a3ce929d0e0e4736
  ringside trace 4bf92f3577b34da6a3ce929d0e0e4736 --jsonl spans.jsonl --json
  ringside trace 4bf92f3577b34da6a3ce929d0e0e4736 --store /var/lib/ringside/traces.db

Exit status: 0 found, 1 no such trace, 2 bad input.")]
pub struct TraceArgs {
    /// Trace id, 32 hex digits.
    pub trace_id: String,
    #[command(flatten)]
    input: InputArgs,
    /// Show every attribute, not only the first few.
    #[arg(long)]
    all_attrs: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Output<'a> {
    #[serde(serialize_with = "serialize_display")]
    trace_id: TraceId,
    duration_ns: u64,
    spans: usize,
    duplicates: usize,
    skipped: u64,
    rows: Vec<Row<'a>>,
}

/// Loads one trace (all attributes and details) and links it.
pub fn load_trace(input: &InputArgs, id: TraceId) -> anyhow::Result<(Trace, u64)> {
    let input = input.open()?;
    let loaded = common::load(
        &input,
        &SpanQuery {
            trace_ids: Some(vec![id]),
            attributes: AttrSelection::All,
            details: true,
            ..SpanQuery::default()
        },
    )?;
    Ok((Trace::new(loaded.spans), loaded.skipped.count))
}

/// Runs `ringside trace`.
pub fn run(args: TraceArgs) -> anyhow::Result<ExitCode> {
    let id = common::trace_id(&args.trace_id)?;
    let (trace, skipped) = load_trace(&args.input, id)?;
    if trace.spans.is_empty() {
        eprintln!("ringside: trace {id} not found");
        return Ok(ExitCode::from(exit::NOT_FOUND));
    }
    let path = CriticalPath::of(&trace);
    let rows = view::rows(&trace, path.as_ref());
    let duration_ns = path.as_ref().map_or(0, |p| p.total_ns());
    if args.json {
        common::print_json(&Output {
            trace_id: id,
            duration_ns,
            spans: trace.spans.len(),
            duplicates: trace.duplicates,
            skipped,
            rows,
        })?;
        return Ok(ExitCode::from(exit::OK));
    }
    let root = trace.root.map(|r| &trace.spans[r]);
    outln!(
        "trace {id}  {} spans  {}  started {}",
        trace.spans.len(),
        fmt_ns(duration_ns),
        root.map_or_else(String::new, |r| fmt_time(r.start_ns)),
    );
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut flags = Vec::new();
            if r.orphan {
                flags.push("orphan".to_string());
            }
            if let Some(s) = r.skew_ns {
                flags.push(format!("skew {}", fmt_ns(s)));
            }
            if let Some(o) = r.outlives_parent_ns {
                flags.push(format!("outlives parent by {}", fmt_ns(o)));
            }
            let take = if args.all_attrs {
                usize::MAX
            } else {
                KEY_ATTRS
            };
            let mut attrs: Vec<String> = r
                .span
                .attributes
                .iter()
                .take(take)
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            if r.span.attributes.len() > take {
                attrs.push("…".into());
            }
            if let Some(m) = &r.span.status_message {
                attrs.insert(0, format!("error={m:?}"));
            }
            let offset = if r.offset_ns < 0 {
                format!("-{}", fmt_ns(r.offset_ns.unsigned_abs()))
            } else {
                format!("+{}", fmt_ns(r.offset_ns as u64))
            };
            vec![
                if r.critical {
                    "*".into()
                } else {
                    String::new()
                },
                offset,
                fmt_ns(r.duration_ns),
                fmt_ns(r.self_ns),
                r.span.status.as_str().into(),
                r.span.service.to_string(),
                format!(
                    "{}{} [{}]",
                    "  ".repeat(r.depth),
                    r.span.name,
                    r.span.kind.as_str()
                ),
                flags.join(", "),
                attrs.join(" "),
            ]
        })
        .collect();
    common::print_table(
        &[
            "cp",
            "offset",
            "duration",
            "self",
            "status",
            "service",
            "name",
            "flags",
            "attributes",
        ],
        &table,
        &[1, 2, 3],
    );
    if trace.duplicates > 0 {
        outln!("({} duplicate spans ignored)", trace.duplicates);
    }
    Ok(ExitCode::from(exit::OK))
}
