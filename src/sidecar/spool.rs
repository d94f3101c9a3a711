//! The spool: a disk-backed queue between draining and export (to be written).

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
