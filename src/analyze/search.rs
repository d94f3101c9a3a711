//! Finding traces: a trace is listed when one of its spans matches every
//! filter given (as in Jaeger's search).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use serde::Serialize;

use super::model::{SpanRow, StatusCode, TraceId, serialize_display};
use super::tree::Trace;

/// Span filters; all given ones must hold for the same span.
#[derive(Clone, Debug, Default)]
pub struct SpanFilter {
    /// Service name, exact.
    pub service: Option<String>,
    /// Span name, exact.
    pub name: Option<String>,
    /// Status.
    pub status: Option<StatusCode>,
    /// Minimum span duration, ns.
    pub min_duration_ns: Option<u64>,
    /// Attributes that must equal these texts (see [`super::model::AttrValue`]'s
    /// `Display`).
    pub attrs: Vec<(String, String)>,
}

impl SpanFilter {
    /// True when `span` passes every filter.
    pub fn matches(&self, span: &SpanRow) -> bool {
        self.service.as_deref().is_none_or(|s| *span.service == *s)
            && self.name.as_deref().is_none_or(|n| *span.name == *n)
            && self.status.is_none_or(|st| span.status == st)
            && self.min_duration_ns.is_none_or(|d| span.duration_ns() >= d)
            && self.attrs.iter().all(|(k, v)| {
                span.attributes
                    .iter()
                    .any(|(key, value)| key == k && value.to_string() == *v)
            })
    }

    /// True when no filter is given (every span matches).
    pub fn is_empty(&self) -> bool {
        self.service.is_none()
            && self.name.is_none()
            && self.status.is_none()
            && self.min_duration_ns.is_none()
            && self.attrs.is_empty()
    }

    /// Attribute keys the filter needs loaded.
    pub fn attr_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.attrs.iter().map(|(k, _)| k.clone()).collect();
        keys.sort();
        keys.dedup();
        keys
    }
}

/// How to order the traces found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortBy {
    /// Latest start first.
    #[default]
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

/// One trace found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TraceSummary {
    /// Trace id.
    #[serde(serialize_with = "serialize_display")]
    pub trace_id: TraceId,
    /// Service of the root span.
    pub root_service: Arc<str>,
    /// Name of the root span.
    pub root_name: Arc<str>,
    /// True when the root span was lost and an orphan stands in for it.
    pub root_missing: bool,
    /// Root start, Unix ns.
    pub start_ns: u64,
    /// Root duration, ns.
    pub duration_ns: u64,
    /// Spans in the trace.
    pub spans: usize,
    /// Spans with status error.
    pub errors: usize,
    /// Distinct services.
    pub services: usize,
}

impl TraceSummary {
    /// Summarizes a trace; `None` if it has no spans.
    pub fn of(trace: &Trace) -> Option<TraceSummary> {
        let root = &trace.spans[trace.root?];
        let mut services: Vec<&str> = trace.spans.iter().map(|s| &*s.service).collect();
        services.sort_unstable();
        services.dedup();
        Some(TraceSummary {
            trace_id: root.trace_id,
            root_service: root.service.clone(),
            root_name: root.name.clone(),
            root_missing: root.parent_span_id.is_some(),
            start_ns: root.start_ns,
            duration_ns: root.duration_ns(),
            spans: trace.spans.len(),
            errors: trace.spans.iter().filter(|s| s.is_error()).count(),
            services: services.len(),
        })
    }
}

/// The first `limit` traces in a [`SortBy`] order, kept while traces are
/// offered one at a time: memory for `2 · limit` summaries, whatever the
/// number offered.
#[derive(Debug)]
pub struct TopTraces {
    sort: SortBy,
    limit: usize,
    kept: Vec<TraceSummary>,
    /// For [`SortBy::Recent`] and [`SortBy::Oldest`]: the starts of the best
    /// `limit` traces offered, as [`TopTraces::rank_start`] maps them (larger
    /// is better), smallest on top: the last of the first `limit`.
    best_starts: BinaryHeap<Reverse<u64>>,
}

impl TopTraces {
    /// Keeps the first `limit` in `sort` order.
    pub fn new(sort: SortBy, limit: usize) -> TopTraces {
        TopTraces {
            sort,
            limit,
            kept: Vec::new(),
            best_starts: BinaryHeap::new(),
        }
    }

    /// A root start mapped so that larger ranks higher: itself for
    /// [`SortBy::Recent`], its complement for [`SortBy::Oldest`].
    fn rank_start(&self, start_ns: u64) -> u64 {
        match self.sort {
            SortBy::Oldest => u64::MAX - start_ns,
            _ => start_ns,
        }
    }

    /// True when the first `limit` are known whatever else is offered,
    /// provided every trace still to come has all its spans starting at or
    /// before `bound` ([`SortBy::Recent`]) or at or after it
    /// ([`SortBy::Oldest`]): the first `limit` are there and the last of
    /// them started after (before) `bound`. A trace ranks by its root's
    /// start, and its root is one of its spans. Always false for the other
    /// orders.
    pub fn settled(&self, bound: u64) -> bool {
        if !matches!(self.sort, SortBy::Recent | SortBy::Oldest) {
            return false;
        }
        if self.limit == 0 {
            return true;
        }
        self.best_starts.len() == self.limit
            && self
                .best_starts
                .peek()
                .is_some_and(|Reverse(last)| *last > self.rank_start(bound))
    }

    /// Offers one trace.
    pub fn offer(&mut self, t: TraceSummary) {
        if self.limit == 0 {
            return;
        }
        if matches!(self.sort, SortBy::Recent | SortBy::Oldest) {
            self.best_starts.push(Reverse(self.rank_start(t.start_ns)));
            if self.best_starts.len() > self.limit {
                self.best_starts.pop();
            }
        }
        self.kept.push(t);
        if self.kept.len() >= 2 * self.limit.max(512) {
            self.cut();
        }
    }

    fn cut(&mut self) {
        let key = |t: &TraceSummary| (t.start_ns, t.trace_id);
        // Every order ends with (start, trace id), so it is total: the first
        // `limit` do not depend on the order traces were offered in.
        match self.sort {
            SortBy::Recent => self.kept.sort_by_key(|t| std::cmp::Reverse(key(t))),
            SortBy::Oldest => self.kept.sort_by_key(key),
            SortBy::Longest => self
                .kept
                .sort_by(|a, b| b.duration_ns.cmp(&a.duration_ns).then(key(a).cmp(&key(b)))),
            SortBy::Shortest => self
                .kept
                .sort_by(|a, b| a.duration_ns.cmp(&b.duration_ns).then(key(a).cmp(&key(b)))),
            SortBy::MostSpans => self
                .kept
                .sort_by(|a, b| b.spans.cmp(&a.spans).then(key(a).cmp(&key(b)))),
        }
        self.kept.truncate(self.limit);
    }

    /// The first `limit`, in order.
    pub fn finish(mut self) -> Vec<TraceSummary> {
        self.cut();
        self.kept
    }
}

/// The traces among `traces` with a span matching `filter`, sorted, at most
/// `limit`.
pub fn search(
    traces: &[Trace],
    filter: &SpanFilter,
    sort: SortBy,
    limit: usize,
) -> Vec<TraceSummary> {
    let mut top = TopTraces::new(sort, limit);
    for t in traces
        .iter()
        .filter(|t| t.spans.iter().any(|s| filter.matches(s)))
        .filter_map(TraceSummary::of)
    {
        top.offer(t);
    }
    top.finish()
}
