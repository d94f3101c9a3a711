//! What `stats` reads: of each span only its service, name, status, start
//! and end (and the selected attributes), decoded in place. No span is built
//! and no id copied, so a full read costs little more than SQLite's own
//! stepping through the rows.

use std::sync::Arc;

use rusqlite::{Row, params_from_iter};

use super::{
    Read, ResourceNames, RowError, Skipped, SpanQuery, attrs, int, resource, skip, status, text,
    unsigned,
};
use crate::analyze::input::AttrSelection;
use crate::analyze::model::{Attributes, SpanTiming, StatusCode};
use crate::store::{Store, StoreError};

/// Calls `f` with the timing of each span `query` selects (its window and
/// service; not its trace lists).
pub(in crate::analyze::input) fn for_each_timing(
    store: &Store,
    query: &SpanQuery,
    skipped: &mut Skipped,
    f: &mut dyn FnMut(&SpanTiming<'_>),
) -> Result<(), StoreError> {
    debug_assert!(query.trace_ids.is_none() && query.within_traces.is_none());
    let mut read = Read::new(store, query)?;
    let selection = (query.attributes != AttrSelection::None).then_some(&query.attributes);
    let sql = format!(
        "SELECT trace, resource_id, name, status, start_ns, end_ns{} FROM spans WHERE 1{}",
        if selection.is_some() {
            ", attributes"
        } else {
            ""
        },
        read.conds
    );
    let conn = read.conn;
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(params_from_iter(read.params.iter()))?;
    while let Some(row) = rows.next()? {
        match decode_timing(row, &read.resources, selection) {
            Ok(t) => {
                // Borrowed, not cloned: no reference count touched per row.
                let name = match read.names.get(t.name) {
                    Some(name) => name,
                    None => {
                        read.names.intern(t.name);
                        read.names.get(t.name).expect("interned above")
                    }
                };
                f(&SpanTiming {
                    service: t.service,
                    name,
                    error: t.error,
                    duration_ns: t.duration_ns,
                    attributes: &t.attributes,
                });
            }
            Err(why) => skip(skipped, row, why),
        }
    }
    Ok(())
}

/// A row of [`for_each_timing`]'s read, decoded, its name still the row's
/// text.
struct RowTiming<'r> {
    service: &'r Arc<str>,
    name: &'r str,
    error: bool,
    duration_ns: u64,
    attributes: Attributes,
}

/// Decodes a row of [`for_each_timing`]'s columns: trace row, resource,
/// name, status, start, end, then the attributes when `selection` is some.
fn decode_timing<'r>(
    row: &'r Row<'_>,
    resources: &'r ResourceNames,
    selection: Option<&AttrSelection>,
) -> Result<RowTiming<'r>, RowError> {
    let (service, _) = resource(resources, int(row, 1, "resource_id")?)?;
    let name = text(row, 2)?.ok_or("name is null")?;
    let status = status(row, 3)?;
    let start = unsigned(row, 4, "start_ns")?;
    let end = unsigned(row, 5, "end_ns")?;
    let attributes = match selection {
        Some(keep) => attrs::parse(text(row, 6)?.unwrap_or("{}"), keep)?,
        None => Vec::new(),
    };
    Ok(RowTiming {
        service,
        name,
        error: status == StatusCode::Error,
        duration_ns: end.saturating_sub(start),
        attributes,
    })
}

#[cfg(test)]
mod tests {
    use crate::analyze::input::{Input, SpanQuery};
    use crate::batch::SpoolCursor;
    use crate::store::{Store, generate};

    #[test]
    fn bad_rows_are_counted_and_the_rest_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        {
            let mut store = Store::open(&path).unwrap();
            store
                .write(
                    &generate::traces(1, 10, 1_000_000_000, 1_000_000),
                    SpoolCursor::default(),
                )
                .unwrap();
        }
        {
            // Corrupt as a hand edit would, foreign keys not enforced.
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.pragma_update(None, "foreign_keys", false).unwrap();
            conn.execute("UPDATE spans SET status = 9 WHERE id = 1", [])
                .unwrap();
            conn.execute("UPDATE spans SET resource_id = 999 WHERE id = 2", [])
                .unwrap();
            conn.execute("UPDATE spans SET start_ns = -5 WHERE id = 3", [])
                .unwrap();
        }
        let input = Input::store(&path).unwrap();
        let (mut read, mut total_ns) = (0, 0u64);
        let skipped = input
            .for_each_timing(&SpanQuery::default(), &mut |t| {
                read += 1;
                total_ns += t.duration_ns;
            })
            .unwrap();
        assert_eq!(skipped.count, 3, "{:?}", skipped.examples);
        assert_eq!(read, 10 * generate::SPANS_PER_TRACE - 3);
        // The same spans, durations and all, as a full read gives.
        let mut full_ns = 0u64;
        let full = input
            .for_each_span(&SpanQuery::default(), &mut |s| full_ns += s.duration_ns())
            .unwrap();
        assert_eq!((full.count, full_ns), (3, total_ns));
    }
}
