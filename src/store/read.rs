//! Reading spans back into the analysis model ([`crate::analyze::model`]).

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::Row;
use rusqlite::types::ValueRef;

use super::{Store, StoreError};
use crate::analyze::input::{AttrSelection, Loaded, SpanQuery};
use crate::analyze::model::{
    AttrValue, Attributes, Event, Link, Names, Span, SpanId, SpanKind, StatusCode, TraceId,
    parse_span_id, parse_trace_id,
};

const COLUMNS: &str = "id, trace_id, span_id, parent_span_id, resource_id, name, kind, status, \
                       start_ns, end_ns";
const DETAIL_COLUMNS: &str = ", status_message, attributes, events, links";

impl Store {
    /// Appends the spans `query` selects to `out`, skipping (and counting)
    /// rows that do not decode.
    pub fn load(
        &self,
        query: &SpanQuery,
        names: &mut Names,
        out: &mut Loaded,
    ) -> Result<(), StoreError> {
        let resources = self.resource_names(names)?;
        let full_attrs = query.attributes == AttrSelection::All;
        let mut by_key = match &query.attributes {
            AttrSelection::Keys(keys) => self.attrs_by_span(keys)?,
            _ => HashMap::new(),
        };
        let detail = if full_attrs || query.details {
            DETAIL_COLUMNS
        } else {
            ""
        };
        let mut decode = |row: &Row<'_>, out: &mut Loaded| -> Result<(), StoreError> {
            let id: i64 = row.get(0)?;
            match decode_row(row, &resources, names, !detail.is_empty()) {
                Ok(mut span) => {
                    if let Some(attrs) = by_key.remove(&id) {
                        span.attributes = attrs;
                    }
                    query.trim(&mut span);
                    out.spans.push(span);
                }
                Err(why) => out.skipped.add(|| format!("spans row {id}: {why}")),
            }
            Ok(())
        };
        if let Some(ids) = &query.trace_ids {
            let sql = format!("SELECT {COLUMNS}{detail} FROM spans WHERE trace_id = ?1");
            let mut stmt = self.conn.prepare(&sql)?;
            for id in ids {
                let mut rows = stmt.query([&id.0[..]])?;
                while let Some(row) = rows.next()? {
                    decode(row, out)?;
                }
            }
            return Ok(());
        }
        let mut conds = Vec::new();
        if let Some(t) = query.since_ns {
            conds.push(format!(
                "start_ns >= {}",
                i64::try_from(t).unwrap_or(i64::MAX)
            ));
        }
        if let Some(t) = query.until_ns {
            conds.push(format!(
                "start_ns < {}",
                i64::try_from(t).unwrap_or(i64::MAX)
            ));
        }
        let filter = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        let sql = format!("SELECT {COLUMNS}{detail} FROM spans{filter}");
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            decode(row, out)?;
        }
        Ok(())
    }

    /// Service and host of every resource row.
    fn resource_names(&self, names: &mut Names) -> Result<ResourceNames, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, service, host FROM resources")?;
        let mut rows = stmt.query([])?;
        let mut map = HashMap::new();
        while let Some(row) = rows.next()? {
            let service = names.intern(row.get_ref(1)?.as_str().unwrap_or("?"));
            let host = names.intern(row.get_ref(2)?.as_str().unwrap_or(""));
            map.insert(row.get(0)?, (service, host));
        }
        Ok(map)
    }

    /// The text values of `keys` for every span that has them, by span row.
    fn attrs_by_span(&self, keys: &[String]) -> Result<HashMap<i64, Attributes>, StoreError> {
        let mut map: HashMap<i64, Attributes> = HashMap::new();
        let mut stmt = self
            .conn
            .prepare("SELECT span, value FROM span_attrs WHERE key = ?1")?;
        for key in keys {
            let mut rows = stmt.query([key])?;
            while let Some(row) = rows.next()? {
                let value = row.get_ref(1)?.as_str().unwrap_or_default();
                map.entry(row.get(0)?)
                    .or_default()
                    .push((key.clone(), AttrValue::Str(value.to_owned())));
            }
        }
        Ok(map)
    }
}

/// Service and host by resource row id.
type ResourceNames = HashMap<i64, (Arc<str>, Arc<str>)>;

/// Why a row could not be decoded.
type RowError = String;

fn blob<const N: usize>(row: &Row<'_>, i: usize, what: &str) -> Result<Option<[u8; N]>, RowError> {
    match row.get_ref(i).map_err(|e| e.to_string())? {
        ValueRef::Null => Ok(None),
        ValueRef::Blob(b) => b
            .try_into()
            .map(Some)
            .map_err(|_| format!("{what} is {} bytes, not {N}", b.len())),
        _ => Err(format!("{what} is not a blob")),
    }
}

fn int(row: &Row<'_>, i: usize, what: &str) -> Result<i64, RowError> {
    match row.get_ref(i).map_err(|e| e.to_string())? {
        ValueRef::Integer(v) => Ok(v),
        _ => Err(format!("{what} is not an integer")),
    }
}

fn text<'r>(row: &'r Row<'_>, i: usize) -> Result<Option<&'r str>, RowError> {
    match row.get_ref(i).map_err(|e| e.to_string())? {
        ValueRef::Null => Ok(None),
        v => v.as_str().map(Some).map_err(|e| e.to_string()),
    }
}

fn decode_row(
    row: &Row<'_>,
    resources: &ResourceNames,
    names: &mut Names,
    details: bool,
) -> Result<Span, RowError> {
    let trace_id = blob::<16>(row, 1, "trace_id")?.ok_or("trace_id is null")?;
    let span_id = blob::<8>(row, 2, "span_id")?.ok_or("span_id is null")?;
    let parent = blob::<8>(row, 3, "parent_span_id")?.filter(|p| *p != [0; 8]);
    let resource = int(row, 4, "resource_id")?;
    let (service, host) = resources
        .get(&resource)
        .cloned()
        .ok_or_else(|| format!("resource {resource} does not exist"))?;
    let name = names.intern(text(row, 5)?.ok_or("name is null")?);
    let kind = u8::try_from(int(row, 6, "kind")?)
        .ok()
        .and_then(SpanKind::from_u8)
        .ok_or("kind out of range")?;
    let status = u8::try_from(int(row, 7, "status")?)
        .ok()
        .and_then(StatusCode::from_u8)
        .ok_or("status out of range")?;
    let start_ns = u64::try_from(int(row, 8, "start_ns")?).map_err(|_| "start_ns is negative")?;
    let end_ns = u64::try_from(int(row, 9, "end_ns")?).map_err(|_| "end_ns is negative")?;
    let mut span = Span {
        trace_id: TraceId(trace_id),
        span_id: SpanId(span_id),
        parent_span_id: parent.map(SpanId),
        service,
        host,
        name,
        kind,
        status,
        status_message: None,
        start_ns,
        end_ns,
        attributes: Vec::new(),
        events: Vec::new(),
        links: Vec::new(),
    };
    if details {
        span.status_message = text(row, 10)?.map(str::to_owned);
        span.attributes = json_attrs(text(row, 11)?.unwrap_or("{}"))?;
        if let Some(events) = text(row, 12)? {
            span.events = json_events(events)?;
        }
        if let Some(links) = text(row, 13)? {
            span.links = json_links(links)?;
        }
    }
    Ok(span)
}

fn parse(s: &str, what: &str) -> Result<serde_json::Value, RowError> {
    serde_json::from_str(s).map_err(|e| format!("{what}: {e}"))
}

fn attrs_of(v: &serde_json::Value) -> Attributes {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), AttrValue::from_json(v)))
                .collect()
        })
        .unwrap_or_default()
}

/// A JSON object's entries in document order (a `serde_json::Map` would sort
/// them, losing the order the instrumentation wrote them in).
struct Ordered(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Ordered, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(entry) = map.next_entry()? {
                    out.push(entry);
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(Entries)
    }
}

fn json_attrs(s: &str) -> Result<Attributes, RowError> {
    let Ordered(entries) = serde_json::from_str(s).map_err(|e| format!("attributes: {e}"))?;
    Ok(entries
        .into_iter()
        .map(|(k, v)| (k, AttrValue::from_json(&v)))
        .collect())
}

fn json_events(s: &str) -> Result<Vec<Event>, RowError> {
    let v = parse(s, "events")?;
    let list = v.as_array().ok_or("events is not a JSON array")?;
    Ok(list
        .iter()
        .map(|e| Event {
            time_ns: e["time_ns"].as_u64().unwrap_or(0),
            name: e["name"].as_str().unwrap_or_default().to_owned(),
            attributes: attrs_of(&e["attributes"]),
        })
        .collect())
}

fn json_links(s: &str) -> Result<Vec<Link>, RowError> {
    let v = parse(s, "links")?;
    let list = v.as_array().ok_or("links is not a JSON array")?;
    list.iter()
        .map(|l| {
            Ok(Link {
                trace_id: parse_trace_id(l["trace_id"].as_str().unwrap_or_default())
                    .ok_or("link trace_id is not 32 hex digits")?,
                span_id: parse_span_id(l["span_id"].as_str().unwrap_or_default())
                    .ok_or("link span_id is not 16 hex digits")?,
                attributes: attrs_of(&l["attributes"]),
            })
        })
        .collect()
}
