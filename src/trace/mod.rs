//! The writer API: tracer, spans, context and propagation.

pub mod context;
mod id;
pub mod propagation;

pub use context::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
