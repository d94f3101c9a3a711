//! OTLP/JSON encoding (the protobuf JSON mapping with OTLP's exceptions): field
//! names in lowerCamelCase, trace and span ids as lowercase hex, enums as
//! integers, 64-bit integers (times, `intValue`) as decimal strings. Fields at
//! their default value are left out. Written with serde from borrowing wrappers
//! around the record views, so nothing is copied into intermediate structs.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use super::{
    Chunk, ResourceGroup, ResourceValue, SCOPE_NAME, SCOPE_VERSION, TRUNCATED_ATTR, chunks, group,
    hex_id, nested_truncations, resource_attrs, span_flags, span_has_truncation, span_truncations,
};
use crate::batch::SpanBatch;
use ringside::record::{AttrIter, EntryView, RecordView, StatusCode, Value};

/// Appends `batches` to `out` as one OTLP/JSON `ExportTraceServiceRequest`
/// object, without a trailing newline (a JSONL line is one such object).
/// Records that fail validation are skipped.
pub fn encode_json(batches: &[SpanBatch], out: &mut Vec<u8>) {
    encode_chunks(&chunks(batches), out);
}

/// Appends `chunks` as one request object; returns the number of spans written.
pub(crate) fn encode_chunks(chunks: &[Chunk<'_>], out: &mut Vec<u8>) -> u64 {
    let groups = group(chunks);
    let request = Request(&groups);
    // Writing to a Vec cannot fail, and every Serialize impl here is infallible.
    let _ = serde_json::to_writer(&mut *out, &request);
    groups.iter().map(|g| g.views().count() as u64).sum()
}

/// Serializes a map from `(key, value)` entries whose values may differ in type.
macro_rules! map {
    ($s:expr, { $($key:literal : $value:expr),* $(,)? }) => {{
        let mut m = $s.serialize_map(None)?;
        $(m.serialize_entry($key, &$value)?;)*
        m.end()
    }};
}

struct Request<'a>(&'a [ResourceGroup<'a>]);

impl Serialize for Request<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        map!(s, { "resourceSpans": Seq(self.0.iter().map(ResourceSpans)) })
    }
}

/// A sequence serialized from a cloneable iterator.
struct Seq<I>(I);

impl<I> Serialize for Seq<I>
where
    I: Iterator + Clone,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for item in self.0.clone() {
            seq.serialize_element(&item)?;
        }
        seq.end()
    }
}

struct ResourceSpans<'a>(&'a ResourceGroup<'a>);

impl Serialize for ResourceSpans<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let attrs = resource_attrs(self.0.resource).map(|(key, value)| KeyValue {
            key,
            value: match value {
                ResourceValue::Str(v) => Value::Str(v),
                ResourceValue::Int(i) => Value::I64(i),
            },
        });
        let scope_spans = ScopeSpans(self.0);
        map!(s, {
            "resource": Attributes(Seq(attrs)),
            "scopeSpans": [scope_spans],
        })
    }
}

/// `{"attributes": [...]}`.
struct Attributes<T>(T);

impl<T: Serialize> Serialize for Attributes<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        map!(s, { "attributes": self.0 })
    }
}

struct ScopeSpans<'a>(&'a ResourceGroup<'a>);

impl Serialize for ScopeSpans<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let group = self.0;
        map!(s, {
            "scope": Scope,
            "spans": Seq(group.views().map(Span)),
        })
    }
}

struct Scope;

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        map!(s, { "name": SCOPE_NAME, "version": SCOPE_VERSION })
    }
}

struct KeyValue<'a> {
    key: &'a str,
    value: Value<'a>,
}

impl Serialize for KeyValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        map!(s, { "key": self.key, "value": AnyValue(self.value) })
    }
}

struct AnyValue<'a>(Value<'a>);

impl Serialize for AnyValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        match self.0 {
            Value::Str(v) => m.serialize_entry("stringValue", v)?,
            Value::I64(v) => m.serialize_entry("intValue", &Decimal(v))?,
            Value::F64(v) if v.is_finite() => m.serialize_entry("doubleValue", &v)?,
            // The protobuf JSON mapping spells non-finite doubles as strings.
            Value::F64(v) if v.is_nan() => m.serialize_entry("doubleValue", "NaN")?,
            Value::F64(v) if v > 0.0 => m.serialize_entry("doubleValue", "Infinity")?,
            Value::F64(_) => m.serialize_entry("doubleValue", "-Infinity")?,
            Value::Bool(v) => m.serialize_entry("boolValue", &v)?,
        }
        m.end()
    }
}

/// A 64-bit integer as a decimal string, written without allocating.
struct Decimal<T>(T);

impl<T: std::fmt::Display> Serialize for Decimal<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// Lowercase hex of an id.
struct Hex<'a>(&'a [u8]);

impl Serialize for Hex<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 32];
        let n = self.0.len().min(16) * 2;
        let hex = hex_id(self.0, &mut buf);
        s.serialize_str(&hex[..n])
    }
}

/// `{"arrayValue": {"values": [{"stringValue": ...}, ...]}}`, the value of
/// [`TRUNCATED_ATTR`].
struct StringList<I>(I);

impl<'a, I: Iterator<Item = &'a str> + Clone> Serialize for StringList<I> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let values = Seq(self.0.clone().map(|v| AnyValue(Value::Str(v))));
        map!(s, { "arrayValue": Values(values) })
    }
}

struct Values<T>(T);

impl<T: Serialize> Serialize for Values<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        map!(s, { "values": self.0 })
    }
}

/// `{"key": "ringside.truncated", "value": <StringList>}`.
struct TruncatedAttr<I>(I);

impl<'a, I: Iterator<Item = &'a str> + Clone> Serialize for TruncatedAttr<I> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        map!(s, { "key": TRUNCATED_ATTR, "value": StringList(self.0.clone()) })
    }
}

struct Span<'a>(RecordView<'a>);

impl Serialize for Span<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = &self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("traceId", &Hex(&v.trace_id()))?;
        m.serialize_entry("spanId", &Hex(&v.span_id()))?;
        if let Some(state) = v.trace_state() {
            m.serialize_entry("traceState", state)?;
        }
        if let Some(parent) = v.parent_span_id() {
            m.serialize_entry("parentSpanId", &Hex(&parent))?;
        }
        m.serialize_entry("flags", &span_flags(v))?;
        m.serialize_entry("name", v.name())?;
        m.serialize_entry("kind", &(v.kind() as u8))?;
        m.serialize_entry("startTimeUnixNano", &Decimal(v.start()))?;
        m.serialize_entry("endTimeUnixNano", &Decimal(v.end()))?;
        let (mut has_attrs, mut has_events, mut has_links) = (v.name_truncated(), false, false);
        for e in v.entries() {
            match e {
                EntryView::Attr(_) | EntryView::TraceState(None) => has_attrs = true,
                EntryView::Status { truncated, .. } => has_attrs |= truncated,
                EntryView::Event { .. } => has_events = true,
                EntryView::Link { .. } => has_links = true,
                EntryView::TraceState(Some(_)) => {}
            }
        }
        if has_attrs {
            m.serialize_entry("attributes", &SpanAttributes(*v))?;
        }
        let (attrs, events, links) = v.dropped();
        if attrs != 0 {
            m.serialize_entry("droppedAttributesCount", &attrs)?;
        }
        if has_events {
            let events = Seq(v.entries().filter_map(Event::from_entry));
            m.serialize_entry("events", &events)?;
        }
        if events != 0 {
            m.serialize_entry("droppedEventsCount", &events)?;
        }
        if has_links {
            m.serialize_entry("links", &Seq(v.entries().filter_map(Link::from_entry)))?;
        }
        if links != 0 {
            m.serialize_entry("droppedLinksCount", &links)?;
        }
        let message = v.status_message();
        if v.status() != StatusCode::Unset || message.is_some() {
            m.serialize_entry("status", &Status(v.status(), message))?;
        }
        m.end()
    }
}

/// The span's own attributes, then [`TRUNCATED_ATTR`] if something was cut.
struct SpanAttributes<'a>(RecordView<'a>);

impl Serialize for SpanAttributes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for a in self.0.attrs() {
            seq.serialize_element(&KeyValue {
                key: a.key,
                value: a.value,
            })?;
        }
        if span_has_truncation(&self.0) {
            seq.serialize_element(&TruncatedAttr(span_truncations(&self.0)))?;
        }
        seq.end()
    }
}

/// Attributes of an event or link, then [`TRUNCATED_ATTR`] if something was cut.
struct NestedAttributes<'a> {
    name_cut: bool,
    attrs: AttrIter<'a>,
}

impl Serialize for NestedAttributes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for a in self.attrs {
            seq.serialize_element(&KeyValue {
                key: a.key,
                value: a.value,
            })?;
        }
        let cut = nested_truncations(self.name_cut, self.attrs);
        if cut.clone().next().is_some() {
            seq.serialize_element(&TruncatedAttr(cut))?;
        }
        seq.end()
    }
}

struct Event<'a> {
    time: u64,
    name: &'a str,
    attrs: NestedAttributes<'a>,
}

impl<'a> Event<'a> {
    fn from_entry(e: EntryView<'a>) -> Option<Event<'a>> {
        match e {
            EntryView::Event {
                time,
                name,
                truncated,
                attrs,
            } => Some(Event {
                time,
                name,
                attrs: NestedAttributes {
                    name_cut: truncated,
                    attrs,
                },
            }),
            _ => None,
        }
    }
}

impl Serialize for Event<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        map!(s, {
            "timeUnixNano": Decimal(self.time),
            "name": self.name,
            "attributes": self.attrs,
        })
    }
}

struct Link<'a> {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    flags: u8,
    attrs: NestedAttributes<'a>,
}

impl<'a> Link<'a> {
    fn from_entry(e: EntryView<'a>) -> Option<Link<'a>> {
        match e {
            EntryView::Link {
                trace_id,
                span_id,
                trace_flags,
                attrs,
            } => Some(Link {
                trace_id,
                span_id,
                flags: trace_flags,
                attrs: NestedAttributes {
                    name_cut: false,
                    attrs,
                },
            }),
            _ => None,
        }
    }
}

impl Serialize for Link<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        map!(s, {
            "traceId": Hex(&self.trace_id),
            "spanId": Hex(&self.span_id),
            "attributes": self.attrs,
            "flags": self.flags,
        })
    }
}

struct Status<'a>(StatusCode, Option<&'a str>);

impl Serialize for Status<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if let Some(message) = self.1 {
            m.serialize_entry("message", message)?;
        }
        if self.0 != StatusCode::Unset {
            m.serialize_entry("code", &(self.0 as u8))?;
        }
        m.end()
    }
}
