//! One trace laid out for display: spans in tree order with their offsets,
//! self time, critical-path time and warnings.

use serde::Serialize;

use super::critical_path::CriticalPath;
use super::model::SpanRow;
use super::tree::Trace;

/// One span of a trace, placed.
#[derive(Clone, Debug, Serialize)]
pub struct Row<'a> {
    /// Depth in the tree (tops are 0).
    pub depth: usize,
    /// The span.
    #[serde(flatten)]
    pub span: &'a SpanRow,
    /// Start relative to the root's start, ns (negative: before it).
    pub offset_ns: i64,
    /// Duration, ns.
    pub duration_ns: u64,
    /// Duration not covered by children, ns.
    pub self_ns: u64,
    /// Time this span contributed to the critical path, ns.
    pub critical_ns: u64,
    /// On the critical path (a segment of its own or of a descendant).
    pub critical: bool,
    /// Its parent id names a span missing from the trace.
    pub orphan: bool,
    /// Starts this long before its parent: the hosts' clocks disagree.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skew_ns: Option<u64>,
    /// Ends this long after its parent ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outlives_parent_ns: Option<u64>,
}

/// The rows of `trace` in tree order (main root first), with `path` marked.
pub fn rows<'a>(trace: &'a Trace, path: Option<&CriticalPath>) -> Vec<Row<'a>> {
    let base = trace.root.map(|r| trace.spans[r].start_ns).unwrap_or(0);
    let per_span = path.map(|p| p.per_span(trace.spans.len()));
    let on = path.map(|p| p.on_path(trace));
    trace
        .depth_first()
        .into_iter()
        .map(|(i, depth)| {
            let span = &trace.spans[i];
            let outlives = trace.parent[i].and_then(|p| {
                let parent_end = trace.spans[p].end_ns;
                (span.end_ns > parent_end).then(|| span.end_ns - parent_end)
            });
            Row {
                depth,
                span,
                offset_ns: (i128::from(span.start_ns) - i128::from(base))
                    .clamp(i128::from(i64::MIN), i128::from(i64::MAX))
                    as i64,
                duration_ns: span.duration_ns(),
                self_ns: trace.self_time_ns(i),
                critical_ns: per_span.as_ref().map_or(0, |p| p[i]),
                critical: on.as_ref().is_some_and(|o| o[i]),
                orphan: trace.is_orphan(i),
                skew_ns: trace.skew_ns(i),
                outlives_parent_ns: outlives,
            }
        })
        .collect()
}
