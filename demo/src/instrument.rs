//! The instrumentation the mini file store calls: ringside (enabled, or
//! disabled for "tracing off"), or, with the `otel` feature, the
//! OpenTelemetry SDK. The store's code is the same whichever is chosen, so the
//! bench compares the tracers and nothing else.
//!
//! Contexts travel between nodes as ringside [`SpanContext`]s whatever the
//! tracer: the propagation code is shared and not what is compared.

use std::net::SocketAddr;

use ringside::trace::storage::{self, DataOp, FileOp, MetadataOp, MetadataResult};
use ringside::trace::{Span, SpanContext, SpanKind, Tracer};

#[cfg(feature = "otel")]
use super::otel::{OtelSpan, OtelTracing};

pub use super::http_names::{HTTP_METHOD, HTTP_STATUS, URL_PATH};

/// Which tracer the store runs with.
#[derive(Clone)]
pub enum Tracing {
    /// ringside; `Tracer::disabled` for tracing off.
    Ringside(Tracer),
    /// The OpenTelemetry SDK exporting OTLP/HTTP.
    #[cfg(feature = "otel")]
    Otel(OtelTracing),
}

/// A span of either tracer.
// The SDK's span is the large variant; boxing it would add an allocation to
// the path the load benchmark compares.
#[allow(clippy::large_enum_variant)]
pub enum OpSpan<'t> {
    /// A ringside span.
    Ringside(Span<'t>),
    /// An OpenTelemetry SDK span.
    #[cfg(feature = "otel")]
    Otel(OtelSpan),
}

impl Tracing {
    /// The server span of a file operation at the gateway.
    pub fn file_op(
        &self,
        parent: Option<&SpanContext>,
        op: FileOp,
        path: &str,
        size: Option<u64>,
        client: &str,
    ) -> OpSpan<'_> {
        match self {
            Tracing::Ringside(t) => {
                OpSpan::Ringside(storage::file_op(t, parent, op, path, size, client))
            }
            #[cfg(feature = "otel")]
            Tracing::Otel(t) => OpSpan::Otel(t.file_op(parent, op, path, size, client)),
        }
    }

    /// The server span of a metadata operation.
    pub fn metadata_op(
        &self,
        parent: Option<&SpanContext>,
        op: MetadataOp,
        key: &str,
    ) -> OpSpan<'_> {
        match self {
            Tracing::Ringside(t) => OpSpan::Ringside(storage::metadata_op(t, parent, op, key)),
            #[cfg(feature = "otel")]
            Tracing::Otel(t) => OpSpan::Otel(t.metadata_op(parent, op, key)),
        }
    }

    /// The server span of a data operation on one replica.
    pub fn data_op(
        &self,
        parent: Option<&SpanContext>,
        op: DataOp,
        chunk: &str,
        size: u64,
        node: u32,
        replica: u32,
    ) -> OpSpan<'_> {
        match self {
            Tracing::Ringside(t) => {
                OpSpan::Ringside(storage::data_op(t, parent, op, chunk, size, node, replica))
            }
            #[cfg(feature = "otel")]
            Tracing::Otel(t) => OpSpan::Otel(t.data_op(parent, op, chunk, size, node, replica)),
        }
    }

    /// The client span of a call to another node.
    pub fn transfer(
        &self,
        parent: Option<&SpanContext>,
        name: &str,
        peer: SocketAddr,
    ) -> OpSpan<'_> {
        match self {
            Tracing::Ringside(t) => OpSpan::Ringside(storage::transfer(t, parent, name, peer)),
            #[cfg(feature = "otel")]
            Tracing::Otel(t) => OpSpan::Otel(t.transfer(parent, name, peer)),
        }
    }

    /// The root span of one client request: an HTTP client span named after
    /// the method, as the HTTP semantic conventions name them.
    pub fn client_request(
        &self,
        method: &'static str,
        path: &str,
        server: SocketAddr,
    ) -> OpSpan<'_> {
        match self {
            Tracing::Ringside(t) => {
                let mut span = t.span_with_parent(method, None);
                span.set_kind(SpanKind::Client)
                    .set_attr(HTTP_METHOD, method)
                    .set_attr(URL_PATH, path)
                    .set_attr(storage::SERVER_PORT, server.port());
                OpSpan::Ringside(span)
            }
            #[cfg(feature = "otel")]
            Tracing::Otel(t) => OpSpan::Otel(t.client_request(method, path, server)),
        }
    }

    /// An internal or server span with just a name (the W3C test endpoint).
    pub fn plain(&self, name: &str, kind: SpanKind, parent: Option<&SpanContext>) -> OpSpan<'_> {
        match self {
            Tracing::Ringside(t) => {
                let mut span = t.span_with_parent(name, parent);
                span.set_kind(kind);
                OpSpan::Ringside(span)
            }
            #[cfg(feature = "otel")]
            Tracing::Otel(t) => OpSpan::Otel(t.plain(name, kind, parent)),
        }
    }

    /// Spans dropped or lost so far (ringside: ring full or ring missing).
    pub fn dropped(&self) -> u64 {
        match self {
            Tracing::Ringside(t) => t.stats().map_or(0, |s| s.dropped) + t.lost(),
            #[cfg(feature = "otel")]
            Tracing::Otel(_) => 0,
        }
    }

    /// Spans written so far (ringside only).
    pub fn written(&self) -> u64 {
        match self {
            Tracing::Ringside(t) => t.stats().map_or(0, |s| s.written),
            #[cfg(feature = "otel")]
            Tracing::Otel(t) => t.started(),
        }
    }

    /// Flushes and stops the exporter (OpenTelemetry); nothing for ringside.
    pub fn shutdown(&self) {
        #[cfg(feature = "otel")]
        if let Tracing::Otel(t) = self {
            t.shutdown();
        }
    }
}

impl OpSpan<'_> {
    /// The context to give children and to send to other nodes.
    pub fn context(&self) -> SpanContext {
        match self {
            OpSpan::Ringside(s) => s.context(),
            #[cfg(feature = "otel")]
            OpSpan::Otel(s) => s.context(),
        }
    }

    /// Records the file size once known.
    pub fn set_size(&mut self, size: u64) {
        match self {
            OpSpan::Ringside(s) => storage::set_size(s, size),
            #[cfg(feature = "otel")]
            OpSpan::Otel(s) => s.set_int(storage::FILE_SIZE, size as i64),
        }
    }

    /// Records what a metadata operation found.
    pub fn set_metadata_result(&mut self, result: MetadataResult, version: Option<u64>) {
        match self {
            OpSpan::Ringside(s) => storage::set_metadata_result(s, result, version),
            #[cfg(feature = "otel")]
            OpSpan::Otel(s) => s.set_metadata_result(result, version),
        }
    }

    /// Records the HTTP status of a client request.
    pub fn set_http_status(&mut self, status: u16) {
        match self {
            OpSpan::Ringside(s) => {
                s.set_attr(HTTP_STATUS, status);
            }
            #[cfg(feature = "otel")]
            OpSpan::Otel(s) => s.set_int(HTTP_STATUS, i64::from(status)),
        }
    }

    /// Marks a server span whose incoming context was invalid.
    pub fn mark_invalid_context(&mut self) {
        match self {
            OpSpan::Ringside(s) => storage::mark_invalid_context(s),
            #[cfg(feature = "otel")]
            OpSpan::Otel(s) => s.set_bool(storage::CONTEXT_INVALID, true),
        }
    }

    /// Marks the span failed.
    pub fn fail(&mut self, error_type: &str, message: &str) {
        match self {
            OpSpan::Ringside(s) => storage::record_error(s, error_type, message),
            #[cfg(feature = "otel")]
            OpSpan::Otel(s) => s.fail(error_type, message),
        }
    }

    /// Ends a transfer span with its byte counts and outcome.
    pub fn end_transfer(self, sent: u64, received: u64, error: Option<(&str, &str)>) {
        match self {
            OpSpan::Ringside(s) => storage::end_transfer(s, sent, received, error),
            #[cfg(feature = "otel")]
            OpSpan::Otel(s) => s.end_transfer(sent, received, error),
        }
    }

    /// Ends the span now (dropping it does the same).
    pub fn end(self) {
        match self {
            OpSpan::Ringside(s) => s.end(),
            #[cfg(feature = "otel")]
            OpSpan::Otel(s) => s.end(),
        }
    }
}
