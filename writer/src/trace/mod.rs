//! The writer API: tracer, spans, context and propagation.
//!
//! ```no_run
//! use ringside::trace::{SpanKind, Tracer};
//! let tracer = Tracer::new("data-node");
//! let mut span = tracer.span("storage.data.write");
//! span.set_kind(SpanKind::Server).set_attr("storage.chunk.id", "c-42").set_attr("storage.size", 4096);
//! {
//!     let _inside = span.enter(); // spans started here are children of `span`
//!     let _child = tracer.span("disk.write");
//! }
//! span.end();
//! ```

mod tracer;
mod span;
mod pool;
mod ring_handle;
pub mod context;
pub mod propagation;
pub mod storage;

pub use crate::record::{SpanKind, StatusCode, Value};
pub use context::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
pub use span::Span;
pub(crate) use span::begin_record;
pub use tracer::{Tracer, TracerBuilder};
