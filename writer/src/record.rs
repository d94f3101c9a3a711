//! The span record: one fixed-size, plain-old-data value per span.
//!
//! A ring slot is 256 bytes: an 8-byte stamp (owned by the ring protocol) and a
//! 248-byte [`Record`]. 256 is the smallest power of two whose payload holds a
//! typical storage span whole (name plus five or six attributes, e.g. a file path
//! of 60 bytes, a size, an operation, a node and a client id use about 140 of the
//! 188 payload bytes), and copying it costs a few nanoseconds. One record per span
//! keeps the reader simple and exact: a span is either wholly in the ring or not
//! at all, so there is nothing to join after a crash and no partial span to lose.
//!
//! # Layout (little-endian, offsets in bytes)
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 16 | trace id |
//! | 16 | 8 | span id |
//! | 24 | 8 | parent span id (all zero for a root span) |
//! | 32 | 8 | start time, raw clock ticks |
//! | 40 | 8 | end time, raw clock ticks |
//! | 48 | 1 | span kind ([`SpanKind`]) |
//! | 49 | 1 | status code ([`StatusCode`]) |
//! | 50 | 1 | W3C trace flags of the span |
//! | 51 | 1 | record flags ([`Record::FLAG_PARENT_REMOTE`], ...) |
//! | 52 | 1 | attributes dropped for want of space |
//! | 53 | 1 | events dropped for want of space |
//! | 54 | 1 | links dropped for want of space |
//! | 55 | 1 | name length (the name starts the payload) |
//! | 56 | 2 | payload bytes used |
//! | 58 | 2 | reserved, zero |
//! | 60 | 188 | payload: name, then entries |
//!
//! # Payload entries
//!
//! After the name come entries, each starting with a tag byte: the low 7 bits
//! say what follows, bit 7 ([`TAG_TRUNCATED`]) says a string in it was cut.
//! Lengths are one byte unless stated, integers little-endian.
//!
//! | tag | entry |
//! |---|---|
//! | 1 string attribute | key len, key, value len, value |
//! | 2 i64 attribute | key len, key, 8 bytes |
//! | 3 f64 attribute | key len, key, 8 bytes (IEEE bits) |
//! | 4 bool attribute | key len, key, 1 byte |
//! | 5 event | time (8 bytes, ticks), name len, name, attribute count `n`; the next `n` entries are its attributes |
//! | 6 link | trace id (16), span id (8), trace flags (1), attribute count `n`; the next `n` entries are its attributes |
//! | 7 status message | len, text |
//! | 8 trace state | len (2 bytes), text |
//!
//! Strings longer than the room left are cut at a UTF-8 character boundary and
//! their entry is marked truncated; an attribute, event or link that does not
//! fit at all is dropped and counted in the record, and the sidecar reports the
//! counts as OTLP's `dropped_*_count`.

use bytemuck::{Pod, Zeroable};

/// Size of one ring slot in bytes: the stamp plus the record.
pub const SLOT_SIZE: usize = 256;
/// Size of the stamp that precedes each record in its slot.
pub const STAMP_SIZE: usize = 8;
/// Size of a [`Record`].
pub const RECORD_SIZE: usize = SLOT_SIZE - STAMP_SIZE;
/// Bytes available for the name and the entries.
pub const PAYLOAD_SIZE: usize = 188;
/// Offset of the payload in a [`Record`]: a writer copies this many bytes
/// plus `payload_len`, not the whole record.
pub const PAYLOAD_OFFSET: usize = 60;
/// Longest span or event name kept; longer names are cut and marked.
pub const MAX_NAME: usize = 128;
/// Fewest value bytes worth keeping when a string attribute has to be cut to fit.
const MIN_CUT_VALUE: usize = 8;

/// Entry tag: string attribute.
pub const TAG_STR: u8 = 1;
/// Entry tag: i64 attribute.
pub const TAG_I64: u8 = 2;
/// Entry tag: f64 attribute.
pub const TAG_F64: u8 = 3;
/// Entry tag: bool attribute.
pub const TAG_BOOL: u8 = 4;
/// Entry tag: event.
pub const TAG_EVENT: u8 = 5;
/// Entry tag: link.
pub const TAG_LINK: u8 = 6;
/// Entry tag: status message.
pub const TAG_STATUS: u8 = 7;
/// Entry tag: trace state.
pub const TAG_TRACE_STATE: u8 = 8;
/// Tag bit: a string in this entry was cut to fit.
pub const TAG_TRUNCATED: u8 = 0x80;

/// The kind of a span, numbered as in OTLP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum SpanKind {
    /// Internal operation.
    #[default]
    Internal = 1,
    /// Serving a remote request.
    Server = 2,
    /// Calling a remote service.
    Client = 3,
    /// Sending a message to be processed later.
    Producer = 4,
    /// Processing a message sent earlier.
    Consumer = 5,
}

impl SpanKind {
    /// Decodes the record byte; `None` for values outside 1..=5.
    pub fn from_u8(v: u8) -> Option<SpanKind> {
        Some(match v {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => return None,
        })
    }

    /// Lowercase name, as shown by the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }
}

/// The status of a span, numbered as in OTLP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum StatusCode {
    /// Not set by the instrumentation.
    #[default]
    Unset = 0,
    /// Explicitly successful.
    Ok = 1,
    /// Failed.
    Error = 2,
}

impl StatusCode {
    /// Decodes the record byte; `None` for values above 2.
    pub fn from_u8(v: u8) -> Option<StatusCode> {
        Some(match v {
            0 => StatusCode::Unset,
            1 => StatusCode::Ok,
            2 => StatusCode::Error,
            _ => return None,
        })
    }

    /// Lowercase name, as shown by the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusCode::Unset => "unset",
            StatusCode::Ok => "ok",
            StatusCode::Error => "error",
        }
    }
}

/// One span as stored in a ring slot. See the module documentation for the layout.
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C)]
pub struct Record {
    /// W3C trace id.
    pub trace_id: [u8; 16],
    /// Span id.
    pub span_id: [u8; 8],
    /// Parent span id, all zero for a root span.
    pub parent_span_id: [u8; 8],
    /// Start time in raw clock ticks.
    pub start: u64,
    /// End time in raw clock ticks.
    pub end: u64,
    /// [`SpanKind`] as a byte.
    pub kind: u8,
    /// [`StatusCode`] as a byte.
    pub status: u8,
    /// W3C trace flags.
    pub trace_flags: u8,
    /// Record flags (`FLAG_*`).
    pub flags: u8,
    /// Attributes that did not fit.
    pub dropped_attrs: u8,
    /// Events that did not fit.
    pub dropped_events: u8,
    /// Links that did not fit.
    pub dropped_links: u8,
    /// Length of the name at the start of the payload.
    pub name_len: u8,
    /// Payload bytes in use (name and entries).
    pub payload_len: u16,
    /// Zero.
    pub reserved: [u8; 2],
    /// Name followed by entries.
    pub payload: [u8; PAYLOAD_SIZE],
}

const _: () = {
    assert!(std::mem::size_of::<Record>() == RECORD_SIZE);
    assert!(std::mem::align_of::<Record>() <= STAMP_SIZE);
    assert!(std::mem::offset_of!(Record, start) == 32);
    assert!(std::mem::offset_of!(Record, kind) == 48);
    assert!(std::mem::offset_of!(Record, name_len) == 55);
    assert!(std::mem::offset_of!(Record, payload_len) == 56);
    assert!(std::mem::offset_of!(Record, payload) == PAYLOAD_OFFSET);
    assert!(SLOT_SIZE.is_power_of_two());
    assert!(MAX_NAME < PAYLOAD_SIZE);
};

/// Copies `src` into `dst`, which has the same length. A record's strings are
/// short and their lengths known only at run time: two overlapping moves of
/// 16, 8, 4 or 1 bytes copy up to 32 bytes without a call into the C
/// library's `memcpy` (whose call and size dispatch cost more than the copy).
/// When the length is a constant (a literal key) only one branch remains.
#[inline(always)]
pub(crate) fn copy_short(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    let dst = &mut dst[..n];
    macro_rules! two_moves {
        ($w:expr) => {{
            let (head, tail): ([u8; $w], [u8; $w]) = (
                src[..$w].try_into().unwrap_or([0; $w]),
                src[n - $w..].try_into().unwrap_or([0; $w]),
            );
            dst[..$w].copy_from_slice(&head);
            dst[n - $w..].copy_from_slice(&tail);
        }};
    }
    match n {
        0 => {}
        1..=3 => {
            dst[0] = src[0];
            dst[n / 2] = src[n / 2];
            dst[n - 1] = src[n - 1];
        }
        4..=7 => two_moves!(4),
        8..=15 => two_moves!(8),
        16..=32 => two_moves!(16),
        _ => dst.copy_from_slice(src),
    }
}

/// Cuts `s` to at most `max` bytes at a character boundary.
pub fn cut_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Record {
    /// The name bytes. Use [`RecordView`] to read a record from untrusted memory.
    pub fn name_bytes(&self) -> &[u8] {
        &self.payload[..(self.name_len as usize).min(PAYLOAD_SIZE)]
    }

    /// The W3C trace state bytes, if the record holds them whole: a walk over
    /// entry lengths only, cheaper than [`RecordView::new`] for hot paths that
    /// need nothing else. `None` also when the payload is malformed.
    pub fn trace_state_bytes(&self) -> Option<&[u8]> {
        let used = (self.payload_len as usize).min(PAYLOAD_SIZE);
        let p = &self.payload[..used];
        let mut at = self.name_len as usize;
        while at < used {
            let (len, tag) = entry_len(p, at).ok()?;
            if tag == TAG_TRACE_STATE {
                return Some(&p[at + 3..at + len]);
            }
            at += len;
        }
        None
    }
}

/// Length and tag of the top-level entry at `at`, counting the nested attributes
/// of an event or link as part of it.
fn entry_len(p: &[u8], at: usize) -> Result<(usize, u8), DecodeError> {
    let (len, tag, nested) = single_entry_len(p, at)?;
    let mut total = len;
    for _ in 0..nested {
        let (l, t, n) = single_entry_len(p, at + total)?;
        if n != 0 || !matches!(t & !TAG_TRUNCATED, TAG_STR..=TAG_BOOL) {
            return Err(DecodeError::BadEntry);
        }
        total += l;
    }
    Ok((total, tag))
}

/// Length, tag and nested attribute count of one entry at `at`.
fn single_entry_len(p: &[u8], at: usize) -> Result<(usize, u8, usize), DecodeError> {
    let byte = |i: usize| p.get(at + i).copied().ok_or(DecodeError::Overrun);
    let tag = byte(0)?;
    let (len, nested) = match tag & !TAG_TRUNCATED {
        TAG_STR => {
            let k = byte(1)? as usize;
            (2 + k + 1 + byte(2 + k)? as usize, 0)
        }
        TAG_I64 | TAG_F64 => (2 + byte(1)? as usize + 8, 0),
        TAG_BOOL => (2 + byte(1)? as usize + 1, 0),
        TAG_EVENT => {
            let n = byte(9)? as usize;
            (11 + n, byte(10 + n)? as usize)
        }
        TAG_LINK => (27, byte(26)? as usize),
        TAG_STATUS => (2 + byte(1)? as usize, 0),
        TAG_TRACE_STATE => (3 + u16::from_le_bytes([byte(1)?, byte(2)?]) as usize, 0),
        _ => return Err(DecodeError::BadEntry),
    };
    if at + len > p.len() {
        return Err(DecodeError::Overrun);
    }
    Ok((len, tag, nested))
}

/// Why a record read from a ring could not be decoded. Such a record is counted
/// as corrupt and skipped; it never stops the reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// `payload_len` or `name_len` larger than the payload.
    BadLength,
    /// Kind or status byte out of range.
    BadEnum,
    /// Unknown entry tag, or a nested entry that is not an attribute.
    BadEntry,
    /// An entry runs past the payload's end.
    Overrun,
    /// A string that is not UTF-8.
    NotUtf8,
    /// The trace id or span id is all zero.
    ZeroId,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DecodeError::BadLength => "payload or name length out of range",
            DecodeError::BadEnum => "span kind or status out of range",
            DecodeError::BadEntry => "unknown payload entry",
            DecodeError::Overrun => "payload entry runs past the end",
            DecodeError::NotUtf8 => "string is not UTF-8",
            DecodeError::ZeroId => "trace id or span id is zero",
        })
    }
}

impl std::error::Error for DecodeError {}

mod encode;
mod value;
mod view;
pub use value::Value;
pub use view::{AttrIter, AttrView, EntryView, RecordView};

#[cfg(test)]
mod tests;

#[cfg(not(loom))]
impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Record");
        d.field("trace_id", &crate::id::hex(&self.trace_id))
            .field("span_id", &crate::id::hex(&self.span_id))
            .field("parent_span_id", &crate::id::hex(&self.parent_span_id))
            .field("start", &self.start)
            .field("end", &self.end);
        match RecordView::new(self) {
            Ok(v) => d
                .field("name", &v.name())
                .field("attrs", &v.attrs().collect::<Vec<_>>()),
            Err(e) => d.field("invalid", &e),
        };
        d.finish()
    }
}
