//! Records and checks shared by the OTLP tests: spans that use every record
//! feature, and a field-by-field comparison of a decoded OTLP span with the
//! record it came from (read through the record's own accessors).

#![allow(dead_code)]

use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use ringside::record::{EntryView, Record, RecordView, SpanKind, StatusCode, Value};
use ringside_agent::batch::{Resource, SpanBatch};

/// Unix ns used as the base time of the sample spans.
pub const T0: u64 = 1_764_000_000_123_456_789;

pub fn resource(service: &str, pid: u32) -> Arc<Resource> {
    Arc::new(Resource {
        service: service.into(),
        pid,
        host: "node-7".into(),
        ring_id: 99,
        attributes: vec![("deployment.environment".into(), "test".into())],
    })
}

fn ids(n: u8, r: &mut Record) {
    r.trace_id = [n; 16];
    r.trace_id[0] = 0xa0;
    r.span_id = [n; 8];
    r.span_id[7] = 0x5c;
    r.kind = SpanKind::Internal as u8;
    r.start = T0 + u64::from(n) * 1000;
    r.end = r.start + 250_000 + u64::from(n);
}

/// A server span with a remote parent and every kind of entry.
pub fn full_span() -> Record {
    let mut r = Record::new("storage.data.write");
    ids(1, &mut r);
    r.parent_span_id = [0x77; 8];
    r.flags |= Record::FLAG_PARENT_REMOTE;
    r.trace_flags = 0x03;
    r.kind = SpanKind::Server as u8;
    r.set_trace_state("vendor=abc");
    r.push_attr("path", Value::Str("/vol/a/\"quoted\"\n"));
    r.push_attr("size", Value::I64(-4096));
    r.push_attr("ratio", Value::F64(0.25));
    r.push_attr("sync", Value::Bool(true));
    r.push_event(T0 + 1500, "retry", &[("attempt", Value::I64(2))]);
    r.push_link(
        [0xbb; 16],
        [0xcc; 8],
        0x01,
        &[("rel", Value::Str("follows"))],
    );
    r.set_status(StatusCode::Error, "disk full");
    r
}

/// A root client span with nothing but a name; status Ok.
pub fn root_span(n: u8) -> Record {
    let mut r = Record::new("meta.lookup");
    ids(n, &mut r);
    r.kind = SpanKind::Client as u8;
    r.trace_flags = 0x01;
    r.set_status(StatusCode::Ok, "");
    r
}

/// Name, trace state and an attribute value cut; one more attribute dropped.
pub fn span_cut_name_state_attr() -> Record {
    let mut r = Record::new(&"n".repeat(150));
    ids(3, &mut r);
    r.parent_span_id = [0x33; 8];
    r.set_trace_state(&format!("k={}", "v".repeat(60)));
    r.push_attr("path", Value::Str(&"p".repeat(100)));
    r.push_attr("lost", Value::I64(1));
    r.push_event(T0, "lost-event", &[]);
    r.push_link([1; 16], [1; 8], 0, &[]);
    r
}

/// An event whose name and attribute value were cut.
pub fn span_cut_event() -> Record {
    let mut r = Record::new("ev-span");
    ids(4, &mut r);
    r.push_event(
        T0 + 7,
        &"e".repeat(150),
        &[("k", Value::Str(&"x".repeat(100)))],
    );
    r
}

/// A link attribute value cut, and a status message cut (two records).
pub fn span_cut_link() -> Record {
    let mut r = Record::new("link-span");
    ids(5, &mut r);
    r.kind = SpanKind::Producer as u8;
    r.push_attr("f", Value::Str(&"f".repeat(90)));
    r.push_link(
        [2; 16],
        [3; 8],
        1,
        &[("note", Value::Str(&"n".repeat(100)))],
    );
    r
}

pub fn span_cut_status() -> Record {
    let mut r = Record::new("st");
    ids(6, &mut r);
    r.kind = SpanKind::Consumer as u8;
    r.set_status(StatusCode::Error, &"m".repeat(300));
    r
}

/// Three batches, two of them of the same resource (by value, not by pointer),
/// with every sample record.
pub fn sample_batches() -> Vec<SpanBatch> {
    let a = resource("data-node", 4242);
    let b = resource("meta-server", 17);
    vec![
        SpanBatch {
            resource: a.clone(),
            records: vec![full_span(), root_span(2), span_cut_name_state_attr()],
        },
        SpanBatch {
            resource: b,
            records: vec![span_cut_event(), span_cut_link(), span_cut_status()],
        },
        SpanBatch {
            resource: Arc::new((*a).clone()),
            records: vec![root_span(8)],
        },
    ]
}

pub fn str_value(v: &AnyValue) -> Option<&str> {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

/// Splits off the `ringside.truncated` attribute: the rest, and its list.
pub fn split_truncated(attrs: &[KeyValue]) -> (Vec<&KeyValue>, Option<Vec<String>>) {
    let mut rest = Vec::new();
    let mut cut = None;
    for kv in attrs {
        if kv.key == "ringside.truncated" {
            let Some(any_value::Value::ArrayValue(a)) =
                kv.value.as_ref().and_then(|v| v.value.as_ref())
            else {
                panic!("ringside.truncated is not an array: {kv:?}");
            };
            cut = Some(
                a.values
                    .iter()
                    .map(|v| str_value(v).unwrap().to_string())
                    .collect(),
            );
        } else {
            rest.push(kv);
        }
    }
    (rest, cut)
}

fn assert_attrs_match<'a>(
    got: &[&KeyValue],
    want: impl Iterator<Item = ringside::record::AttrView<'a>>,
    what: &str,
) {
    let want: Vec<_> = want.collect();
    assert_eq!(got.len(), want.len(), "{what}: attribute count");
    for (kv, a) in got.iter().zip(&want) {
        assert_eq!(kv.key, a.key, "{what}");
        let v = kv.value.as_ref().and_then(|v| v.value.as_ref());
        let ok = match (v, a.value) {
            (Some(any_value::Value::StringValue(s)), Value::Str(w)) => s == w,
            (Some(any_value::Value::IntValue(i)), Value::I64(w)) => *i == w,
            (Some(any_value::Value::DoubleValue(d)), Value::F64(w)) => d.to_bits() == w.to_bits(),
            (Some(any_value::Value::BoolValue(b)), Value::Bool(w)) => *b == w,
            _ => false,
        };
        assert!(
            ok,
            "{what}: attribute {} is {v:?}, record has {:?}",
            a.key, a.value
        );
    }
}

/// Compares every field of `span` with the record; returns the truncation lists
/// of the span, its events and its links (in order) for the caller to check.
pub fn assert_span_matches(span: &Span, rec: &Record) -> Vec<Option<Vec<String>>> {
    let v = RecordView::new(rec).unwrap();
    let what = v.name();
    assert_eq!(span.trace_id, v.trace_id(), "{what}: trace id");
    assert_eq!(span.span_id, v.span_id(), "{what}: span id");
    match v.parent_span_id() {
        Some(p) => assert_eq!(span.parent_span_id, p, "{what}: parent"),
        None => assert!(span.parent_span_id.is_empty(), "{what}: root has no parent"),
    }
    assert_eq!(
        span.trace_state,
        v.trace_state().unwrap_or(""),
        "{what}: trace state"
    );
    assert_eq!(span.name, v.name(), "{what}: name");
    assert_eq!(span.kind, v.kind() as i32, "{what}: kind");
    assert_eq!(span.start_time_unix_nano, v.start(), "{what}: start");
    assert_eq!(span.end_time_unix_nano, v.end(), "{what}: end");
    let remote = if v.parent_is_remote() { 0x300 } else { 0x100 };
    assert_eq!(
        span.flags,
        u32::from(v.trace_flags()) | remote,
        "{what}: flags"
    );
    let (da, de, dl) = v.dropped();
    assert_eq!(
        span.dropped_attributes_count, da,
        "{what}: dropped attributes"
    );
    assert_eq!(span.dropped_events_count, de, "{what}: dropped events");
    assert_eq!(span.dropped_links_count, dl, "{what}: dropped links");
    let status = span.status.clone().unwrap_or_default();
    assert_eq!(status.code, v.status() as i32, "{what}: status code");
    assert_eq!(
        status.message,
        v.status_message().unwrap_or(""),
        "{what}: status message"
    );

    let mut cuts = Vec::new();
    let (attrs, cut) = split_truncated(&span.attributes);
    assert_attrs_match(&attrs, v.attrs(), what);
    cuts.push(cut);

    let mut events = span.events.iter();
    let mut links = span.links.iter();
    for e in v.entries() {
        match e {
            EntryView::Event {
                time, name, attrs, ..
            } => {
                let got = events.next().expect("event missing");
                assert_eq!(got.time_unix_nano, time, "{what}: event time");
                assert_eq!(got.name, name, "{what}: event name");
                let (got_attrs, cut) = split_truncated(&got.attributes);
                assert_attrs_match(&got_attrs, attrs, what);
                cuts.push(cut);
            }
            EntryView::Link {
                trace_id,
                span_id,
                trace_flags,
                attrs,
            } => {
                let got = links.next().expect("link missing");
                assert_eq!(got.trace_id, trace_id, "{what}: link trace id");
                assert_eq!(got.span_id, span_id, "{what}: link span id");
                assert_eq!(got.flags, u32::from(trace_flags), "{what}: link flags");
                let (got_attrs, cut) = split_truncated(&got.attributes);
                assert_attrs_match(&got_attrs, attrs, what);
                cuts.push(cut);
            }
            _ => {}
        }
    }
    assert!(events.next().is_none(), "{what}: extra events");
    assert!(links.next().is_none(), "{what}: extra links");
    cuts
}

pub fn strings(items: &[&str]) -> Option<Vec<String>> {
    Some(items.iter().map(|s| s.to_string()).collect())
}

/// Checks a decoded request against [`sample_batches`]: resources grouped by
/// value, every span field, and the truncation lists.
pub fn assert_sample_request(
    req: &opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
) {
    let batches = sample_batches();
    assert_eq!(
        req.resource_spans.len(),
        2,
        "one ResourceSpans per distinct resource"
    );
    let expected: [(&str, u32, Vec<&Record>); 2] = [
        (
            "data-node",
            4242,
            batches[0]
                .records
                .iter()
                .chain(&batches[2].records)
                .collect(),
        ),
        ("meta-server", 17, batches[1].records.iter().collect()),
    ];
    let mut cuts = Vec::new();
    for (rs, (service, pid, records)) in req.resource_spans.iter().zip(expected) {
        let attrs = &rs.resource.as_ref().expect("resource").attributes;
        let attr = |k: &str| {
            attrs
                .iter()
                .find(|kv| kv.key == k)
                .and_then(|kv| kv.value.clone())
                .and_then(|v| v.value)
        };
        assert_eq!(
            attr("service.name"),
            Some(any_value::Value::StringValue(service.into()))
        );
        assert_eq!(
            attr("host.name"),
            Some(any_value::Value::StringValue("node-7".into()))
        );
        assert_eq!(
            attr("process.pid"),
            Some(any_value::Value::IntValue(pid.into()))
        );
        assert_eq!(
            attr("deployment.environment"),
            Some(any_value::Value::StringValue("test".into()))
        );
        assert_eq!(rs.scope_spans.len(), 1);
        let scope = rs.scope_spans[0].scope.as_ref().expect("scope");
        assert_eq!(scope.name, "ringside");
        assert_eq!(scope.version, env!("CARGO_PKG_VERSION"));
        let spans = &rs.scope_spans[0].spans;
        assert_eq!(spans.len(), records.len(), "{service}: span count");
        for (span, rec) in spans.iter().zip(records) {
            cuts.push(assert_span_matches(span, rec));
        }
    }
    let none = None;
    assert_eq!(
        cuts,
        vec![
            vec![none.clone(), none.clone(), none.clone()],
            vec![none.clone()],
            vec![strings(&["name", "trace_state", "path"])],
            vec![none.clone()],
            vec![none.clone(), strings(&["name", "k"])],
            vec![none.clone(), strings(&["note"])],
            vec![strings(&["status.message"])],
        ],
        "truncation lists of span, events, links"
    );
}

/// The samples really exercise what the tests claim they do.
pub fn assert_samples_cover_features() {
    let cut = span_cut_name_state_attr();
    let v = RecordView::new(&cut).unwrap();
    assert!(v.name_truncated());
    assert_eq!(v.dropped(), (1, 1, 1));
    let full = full_span();
    let v = RecordView::new(&full).unwrap();
    assert_eq!(v.attrs().count(), 4);
    assert!(v.parent_is_remote());
    assert_eq!(v.trace_state(), Some("vendor=abc"));
    assert_eq!(v.status_message(), Some("disk full"));
}
