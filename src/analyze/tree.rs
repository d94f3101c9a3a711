//! One trace as a tree: parents and children, the root, orphans (spans whose
//! parent is missing), self time and clock skew.

use std::collections::HashMap;

use super::model::{SpanId, SpanRow, TraceId};

/// The spans of one trace, linked into a tree.
#[derive(Debug, Clone)]
pub struct Trace {
    /// The spans, duplicates removed. Indexes below point into this.
    pub spans: Vec<SpanRow>,
    /// Parent of each span, `None` for roots and orphans.
    pub parent: Vec<Option<usize>>,
    /// Children of each span, by start time.
    pub children: Vec<Vec<usize>>,
    /// Tops of the tree: spans without a parent id, then orphans, by start time.
    pub tops: Vec<usize>,
    /// The span whose end-to-end latency the trace reports: the longest span
    /// without a parent id, or if there is none (the root was lost) the longest
    /// orphan. `None` only for an empty trace.
    pub root: Option<usize>,
    /// Spans dropped because another span of the trace had the same id.
    pub duplicates: usize,
}

impl Trace {
    /// Links `spans` (all of one trace) into a tree. Spans with a parent id
    /// that is not in the trace become orphans; a loop of parent ids (which
    /// only corrupt input has) is cut at its earliest span, which becomes an
    /// orphan too.
    pub fn new(mut spans: Vec<SpanRow>) -> Trace {
        spans.sort_by_key(|s| (s.start_ns, s.span_id));
        // foldhash: span ids come from the store or files, not from a peer
        // choosing them to collide, and this is a lookup per span.
        let mut index: HashMap<SpanId, usize, foldhash::fast::RandomState> =
            HashMap::with_capacity_and_hasher(spans.len(), Default::default());
        let before = spans.len();
        spans.retain(|s| {
            let next = index.len();
            match index.entry(s.span_id) {
                std::collections::hash_map::Entry::Occupied(_) => false,
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(next);
                    true
                }
            }
        });
        let duplicates = before - spans.len();
        let n = spans.len();
        let mut parent: Vec<Option<usize>> = spans
            .iter()
            .map(|s| {
                s.parent_span_id
                    .filter(|p| *p != s.span_id)
                    .and_then(|p| index.get(&p).copied())
            })
            .collect();
        let mut children = vec![Vec::new(); n];
        for (i, p) in parent.iter().enumerate() {
            if let Some(p) = p {
                children[*p].push(i);
            }
        }
        // Everything reachable from a span without a parent is in the tree;
        // what is left hangs in a loop of parent ids. Cut each loop at its
        // earliest span (indexes are in start order).
        let mut reached = vec![false; n];
        let mut stack: Vec<usize> = (0..n).filter(|&i| parent[i].is_none()).collect();
        let mut next_unreached = 0;
        loop {
            while let Some(i) = stack.pop() {
                if !std::mem::replace(&mut reached[i], true) {
                    stack.extend(children[i].iter().copied());
                }
            }
            while next_unreached < n && reached[next_unreached] {
                next_unreached += 1;
            }
            if next_unreached == n {
                break;
            }
            let cut = next_unreached;
            if let Some(p) = parent[cut].take() {
                children[p].retain(|&c| c != cut);
            }
            stack.push(cut);
        }
        let tops: Vec<usize> = (0..n).filter(|&i| parent[i].is_none()).collect();
        let longest = |candidates: &mut dyn Iterator<Item = usize>| {
            candidates.max_by_key(|&i| (spans[i].duration_ns(), std::cmp::Reverse(i)))
        };
        let root = longest(
            &mut tops
                .iter()
                .copied()
                .filter(|&i| spans[i].parent_span_id.is_none()),
        )
        .or_else(|| longest(&mut tops.iter().copied()));
        Trace {
            spans,
            parent,
            children,
            tops,
            root,
            duplicates,
        }
    }

    /// The trace id (of the first span; all spans share it).
    pub fn trace_id(&self) -> Option<TraceId> {
        self.spans.first().map(|s| s.trace_id)
    }

    /// True when span `i` has a parent id whose span is not in the trace.
    pub fn is_orphan(&self, i: usize) -> bool {
        self.parent[i].is_none() && self.spans[i].parent_span_id.is_some()
    }

    /// Spans in tree order (each followed by its subtree, children by start
    /// time), from every top, with their depth.
    pub fn depth_first(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::with_capacity(self.spans.len());
        let mut stack: Vec<(usize, usize)> = Vec::new();
        let mut tops = self.tops.clone();
        // The main root first, then the other tops by start time.
        if let Some(r) = self.root {
            tops.retain(|&t| t != r);
            tops.insert(0, r);
        }
        for &top in &tops {
            stack.push((top, 0));
            while let Some((i, depth)) = stack.pop() {
                out.push((i, depth));
                stack.extend(self.children[i].iter().rev().map(|&c| (c, depth + 1)));
            }
        }
        out
    }

    /// Span `i`'s own time: its duration minus the time covered by at least
    /// one of its children (clipped to the span).
    pub fn self_time_ns(&self, i: usize) -> u64 {
        let s = &self.spans[i];
        let mut covered = 0;
        let mut reach = s.start_ns;
        // Children are in start order, so one sweep merges their intervals.
        for &c in &self.children[i] {
            let (start, end) = clip(&self.spans[c], s.start_ns, s.end_ns);
            if end <= start {
                continue;
            }
            let start = start.max(reach);
            if end > start {
                covered += end - start;
                reach = end;
            }
        }
        s.duration_ns().saturating_sub(covered)
    }

    /// How long before its parent span `i` starts, if it does: between hosts
    /// that means their clocks disagree (a child cannot start before the call
    /// that caused it).
    pub fn skew_ns(&self, i: usize) -> Option<u64> {
        let p = self.parent[i]?;
        let (child, parent) = (&self.spans[i], &self.spans[p]);
        (child.start_ns < parent.start_ns).then(|| parent.start_ns - child.start_ns)
    }

    /// Groups spans of many traces into traces, in no particular order.
    pub fn group(spans: Vec<SpanRow>) -> Vec<Trace> {
        let mut by_trace: HashMap<TraceId, Vec<SpanRow>> = HashMap::new();
        for s in spans {
            by_trace.entry(s.trace_id).or_default().push(s);
        }
        by_trace.into_values().map(Trace::new).collect()
    }
}

/// `span`'s interval clipped to `[lo, hi]` (empty intervals come back with
/// `end <= start`).
pub fn clip(span: &SpanRow, lo: u64, hi: u64) -> (u64, u64) {
    let hi = hi.max(lo);
    (span.start_ns.clamp(lo, hi), span.end_ns.clamp(lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::testing::span;

    #[test]
    fn orphans_skew_self_time_and_duplicates() {
        let t = Trace::new(vec![
            span(1, None, 100, 200),
            span(2, Some(1), 90, 150),  // starts before its parent: skew
            span(3, Some(1), 140, 180), // overlaps 2
            span(4, Some(9), 120, 130), // parent 9 missing: orphan
            span(3, Some(1), 140, 180), // duplicate id
        ]);
        assert_eq!(t.duplicates, 1);
        assert_eq!(t.spans.len(), 4);
        let idx = |id: u8| t.spans.iter().position(|s| s.span_id.0[0] == id).unwrap();
        assert_eq!(t.root, Some(idx(1)));
        assert!(t.is_orphan(idx(4)) && !t.is_orphan(idx(2)));
        assert_eq!(t.skew_ns(idx(2)), Some(10));
        assert_eq!(t.skew_ns(idx(3)), None);
        // Children cover [100, 180] of [100, 200] once clipped and merged.
        assert_eq!(t.self_time_ns(idx(1)), 20);
        let order: Vec<u8> = t
            .depth_first()
            .iter()
            .map(|&(i, _)| t.spans[i].span_id.0[0])
            .collect();
        assert_eq!(order, [1, 2, 3, 4]);
    }

    #[test]
    fn a_loop_of_parent_ids_is_cut_not_followed_forever() {
        let t = Trace::new(vec![span(1, Some(2), 0, 10), span(2, Some(1), 5, 8)]);
        assert_eq!(t.depth_first().len(), 2);
        assert!(t.root.is_some());
    }
}
