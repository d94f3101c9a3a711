//! OTLP-JSON lines: one `ExportTraceServiceRequest` JSON object per line, as
//! ringside's JSONL exporter and the OpenTelemetry Collector's file exporter
//! write them. Ids are hex, 64-bit integers may be strings or numbers, enums
//! may be numbers or their names (`SPAN_KIND_SERVER`). A line that is not such
//! an object, or a span with bad ids or times, is counted and skipped.

use std::io::BufRead;
use std::sync::Arc;

use serde::Deserialize;

use super::Skipped;
use crate::analyze::model::{
    AttrValue, Attributes, Event, Link, Names, SpanKind, SpanRow, StatusCode, parse_span_id,
    parse_trace_id,
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    resource_spans: Vec<ResourceSpans>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceSpans {
    #[serde(default)]
    resource: Option<Resource>,
    #[serde(default, alias = "instrumentationLibrarySpans")]
    scope_spans: Vec<ScopeSpans>,
}

#[derive(Deserialize, Default)]
struct Resource {
    #[serde(default)]
    attributes: Vec<KeyValue>,
}

#[derive(Deserialize)]
struct ScopeSpans {
    #[serde(default)]
    spans: Vec<OtlpSpan>,
}

#[derive(Deserialize)]
struct KeyValue {
    key: String,
    #[serde(default)]
    value: serde_json::Value,
}

/// A number that OTLP-JSON may also write as a string (64-bit integers) or a
/// name (enums).
#[derive(Deserialize, Clone, Debug)]
#[serde(untagged)]
enum Num {
    Int(i64),
    Uint(u64),
    Float(f64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OtlpSpan {
    trace_id: String,
    span_id: String,
    #[serde(default)]
    parent_span_id: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: Option<Num>,
    start_time_unix_nano: Num,
    end_time_unix_nano: Num,
    #[serde(default)]
    attributes: Vec<KeyValue>,
    #[serde(default)]
    events: Vec<OtlpEvent>,
    #[serde(default)]
    links: Vec<OtlpLink>,
    #[serde(default)]
    status: Option<Status>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OtlpEvent {
    time_unix_nano: Num,
    #[serde(default)]
    name: String,
    #[serde(default)]
    attributes: Vec<KeyValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OtlpLink {
    trace_id: String,
    span_id: String,
    #[serde(default)]
    attributes: Vec<KeyValue>,
}

#[derive(Deserialize, Default)]
struct Status {
    #[serde(default)]
    code: Option<Num>,
    #[serde(default)]
    message: Option<String>,
}

fn unix_ns(n: &Num, what: &str) -> Result<u64, String> {
    match n {
        Num::Int(v) => u64::try_from(*v).map_err(|_| format!("{what} is negative")),
        Num::Uint(v) => Ok(*v),
        Num::Text(s) => s
            .parse()
            .map_err(|_| format!("{what} {s:?} is not an integer")),
        Num::Float(f) => Err(format!("{what} {f} is not an integer")),
    }
}

fn kind(n: &Option<Num>) -> Result<SpanKind, String> {
    let code = match n {
        None => 0,
        Some(Num::Int(v)) => *v,
        Some(Num::Uint(v)) => *v as i64,
        Some(Num::Text(s)) => match s.as_str() {
            "SPAN_KIND_UNSPECIFIED" => 0,
            "SPAN_KIND_INTERNAL" => 1,
            "SPAN_KIND_SERVER" => 2,
            "SPAN_KIND_CLIENT" => 3,
            "SPAN_KIND_PRODUCER" => 4,
            "SPAN_KIND_CONSUMER" => 5,
            _ => return Err(format!("unknown span kind {s:?}")),
        },
        Some(Num::Float(_)) => -1,
    };
    // Unspecified is read as internal, as the OpenTelemetry specification says.
    match code {
        0 => Ok(SpanKind::Internal),
        c => u8::try_from(c)
            .ok()
            .and_then(SpanKind::from_u8)
            .ok_or_else(|| format!("span kind {c} out of range")),
    }
}

fn status(s: &Option<Status>) -> Result<(StatusCode, Option<String>), String> {
    let Some(s) = s else {
        return Ok((StatusCode::Unset, None));
    };
    let code = match &s.code {
        None => StatusCode::Unset,
        Some(Num::Text(t)) => match t.as_str() {
            "STATUS_CODE_UNSET" => StatusCode::Unset,
            "STATUS_CODE_OK" => StatusCode::Ok,
            "STATUS_CODE_ERROR" => StatusCode::Error,
            _ => return Err(format!("unknown status code {t:?}")),
        },
        Some(Num::Int(v)) => u8::try_from(*v)
            .ok()
            .and_then(StatusCode::from_u8)
            .ok_or_else(|| format!("status code {v} out of range"))?,
        Some(other) => return Err(format!("status code {other:?} out of range")),
    };
    let message = s.message.clone().filter(|m| !m.is_empty());
    Ok((code, message))
}

/// Converts an OTLP `AnyValue` object.
fn any_value(v: &serde_json::Value) -> AttrValue {
    let int = |x: &serde_json::Value| match x {
        serde_json::Value::String(s) => s.parse().ok(),
        x => x.as_i64(),
    };
    if let Some(s) = v.get("stringValue").and_then(|s| s.as_str()) {
        AttrValue::Str(s.to_owned())
    } else if let Some(i) = v.get("intValue").and_then(int) {
        AttrValue::Int(i)
    } else if let Some(d) = v.get("doubleValue") {
        match d {
            serde_json::Value::String(s) => s
                .parse()
                .map(AttrValue::Double)
                .unwrap_or_else(|_| AttrValue::Str(s.clone())),
            d => d
                .as_f64()
                .map(AttrValue::Double)
                .unwrap_or_else(|| AttrValue::Other(d.to_string())),
        }
    } else if let Some(b) = v.get("boolValue").and_then(|b| b.as_bool()) {
        AttrValue::Bool(b)
    } else {
        AttrValue::Other(v.to_string())
    }
}

fn attributes(kvs: &[KeyValue]) -> Attributes {
    kvs.iter()
        .map(|kv| (kv.key.clone(), any_value(&kv.value)))
        .collect()
}

fn span(
    s: OtlpSpan,
    service: &Arc<str>,
    host: &Arc<str>,
    names: &mut Names,
) -> Result<SpanRow, String> {
    let trace_id = parse_trace_id(&s.trace_id).ok_or("traceId is not 32 hex digits")?;
    let span_id = parse_span_id(&s.span_id).ok_or("spanId is not 16 hex digits")?;
    let parent_span_id = match s.parent_span_id.as_deref().map(str::trim) {
        None | Some("") | Some("0000000000000000") => None,
        Some(p) => Some(parse_span_id(p).ok_or("parentSpanId is not 16 hex digits")?),
    };
    let (status, status_message) = status(&s.status)?;
    let events = s
        .events
        .iter()
        .map(|e| {
            Ok(Event {
                time_ns: unix_ns(&e.time_unix_nano, "event timeUnixNano")?,
                name: e.name.clone(),
                attributes: attributes(&e.attributes),
            })
        })
        .collect::<Result<_, String>>()?;
    let links = s
        .links
        .iter()
        .map(|l| {
            Ok(Link {
                trace_id: parse_trace_id(&l.trace_id).ok_or("link traceId is not 32 hex digits")?,
                span_id: parse_span_id(&l.span_id).ok_or("link spanId is not 16 hex digits")?,
                attributes: attributes(&l.attributes),
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(SpanRow {
        trace_id,
        span_id,
        parent_span_id,
        service: service.clone(),
        host: host.clone(),
        name: names.intern(&s.name),
        kind: kind(&s.kind)?,
        status,
        status_message,
        start_ns: unix_ns(&s.start_time_unix_nano, "startTimeUnixNano")?,
        end_ns: unix_ns(&s.end_time_unix_nano, "endTimeUnixNano")?,
        attributes: attributes(&s.attributes),
        events,
        links,
    })
}

/// Reads every line of `reader` and calls `emit` for each good span. `label`
/// (the file name) prefixes the descriptions of skipped lines and spans.
/// Only an I/O error stops the reading.
pub fn read<R: BufRead>(
    mut reader: R,
    label: &str,
    names: &mut Names,
    skipped: &mut Skipped,
    mut emit: impl FnMut(SpanRow),
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(());
        }
        line_no += 1;
        let Ok(line) = std::str::from_utf8(&buf) else {
            skipped.add(|| format!("{label}:{line_no}: not UTF-8"));
            continue;
        };
        if line.trim().is_empty() {
            continue;
        }
        let request: Request = match serde_json::from_str(line) {
            Ok(r) => r,
            Err(e) => {
                skipped.add(|| format!("{label}:{line_no}: {e}"));
                continue;
            }
        };
        for rs in request.resource_spans {
            let attrs = rs
                .resource
                .map(|r| attributes(&r.attributes))
                .unwrap_or_default();
            let find = |key: &str| {
                attrs
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.to_string())
            };
            let service =
                names.intern(&find("service.name").unwrap_or_else(|| "unknown_service".into()));
            let host = names.intern(&find("host.name").unwrap_or_default());
            for ss in rs.scope_spans {
                for s in ss.spans {
                    let id = s.span_id.clone();
                    match span(s, &service, &host, names) {
                        Ok(span) => emit(span),
                        Err(why) => {
                            skipped.add(|| format!("{label}:{line_no}: span {id:?}: {why}"))
                        }
                    }
                }
            }
        }
    }
}
