//! Hand-built spans for tests.

use std::sync::Arc;

use super::model::{SpanId, SpanKind, SpanRow, StatusCode, TraceId};

/// A span of trace 1 with id `id`, parent `parent`, on `[start, end]`.
pub fn span(id: u8, parent: Option<u8>, start: u64, end: u64) -> SpanRow {
    SpanRow {
        trace_id: TraceId([1; 16]),
        span_id: SpanId([id; 8]),
        parent_span_id: parent.map(|p| SpanId([p; 8])),
        service: Arc::from("svc"),
        host: Arc::from("h"),
        name: Arc::from(format!("op{id}")),
        kind: SpanKind::Internal,
        status: StatusCode::Unset,
        status_message: None,
        start_ns: start,
        end_ns: end,
        attributes: Vec::new(),
        events: Vec::new(),
        links: Vec::new(),
    }
}
