//! Writing a record: the name, then attributes, events, links, status and
//! trace state appended as payload entries, cut or dropped (and counted) when
//! they do not fit.

use super::*;

impl Record {
    /// The parent was extracted from another process.
    pub const FLAG_PARENT_REMOTE: u8 = 0x01;
    /// The name was cut to fit.
    pub const FLAG_NAME_TRUNCATED: u8 = 0x02;

    /// An empty record named `name` (cut to [`MAX_NAME`] bytes if longer).
    #[inline(always)]
    pub fn new(name: &str) -> Record {
        let mut r = Record::zeroed();
        r.reset(name);
        r
    }

    /// Makes this record an empty record named `name`, in place (a span's
    /// record is built where it lives, never moved). Payload bytes past the
    /// name keep whatever they held: nothing reads past `payload_len`.
    #[inline(always)]
    pub fn reset(&mut self, name: &str) {
        bytemuck::bytes_of_mut(self)[..PAYLOAD_OFFSET].fill(0);
        let name_kept = cut_utf8(name, MAX_NAME);
        if name_kept.len() < name.len() {
            self.flags |= Record::FLAG_NAME_TRUNCATED;
        }
        // `min` again, though `cut_utf8` already cut: the compiler then sees
        // that the copy is in bounds and drops the panic branch.
        let n = name_kept.len().min(MAX_NAME);
        copy_short(&mut self.payload[..n], &name_kept.as_bytes()[..n]);
        self.name_len = n as u8;
        self.payload_len = n as u16;
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
        copy_short(&mut self.payload[at..at + bytes.len()], bytes);
        self.payload_len += bytes.len() as u16;
    }

    /// Appends an attribute entry; returns false (and writes nothing) if it does
    /// not fit even with its string value cut. Keys are never cut: an attribute
    /// whose key is longer than 255 bytes is refused.
    ///
    /// Inlined: at a call site the value's variant and usually the key's length
    /// are known, so what remains is one room check and a few stores. A string
    /// value that must be cut takes the out-of-line [`Record::put_cut_str`].
    #[inline(always)]
    fn put_attr(&mut self, key: &str, value: Value<'_>) -> bool {
        match value {
            Value::Str(s) => {
                if key.len() > u8::MAX as usize || s.len() > u8::MAX as usize {
                    return self.put_cut_str(key, s);
                }
                let at = self.payload_len as usize;
                let end = at + 3 + key.len() + s.len();
                let Some(entry) = self.payload.get_mut(at..end) else {
                    return self.put_cut_str(key, s);
                };
                let (head, rest) = entry.split_at_mut(2);
                head.copy_from_slice(&[TAG_STR, key.len() as u8]);
                let (k, rest) = rest.split_at_mut(key.len());
                copy_short(k, key.as_bytes());
                rest[0] = s.len() as u8;
                copy_short(&mut rest[1..], s.as_bytes());
                self.payload_len = end as u16;
                true
            }
            Value::I64(v) => self.put_fixed(TAG_I64, key, v.to_le_bytes()),
            Value::F64(v) => self.put_fixed(TAG_F64, key, v.to_bits().to_le_bytes()),
            Value::Bool(v) => self.put_fixed(TAG_BOOL, key, [v as u8]),
        }
    }

    /// Appends an entry of a fixed-size value; false (and nothing written) if
    /// the key is too long or the entry does not fit.
    #[inline(always)]
    fn put_fixed<const N: usize>(&mut self, tag: u8, key: &str, value: [u8; N]) -> bool {
        if key.len() > u8::MAX as usize {
            return false;
        }
        let at = self.payload_len as usize;
        let end = at + 2 + key.len() + N;
        let Some(entry) = self.payload.get_mut(at..end) else {
            return false;
        };
        let (head, rest) = entry.split_at_mut(2);
        head.copy_from_slice(&[tag, key.len() as u8]);
        let (k, v) = rest.split_at_mut(key.len());
        copy_short(k, key.as_bytes());
        v.copy_from_slice(&value);
        self.payload_len = end as u16;
        true
    }

    /// A string attribute that does not fit whole (or whose value is longer
    /// than 255 bytes): its value cut at a character boundary to the room left
    /// and marked, or refused if less than [`MIN_CUT_VALUE`] bytes would be kept.
    #[cold]
    #[inline(never)]
    fn put_cut_str(&mut self, key: &str, s: &str) -> bool {
        let head = 2 + key.len();
        let room = self.room();
        if key.len() > u8::MAX as usize || room < head + 1 {
            return false;
        }
        let space = (room - head - 1).min(u8::MAX as usize);
        let kept = cut_utf8(s, space);
        if kept.len() < s.len() && kept.len() < MIN_CUT_VALUE.min(s.len()) {
            return false;
        }
        let tag = if kept.len() < s.len() {
            TAG_STR | TAG_TRUNCATED
        } else {
            TAG_STR
        };
        self.put(&[tag, key.len() as u8]);
        self.put(key.as_bytes());
        self.put(&[kept.len() as u8]);
        self.put(kept.as_bytes());
        true
    }

    /// Adds an attribute of the span, or counts it as dropped if it does not fit.
    #[inline(always)]
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
    #[inline(always)]
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
}
