//! Writing spans: one transaction per call, prepared statements, the spool
//! cursor stored in the same transaction.

use std::io::Write as _;

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};

use super::schema::{META_CURSOR_OFFSET, META_CURSOR_SEGMENT};
use super::{Store, StoreError};
use crate::batch::SpoolCursor;
use crate::batch::{Resource, SpanBatch};
use ringside::record::{AttrView, EntryView, RecordView, Value};
use ringside::trace::context::hex;

/// What one [`Store::write`] call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Spans inserted.
    pub inserted: u64,
    /// Spans already in the store (same trace and span id), left as they were.
    pub duplicates: u64,
    /// Records that failed validation and were skipped.
    pub invalid: u64,
    /// The cursor showed these batches were stored by an earlier call; nothing
    /// was written.
    pub already_stored: bool,
}

const INSERT_SPAN: &str = "INSERT OR IGNORE INTO spans (trace_id, span_id, parent_span_id, \
     resource_id, name, kind, status, status_message, start_ns, end_ns, duration_ns, \
     trace_flags, trace_state, parent_is_remote, dropped_attributes, dropped_events, \
     dropped_links, attributes, events, links, trace) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)";
const INSERT_TRACE: &str = "INSERT OR IGNORE INTO traces (trace_id) VALUES (?1)";
const TRACE_ROW: &str = "SELECT id FROM traces WHERE trace_id = ?1";
const UPSERT_META: &str = "INSERT INTO meta (key, value) VALUES (?1, ?2) \
     ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/// Unix nanoseconds as SQLite's signed integer (saturating past year 2262).
fn ns(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    /// Stores `batches` and `cursor` (the spool position after them) in one
    /// transaction. If the stored cursor is already at or past `cursor`, the
    /// batches were stored before (a replay after a crash) and nothing is
    /// written.
    pub fn write(
        &mut self,
        batches: &[SpanBatch],
        cursor: SpoolCursor,
    ) -> Result<WriteOutcome, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let stored = read_cursor(&tx)?;
        if stored.is_some_and(|stored| cursor <= stored) {
            return Ok(WriteOutcome {
                already_stored: true,
                ..WriteOutcome::default()
            });
        }
        // The spool deletes a segment once every reader's cursor is past it.
        // Commits are not fsynced (synchronous=NORMAL, see `Store::open`), so
        // before a cursor leaves a segment behind, everything committed up to
        // it is made durable: a power cut can then only take commits whose
        // spans are still in a spool segment.
        let leaves_segment = stored.is_none_or(|s| cursor.segment > s.segment);
        let mut out = WriteOutcome::default();
        let mut new_resources: Vec<(Resource, i64)> = Vec::new();
        {
            let mut insert_span = tx.prepare_cached(INSERT_SPAN)?;
            let mut enc = Encoded::default();
            let mut spans = Vec::with_capacity(batches.iter().map(SpanBatch::len).sum());
            for batch in batches {
                let known = self.resources.iter().chain(new_resources.iter());
                let resource_id = match known.clone().find(|(r, _)| *r == *batch.resource) {
                    Some(&(_, id)) => id,
                    None => {
                        let id = resource_id(&tx, &batch.resource)?;
                        new_resources.push(((*batch.resource).clone(), id));
                        id
                    }
                };
                for rec in &batch.records {
                    match RecordView::new(rec) {
                        Ok(view) => spans.push((view, resource_id)),
                        Err(_) => out.invalid += 1,
                    }
                }
            }
            // In trace id order: each trace's spans are consecutive (one
            // lookup of its `traces` row), and the inserts into the random
            // keyed `traces` index walk it from left to right, each page
            // visited once while it is hot.
            spans.sort_unstable_by_key(|(v, _)| (v.trace_id(), v.span_id()));
            let mut insert_trace = tx.prepare_cached(INSERT_TRACE)?;
            let mut trace_row = tx.prepare_cached(TRACE_ROW)?;
            let mut trace: Option<([u8; 16], i64)> = None;
            for (view, resource_id) in &spans {
                let resource_id = *resource_id;
                let trace_id = view.trace_id();
                let trace_ref = match trace {
                    Some((id, row)) if id == trace_id => row,
                    _ => {
                        insert_trace.execute([&trace_id[..]])?;
                        let row: i64 = trace_row.query_row([&trace_id[..]], |r| r.get(0))?;
                        trace = Some((trace_id, row));
                        row
                    }
                };
                enc.encode(view);
                let (da, de, dl) = view.dropped();
                let inserted = insert_span.execute(params![
                    &view.trace_id()[..],
                    &view.span_id()[..],
                    view.parent_span_id().as_ref().map(|p| &p[..]),
                    resource_id,
                    view.name(),
                    view.kind() as u8,
                    view.status() as u8,
                    view.status_message(),
                    ns(view.start()),
                    ns(view.end()),
                    ns(view.end().saturating_sub(view.start())),
                    view.trace_flags(),
                    view.trace_state(),
                    view.parent_is_remote(),
                    da,
                    de,
                    dl,
                    enc.attrs()?,
                    enc.events()?,
                    enc.links()?,
                    trace_ref,
                ])?;
                if inserted == 0 {
                    out.duplicates += 1;
                    continue;
                }
                out.inserted += 1;
            }
            let mut meta = tx.prepare_cached(UPSERT_META)?;
            meta.execute(params![META_CURSOR_SEGMENT, ns(cursor.segment)])?;
            meta.execute(params![META_CURSOR_OFFSET, ns(cursor.offset)])?;
        }
        tx.commit()?;
        self.resources.extend(new_resources);
        if leaves_segment {
            self.sync_wal()?;
        }
        Ok(out)
    }

    /// The spool cursor stored by the last successful [`Store::write`].
    pub fn cursor(&self) -> Result<Option<SpoolCursor>, StoreError> {
        let get = |key: &str| -> Result<Option<i64>, StoreError> {
            Ok(self
                .conn
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()?)
        };
        match (get(META_CURSOR_SEGMENT)?, get(META_CURSOR_OFFSET)?) {
            (Some(segment), Some(offset)) => Ok(Some(SpoolCursor {
                segment: segment as u64,
                offset: offset as u64,
            })),
            _ => Ok(None),
        }
    }
}

fn read_cursor(tx: &Transaction<'_>) -> Result<Option<SpoolCursor>, StoreError> {
    let mut stmt = tx.prepare_cached("SELECT key, value FROM meta WHERE key IN (?1, ?2)")?;
    let mut rows = stmt.query(params![META_CURSOR_SEGMENT, META_CURSOR_OFFSET])?;
    let (mut segment, mut offset) = (None, None);
    while let Some(row) = rows.next()? {
        let key: String = row.get(0)?;
        let value: i64 = row.get(1)?;
        if key == META_CURSOR_SEGMENT {
            segment = Some(value as u64);
        } else {
            offset = Some(value as u64);
        }
    }
    Ok(segment
        .zip(offset)
        .map(|(segment, offset)| SpoolCursor { segment, offset }))
}

/// The id of `r`'s row, inserting it if new.
fn resource_id(tx: &Transaction<'_>, r: &Resource) -> Result<i64, StoreError> {
    let mut attrs = Vec::new();
    attrs.push(b'{');
    for (i, (k, v)) in r.attributes.iter().enumerate() {
        if i > 0 {
            attrs.push(b',');
        }
        json_str(&mut attrs, k);
        attrs.push(b':');
        json_str(&mut attrs, v);
    }
    attrs.push(b'}');
    let attrs = String::from_utf8(attrs).unwrap_or_default();
    let key = params![r.service, r.host, r.pid, ns(r.ring_id), attrs];
    tx.prepare_cached(
        "INSERT OR IGNORE INTO resources (service, host, pid, ring_id, attributes) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(key)?;
    Ok(tx
        .prepare_cached(
            "SELECT id FROM resources WHERE service = ?1 AND host = ?2 AND pid = ?3 \
             AND ring_id = ?4 AND attributes = ?5",
        )?
        .query_row(key, |row| row.get(0))?)
}

/// JSON text of one span's attributes, events and links, in buffers reused
/// from span to span.
#[derive(Default)]
struct Encoded {
    attrs: Vec<u8>,
    events: Vec<u8>,
    links: Vec<u8>,
}

impl Encoded {
    fn encode(&mut self, view: &RecordView<'_>) {
        self.attrs.clear();
        self.events.clear();
        self.links.clear();
        json_attrs(&mut self.attrs, view.attrs());
        for entry in view.entries() {
            match entry {
                EntryView::Event {
                    time, name, attrs, ..
                } => {
                    self.events
                        .push(if self.events.is_empty() { b'[' } else { b',' });
                    let _ = write!(self.events, "{{\"time_ns\":{time},\"name\":");
                    json_str(&mut self.events, name);
                    self.events.extend_from_slice(b",\"attributes\":");
                    json_attrs(&mut self.events, attrs);
                    self.events.push(b'}');
                }
                EntryView::Link {
                    trace_id,
                    span_id,
                    trace_flags,
                    attrs,
                } => {
                    self.links
                        .push(if self.links.is_empty() { b'[' } else { b',' });
                    let _ = write!(
                        self.links,
                        "{{\"trace_id\":\"{}\",\"span_id\":\"{}\",\"trace_flags\":{trace_flags},\"attributes\":",
                        hex(&trace_id),
                        hex(&span_id)
                    );
                    json_attrs(&mut self.links, attrs);
                    self.links.push(b'}');
                }
                _ => {}
            }
        }
        if !self.events.is_empty() {
            self.events.push(b']');
        }
        if !self.links.is_empty() {
            self.links.push(b']');
        }
    }

    fn attrs(&self) -> Result<&str, StoreError> {
        utf8(&self.attrs)
    }

    fn events(&self) -> Result<Option<&str>, StoreError> {
        (!self.events.is_empty())
            .then(|| utf8(&self.events))
            .transpose()
    }

    fn links(&self) -> Result<Option<&str>, StoreError> {
        (!self.links.is_empty())
            .then(|| utf8(&self.links))
            .transpose()
    }
}

fn utf8(b: &[u8]) -> Result<&str, StoreError> {
    // Built from validated UTF-8 strings and ASCII JSON punctuation.
    std::str::from_utf8(b).map_err(|e| StoreError::Sqlite(rusqlite::Error::Utf8Error(0, e)))
}

fn json_str(out: &mut Vec<u8>, s: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Writes attributes as a JSON object. Integers stay integers and floats keep
/// a decimal point (so a reader can tell them apart); non-finite floats, which
/// JSON lacks, become the strings "NaN", "inf", "-inf".
fn json_attrs<'a>(out: &mut Vec<u8>, attrs: impl Iterator<Item = AttrView<'a>>) {
    out.push(b'{');
    for (i, a) in attrs.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_str(out, a.key);
        out.push(b':');
        match a.value {
            Value::Str(s) => json_str(out, s),
            Value::I64(v) => {
                let _ = write!(out, "{v}");
            }
            Value::F64(v) if v.is_finite() => {
                let _ = serde_json::to_writer(&mut *out, &v);
            }
            Value::F64(v) => json_str(out, &v.to_string()),
            Value::Bool(v) => {
                let _ = write!(out, "{v}");
            }
        }
    }
    out.push(b'}');
}
