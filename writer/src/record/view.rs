//! Reading records from untrusted memory: every length, tag and string is checked
//! once by [`RecordView::new`]; after that the accessors borrow from the record
//! without copying or allocating.

use super::{
    DecodeError, PAYLOAD_SIZE, Record, SpanKind, StatusCode, TAG_BOOL, TAG_EVENT, TAG_F64, TAG_I64,
    TAG_LINK, TAG_STATUS, TAG_STR, TAG_TRACE_STATE, TAG_TRUNCATED, Value, entry_len,
};

/// A record whose structure has been validated.
#[derive(Clone, Copy)]
pub struct RecordView<'a> {
    rec: &'a Record,
    name: &'a str,
    kind: SpanKind,
    status: StatusCode,
}

/// One attribute, borrowed from a record.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttrView<'a> {
    /// Attribute key.
    pub key: &'a str,
    /// Attribute value.
    pub value: Value<'a>,
    /// The string value was cut to fit.
    pub truncated: bool,
}

/// One top-level payload entry.
#[derive(Clone, Copy, Debug)]
pub enum EntryView<'a> {
    /// A span attribute.
    Attr(AttrView<'a>),
    /// An event with its attributes.
    Event {
        /// Event time in raw ticks.
        time: u64,
        /// Event name.
        name: &'a str,
        /// The name was cut to fit.
        truncated: bool,
        /// The event's attributes.
        attrs: AttrIter<'a>,
    },
    /// A link with its attributes.
    Link {
        /// Linked trace id.
        trace_id: [u8; 16],
        /// Linked span id.
        span_id: [u8; 8],
        /// Trace flags of the linked span.
        trace_flags: u8,
        /// The link's attributes.
        attrs: AttrIter<'a>,
    },
    /// The status message.
    Status {
        /// Message text.
        message: &'a str,
        /// The message was cut to fit.
        truncated: bool,
    },
    /// The W3C trace state; `None` when it did not fit and was left out.
    TraceState(Option<&'a str>),
}

/// Iterates over a run of attribute entries.
#[derive(Clone, Copy, Debug)]
pub struct AttrIter<'a> {
    payload: &'a [u8],
    at: usize,
    left: usize,
}

fn utf8(b: &[u8]) -> Result<&str, DecodeError> {
    std::str::from_utf8(b).map_err(|_| DecodeError::NotUtf8)
}

/// Decodes the attribute entry at `at` (whose bounds `entry_len` checked).
fn attr_at(p: &[u8], at: usize) -> Result<AttrView<'_>, DecodeError> {
    let tag = p[at];
    let klen = p[at + 1] as usize;
    let key = utf8(&p[at + 2..at + 2 + klen])?;
    let v = at + 2 + klen;
    let value = match tag & !TAG_TRUNCATED {
        TAG_STR => {
            let n = p[v] as usize;
            Value::Str(utf8(&p[v + 1..v + 1 + n])?)
        }
        TAG_I64 => Value::I64(i64::from_le_bytes(
            p[v..v + 8].try_into().unwrap_or_default(),
        )),
        TAG_F64 => Value::F64(f64::from_bits(u64::from_le_bytes(
            p[v..v + 8].try_into().unwrap_or_default(),
        ))),
        TAG_BOOL => Value::Bool(p[v] != 0),
        _ => return Err(DecodeError::BadEntry),
    };
    Ok(AttrView {
        key,
        value,
        truncated: tag & TAG_TRUNCATED != 0,
    })
}

/// Decodes the top-level entry at `at`; returns it and its whole length.
fn entry_at(p: &[u8], at: usize) -> Result<(EntryView<'_>, usize), DecodeError> {
    let (len, tag) = entry_len(p, at)?;
    let truncated = tag & TAG_TRUNCATED != 0;
    let entry = match tag & !TAG_TRUNCATED {
        TAG_STR | TAG_I64 | TAG_F64 | TAG_BOOL => EntryView::Attr(attr_at(p, at)?),
        TAG_EVENT => {
            let n = p[at + 9] as usize;
            let name = utf8(&p[at + 10..at + 10 + n])?;
            let time = u64::from_le_bytes(p[at + 1..at + 9].try_into().unwrap_or_default());
            let attrs = AttrIter {
                payload: p,
                at: at + 11 + n,
                left: p[at + 10 + n] as usize,
            };
            EntryView::Event {
                time,
                name,
                truncated,
                attrs,
            }
        }
        TAG_LINK => {
            let mut trace_id = [0; 16];
            trace_id.copy_from_slice(&p[at + 1..at + 17]);
            let mut span_id = [0; 8];
            span_id.copy_from_slice(&p[at + 17..at + 25]);
            EntryView::Link {
                trace_id,
                span_id,
                trace_flags: p[at + 25],
                attrs: AttrIter {
                    payload: p,
                    at: at + 27,
                    left: p[at + 26] as usize,
                },
            }
        }
        TAG_STATUS => EntryView::Status {
            message: utf8(&p[at + 2..at + len])?,
            truncated,
        },
        TAG_TRACE_STATE if truncated => EntryView::TraceState(None),
        TAG_TRACE_STATE => EntryView::TraceState(Some(utf8(&p[at + 3..at + len])?)),
        _ => return Err(DecodeError::BadEntry),
    };
    Ok((entry, len))
}

impl<'a> Iterator for AttrIter<'a> {
    type Item = AttrView<'a>;

    fn next(&mut self) -> Option<AttrView<'a>> {
        if self.left == 0 {
            return None;
        }
        // Validated by RecordView::new; a failure here means memory changed
        // under us, and ending the iteration is the safe answer.
        let (len, _) = entry_len(self.payload, self.at).ok()?;
        let attr = attr_at(self.payload, self.at).ok()?;
        self.at += len;
        self.left -= 1;
        Some(attr)
    }
}

/// Iterates over the top-level entries of a validated record.
#[derive(Clone, Copy)]
pub struct Entries<'a> {
    payload: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Entries<'a> {
    type Item = EntryView<'a>;

    fn next(&mut self) -> Option<EntryView<'a>> {
        if self.at >= self.payload.len() {
            return None;
        }
        let (entry, len) = entry_at(self.payload, self.at).ok()?;
        self.at += len;
        Some(entry)
    }
}

impl<'a> RecordView<'a> {
    /// Validates `rec`: lengths, kind, status, every entry and every string.
    pub fn new(rec: &'a Record) -> Result<RecordView<'a>, DecodeError> {
        let used = rec.payload_len as usize;
        let name_len = rec.name_len as usize;
        if used > PAYLOAD_SIZE || name_len > used {
            return Err(DecodeError::BadLength);
        }
        let kind = SpanKind::from_u8(rec.kind).ok_or(DecodeError::BadEnum)?;
        let status = StatusCode::from_u8(rec.status).ok_or(DecodeError::BadEnum)?;
        if rec.trace_id == [0; 16] || rec.span_id == [0; 8] {
            return Err(DecodeError::ZeroId);
        }
        let name = utf8(&rec.payload[..name_len])?;
        let payload = &rec.payload[..used];
        let mut at = name_len;
        while at < used {
            let (entry, len) = entry_at(payload, at)?;
            if let EntryView::Event { attrs, .. } | EntryView::Link { attrs, .. } = entry {
                let mut attrs = attrs;
                while attrs.left > 0 {
                    let (len, _) = entry_len(payload, attrs.at)?;
                    attr_at(payload, attrs.at)?;
                    attrs.at += len;
                    attrs.left -= 1;
                }
            }
            at += len;
        }
        Ok(RecordView {
            rec,
            name,
            kind,
            status,
        })
    }

    /// The underlying record.
    pub fn record(&self) -> &'a Record {
        self.rec
    }
    /// Trace id.
    pub fn trace_id(&self) -> [u8; 16] {
        self.rec.trace_id
    }
    /// Span id.
    pub fn span_id(&self) -> [u8; 8] {
        self.rec.span_id
    }
    /// Parent span id, `None` for a root span.
    pub fn parent_span_id(&self) -> Option<[u8; 8]> {
        (self.rec.parent_span_id != [0; 8]).then_some(self.rec.parent_span_id)
    }
    /// Start in raw ticks.
    pub fn start(&self) -> u64 {
        self.rec.start
    }
    /// End in raw ticks.
    pub fn end(&self) -> u64 {
        self.rec.end
    }
    /// Span kind.
    pub fn kind(&self) -> SpanKind {
        self.kind
    }
    /// Status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }
    /// W3C trace flags.
    pub fn trace_flags(&self) -> u8 {
        self.rec.trace_flags
    }
    /// True when the parent came from another process.
    pub fn parent_is_remote(&self) -> bool {
        self.rec.flags & Record::FLAG_PARENT_REMOTE != 0
    }
    /// Span name.
    pub fn name(&self) -> &'a str {
        self.name
    }
    /// True when the name was cut to fit.
    pub fn name_truncated(&self) -> bool {
        self.rec.flags & Record::FLAG_NAME_TRUNCATED != 0
    }
    /// Counts of attributes, events and links dropped for want of space.
    pub fn dropped(&self) -> (u32, u32, u32) {
        (
            self.rec.dropped_attrs.into(),
            self.rec.dropped_events.into(),
            self.rec.dropped_links.into(),
        )
    }
    /// All top-level entries in the order they were written.
    pub fn entries(&self) -> Entries<'a> {
        Entries {
            payload: &self.rec.payload[..self.rec.payload_len as usize],
            at: self.rec.name_len as usize,
        }
    }
    /// The span's own attributes.
    pub fn attrs(&self) -> impl Iterator<Item = AttrView<'a>> + 'a {
        self.entries().filter_map(|e| match e {
            EntryView::Attr(a) => Some(a),
            _ => None,
        })
    }
    /// The status message, if one was set.
    pub fn status_message(&self) -> Option<&'a str> {
        self.entries().find_map(|e| match e {
            EntryView::Status { message, .. } => Some(message),
            _ => None,
        })
    }
    /// The W3C trace state text, if the span had one and it fitted.
    pub fn trace_state(&self) -> Option<&'a str> {
        self.entries().find_map(|e| match e {
            EntryView::TraceState(s) => s,
            _ => None,
        })
    }
}

impl Record {
    /// The value of span attribute `key` (the first one with that key), for a
    /// record that [`RecordView::new`] has accepted already, as the sidecar's
    /// stages get them: a walk over the entries' lengths that compares keys
    /// and decodes only the matching value, without validating the record
    /// again. The answer is what `RecordView::attrs` would find. On a record
    /// that was not validated it returns `None` or a value, and never panics.
    pub fn attr(&self, key: &str) -> Option<Value<'_>> {
        let used = (self.payload_len as usize).min(PAYLOAD_SIZE);
        let p = &self.payload[..used];
        let mut at = self.name_len as usize;
        while at < used {
            let (len, tag) = entry_len(p, at).ok()?;
            // An attribute entry is tag, key length, key, value.
            if matches!(tag & !TAG_TRUNCATED, TAG_STR..=TAG_BOOL)
                && p.get(at + 2..at + 2 + p[at + 1] as usize) == Some(key.as_bytes())
            {
                return attr_at(p, at).ok().map(|a| a.value);
            }
            at += len;
        }
        None
    }

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
