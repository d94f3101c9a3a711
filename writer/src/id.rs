//! Trace and span ids and their lowercase hex form: a leaf that the record
//! layout, the ring header and the writer API all use.

use std::fmt;

/// A W3C trace id: 16 bytes, never all zero when valid.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId(pub [u8; 16]);

/// A W3C span (parent) id: 8 bytes, never all zero when valid.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId(pub [u8; 8]);

impl TraceId {
    /// The invalid all-zero id.
    pub const INVALID: TraceId = TraceId([0; 16]);

    /// True unless the id is all zero.
    pub fn is_valid(&self) -> bool {
        self.0 != [0; 16]
    }

    /// A new random, valid trace id (all 16 bytes random, so the W3C
    /// "random-trace-id" flag holds).
    #[inline]
    pub fn random() -> TraceId {
        loop {
            let id =
                u128::from(crate::random::next_u64()) << 64 | u128::from(crate::random::next_u64());
            if id != 0 {
                return TraceId(id.to_be_bytes());
            }
        }
    }

    /// Lowercase hex, 32 characters.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Parses 32 lowercase hex digits. Uppercase is refused, as W3C requires.
    pub fn from_hex(s: &str) -> Option<TraceId> {
        let mut id = [0u8; 16];
        parse_lower_hex(s.as_bytes(), &mut id).then_some(TraceId(id))
    }
}

impl SpanId {
    /// The invalid all-zero id.
    pub const INVALID: SpanId = SpanId([0; 8]);

    /// True unless the id is all zero.
    pub fn is_valid(&self) -> bool {
        self.0 != [0; 8]
    }

    /// A new random, valid span id.
    #[inline]
    pub fn random() -> SpanId {
        loop {
            let v = crate::random::next_u64();
            if v != 0 {
                return SpanId(v.to_be_bytes());
            }
        }
    }

    /// Lowercase hex, 16 characters.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Parses 16 lowercase hex digits. Uppercase is refused, as W3C requires.
    pub fn from_hex(s: &str) -> Option<SpanId> {
        let mut id = [0u8; 8];
        parse_lower_hex(s.as_bytes(), &mut id).then_some(SpanId(id))
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}
impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}
impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}
impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Fills `out` from exactly `2 * out.len()` lowercase hex digits.
pub(crate) fn parse_lower_hex(s: &[u8], out: &mut [u8]) -> bool {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    if s.len() != out.len() * 2 {
        return false;
    }
    for (i, pair) in s.chunks_exact(2).enumerate() {
        match (nibble(pair[0]), nibble(pair[1])) {
            (Some(h), Some(l)) => out[i] = (h << 4) | l,
            _ => return false,
        }
    }
    true
}
