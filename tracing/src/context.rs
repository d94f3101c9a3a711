//! W3C propagation with `tracing`'s current span: the ringside context of a
//! `tracing` span (to inject into an outgoing request), and a remote parent
//! for the spans a request handler starts.

use ringside::trace::context::{self, ContextGuard};
use ringside::trace::{SpanContext, propagation};
use tracing::span::Id;
use tracing::{Dispatch, Subscriber};
use tracing_subscriber::registry::LookupSpan;

use crate::RingsideLayer;

/// Finds the context of the span `id` (or its nearest recorded ancestor) in
/// the subscriber behind a [`Dispatch`].
pub(crate) type Lookup = fn(&Dispatch, &Id) -> Option<SpanContext>;

/// [`Lookup`] for a layer whose subscriber is `S`.
pub(crate) fn lookup<S>(dispatch: &Dispatch, id: &Id) -> Option<SpanContext>
where
    S: Subscriber + for<'l> LookupSpan<'l> + 'static,
{
    let subscriber = dispatch.downcast_ref::<S>()?;
    crate::recorded_context(subscriber.span(id)?)
}

/// The ringside context of a `tracing` span: `None` when the span is disabled
/// or no [`RingsideLayer`] records it.
pub fn context_of(span: &tracing::Span) -> Option<SpanContext> {
    span.with_subscriber(|(id, dispatch)| {
        let layer = dispatch.downcast_ref::<RingsideLayer>()?;
        (layer.lookup?)(dispatch, id)
    })
    .flatten()
}

/// The ringside context of `tracing`'s current span.
pub fn current_context() -> Option<SpanContext> {
    context_of(&tracing::Span::current())
}

/// Passes the W3C headers of `tracing`'s current span to `set` as (name,
/// value): `traceparent`, and `tracestate` when there is one. Nothing when
/// there is no recorded current span.
pub fn inject_current(set: impl FnMut(&'static str, &str)) {
    if let Some(ctx) = current_context() {
        propagation::inject(&ctx, set);
    }
}

/// Reads W3C headers and, if they hold a valid context, makes it the parent
/// of the spans this thread starts without a `tracing` parent, until the
/// guard is dropped. A missing or malformed header gives `None`: those spans
/// then start a new trace.
pub fn attach_remote(traceparent: Option<&str>, tracestate: Option<&str>) -> Option<ContextGuard> {
    propagation::extract(traceparent, tracestate)
        .ok()
        .map(context::attach)
}
