//! The in-memory span model every analysis works on, whatever the input
//! (the SQLite store or OTLP-JSON lines).

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

pub use ringside::record::{SpanKind, StatusCode};
pub use ringside::trace::{SpanId, TraceId};

/// An attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    /// UTF-8 text.
    Str(String),
    /// Signed integer.
    Int(i64),
    /// Floating point.
    Double(f64),
    /// Boolean.
    Bool(bool),
    /// Anything else OTLP can carry (arrays, maps, bytes), as JSON text.
    Other(String),
}

impl fmt::Display for AttrValue {
    /// The text form that `--attr key=value` filters and `--group-by` compare:
    /// strings as they are, numbers in decimal, `true`/`false`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::Str(s) | AttrValue::Other(s) => f.write_str(s),
            AttrValue::Int(v) => write!(f, "{v}"),
            AttrValue::Double(v) => write!(f, "{v}"),
            AttrValue::Bool(v) => write!(f, "{v}"),
        }
    }
}

impl From<ringside::record::Value<'_>> for AttrValue {
    fn from(v: ringside::record::Value<'_>) -> Self {
        use ringside::record::Value;
        match v {
            Value::Str(s) => AttrValue::Str(s.to_owned()),
            Value::I64(v) => AttrValue::Int(v),
            Value::F64(v) => AttrValue::Double(v),
            Value::Bool(v) => AttrValue::Bool(v),
        }
    }
}

impl AttrValue {
    /// Reads a value from JSON as the store writes it (typed scalars; strings
    /// for everything else).
    pub fn from_json(v: &serde_json::Value) -> AttrValue {
        match v {
            serde_json::Value::String(s) => AttrValue::Str(s.clone()),
            serde_json::Value::Bool(b) => AttrValue::Bool(*b),
            serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) if !n.is_f64() => AttrValue::Int(i),
                (_, Some(f)) => AttrValue::Double(f),
                _ => AttrValue::Other(n.to_string()),
            },
            other => AttrValue::Other(other.to_string()),
        }
    }
}

impl Serialize for AttrValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            AttrValue::Str(v) | AttrValue::Other(v) => s.serialize_str(v),
            AttrValue::Int(v) => s.serialize_i64(*v),
            AttrValue::Double(v) => s.serialize_f64(*v),
            AttrValue::Bool(v) => s.serialize_bool(*v),
        }
    }
}

/// Key-value pairs in the order they were written.
pub type Attributes = Vec<(String, AttrValue)>;

/// Serializes attributes as a JSON object.
pub fn serialize_attrs<S: Serializer>(attrs: &Attributes, s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(attrs.len()))?;
    for (k, v) in attrs {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

/// Serializes an id (or anything `Display`) as its text.
pub fn serialize_display<T: fmt::Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn serialize_opt_id<S: Serializer>(v: &Option<SpanId>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(id) => s.collect_str(id),
        None => s.serialize_none(),
    }
}

fn serialize_kind<S: Serializer>(v: &SpanKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.as_str())
}

fn serialize_status<S: Serializer>(v: &StatusCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.as_str())
}

/// A timed event inside a span.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// Unix nanoseconds.
    pub time_ns: u64,
    /// Event name.
    pub name: String,
    /// Event attributes.
    #[serde(serialize_with = "serialize_attrs")]
    pub attributes: Attributes,
}

/// A link to another span.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Link {
    /// Linked trace.
    #[serde(serialize_with = "serialize_display")]
    pub trace_id: TraceId,
    /// Linked span.
    #[serde(serialize_with = "serialize_display")]
    pub span_id: SpanId,
    /// Link attributes.
    #[serde(serialize_with = "serialize_attrs")]
    pub attributes: Attributes,
}

/// One span. Times are Unix nanoseconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpanRow {
    /// Trace id.
    #[serde(serialize_with = "serialize_display")]
    pub trace_id: TraceId,
    /// Span id.
    #[serde(serialize_with = "serialize_display")]
    pub span_id: SpanId,
    /// Parent span id; `None` for a root.
    #[serde(serialize_with = "serialize_opt_id")]
    pub parent_span_id: Option<SpanId>,
    /// `service.name` of the process that recorded it.
    pub service: Arc<str>,
    /// `host.name` of that process (empty when unknown).
    pub host: Arc<str>,
    /// Operation name.
    pub name: Arc<str>,
    /// Span kind.
    #[serde(serialize_with = "serialize_kind")]
    pub kind: SpanKind,
    /// Status code.
    #[serde(serialize_with = "serialize_status")]
    pub status: StatusCode,
    /// Status message (errors only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// Start, Unix ns.
    pub start_ns: u64,
    /// End, Unix ns.
    pub end_ns: u64,
    /// Attributes (all, some or none of them, as the query asked).
    #[serde(serialize_with = "serialize_attrs")]
    pub attributes: Attributes,
    /// Events (loaded with details only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
    /// Links (loaded with details only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
}

impl SpanRow {
    /// End minus start, zero if the end is before the start.
    pub fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }

    /// True when the status is error.
    pub fn is_error(&self) -> bool {
        self.status == StatusCode::Error
    }

    /// The first attribute named `key`.
    pub fn attr(&self, key: &str) -> Option<&AttrValue> {
        first_attr(&self.attributes, key)
    }
}

/// The first of `attrs` named `key`.
fn first_attr<'a>(attrs: &'a [(String, AttrValue)], key: &str) -> Option<&'a AttrValue> {
    attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// What latency statistics need of a span, borrowed from whoever holds it
/// (a [`SpanRow`], or a row being read: [`super::input::Input::for_each_timing`]).
#[derive(Clone, Copy, Debug)]
pub struct SpanTiming<'a> {
    /// `service.name` of the process that recorded it.
    pub service: &'a Arc<str>,
    /// Operation name.
    pub name: &'a Arc<str>,
    /// True when the status is error.
    pub error: bool,
    /// End minus start, zero if the end is before the start.
    pub duration_ns: u64,
    /// The attributes the read selected.
    pub attributes: &'a [(String, AttrValue)],
}

impl<'a> SpanTiming<'a> {
    /// The timing of a loaded span.
    pub fn of(span: &'a SpanRow) -> SpanTiming<'a> {
        SpanTiming {
            service: &span.service,
            name: &span.name,
            error: span.is_error(),
            duration_ns: span.duration_ns(),
            attributes: &span.attributes,
        }
    }

    /// The first attribute named `key`.
    pub fn attr(&self, key: &str) -> Option<&'a AttrValue> {
        first_attr(self.attributes, key)
    }
}

/// Shares one allocation among the many spans with the same service or
/// operation name.
/// foldhash rather than SipHash: this is a lookup per span read, and the
/// names come from the local store or files, not from a network peer.
#[derive(Default, Debug)]
pub struct Names(HashSet<Arc<str>, foldhash::fast::RandomState>);

impl Names {
    /// The shared copy of `s`, borrowed, if there is one yet: for a caller
    /// that only lends the name on, sparing the reference count that
    /// [`Names::intern`] touches. (Inserting too and returning the borrow
    /// would take two lookups per call: the borrow checker rejects returning
    /// the first lookup's borrow from a fn that may insert after it.)
    pub fn get(&self, s: &str) -> Option<&Arc<str>> {
        self.0.get(s)
    }

    /// The shared copy of `s`.
    pub fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(v) = self.0.get(s) {
            return v.clone();
        }
        let v: Arc<str> = Arc::from(s);
        self.0.insert(v.clone());
        v
    }
}

/// Parses a trace id given by a user: 32 hex digits, either case.
pub fn parse_trace_id(s: &str) -> Option<TraceId> {
    TraceId::from_hex(&s.trim().to_ascii_lowercase()).filter(|t| t.is_valid())
}

/// Parses a span id: 16 hex digits, either case.
pub fn parse_span_id(s: &str) -> Option<SpanId> {
    SpanId::from_hex(&s.trim().to_ascii_lowercase()).filter(|t| t.is_valid())
}
