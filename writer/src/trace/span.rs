//! A span under construction: its record lives inside the `Span` value (on the
//! caller's stack) until it ends, when it is copied into the ring in one go.
//! Nothing here allocates, locks or makes a system call.

use bytemuck::Zeroable;

use super::context::{self, ContextGuard, SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use super::propagation::child_flags;
use super::ring_handle::RingHandle;
use crate::clock;
use crate::record::{Record, SpanKind, StatusCode, Value};

/// An operation being timed. Ends when dropped, or explicitly with
/// [`Span::end`]; either way exactly once.
#[must_use = "a span ends (and is timed) when it is dropped"]
pub struct Span<'t> {
    tracer: &'t RingHandle,
    rec: Record,
    trace_state: TraceState,
    ended: bool,
}

impl<'t> Span<'t> {
    /// Starts a span now, as a child of `parent` (or a new trace).
    ///
    /// The record is built inside the span, not built apart and moved in (a
    /// `Span` is 280 bytes and each move is a copy). One move remains: the
    /// returned span into the caller's variable, which rustc does not build
    /// in place through this call chain.
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
        let mut span = Span {
            tracer,
            rec: Record::zeroed(),
            trace_state,
            ended: false,
        };
        begin_record(&mut span.rec, name, parent.as_ref());
        span.rec.set_trace_state(span.trace_state.as_str());
        span
    }

    /// Sets the kind (default [`SpanKind::Internal`]).
    #[inline]
    pub fn set_kind(&mut self, kind: SpanKind) -> &mut Self {
        self.rec.kind = kind as u8;
        self
    }

    /// Adds an attribute. If the record is full, the attribute is dropped and
    /// counted; a long string value is cut at a character boundary and marked.
    #[inline]
    pub fn set_attr<'v>(&mut self, key: &str, value: impl Into<Value<'v>>) -> &mut Self {
        self.rec.push_attr(key, value.into());
        self
    }

    /// Adds an event that happened now, with its attributes.
    pub fn add_event(&mut self, name: &str, attrs: &[(&str, Value<'_>)]) -> &mut Self {
        self.rec.push_event(clock::now(), name, attrs);
        self
    }

    /// Adds a link to another span (for example the request that queued this work).
    pub fn add_link(&mut self, to: &SpanContext, attrs: &[(&str, Value<'_>)]) -> &mut Self {
        self.rec
            .push_link(to.trace_id.0, to.span_id.0, to.flags.0, attrs);
        self
    }

    /// Sets the status. The message is kept for [`StatusCode::Error`] only.
    pub fn set_status(&mut self, code: StatusCode, message: &str) -> &mut Self {
        self.rec.set_status(code, message);
        self
    }

    /// Marks the span failed: status error with `message`, and the attribute
    /// `error.type` (a low-cardinality class such as `timeout` or `EIO`).
    pub fn record_error(&mut self, error_type: &str, message: &str) -> &mut Self {
        self.rec.push_attr("error.type", Value::Str(error_type));
        self.rec.set_status(StatusCode::Error, message);
        self
    }

    /// This span's context, to pass to children explicitly or to inject into an
    /// outgoing request.
    pub fn context(&self) -> SpanContext {
        SpanContext {
            trace_id: TraceId(self.rec.trace_id),
            span_id: SpanId(self.rec.span_id),
            flags: TraceFlags(self.rec.trace_flags),
            is_remote: false,
            trace_state: self.trace_state.clone(),
        }
    }

    /// Trace id of this span.
    pub fn trace_id(&self) -> TraceId {
        TraceId(self.rec.trace_id)
    }

    /// Id of this span.
    pub fn span_id(&self) -> SpanId {
        SpanId(self.rec.span_id)
    }

    /// True if the span will be written (the tracer is enabled).
    pub fn is_recording(&self) -> bool {
        self.tracer.enabled()
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
        self.rec.end = ticks;
        self.ended = true;
        let _ = self.tracer.submit(&self.rec);
    }

    #[inline(always)]
    fn finish(&mut self) {
        if !self.ended {
            self.ended = true;
            self.rec.end = clock::now();
            // A full ring has already counted the drop; nothing else to do.
            let _ = self.tracer.submit(&self.rec);
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
            .field("ended", &self.ended)
            .finish()
    }
}
