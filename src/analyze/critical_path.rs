//! The critical path: the chain of work that determined a trace's end-to-end
//! latency.
//!
//! Walk back from the root's end. At each point, the span's child whose end is
//! the latest at or before that point is what the span was waiting for: the
//! time between that child's end and the point is the span's own, the child's
//! interval is explained (recursively) by the child, and the walk continues
//! from the child's start. Children ending after the point overlapped a child
//! already chosen and are not on the path. Time covered by no child is the
//! span's own.
//!
//! Children are first clipped to their parent's interval: a child that starts
//! before its parent (clock skew) counts from the parent's start, and a child
//! that outlives its parent counts up to the parent's end — the parent's end
//! cannot have waited for more of it (this is also what Jaeger does). A child
//! entirely outside its parent is not on the path. So the segments tile the
//! root's interval exactly: they never overlap and always sum to its duration.
//! Orphans are not descendants of the root and are never on its path.

use super::tree::{Trace, clip};

/// One piece of the critical path: span `span` was the reason the trace was
/// not done yet during `[start_ns, end_ns)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Index of the span in [`Trace::spans`].
    pub span: usize,
    /// Start, Unix ns.
    pub start_ns: u64,
    /// End, Unix ns.
    pub end_ns: u64,
}

impl Segment {
    /// Length in ns.
    pub fn duration_ns(&self) -> u64 {
        self.end_ns - self.start_ns
    }
}

/// The critical path of a trace's root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CriticalPath {
    /// Index of the root span.
    pub root: usize,
    /// Segments in time order, contiguous from the root's start to its end.
    pub segments: Vec<Segment>,
}

/// One level of the walk: a span, the window it explains, and how far back
/// from the window's end the walk has come.
struct Frame {
    span: usize,
    lo: u64,
    point: u64,
    /// Clipped children `(start, end, index)`, latest end first.
    children: Vec<(u64, u64, usize)>,
    next: usize,
}

impl Frame {
    fn new(trace: &Trace, span: usize, lo: u64, hi: u64) -> Frame {
        let mut children: Vec<(u64, u64, usize)> = trace.children[span]
            .iter()
            .map(|&c| {
                let (s, e) = clip(&trace.spans[c], lo, hi);
                (s, e, c)
            })
            .filter(|&(s, e, _)| e > s)
            .collect();
        // Latest end first; on a tie the earlier start (the longer child),
        // then the lower index, so the result does not depend on input order.
        children.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)).then(a.2.cmp(&b.2)));
        Frame {
            span,
            lo,
            point: hi,
            children,
            next: 0,
        }
    }
}

impl CriticalPath {
    /// The critical path of `trace`'s root; `None` for an empty trace.
    pub fn of(trace: &Trace) -> Option<CriticalPath> {
        let root = trace.root?;
        let r = &trace.spans[root];
        let mut rev = Vec::new();
        // An explicit stack, not recursion: a trace from a file may be
        // arbitrarily deep.
        let mut stack = vec![Frame::new(
            trace,
            root,
            r.start_ns,
            r.end_ns.max(r.start_ns),
        )];
        while let Some(top) = stack.last_mut() {
            if top.point <= top.lo {
                stack.pop();
                continue;
            }
            while top.next < top.children.len() && top.children[top.next].1 > top.point {
                top.next += 1;
            }
            let Some(&(start, end, child)) = top.children.get(top.next) else {
                rev.push(Segment {
                    span: top.span,
                    start_ns: top.lo,
                    end_ns: top.point,
                });
                stack.pop();
                continue;
            };
            top.next += 1;
            if end < top.point {
                rev.push(Segment {
                    span: top.span,
                    start_ns: end,
                    end_ns: top.point,
                });
            }
            top.point = start;
            stack.push(Frame::new(trace, child, start, end));
        }
        rev.reverse();
        Some(CriticalPath {
            root,
            segments: rev,
        })
    }

    /// Sum of the segments: the root's duration.
    pub fn total_ns(&self) -> u64 {
        self.segments.iter().map(Segment::duration_ns).sum()
    }

    /// Time each span contributed, indexed like [`Trace::spans`] (zero for
    /// spans off the path).
    pub fn per_span(&self, spans: usize) -> Vec<u64> {
        let mut out = vec![0; spans];
        for s in &self.segments {
            out[s.span] += s.duration_ns();
        }
        out
    }

    /// Which spans have a segment on the path (a child that sits on the path
    /// but whose whole time is explained by its own children is included: it
    /// has no segment, so it is found through its descendants).
    pub fn on_path(&self, trace: &Trace) -> Vec<bool> {
        let mut on = vec![false; trace.spans.len()];
        for s in &self.segments {
            let mut i = Some(s.span);
            while let Some(x) = i {
                if std::mem::replace(&mut on[x], true) {
                    break;
                }
                i = trace.parent[x];
            }
        }
        on
    }
}

#[cfg(test)]
mod tests;
