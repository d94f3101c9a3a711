//! Span context: trace flags, trace state, the context a span passes to its
//! children and across processes, and the thread's current span. The ids
//! themselves live in [`crate::id`].

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

pub(crate) use crate::id::parse_lower_hex;
pub use crate::id::{SpanId, TraceId, hex};

/// W3C trace flags (one byte).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TraceFlags(pub u8);

impl TraceFlags {
    /// Bit 0: the caller may have recorded this trace.
    pub const SAMPLED: u8 = 0x01;
    /// Bit 1 (Trace Context Level 2): the trace id's rightmost 7 bytes are random.
    pub const RANDOM_TRACE_ID: u8 = 0x02;

    /// Whether the sampled bit is set.
    pub fn is_sampled(self) -> bool {
        self.0 & Self::SAMPLED != 0
    }

    /// Whether the random-trace-id bit is set.
    pub fn is_random(self) -> bool {
        self.0 & Self::RANDOM_TRACE_ID != 0
    }
}

impl fmt::Debug for TraceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}", self.0)
    }
}

/// A W3C `tracestate` value: an ordered list of vendor entries, kept as its
/// validated header text. Cloning is cheap (a reference count); the empty state
/// holds no allocation.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct TraceState(Option<Arc<str>>);

impl TraceState {
    /// The empty trace state.
    pub const EMPTY: TraceState = TraceState(None);

    /// Wraps header text that the caller has already validated (see
    /// [`crate::trace::propagation`]); an empty string is the empty state.
    pub(crate) fn from_validated(header: &str) -> TraceState {
        if header.is_empty() {
            TraceState(None)
        } else {
            TraceState(Some(Arc::from(header)))
        }
    }

    /// The header text (`key=value,key=value`), empty when there are no entries.
    pub fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or("")
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

impl fmt::Debug for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// What identifies a span to its children, in-process or on another node.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct SpanContext {
    /// The trace this span belongs to.
    pub trace_id: TraceId,
    /// The span itself.
    pub span_id: SpanId,
    /// W3C trace flags.
    pub flags: TraceFlags,
    /// True when this context came from another process (extracted from a header).
    pub is_remote: bool,
    /// W3C trace state, passed on unchanged to children.
    pub trace_state: TraceState,
}

impl SpanContext {
    /// True when both ids are valid.
    pub fn is_valid(&self) -> bool {
        self.trace_id.is_valid() && self.span_id.is_valid()
    }
}

thread_local! {
    /// The innermost entered span of this thread; `None` outside any span.
    static CURRENT: RefCell<Option<SpanContext>> = const { RefCell::new(None) };
}

/// The context of the span this thread is currently inside (see
/// [`crate::trace::Span::enter`]), if any.
pub fn current() -> Option<SpanContext> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Like [`current`], for the write path: `None` also when the context cannot
/// be read, during the thread's exit (thread-locals being destroyed) or from a
/// signal handler that interrupted [`attach`] or a guard's drop. Never panics.
#[inline(always)]
pub(crate) fn current_for_child() -> Option<SpanContext> {
    CURRENT
        .try_with(|c| c.try_borrow().ok().and_then(|c| c.clone()))
        .ok()
        .flatten()
}

/// Makes `ctx` the thread's current context until the guard is dropped, when the
/// previous one comes back. Guards must be dropped in reverse order of creation,
/// which scoping guarantees.
pub fn attach(ctx: SpanContext) -> ContextGuard {
    let previous = CURRENT.with(|c| c.replace(Some(ctx)));
    ContextGuard {
        previous,
        _not_send: std::marker::PhantomData,
    }
}

/// Restores the previous current context on drop. Not `Send`: it belongs to the
/// thread whose context it changed.
#[must_use = "the context is detached again when the guard is dropped"]
pub struct ContextGuard {
    previous: Option<SpanContext>,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_uppercase_refused() {
        let t = TraceId::random();
        assert!(t.is_valid());
        assert_eq!(TraceId::from_hex(&t.to_hex()), Some(t));
        assert_eq!(
            TraceId::from_hex(&t.to_hex().to_uppercase())
                .filter(|_| t.to_hex().chars().any(|c| c.is_ascii_alphabetic())),
            None
        );
        assert_eq!(
            SpanId::from_hex("00f067aa0ba902b7"),
            Some(SpanId([0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]))
        );
        assert_eq!(SpanId::from_hex("00F067AA0BA902B7"), None);
        assert_eq!(SpanId::from_hex("00f067aa0ba902b"), None);
    }

    #[test]
    fn attach_nests_and_restores() {
        assert!(current().is_none());
        let a = SpanContext {
            trace_id: TraceId::random(),
            span_id: SpanId::random(),
            ..Default::default()
        };
        let b = SpanContext {
            trace_id: a.trace_id,
            span_id: SpanId::random(),
            ..Default::default()
        };
        {
            let _ga = attach(a.clone());
            assert_eq!(current().as_ref(), Some(&a));
            {
                let _gb = attach(b.clone());
                assert_eq!(current().as_ref(), Some(&b));
            }
            assert_eq!(current().as_ref(), Some(&a));
        }
        assert!(current().is_none());
    }
}
