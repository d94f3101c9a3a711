//! A series' identity: service, span name, kind, status code and the
//! configured extra dimensions, packed into one byte string that is both the
//! index key and, decoded, the series' labels. Lookups pack into a reused
//! buffer, so finding an existing series allocates nothing.
//!
//! Records in a [`crate::batch::SpanBatch`] were validated by the source
//! stage, so the key is packed from the record's bytes as they are (name
//! bytes, kind and status bytes) without decoding the record again: that
//! decoding would cost more than the rest of the stage. A dimension's value
//! is found by [`Record::attr`], which walks the entries without validating
//! them again.

use ringside::record::{Record, SpanKind, StatusCode, Value};

use crate::batch::Resource;

/// Longest string kept in a key; longer ones are cut (at a character
/// boundary). Span names and attribute values are shorter than a record's
/// payload anyway; this bounds service names and configured dimensions too.
pub const MAX_PART: usize = 255;

/// Packs the key of `rec` (from `resource`) into `buf`: kind, status, then
/// each string as a one-byte length and its bytes. `rec` is a validated
/// record (from a [`crate::batch::SpanBatch`]). False (and nothing packed)
/// for a record whose name length does not fit its payload.
pub fn pack(buf: &mut Vec<u8>, resource: &Resource, rec: &Record, dimensions: &[String]) -> bool {
    buf.clear();
    let Some(name) = rec.payload.get(..rec.name_len as usize) else {
        return false;
    };
    buf.push(rec.kind);
    buf.push(rec.status);
    push_str(buf, &resource.service);
    // Names are shorter than a payload, which is shorter than MAX_PART.
    buf.push(name.len().min(MAX_PART) as u8);
    buf.extend_from_slice(&name[..name.len().min(MAX_PART)]);
    for d in dimensions {
        push_dimension(buf, resource, rec, d);
    }
    true
}

fn push_dimension(buf: &mut Vec<u8>, resource: &Resource, rec: &Record, key: &str) {
    if let Some(value) = rec.attr(key) {
        match value {
            Value::Str(s) => push_str(buf, s),
            Value::I64(v) => push_number(buf, v),
            Value::F64(v) => push_number(buf, v),
            Value::Bool(v) => push_str(buf, if v { "true" } else { "false" }),
        }
        return;
    }
    let from_resource = match key {
        "host.name" => Some(resource.host.as_str()),
        _ => resource
            .attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str()),
    };
    push_str(buf, from_resource.unwrap_or(""));
}

/// Packs a number's text as [`push_str`] would, without allocating it.
fn push_number(buf: &mut Vec<u8>, v: impl std::fmt::Display) {
    use std::io::Write as _;
    let at = buf.len();
    buf.push(0);
    // Writing to a Vec cannot fail; numbers print ASCII, so any cut is at a
    // character boundary.
    let _ = write!(buf, "{v}");
    let len = (buf.len() - at - 1).min(MAX_PART);
    buf.truncate(at + 1 + len);
    buf[at] = len as u8;
}

fn push_str(buf: &mut Vec<u8>, s: &str) {
    let mut end = s.len().min(MAX_PART);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    buf.push(end as u8);
    buf.extend_from_slice(&s.as_bytes()[..end]);
}

/// A series' labels, decoded from its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Labels {
    /// `service.name`.
    pub service: String,
    /// Span name.
    pub name: String,
    /// Span kind.
    pub kind: SpanKind,
    /// Status code.
    pub status: StatusCode,
    /// Values of the configured dimensions, in configuration order (empty
    /// when the span and its resource had none).
    pub dimensions: Vec<String>,
}

/// Decodes a key made by [`pack`]; `None` for bytes it did not make.
pub fn unpack(key: &[u8]) -> Option<Labels> {
    let (&kind, rest) = key.split_first()?;
    let (&status, mut rest) = rest.split_first()?;
    let mut strings = Vec::new();
    while let Some((&len, tail)) = rest.split_first() {
        let len = len as usize;
        if tail.len() < len {
            return None;
        }
        strings.push(String::from_utf8_lossy(&tail[..len]).into_owned());
        rest = &tail[len..];
    }
    if strings.len() < 2 {
        return None;
    }
    let dimensions = strings.split_off(2);
    let name = strings.pop()?;
    let service = strings.pop()?;
    Some(Labels {
        service,
        name,
        kind: SpanKind::from_u8(kind)?,
        status: StatusCode::from_u8(status)?,
        dimensions,
    })
}

/// OTLP's name of a span kind (`SPAN_KIND_SERVER`), as the OpenTelemetry
/// Collector's span metrics label it.
pub fn kind_label(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Internal => "SPAN_KIND_INTERNAL",
        SpanKind::Server => "SPAN_KIND_SERVER",
        SpanKind::Client => "SPAN_KIND_CLIENT",
        SpanKind::Producer => "SPAN_KIND_PRODUCER",
        SpanKind::Consumer => "SPAN_KIND_CONSUMER",
    }
}

/// OTLP's name of a status code (`STATUS_CODE_ERROR`).
pub fn status_label(status: StatusCode) -> &'static str {
    match status {
        StatusCode::Unset => "STATUS_CODE_UNSET",
        StatusCode::Ok => "STATUS_CODE_OK",
        StatusCode::Error => "STATUS_CODE_ERROR",
    }
}
