//! What flows between the sidecar's stages and the exporters: batches of
//! validated span records from one ring, with the resource (service, process,
//! host) they belong to, and the spool position an export reached. A leaf: it
//! imports none of the stages, and every stage points down to it.

use std::sync::Arc;

use ringside::record::{Record, RecordView};

/// The process a ring belongs to, as OTLP's resource.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Resource {
    /// `service.name`.
    pub service: String,
    /// `process.pid`.
    pub pid: u32,
    /// `host.name`.
    pub host: String,
    /// The ring's random id (see [`ringside::ring::Identity::ring_id`]).
    pub ring_id: u64,
    /// Further attributes from the configuration (`OTEL_RESOURCE_ATTRIBUTES`, ...).
    pub attributes: Vec<(String, String)>,
}

/// Records of one ring, in ring order. Every record was accepted by
/// [`RecordView::new`] and its times are Unix nanoseconds (converted from ticks
/// by the source stage).
#[derive(Clone, Debug)]
pub struct SpanBatch {
    /// Who wrote the records.
    pub resource: Arc<Resource>,
    /// The spans.
    pub records: Vec<Record>,
}

impl SpanBatch {
    /// The records as views. Records that fail validation (which the source
    /// never lets through) are skipped rather than trusted.
    pub fn views(&self) -> impl Iterator<Item = RecordView<'_>> {
        self.records.iter().filter_map(|r| RecordView::new(r).ok())
    }

    /// Number of spans.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when there are no spans.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// A position in the spool: everything before it was handed to an exporter.
/// Ordered; `segment` is the segment file's sequence number, `offset` a byte
/// offset inside it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpoolCursor {
    /// Segment sequence number.
    pub segment: u64,
    /// Byte offset in the segment.
    pub offset: u64,
}
