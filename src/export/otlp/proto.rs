//! OTLP protobuf encoding, written straight from the record views with prost's
//! wire primitives: no intermediate message structs, no allocation per span.
//!
//! Nested messages are length-delimited, and their length is known only once
//! they are written. [`begin`] reserves room for the length (one byte for
//! events, links and status, two for a span, five for the per-resource
//! wrappers) and [`end`] writes it, moving the body when the length needed
//! another number of bytes than reserved, so the output is canonical.

use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};

use super::{
    Chunk, ResourceGroup, ResourceValue, SCOPE_NAME, SCOPE_VERSION, TRUNCATED_ATTR, chunks, group,
    nested_truncations, resource_attrs, span_flags, span_truncations,
};
use crate::batch::SpanBatch;
use ringside::record::{AttrIter, EntryView, RecordView, StatusCode, Value};

/// Appends `batches` to `out` as one protobuf `ExportTraceServiceRequest`.
/// Records that fail validation are skipped.
pub fn encode_proto(batches: &[SpanBatch], out: &mut Vec<u8>) {
    encode_chunks(&chunks(batches), out);
}

/// Appends `chunks` as one request; returns the number of spans written.
pub(crate) fn encode_chunks(chunks: &[Chunk<'_>], out: &mut Vec<u8>) -> u64 {
    let mut spans = 0;
    for g in group(chunks) {
        spans += resource_spans(out, &g);
    }
    spans
}

/// `ResourceSpans` (field 1 of the request) for one resource.
fn resource_spans(out: &mut Vec<u8>, g: &ResourceGroup<'_>) -> u64 {
    let rs = begin(out, 1, 5);
    let res = begin(out, 1, 2);
    for (key, value) in resource_attrs(g.resource) {
        let value = match value {
            ResourceValue::Str(s) => Value::Str(s),
            ResourceValue::Int(i) => Value::I64(i),
        };
        key_value(out, 1, key, value);
    }
    end(out, res, 2);
    let ss = begin(out, 2, 5);
    let scope = begin(out, 1, 1);
    str_field(out, 1, SCOPE_NAME);
    str_field(out, 2, SCOPE_VERSION);
    end(out, scope, 1);
    let mut spans = 0;
    for v in g.views() {
        span(out, &v);
        spans += 1;
    }
    end(out, ss, 5);
    end(out, rs, 5);
    spans
}

/// One `Span` (field 2 of `ScopeSpans`). Fields are written in one pass over the
/// record's entries, so trace state, attributes, events and links come in
/// record order; protobuf readers accept fields in any order.
fn span(out: &mut Vec<u8>, v: &RecordView<'_>) {
    let at = begin(out, 2, 2);
    bytes_field(out, 1, &v.trace_id());
    bytes_field(out, 2, &v.span_id());
    if let Some(parent) = v.parent_span_id() {
        bytes_field(out, 4, &parent);
    }
    str_field(out, 5, v.name());
    varint_field(out, 6, v.kind() as u64);
    fixed64_field(out, 7, v.start());
    fixed64_field(out, 8, v.end());
    let mut cut = v.name_truncated();
    let mut message = None;
    for e in v.entries() {
        match e {
            EntryView::Attr(a) => {
                cut |= a.truncated;
                key_value(out, 9, a.key, a.value);
            }
            EntryView::Event {
                time,
                name,
                truncated,
                attrs,
            } => event(out, time, name, truncated, attrs),
            EntryView::Link {
                trace_id,
                span_id,
                trace_flags,
                attrs,
            } => {
                let l = begin(out, 13, 1);
                bytes_field(out, 1, &trace_id);
                bytes_field(out, 2, &span_id);
                nested_attrs(out, 4, false, attrs);
                fixed32_field(out, 6, trace_flags.into());
                end(out, l, 1);
            }
            EntryView::Status {
                message: m,
                truncated,
            } => {
                cut |= truncated;
                message = Some(m);
            }
            EntryView::TraceState(Some(s)) => str_field(out, 3, s),
            EntryView::TraceState(None) => cut = true,
        }
    }
    if cut {
        string_list(out, 9, TRUNCATED_ATTR, span_truncations(v));
    }
    let (attrs, events, links) = v.dropped();
    varint_field(out, 10, attrs.into());
    varint_field(out, 12, events.into());
    varint_field(out, 14, links.into());
    if v.status() != StatusCode::Unset || message.is_some() {
        let s = begin(out, 15, 1);
        str_field(out, 2, message.unwrap_or(""));
        varint_field(out, 3, v.status() as u64);
        end(out, s, 1);
    }
    fixed32_field(out, 16, span_flags(v));
    end(out, at, 2);
}

/// One `Span.Event` (field 11).
fn event(out: &mut Vec<u8>, time: u64, name: &str, name_cut: bool, attrs: AttrIter<'_>) {
    let at = begin(out, 11, 1);
    fixed64_field(out, 1, time);
    str_field(out, 2, name);
    nested_attrs(out, 3, name_cut, attrs);
    end(out, at, 1);
}

/// The attributes of an event or link as field `tag`, plus [`TRUNCATED_ATTR`]
/// when something was cut.
fn nested_attrs(out: &mut Vec<u8>, tag: u32, name_cut: bool, attrs: AttrIter<'_>) {
    let mut cut = name_cut;
    for a in attrs {
        cut |= a.truncated;
        key_value(out, tag, a.key, a.value);
    }
    if cut {
        string_list(
            out,
            tag,
            TRUNCATED_ATTR,
            nested_truncations(name_cut, attrs),
        );
    }
}

/// Length of an `AnyValue` holding `value`.
fn any_value_len(value: Value<'_>) -> usize {
    1 + match value {
        Value::Str(s) => encoded_len_varint(s.len() as u64) + s.len(),
        Value::I64(i) => encoded_len_varint(i as u64),
        Value::F64(_) => 8,
        Value::Bool(_) => 1,
    }
}

/// A `KeyValue` as field `tag`; its length is computed up front.
fn key_value(out: &mut Vec<u8>, tag: u32, key: &str, value: Value<'_>) {
    let any = any_value_len(value);
    let kv = 1
        + encoded_len_varint(key.len() as u64)
        + key.len()
        + 1
        + encoded_len_varint(any as u64)
        + any;
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(kv as u64, out);
    str_field_always(out, 1, key);
    encode_key(2, WireType::LengthDelimited, out);
    encode_varint(any as u64, out);
    // AnyValue is a oneof: the chosen field is written even when it is zero.
    match value {
        Value::Str(s) => str_field_always(out, 1, s),
        Value::Bool(b) => {
            encode_key(2, WireType::Varint, out);
            encode_varint(b.into(), out);
        }
        Value::I64(i) => {
            encode_key(3, WireType::Varint, out);
            encode_varint(i as u64, out);
        }
        Value::F64(f) => {
            encode_key(4, WireType::SixtyFourBit, out);
            out.extend_from_slice(&f.to_le_bytes());
        }
    }
}

/// A `KeyValue` as field `tag` whose value is an array of strings.
fn string_list<'a>(out: &mut Vec<u8>, tag: u32, key: &str, items: impl Iterator<Item = &'a str>) {
    let kv = begin(out, tag, 1);
    str_field_always(out, 1, key);
    let any = begin(out, 2, 1);
    let array = begin(out, 5, 1);
    for item in items {
        let value = begin(out, 1, 1);
        str_field_always(out, 1, item);
        end(out, value, 1);
    }
    end(out, array, 1);
    end(out, any, 1);
    end(out, kv, 1);
}

/// Writes the key of length-delimited field `tag` and reserves `reserve` bytes
/// for its length; returns where the reserved bytes start, for [`end`].
#[inline]
fn begin(out: &mut Vec<u8>, tag: u32, reserve: usize) -> usize {
    encode_key(tag, WireType::LengthDelimited, out);
    let at = out.len();
    out.resize(at + reserve, 0);
    at
}

/// Writes the length of the field opened by [`begin`] at `at`, moving its body
/// if the length takes another number of bytes than was reserved.
#[inline]
fn end(out: &mut Vec<u8>, at: usize, reserved: usize) {
    let body = at + reserved;
    let len = out.len() - body;
    let need = encoded_len_varint(len as u64);
    if need < reserved {
        out.copy_within(body.., at + need);
        out.truncate(at + need + len);
    } else if need > reserved {
        out.resize(out.len() + need - reserved, 0);
        out.copy_within(body..body + len, at + need);
    }
    let mut slot = &mut out[at..at + need];
    encode_varint(len as u64, &mut slot);
}

fn bytes_field(out: &mut Vec<u8>, tag: u32, bytes: &[u8]) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// A string field, left out when empty (proto3 default).
fn str_field(out: &mut Vec<u8>, tag: u32, s: &str) {
    if !s.is_empty() {
        str_field_always(out, tag, s);
    }
}

fn str_field_always(out: &mut Vec<u8>, tag: u32, s: &str) {
    bytes_field(out, tag, s.as_bytes());
}

/// A varint field, left out when zero (proto3 default).
fn varint_field(out: &mut Vec<u8>, tag: u32, v: u64) {
    if v != 0 {
        encode_key(tag, WireType::Varint, out);
        encode_varint(v, out);
    }
}

fn fixed64_field(out: &mut Vec<u8>, tag: u32, v: u64) {
    encode_key(tag, WireType::SixtyFourBit, out);
    out.extend_from_slice(&v.to_le_bytes());
}

fn fixed32_field(out: &mut Vec<u8>, tag: u32, v: u32) {
    encode_key(tag, WireType::ThirtyTwoBit, out);
    out.extend_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_writes_canonical_lengths_whatever_was_reserved() {
        for (reserve, len) in [(1, 5), (1, 300), (2, 5), (2, 20000), (5, 0), (5, 200)] {
            let mut out = Vec::new();
            let at = begin(&mut out, 2, reserve);
            out.extend((0..len).map(|i| i as u8));
            end(&mut out, at, reserve);
            let mut expected = Vec::new();
            bytes_field(
                &mut expected,
                2,
                &(0..len).map(|i| i as u8).collect::<Vec<_>>(),
            );
            assert_eq!(out, expected, "reserve {reserve}, len {len}");
        }
    }
}
