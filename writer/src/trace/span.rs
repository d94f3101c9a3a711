//! A span under construction: its record lives in a pool node (see
//! [`super::pool`]) until it ends, when it is copied into the ring in one go
//! and the node goes back to the pool. Nothing here locks or makes a system
//! call, and nothing allocates once the thread's pool holds a node.

use std::ptr::NonNull;

use super::context::{self, ContextGuard, SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use super::pool::{self, Node};
use super::propagation::child_flags;
use super::ring_handle::RingHandle;
use crate::clock;
use crate::record::{Record, SpanKind, StatusCode, Value};

/// An operation being timed. Ends when dropped, or explicitly with
/// [`Span::end`]; either way exactly once.
#[must_use = "a span ends (and is timed) when it is dropped"]
pub struct Span<'t> {
    tracer: &'t RingHandle,
    /// The record's node, owned by this span until it ends; `None` once
    /// ended, or when the pool had none to give (a signal handler that
    /// interrupted the pool on its own thread): such a span is counted lost
    /// and has an invalid context.
    node: Option<NonNull<Node>>,
    trace_state: TraceState,
}

// SAFETY: the node is owned by the span alone (taken from the pool, given
// back once when the span ends) and the pool takes nodes back on any thread;
// `&Span` only reads the record.
unsafe impl Send for Span<'_> {}
// SAFETY: as above.
unsafe impl Sync for Span<'_> {}

impl<'t> Span<'t> {
    /// Starts a span now, as a child of `parent` (or a new trace).
    ///
    /// The record is built in a pool node and the `Span` is a handle on it,
    /// so starting a span neither zeroes a record nor moves one (a `Span`
    /// that held its record was 280 bytes, zeroed, then copied into the
    /// caller's variable: a fifth of a span's cost).
    #[inline(always)]
    pub(crate) fn start(
        tracer: &'t RingHandle,
        name: &str,
        parent: Option<SpanContext>,
    ) -> Span<'t> {
        let mut parent = parent.filter(SpanContext::is_valid);
        let trace_state = parent
            .as_mut()
            .map_or(TraceState::EMPTY, |p| std::mem::take(&mut p.trace_state));
        let node = pool::take();
        match node {
            Some(n) => {
                // SAFETY: the node is ours from `take` (the span owns it next).
                let rec = unsafe { &mut (*n.as_ptr()).rec };
                begin_record(rec, name, parent.as_ref());
                rec.set_trace_state(trace_state.as_str());
            }
            None => tracer.count_lost(),
        }
        Span {
            tracer,
            node,
            trace_state,
        }
    }

    /// The record, while the span owns one.
    #[inline(always)]
    fn rec(&self) -> Option<&Record> {
        // SAFETY: the span owns the node (see `node`).
        self.node.map(|n| unsafe { &(*n.as_ptr()).rec })
    }

    /// Applies `f` to the record, if the span has one; for the setters.
    #[inline(always)]
    fn edit(&mut self, f: impl FnOnce(&mut Record)) -> &mut Self {
        if let Some(n) = self.node {
            // SAFETY: the span owns the node (see `node`); `&mut self` is the
            // only way to it.
            f(unsafe { &mut (*n.as_ptr()).rec });
        }
        self
    }

    /// Sets the kind (default [`SpanKind::Internal`]).
    #[inline]
    pub fn set_kind(&mut self, kind: SpanKind) -> &mut Self {
        self.edit(|rec| rec.kind = kind as u8)
    }

    /// Adds an attribute. If the record is full, the attribute is dropped and
    /// counted; a long string value is cut at a character boundary and marked.
    #[inline]
    pub fn set_attr<'v>(&mut self, key: &str, value: impl Into<Value<'v>>) -> &mut Self {
        self.edit(|rec| rec.push_attr(key, value.into()))
    }

    /// Adds an event that happened now, with its attributes.
    pub fn add_event(&mut self, name: &str, attrs: &[(&str, Value<'_>)]) -> &mut Self {
        self.edit(|rec| rec.push_event(clock::now(), name, attrs))
    }

    /// Adds a link to another span (for example the request that queued this work).
    pub fn add_link(&mut self, to: &SpanContext, attrs: &[(&str, Value<'_>)]) -> &mut Self {
        self.edit(|rec| rec.push_link(to.trace_id.0, to.span_id.0, to.flags.0, attrs))
    }

    /// Sets the status. The message is kept for [`StatusCode::Error`] only.
    pub fn set_status(&mut self, code: StatusCode, message: &str) -> &mut Self {
        self.edit(|rec| rec.set_status(code, message))
    }

    /// Marks the span failed: status error with `message`, and the attribute
    /// `error.type` (a low-cardinality class such as `timeout` or `EIO`).
    pub fn record_error(&mut self, error_type: &str, message: &str) -> &mut Self {
        self.edit(|rec| {
            rec.push_attr("error.type", Value::Str(error_type));
            rec.set_status(StatusCode::Error, message);
        })
    }

    /// This span's context, to pass to children explicitly or to inject into an
    /// outgoing request.
    pub fn context(&self) -> SpanContext {
        SpanContext {
            trace_id: self.trace_id(),
            span_id: self.span_id(),
            flags: TraceFlags(self.rec().map_or(0, |r| r.trace_flags)),
            is_remote: false,
            trace_state: self.trace_state.clone(),
        }
    }

    /// Trace id of this span (invalid, all zero, for a span that has no
    /// record: see [`Tracer::lost`](super::Tracer::lost)).
    pub fn trace_id(&self) -> TraceId {
        TraceId(self.rec().map_or([0; 16], |r| r.trace_id))
    }

    /// Id of this span (invalid, all zero, for a span that has no record).
    pub fn span_id(&self) -> SpanId {
        SpanId(self.rec().map_or([0; 8], |r| r.span_id))
    }

    /// True if the span will be written: the tracer is enabled and the span
    /// has a record (see [`Tracer::lost`](super::Tracer::lost)).
    pub fn is_recording(&self) -> bool {
        self.tracer.enabled() && self.node.is_some()
    }

    /// Makes this span the thread's current span, so that `Tracer::span` makes
    /// children of it, until the guard is dropped.
    pub fn enter(&self) -> ContextGuard {
        context::attach(self.context())
    }

    /// Ends the span now.
    #[inline]
    pub fn end(mut self) {
        self.finish();
    }

    /// Ends the span at an explicit tick count (from [`crate::clock::now`]).
    pub fn end_at(mut self, ticks: u64) {
        self.finish_at(ticks);
    }

    #[inline(always)]
    fn finish(&mut self) {
        if self.node.is_some() {
            self.finish_at(clock::now());
        }
    }

    #[inline(always)]
    fn finish_at(&mut self, ticks: u64) {
        if let Some(node) = self.node.take() {
            // SAFETY: the span owned the node until the `take` above; now this
            // function does, until it gives it back.
            let rec = unsafe { &mut (*node.as_ptr()).rec };
            rec.end = ticks;
            // A full ring has already counted the drop; nothing else to do.
            let _ = self.tracer.submit(rec);
            // SAFETY: owned here (above) and not used after.
            unsafe { pool::give_back(node) };
        }
    }
}

/// Makes `rec` the record of a span starting now, in place: new span id, the
/// parent's trace id and flags (or a new trace), kind internal. The caller adds
/// the trace state.
/// Shared by [`Span`] and the C ABI, whose spans live in caller memory.
#[inline(always)]
pub(crate) fn begin_record(rec: &mut Record, name: &str, parent: Option<&SpanContext>) {
    let parent = parent.filter(|p| p.is_valid());
    rec.reset(name);
    rec.span_id = SpanId::random().0;
    rec.trace_flags = child_flags(parent).0;
    match parent {
        Some(p) => {
            rec.trace_id = p.trace_id.0;
            rec.parent_span_id = p.span_id.0;
            if p.is_remote {
                rec.flags |= Record::FLAG_PARENT_REMOTE;
            }
        }
        None => rec.trace_id = TraceId::random().0,
    }
    rec.kind = SpanKind::Internal as u8;
    rec.start = clock::now();
}

impl Drop for Span<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.finish();
    }
}

impl std::fmt::Debug for Span<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Span")
            .field("trace_id", &self.trace_id())
            .field("span_id", &self.span_id())
            .field("has_record", &self.node.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Tracer, pool};
    use crate::record::{Record, RecordView};
    use crate::ring::Consumer;

    fn written(tracer: &Tracer) -> Vec<Record> {
        let mut consumer = Consumer::open(&tracer.ring_path().unwrap()).unwrap();
        let mut out = Vec::new();
        consumer.read(64, &mut out);
        out
    }

    #[test]
    fn a_span_that_gets_no_record_is_counted_lost_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let tracer = Tracer::builder("lost").dir(dir.path()).build();
        tracer.open().unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                pool::set_busy(true);
                let mut span = tracer.span("in.a.signal.handler");
                span.set_attr("k", "v");
                assert!(!span.is_recording());
                assert!(!span.context().is_valid(), "no ids to give children");
                span.end();
                pool::set_busy(false);
                tracer.span("after").end();
            });
        });
        assert_eq!(tracer.lost(), 1);
        let recs = written(&tracer);
        assert_eq!(recs.len(), 1);
        assert_eq!(RecordView::new(&recs[0]).unwrap().name(), "after");
    }

    #[test]
    fn a_span_ended_on_another_thread_is_written_once_whole() {
        let dir = tempfile::tempdir().unwrap();
        let tracer = Tracer::builder("moved").dir(dir.path()).build();
        let mut span = tracer.span("started.here");
        span.set_attr("where", "here");
        let id = span.span_id();
        std::thread::scope(|s| {
            s.spawn(move || {
                span.set_attr("ended", "there");
                drop(span);
            });
        });
        let recs = written(&tracer);
        assert_eq!(recs.len(), 1);
        let v = RecordView::new(&recs[0]).unwrap();
        assert_eq!((v.name(), recs[0].span_id), ("started.here", id.0));
        let keys: Vec<_> = v.attrs().map(|a| a.key).collect();
        assert_eq!(keys, ["where", "ended"]);
        assert_eq!(tracer.lost(), 0);
    }
}
