//! OTLP: encoding span batches as an `ExportTraceServiceRequest` (protobuf in
//! [`proto`], JSON in [`json`]).
//!
//! # Mapping from records
//!
//! One `ResourceSpans` per distinct [`Resource`] (in order of first appearance),
//! each with one `ScopeSpans` whose scope is `ringside` at the crate version. The
//! resource carries `service.name`, `host.name`, `process.pid` and then
//! [`Resource::attributes`] in order. Every record field comes through: ids, the
//! parent id (left out for a root span), `trace_state`, name, kind, start and
//! end, status code and message, attributes, events, links and the dropped
//! counts. The span's `flags` field holds the W3C trace flags in bits 0–7 and
//! always sets [`SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE`], plus
//! [`SPAN_FLAGS_CONTEXT_IS_REMOTE`] when the parent came from another process.
//! A link's `flags` holds the linked span's W3C trace flags only (whether that
//! context was remote is not recorded).
//!
//! # Truncation
//!
//! A record marks the strings it had to cut to fit its 248 bytes. Each OTLP
//! element with a cut string gets one extra attribute, [`TRUNCATED_ATTR`]
//! (`ringside.truncated`), whose value is a string array naming what was cut:
//! - on a span: `name` (the span name), `status.message`, `trace_state` (the
//!   trace state did not fit and was left out: a cut one would be invalid), and
//!   the key of every attribute whose value was cut;
//! - on an event: `name` (the event name) and the keys of its cut attributes;
//! - on a link: the keys of its cut attributes.
//!
//! The extra attribute is not counted in `dropped_attributes_count`.

pub mod http;
pub mod json;
pub mod proto;
pub mod tls;

pub use http::{OtlpConfig, OtlpHttpExporter, OtlpSettings, agent};
pub use json::encode_json;
pub use proto::encode_proto;
pub use tls::TlsFiles;

use crate::batch::{Resource, SpanBatch};
use ringside::record::{AttrView, EntryView, Record, RecordView};

/// Instrumentation scope name of every span ringside exports.
pub const SCOPE_NAME: &str = "ringside";
/// Instrumentation scope version: the crate version.
pub const SCOPE_VERSION: &str = env!("CARGO_PKG_VERSION");
/// Attribute listing which strings of a span, event or link were cut.
pub const TRUNCATED_ATTR: &str = "ringside.truncated";
/// OTLP span flag: bit [`SPAN_FLAGS_CONTEXT_IS_REMOTE`] is meaningful.
pub const SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE: u32 = 0x100;
/// OTLP span flag: the parent span context came from another process.
pub const SPAN_FLAGS_CONTEXT_IS_REMOTE: u32 = 0x200;

/// Records of one resource: a batch, or part of one when a request is split.
#[derive(Clone, Copy)]
pub(crate) struct Chunk<'a> {
    pub resource: &'a Resource,
    pub records: &'a [Record],
}

/// The chunks of one resource, in order.
pub(crate) struct ResourceGroup<'a> {
    pub resource: &'a Resource,
    pub chunks: Vec<&'a [Record]>,
}

impl<'a> ResourceGroup<'a> {
    /// The group's records that pass validation, as views.
    pub fn views(&self) -> impl Iterator<Item = RecordView<'a>> + Clone + '_ {
        self.chunks
            .iter()
            .flat_map(|c| c.iter())
            .filter_map(|r| RecordView::new(r).ok())
    }
}

/// Whole batches as chunks.
pub(crate) fn chunks(batches: &[SpanBatch]) -> Vec<Chunk<'_>> {
    batches
        .iter()
        .map(|b| Chunk {
            resource: &b.resource,
            records: &b.records,
        })
        .collect()
}

/// Groups chunks by resource (equal by value), keeping the order of first
/// appearance. The number of distinct resources is small (one per ring).
pub(crate) fn group<'a>(chunks: &[Chunk<'a>]) -> Vec<ResourceGroup<'a>> {
    let mut groups: Vec<ResourceGroup<'a>> = Vec::new();
    for c in chunks {
        match groups
            .iter_mut()
            .find(|g| std::ptr::eq(g.resource, c.resource) || g.resource == c.resource)
        {
            Some(g) => g.chunks.push(c.records),
            None => groups.push(ResourceGroup {
                resource: c.resource,
                chunks: vec![c.records],
            }),
        }
    }
    groups
}

/// A resource attribute value.
#[derive(Clone, Copy)]
pub(crate) enum ResourceValue<'a> {
    Str(&'a str),
    Int(i64),
}

/// The resource's attributes in the order they are exported.
pub(crate) fn resource_attrs(
    r: &Resource,
) -> impl Iterator<Item = (&str, ResourceValue<'_>)> + Clone {
    [
        ("service.name", ResourceValue::Str(&r.service)),
        ("host.name", ResourceValue::Str(&r.host)),
        ("process.pid", ResourceValue::Int(r.pid.into())),
    ]
    .into_iter()
    .chain(
        r.attributes
            .iter()
            .map(|(k, v)| (k.as_str(), ResourceValue::Str(v))),
    )
}

/// The OTLP `flags` of a span.
pub(crate) fn span_flags(v: &RecordView<'_>) -> u32 {
    let mut flags = u32::from(v.trace_flags()) | SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE;
    if v.parent_is_remote() {
        flags |= SPAN_FLAGS_CONTEXT_IS_REMOTE;
    }
    flags
}

/// What a span had cut, for [`TRUNCATED_ATTR`]: `name`, `status.message`,
/// `trace_state` and the keys of cut attributes, in record order.
pub(crate) fn span_truncations<'a>(
    v: &RecordView<'a>,
) -> impl Iterator<Item = &'a str> + Clone + 'a {
    let name = v.name_truncated().then_some("name");
    name.into_iter().chain(v.entries().filter_map(|e| match e {
        EntryView::Attr(a) if a.truncated => Some(a.key),
        EntryView::Status {
            truncated: true, ..
        } => Some("status.message"),
        EntryView::TraceState(None) => Some("trace_state"),
        _ => None,
    }))
}

/// The keys of the cut attributes among `attrs`, after `name` if the event's
/// name was cut.
pub(crate) fn nested_truncations<'a>(
    name_cut: bool,
    attrs: impl Iterator<Item = AttrView<'a>> + Clone,
) -> impl Iterator<Item = &'a str> + Clone {
    name_cut
        .then_some("name")
        .into_iter()
        .chain(attrs.filter(|a| a.truncated).map(|a| a.key))
}

/// True when the span itself (not its events or links) had a string cut.
pub(crate) fn span_has_truncation(v: &RecordView<'_>) -> bool {
    span_truncations(v).next().is_some()
}

/// Lowercase hex of an id into a stack buffer (no allocation).
pub(crate) fn hex_id<'b, const N: usize>(bytes: &[u8], buf: &'b mut [u8; N]) -> &'b str {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().take(N / 2).enumerate() {
        buf[2 * i] = DIGITS[(b >> 4) as usize];
        buf[2 * i + 1] = DIGITS[(b & 15) as usize];
    }
    // Only ASCII hex digits were written.
    std::str::from_utf8(&buf[..]).unwrap_or_default()
}
