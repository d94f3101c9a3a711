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

/// An attribute value as the writer API takes it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// UTF-8 text.
    Str(&'a str),
    /// Signed integer.
    I64(i64),
    /// Floating point.
    F64(f64),
    /// Boolean.
    Bool(bool),
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Str(v)
    }
}
impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Str(v)
    }
}
impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<f64> for Value<'_> {
    fn from(v: f64) -> Self {
        Value::F64(v)
    }
}
macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl From<$t> for Value<'_> {
            fn from(v: $t) -> Self {
                Value::I64(v as i64)
            }
        }
    )*};
}
// u64 and usize above i64::MAX wrap; OTLP has no unsigned integers either.
int_value!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);

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
    assert!(std::mem::offset_of!(Record, payload) == 60);
    assert!(SLOT_SIZE.is_power_of_two());
    assert!(MAX_NAME < PAYLOAD_SIZE);
};

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
    /// The parent was extracted from another process.
    pub const FLAG_PARENT_REMOTE: u8 = 0x01;
    /// The name was cut to fit.
    pub const FLAG_NAME_TRUNCATED: u8 = 0x02;

    /// An empty record named `name` (cut to [`MAX_NAME`] bytes if longer).
    #[inline]
    pub fn new(name: &str) -> Record {
        let mut r = Record::zeroed();
        let name_kept = cut_utf8(name, MAX_NAME);
        if name_kept.len() < name.len() {
            r.flags |= Record::FLAG_NAME_TRUNCATED;
        }
        r.payload[..name_kept.len()].copy_from_slice(name_kept.as_bytes());
        r.name_len = name_kept.len() as u8;
        r.payload_len = name_kept.len() as u16;
        r
    }

    /// Bytes of payload still free.
    #[inline]
    pub fn room(&self) -> usize {
        PAYLOAD_SIZE.saturating_sub(self.payload_len as usize)
    }

    /// Appends `bytes` at the end of the payload; the caller checked the room.
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        let at = self.payload_len as usize;
        self.payload[at..at + bytes.len()].copy_from_slice(bytes);
        self.payload_len += bytes.len() as u16;
    }

    /// Appends an attribute entry; returns false (and writes nothing) if it does
    /// not fit even with its string value cut. Keys are never cut: an attribute
    /// whose key is longer than 255 bytes is refused.
    #[inline]
    fn put_attr(&mut self, key: &str, value: Value<'_>) -> bool {
        if key.len() > u8::MAX as usize {
            return false;
        }
        let head = 2 + key.len();
        let room = self.room();
        let (tag, fixed) = match value {
            Value::Str(_) => (TAG_STR, 1),
            Value::I64(_) => (TAG_I64, 8),
            Value::F64(_) => (TAG_F64, 8),
            Value::Bool(_) => (TAG_BOOL, 1),
        };
        if room < head + fixed {
            return false;
        }
        let mark = self.payload_len;
        match value {
            Value::Str(s) => {
                let space = (room - head - 1).min(u8::MAX as usize);
                let kept = cut_utf8(s, space);
                if kept.len() < s.len() && kept.len() < MIN_CUT_VALUE.min(s.len()) {
                    return false;
                }
                let tag = if kept.len() < s.len() {
                    tag | TAG_TRUNCATED
                } else {
                    tag
                };
                self.put(&[tag, key.len() as u8]);
                self.put(key.as_bytes());
                self.put(&[kept.len() as u8]);
                self.put(kept.as_bytes());
            }
            Value::I64(v) => {
                self.put(&[tag, key.len() as u8]);
                self.put(key.as_bytes());
                self.put(&v.to_le_bytes());
            }
            Value::F64(v) => {
                self.put(&[tag, key.len() as u8]);
                self.put(key.as_bytes());
                self.put(&v.to_bits().to_le_bytes());
            }
            Value::Bool(v) => {
                self.put(&[tag, key.len() as u8]);
                self.put(key.as_bytes());
                self.put(&[v as u8]);
            }
        }
        debug_assert!(self.payload_len > mark);
        true
    }

    /// Adds an attribute of the span, or counts it as dropped if it does not fit.
    #[inline]
    pub fn push_attr(&mut self, key: &str, value: Value<'_>) {
        if !self.put_attr(key, value) {
            self.dropped_attrs = self.dropped_attrs.saturating_add(1);
        }
    }

    /// Adds an event with its attributes, all or nothing: an event that does not
    /// fit whole is dropped and counted. Attributes beyond 255 are dropped.
    pub fn push_event(&mut self, time: u64, name: &str, attrs: &[(&str, Value<'_>)]) {
        let kept = cut_utf8(name, MAX_NAME.min(self.room().saturating_sub(11)));
        if self.room() < 11 + kept.len() {
            self.dropped_events = self.dropped_events.saturating_add(1);
            return;
        }
        let mark = self.payload_len;
        let tag = if kept.len() < name.len() {
            TAG_EVENT | TAG_TRUNCATED
        } else {
            TAG_EVENT
        };
        let name = kept;
        self.put(&[tag]);
        self.put(&time.to_le_bytes());
        self.put(&[name.len() as u8]);
        self.put(name.as_bytes());
        let count_at = self.payload_len as usize;
        self.put(&[0]);
        if !self.put_nested_attrs(count_at, attrs) {
            self.payload_len = mark;
            self.dropped_events = self.dropped_events.saturating_add(1);
        }
    }

    /// Adds a link to another span with its attributes, all or nothing.
    pub fn push_link(
        &mut self,
        trace_id: [u8; 16],
        span_id: [u8; 8],
        trace_flags: u8,
        attrs: &[(&str, Value<'_>)],
    ) {
        if self.room() < 27 {
            self.dropped_links = self.dropped_links.saturating_add(1);
            return;
        }
        let mark = self.payload_len;
        self.put(&[TAG_LINK]);
        self.put(&trace_id);
        self.put(&span_id);
        self.put(&[trace_flags]);
        let count_at = self.payload_len as usize;
        self.put(&[0]);
        if !self.put_nested_attrs(count_at, attrs) {
            self.payload_len = mark;
            self.dropped_links = self.dropped_links.saturating_add(1);
        }
    }

    /// Writes up to 255 attributes after an event or link and stores their count
    /// at `count_at`; false if one of them did not fit.
    fn put_nested_attrs(&mut self, count_at: usize, attrs: &[(&str, Value<'_>)]) -> bool {
        let attrs = &attrs[..attrs.len().min(u8::MAX as usize)];
        for (key, value) in attrs {
            if !self.put_attr(key, *value) {
                return false;
            }
        }
        self.payload[count_at] = attrs.len() as u8;
        true
    }

    /// Sets the status; a message is kept for errors only (as OTLP asks), cut to
    /// fit. Setting it again replaces code and message.
    pub fn set_status(&mut self, code: StatusCode, message: &str) {
        self.status = code as u8;
        self.remove_entries(TAG_STATUS);
        if code == StatusCode::Error && !message.is_empty() && self.room() > 2 {
            let kept = cut_utf8(message, (self.room() - 2).min(u8::MAX as usize));
            let tag = if kept.len() < message.len() {
                TAG_STATUS | TAG_TRUNCATED
            } else {
                TAG_STATUS
            };
            self.put(&[tag, kept.len() as u8]);
            self.put(kept.as_bytes());
        }
    }

    /// Stores the W3C trace state text, if it fits whole (a cut trace state would
    /// be invalid); otherwise it is left out and the record marked truncated.
    pub fn set_trace_state(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        if text.len() + 3 > self.room() {
            self.put(&[TAG_TRACE_STATE | TAG_TRUNCATED, 0, 0]);
            return;
        }
        self.put(&[TAG_TRACE_STATE]);
        self.put(&(text.len() as u16).to_le_bytes());
        self.put(text.as_bytes());
    }

    /// Removes every top-level entry with tag `tag` (used to replace a status).
    fn remove_entries(&mut self, tag: u8) {
        let name_len = self.name_len as usize;
        let mut at = name_len;
        while at < self.payload_len as usize {
            let Ok((len, t)) = entry_len(&self.payload[..self.payload_len as usize], at) else {
                return;
            };
            if t & !TAG_TRUNCATED == tag {
                let end = self.payload_len as usize;
                self.payload.copy_within(at + len..end, at);
                self.payload_len -= len as u16;
            } else {
                at += len;
            }
        }
    }

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

mod view;
pub use view::{AttrIter, AttrView, EntryView, RecordView};

#[cfg(test)]
mod tests;

impl Record {
    /// Rewrites every timestamp (start, end, event times) with `f`; the sidecar
    /// uses it to turn raw ticks into Unix nanoseconds once, at drain time.
    /// Call only on a record that [`RecordView::new`] accepted.
    pub fn map_times(&mut self, f: impl Fn(u64) -> u64) {
        self.start = f(self.start);
        self.end = f(self.end);
        let used = (self.payload_len as usize).min(PAYLOAD_SIZE);
        let mut at = self.name_len as usize;
        while at < used {
            let Ok((len, tag)) = entry_len(&self.payload[..used], at) else {
                return;
            };
            if tag & !TAG_TRUNCATED == TAG_EVENT {
                let t =
                    u64::from_le_bytes(self.payload[at + 1..at + 9].try_into().unwrap_or_default());
                self.payload[at + 1..at + 9].copy_from_slice(&f(t).to_le_bytes());
            }
            at += len;
        }
    }
}

#[cfg(not(loom))]
impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Record");
        d.field("trace_id", &crate::trace::context::hex(&self.trace_id))
            .field("span_id", &crate::trace::context::hex(&self.span_id))
            .field(
                "parent_span_id",
                &crate::trace::context::hex(&self.parent_span_id),
            )
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
