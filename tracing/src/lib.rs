#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod text;
mod fields;
mod context;

use ringside::trace::{Span, SpanContext, StatusCode, Tracer};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, SpanRef};

pub use context::{attach_remote, context_of, current_context, inject_current};

use fields::{EventFields, SpanFields};

/// Attribute holding a span's `tracing` target (by default its module path).
pub const TARGET_KEY: &str = "code.namespace";

/// A [`Layer`] that writes each `tracing` span, when it closes, as one ringside
/// record: name, target ([`TARGET_KEY`]), fields as typed attributes, events
/// inside it as span events, `follows_from` as links, parents from `tracing`'s
/// span tree. An `error` field or an `ERROR` event marks the span failed.
///
/// A root span (no `tracing` parent that this layer records) takes the
/// thread's current ringside context as its parent: a remote parent attached
/// with [`attach_remote`], or a span entered with
/// [`ringside::trace::Span::enter`]. Events outside every span are not
/// written (a record is a span).
pub struct RingsideLayer {
    tracer: &'static Tracer,
    target: bool,
    /// Finds a span's record from a [`Dispatch`], for [`context_of`]; set when
    /// the layer joins its subscriber, whose type it captures.
    lookup: Option<context::Lookup>,
}

/// The layer for a tracer of `service` with the default ring directory
/// (`$RINGSIDE_DIR`, else `/run/ringside`): the one line a `tracing` program
/// adds to its subscriber.
pub fn layer(service: &str) -> RingsideLayer {
    RingsideLayer::new(Tracer::new(service))
}

impl RingsideLayer {
    /// A layer writing through `tracer`. Open spans borrow the tracer, so the
    /// layer keeps it for the rest of the process (one `Tracer`, a pointer
    /// to the shared ring handle, is leaked): build one layer per process, as
    /// a global subscriber does.
    pub fn new(tracer: Tracer) -> RingsideLayer {
        RingsideLayer::from_static(Box::leak(Box::new(tracer)))
    }

    /// A layer writing through a tracer that lives for the whole process.
    pub fn from_static(tracer: &'static Tracer) -> RingsideLayer {
        RingsideLayer {
            tracer,
            target: true,
            lookup: None,
        }
    }

    /// Whether each span carries its `tracing` target as [`TARGET_KEY`]
    /// (default true). A record holds about 180 bytes of name, attributes and
    /// events; a long module path takes a good share of that.
    pub fn with_target(mut self, on: bool) -> RingsideLayer {
        self.target = on;
        self
    }

    /// The tracer spans are written through.
    pub fn tracer(&self) -> &'static Tracer {
        self.tracer
    }
}

/// The ringside span of a `tracing` span, kept in its extensions until it
/// closes.
struct Recorded(Span<'static>);

/// The context of the nearest span from `span` up (itself first) that this
/// layer records.
fn recorded_context<S>(span: SpanRef<'_, S>) -> Option<SpanContext>
where
    S: Subscriber + for<'l> LookupSpan<'l>,
{
    span.scope()
        .find_map(|s| s.extensions().get::<Recorded>().map(|r| r.0.context()))
}

/// Runs `f` on the nearest span from `span` up (itself first) that this
/// layer records.
fn with_recorded<S>(span: SpanRef<'_, S>, f: impl FnOnce(&mut Span<'static>))
where
    S: Subscriber + for<'l> LookupSpan<'l>,
{
    for s in span.scope() {
        if let Some(r) = s.extensions_mut().get_mut::<Recorded>() {
            f(&mut r.0);
            return;
        }
    }
}

impl<S> Layer<S> for RingsideLayer
where
    S: Subscriber + for<'l> LookupSpan<'l> + 'static,
{
    fn on_layer(&mut self, _subscriber: &mut S) {
        self.lookup = Some(context::lookup::<S>);
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(this) = ctx.span(id) else { return };
        let parent = if let Some(p) = attrs.parent() {
            ctx.span(p)
        } else if attrs.is_contextual() {
            ctx.lookup_current()
        } else {
            None
        };
        let parent_context = parent.and_then(recorded_context);
        let meta = attrs.metadata();
        let mut span = match &parent_context {
            Some(p) => self.tracer.span_with_parent(meta.name(), Some(p)),
            // No recorded `tracing` parent: the thread's ringside context (a
            // remote parent), else a new trace.
            None => self.tracer.span(meta.name()),
        };
        if self.target {
            span.set_attr(TARGET_KEY, meta.target());
        }
        attrs.record(&mut SpanFields { span: &mut span });
        this.extensions_mut().insert(Recorded(span));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(this) = ctx.span(id) {
            if let Some(r) = this.extensions_mut().get_mut::<Recorded>() {
                values.record(&mut SpanFields { span: &mut r.0 });
            }
        }
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        let (Some(this), Some(cause)) = (ctx.span(id), ctx.span(follows)) else {
            return;
        };
        let to = recorded_context(cause);
        if let (Some(to), Some(r)) = (to, this.extensions_mut().get_mut::<Recorded>()) {
            r.0.add_link(&to, &[]);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let mut fields = EventFields::new();
        event.record(&mut fields);
        let meta = event.metadata();
        with_recorded(span, |s| {
            let name = fields.name(meta.name());
            let (attrs, n) = fields.attrs();
            s.add_event(name, &attrs[..n]);
            if let Some(error) = fields.error() {
                s.set_status(StatusCode::Error, error);
            } else if *meta.level() == Level::ERROR {
                s.set_status(StatusCode::Error, name);
            }
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(this) = ctx.span(&id) {
            // Dropping the span ends it: its record goes into the ring now.
            let span = this.extensions_mut().remove::<Recorded>();
            drop(span);
        }
    }
}
