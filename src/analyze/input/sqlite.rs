//! Reading spans from the SQLite store ([`crate::store`]) into the analysis
//! model: the time window, the service and the search filters become SQL
//! conditions, and rows are decoded one at a time as SQLite steps through
//! them, so nothing but the caller's answer grows with the store.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, Row, ToSql};

use super::{AttrSelection, Skipped, SpanQuery};
use crate::analyze::model::{
    AttrValue, Attributes, Event, Link, Names, SpanId, SpanKind, SpanRow, StatusCode, TraceId,
    parse_span_id, parse_trace_id,
};
use crate::analyze::search::SpanFilter;
use crate::store::{Store, StoreError};

mod attrs;
mod from_end;
mod timings;

pub(super) use from_end::for_each_trace_from_end;
pub(super) use timings::for_each_timing;

/// The span columns every read takes; the trace row first.
const COLUMNS: &str = "trace, trace_id, span_id, parent_span_id, resource_id, name, kind, \
                       status, start_ns, end_ns";
const ATTR_COLUMN: &str = ", attributes";
const DETAIL_COLUMNS: &str = ", status_message, events, links";

/// [`for_each_trace`] looks the given traces up one by one when they are at
/// most this fraction of the window's trace rows, else it walks the window
/// and skips the others: a lookup (a random probe of `traces`, then the
/// trace's rows) costs a few times what stepping over one trace's rows does.
const LOOKUP_FRACTION: i64 = 4;

/// A read: the SQL conditions of a query and how to decode its rows.
struct Read<'a> {
    conn: &'a Connection,
    query: &'a SpanQuery,
    resources: ResourceNames,
    names: Names,
    columns: String,
    with_attrs: bool,
    /// `AND ...` conditions on `spans`, with their parameters.
    conds: String,
    params: Vec<i64>,
}

impl<'a> Read<'a> {
    fn new(store: &'a Store, query: &'a SpanQuery) -> Result<Self, StoreError> {
        let conn = store.connection();
        let mut names = Names::default();
        let resources = resource_names(conn, &mut names)?;
        let with_attrs = query.attributes != AttrSelection::None || query.details;
        let mut columns = COLUMNS.to_owned();
        if with_attrs {
            columns.push_str(ATTR_COLUMN);
        }
        if query.details {
            columns.push_str(DETAIL_COLUMNS);
        }
        let mut read = Read {
            conn,
            query,
            resources,
            names,
            columns,
            with_attrs,
            conds: String::new(),
            params: Vec::new(),
        };
        if let Some(t) = query.since_ns {
            read.cond("start_ns >= ?", ns(t));
        }
        if let Some(t) = query.until_ns {
            read.cond("start_ns < ?", ns(t));
        }
        if let Some(service) = &query.service {
            read.service(service);
        }
        Ok(read)
    }

    fn cond(&mut self, sql: &str, param: i64) {
        self.conds.push_str(" AND ");
        self.conds
            .push_str(&sql.replace('?', &format!("?{}", self.params.len() + 1)));
        self.params.push(param);
    }

    /// Only rows of the resources of `service` (their ids are few: inlined).
    fn service(&mut self, service: &str) {
        let mut ids: Vec<String> = self
            .resources
            .iter()
            .filter(|(_, (s, _))| **s == *service)
            .map(|(id, _)| id.to_string())
            .collect();
        ids.sort();
        self.conds
            .push_str(&format!(" AND resource_id IN ({})", ids.join(",")));
    }

    fn params(&self) -> Vec<&dyn ToSql> {
        self.params.iter().map(|p| p as &dyn ToSql).collect()
    }

    /// Decodes one row, or counts it as skipped. The span holds only what
    /// the query asks for as decoded ([`decode_row`] keeps only the selected
    /// attributes and reads the details only when asked), so it needs no
    /// [`SpanQuery::trim`].
    fn decode(&mut self, row: &Row<'_>, skipped: &mut Skipped) -> Option<SpanRow> {
        match decode_row(
            row,
            &self.resources,
            &mut self.names,
            self.with_attrs.then_some(&self.query.attributes),
            self.query.details,
        ) {
            Ok(span) => Some(span),
            Err(why) => {
                skip(skipped, row, why);
                None
            }
        }
    }

    /// Steps through `sql` (with the read's parameters, then `extra`),
    /// calling `f` with each good row's trace row and span.
    fn each(
        &mut self,
        sql: &str,
        extra: &[&dyn ToSql],
        skipped: &mut Skipped,
        f: &mut dyn FnMut(i64, SpanRow),
    ) -> Result<(), StoreError> {
        let conn = self.conn;
        let mut stmt = conn.prepare_cached(sql)?;
        let mut params = self.params();
        params.extend_from_slice(extra);
        let mut rows = stmt.query(params.as_slice())?;
        while let Some(row) = rows.next()? {
            let trace: i64 = match row.get_ref(0)? {
                ValueRef::Integer(t) => t,
                _ => -1,
            };
            if let Some(span) = self.decode(row, skipped) {
                f(trace, span);
            }
        }
        Ok(())
    }
}

fn ns(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

/// Calls `f` with each span `query` selects.
pub(super) fn for_each_span(
    store: &Store,
    query: &SpanQuery,
    skipped: &mut Skipped,
    f: &mut dyn FnMut(SpanRow),
) -> Result<(), StoreError> {
    let mut read = Read::new(store, query)?;
    if let Some(ids) = &query.trace_ids {
        return whole_traces(&mut read, ids, skipped, &mut |_, s| f(s));
    }
    if let Some(ids) = &query.within_traces {
        return by_lookup(&mut read, ids, skipped, &mut |_, s| f(s));
    }
    let sql = format!("SELECT {} FROM spans WHERE 1{}", read.columns, read.conds);
    read.each(&sql, &[], skipped, &mut |_, s| f(s))
}

/// The spans of the traces `ids`, whole (no window).
fn whole_traces(
    read: &mut Read<'_>,
    ids: &[TraceId],
    skipped: &mut Skipped,
    f: &mut dyn FnMut(i64, SpanRow),
) -> Result<(), StoreError> {
    let sql = format!(
        "SELECT {} FROM spans WHERE trace = (SELECT id FROM traces WHERE trace_id = ?1)",
        read.columns
    );
    read.params.clear();
    read.conds.clear();
    for id in ids {
        read.each(&sql, &[&&id.0[..]], skipped, f)?;
    }
    Ok(())
}

/// The spans in the window of the traces `ids`, one trace after the other.
fn by_lookup(
    read: &mut Read<'_>,
    ids: &[TraceId],
    skipped: &mut Skipped,
    f: &mut dyn FnMut(i64, SpanRow),
) -> Result<(), StoreError> {
    let n = read.params.len() + 1;
    let sql = format!(
        "SELECT {} FROM spans WHERE trace = (SELECT id FROM traces WHERE trace_id = ?{n}){}",
        read.columns, read.conds
    );
    for id in ids {
        read.each(&sql, &[&&id.0[..]], skipped, f)?;
    }
    Ok(())
}

/// Calls `f` with the selected spans of each trace, one trace at a time.
pub(super) fn for_each_trace(
    store: &Store,
    query: &SpanQuery,
    skipped: &mut Skipped,
    f: &mut dyn FnMut(Vec<SpanRow>),
) -> Result<(), StoreError> {
    let mut read = Read::new(store, query)?;
    let mut current: Option<i64> = None;
    let mut spans: Vec<SpanRow> = Vec::new();
    let mut collect = |trace: i64, span: SpanRow| {
        if current != Some(trace) {
            if !spans.is_empty() {
                f(std::mem::take(&mut spans));
            }
            current = Some(trace);
        }
        spans.push(span);
    };
    if let Some(ids) = &query.trace_ids {
        whole_traces(&mut read, ids, skipped, &mut collect)?;
    } else if let Some((lo, hi)) = trace_range(&read)? {
        let within = query.within_traces.as_deref();
        let rows = hi.saturating_sub(lo).saturating_add(1);
        match within {
            Some(ids) if (ids.len() as i64).saturating_mul(LOOKUP_FRACTION) <= rows => {
                by_lookup(&mut read, ids, skipped, &mut collect)?;
            }
            _ => {
                // In trace order (the `spans_by_trace` index): a trace's
                // spans are consecutive. Trace rows are numbered in arrival
                // order, so the window's traces are one range of them.
                let n = read.params.len() + 1;
                let sql = format!(
                    "SELECT {} FROM spans INDEXED BY spans_by_trace \
                     WHERE trace BETWEEN ?{n} AND ?{}{} ORDER BY trace",
                    read.columns,
                    n + 1,
                    read.conds
                );
                read.each(&sql, &[&lo, &hi], skipped, &mut |trace, span| {
                    if within.is_none_or(|ids| ids.binary_search(&span.trace_id).is_ok()) {
                        collect(trace, span);
                    }
                })?;
            }
        }
    }
    if !spans.is_empty() {
        f(spans);
    }
    Ok(())
}

/// The lowest and highest trace row with a span in the window (`None`: no
/// span in it). Cheap when the window holds the whole store.
fn trace_range(read: &Read<'_>) -> Result<Option<(i64, i64)>, StoreError> {
    let conn = read.conn;
    let all: (Option<i64>, Option<i64>) =
        conn.query_row("SELECT min(trace), max(trace) FROM spans", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    if read.conds.is_empty() {
        return Ok(all.0.zip(all.1));
    }
    let (first, last): (Option<i64>, Option<i64>) =
        conn.query_row("SELECT min(start_ns), max(start_ns) FROM spans", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let q = read.query;
    let covers = q.service.is_none()
        && first.is_some_and(|t| q.since_ns.is_none_or(|s| ns(s) <= t))
        && last.is_some_and(|t| q.until_ns.is_none_or(|u| t < ns(u)));
    if covers {
        return Ok(all.0.zip(all.1));
    }
    let sql = format!(
        "SELECT min(trace), max(trace) FROM spans WHERE 1{}",
        read.conds
    );
    let range: (Option<i64>, Option<i64>) =
        conn.query_row(&sql, read.params().as_slice(), |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    Ok(range.0.zip(range.1))
}

/// Appends to `out` the trace ids with a span in the window matching every
/// filter (service, name, status and minimum duration in SQL, attributes
/// checked on the decoded span).
pub(super) fn traces_matching(
    store: &Store,
    query: &SpanQuery,
    filter: &SpanFilter,
    skipped: &mut Skipped,
    out: &mut Vec<TraceId>,
) -> Result<(), StoreError> {
    let mut query = query.clone();
    query.attributes = AttrSelection::of_keys(filter.attr_keys());
    query.service = filter.service.clone().or(query.service);
    let mut read = Read::new(store, &query)?;
    if let Some(d) = filter.min_duration_ns {
        read.cond("duration_ns >= ?", ns(d));
    }
    if let Some(st) = filter.status {
        read.cond("status = ?", i64::from(st as u8));
    }
    let name_param = read.params.len() + 1;
    let name_cond = if filter.name.is_some() {
        format!(" AND name = ?{name_param}")
    } else {
        String::new()
    };
    let sql = format!(
        "SELECT {} FROM spans WHERE 1{}{name_cond}",
        read.columns, read.conds
    );
    let name = filter.name.clone().unwrap_or_default();
    let extra: Vec<&dyn ToSql> = if filter.name.is_some() {
        vec![&name]
    } else {
        Vec::new()
    };
    read.each(&sql, &extra, skipped, &mut |_, span| {
        if filter.matches(&span) {
            out.push(span.trace_id);
        }
    })
}

/// Service and host of every resource row.
fn resource_names(conn: &Connection, names: &mut Names) -> Result<ResourceNames, StoreError> {
    let mut stmt = conn.prepare("SELECT id, service, host FROM resources")?;
    let mut rows = stmt.query([])?;
    let mut map = ResourceNames::default();
    while let Some(row) = rows.next()? {
        let service = names.intern(row.get_ref(1)?.as_str().unwrap_or("?"));
        let host = names.intern(row.get_ref(2)?.as_str().unwrap_or(""));
        map.insert(row.get(0)?, (service, host));
    }
    Ok(map)
}

/// Service and host by resource row id.
type ResourceNames = HashMap<i64, (Arc<str>, Arc<str>), foldhash::fast::RandomState>;

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

/// Counts `row` (column 0 its trace row) as skipped for `why`.
fn skip(skipped: &mut Skipped, row: &Row<'_>, why: RowError) {
    let trace: i64 = row.get(0).unwrap_or(-1);
    skipped.add(|| format!("spans row of trace row {trace}: {why}"));
}

/// Service and host of resource row `id`.
fn resource(resources: &ResourceNames, id: i64) -> Result<&(Arc<str>, Arc<str>), RowError> {
    resources
        .get(&id)
        .ok_or_else(|| format!("resource {id} does not exist"))
}

fn status(row: &Row<'_>, i: usize) -> Result<StatusCode, RowError> {
    u8::try_from(int(row, i, "status")?)
        .ok()
        .and_then(StatusCode::from_u8)
        .ok_or_else(|| "status out of range".to_owned())
}

/// An integer column that must not be negative (a time).
fn unsigned(row: &Row<'_>, i: usize, what: &str) -> Result<u64, RowError> {
    u64::try_from(int(row, i, what)?).map_err(|_| format!("{what} is negative"))
}

fn decode_row(
    row: &Row<'_>,
    resources: &ResourceNames,
    names: &mut Names,
    attrs: Option<&AttrSelection>,
    details: bool,
) -> Result<SpanRow, RowError> {
    // Columns as in [`COLUMNS`]: 0 is the trace row, 1.. the span.
    let trace_id = blob::<16>(row, 1, "trace_id")?.ok_or("trace_id is null")?;
    let span_id = blob::<8>(row, 2, "span_id")?.ok_or("span_id is null")?;
    let parent = blob::<8>(row, 3, "parent_span_id")?.filter(|p| *p != [0; 8]);
    let (service, host) = resource(resources, int(row, 4, "resource_id")?)?.clone();
    let name = names.intern(text(row, 5)?.ok_or("name is null")?);
    let kind = u8::try_from(int(row, 6, "kind")?)
        .ok()
        .and_then(SpanKind::from_u8)
        .ok_or("kind out of range")?;
    let status = status(row, 7)?;
    let start_ns = unsigned(row, 8, "start_ns")?;
    let end_ns = unsigned(row, 9, "end_ns")?;
    let mut span = SpanRow {
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
    if let Some(attrs) = attrs {
        span.attributes = attrs::parse(text(row, 10)?.unwrap_or("{}"), attrs)?;
    }
    if details {
        span.status_message = text(row, 11)?.map(str::to_owned);
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
