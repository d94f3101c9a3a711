use std::path::PathBuf;

use super::*;
use crate::analyze::input::{AttrSelection, Input, SpanQuery};
use crate::analyze::model::AttrValue;
use crate::batch::SpoolCursor;

fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ringside-store-{tag}-{}-{}",
        std::process::id(),
        ringside::clock::unix_ns()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn written_spans_read_back_whole_and_by_trace() {
    let dir = tempdir("roundtrip");
    let path = dir.join("t.db");
    let batches = generate::traces(1, 20, 1_700_000_000_000_000_000, 1_000_000);
    let expected: usize = batches.iter().map(|b| b.len()).sum();
    let mut store = Store::open(&path).unwrap();
    let out = store
        .write(
            &batches,
            SpoolCursor {
                segment: 0,
                offset: 1,
            },
        )
        .unwrap();
    assert_eq!(out.inserted as usize, expected);
    drop(store);

    let input = Input::store(&path).unwrap();
    let all = input
        .load(&SpanQuery {
            attributes: AttrSelection::All,
            details: true,
            ..SpanQuery::default()
        })
        .unwrap();
    assert_eq!(all.spans.len(), expected);
    assert_eq!(all.skipped.count, 0);
    let read = all.spans.iter().find(|s| &*s.name == "read").unwrap();
    assert_eq!(&*read.service, "osd");
    assert!(matches!(read.attr("bytes"), Some(AttrValue::Int(_))));
    assert!(matches!(read.attr("file.path"), Some(AttrValue::Str(p)) if p.starts_with("/pool/")));

    let one = read.trace_id;
    let trace = input
        .load(&SpanQuery {
            trace_ids: Some(vec![one]),
            ..SpanQuery::default()
        })
        .unwrap();
    assert_eq!(trace.spans.len(), generate::SPANS_PER_TRACE);
    assert!(
        trace
            .spans
            .iter()
            .all(|s| s.trace_id == one && s.attributes.is_empty())
    );

    // Only the named keys, typed.
    let keyed = input
        .load(&SpanQuery {
            attributes: AttrSelection::Keys(vec!["bytes".into()]),
            ..SpanQuery::default()
        })
        .unwrap();
    let read = keyed.spans.iter().find(|s| &*s.name == "read").unwrap();
    assert!(matches!(read.attr("bytes"), Some(AttrValue::Int(_))));
    assert!(read.attr("file.path").is_none());

    // A time window.
    let t0 = 1_700_000_000_000_000_000u64;
    let window = input
        .load(&SpanQuery {
            since_ns: Some(t0 + 10 * 1_000_000),
            ..SpanQuery::default()
        })
        .unwrap();
    assert!(
        window
            .spans
            .iter()
            .all(|s| s.start_ns >= t0 + 10 * 1_000_000)
    );
    assert!(!window.spans.is_empty() && window.spans.len() < expected);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_rows_are_counted_not_fatal() {
    let dir = tempdir("badrow");
    let path = dir.join("t.db");
    let mut store = Store::open(&path).unwrap();
    store
        .write(
            &generate::traces(2, 2, 1_000, 1_000_000),
            SpoolCursor::default(),
        )
        .unwrap();
    store
        .connection()
        .execute("UPDATE spans SET kind = 99 WHERE id = 1", [])
        .unwrap();
    store
        .connection()
        .execute("UPDATE spans SET trace_id = x'0102' WHERE id = 2", [])
        .unwrap();
    drop(store);
    let loaded = Input::store(&path)
        .unwrap()
        .load(&SpanQuery::default())
        .unwrap();
    assert_eq!(loaded.skipped.count, 2);
    assert_eq!(loaded.spans.len(), 2 * generate::SPANS_PER_TRACE - 2);
    assert!(
        loaded.skipped.examples[0].contains("kind"),
        "{:?}",
        loaded.skipped.examples
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn other_versions_and_foreign_files_are_refused() {
    let dir = tempdir("version");
    let path = dir.join("t.db");
    drop(Store::open(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    assert!(matches!(
        Store::open_read_only(&path),
        Err(StoreError::Version { found: 99, .. })
    ));
    assert!(matches!(
        Store::open(&path),
        Err(StoreError::Version { found: 99, .. })
    ));

    // A store of schema 1 (before the unused indexes and `span_attrs` were
    // dropped) is refused with the versions and the file named.
    let v1 = dir.join("v1.db");
    let conn = Connection::open(&v1).unwrap();
    conn.execute_batch(
        "CREATE TABLE spans (id INTEGER PRIMARY KEY); \
         CREATE TABLE span_attrs (key, value, span); PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);
    let err = Store::open_read_only(&v1).unwrap_err();
    assert!(matches!(err, StoreError::Version { found: 1, .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("v1.db") && msg.contains("version 1") && msg.contains("reads version 2"),
        "{msg}"
    );
    assert!(matches!(
        Store::open(&v1),
        Err(StoreError::Version { found: 1, .. })
    ));

    let foreign = dir.join("f.db");
    Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE x (a)")
        .unwrap();
    assert!(matches!(
        Store::open(&foreign),
        Err(StoreError::NotAStore { .. })
    ));
    assert!(matches!(
        Store::open_read_only(&foreign),
        Err(StoreError::NotAStore { .. })
    ));
    assert!(matches!(
        Store::open_read_only(&dir.join("missing.db")),
        Err(StoreError::NotFound(_))
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}
