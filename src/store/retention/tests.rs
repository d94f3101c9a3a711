use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::batch::SpoolCursor;
use crate::store::generate::{self, SPANS_PER_TRACE};

const T0: u64 = 1_760_000_000_000_000_000;
const MS: u64 = 1_000_000;
/// Enough time for any step in a test: the budget is not what is tested.
const AMPLE: Duration = Duration::from_secs(60);

fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ringside-retention-{tag}-{}-{}",
        std::process::id(),
        ringside::clock::unix_ns()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn cursor(n: u64) -> SpoolCursor {
    SpoolCursor {
        segment: n,
        offset: 0,
    }
}

/// Spans per trace id, as stored.
fn spans_per_trace(store: &Store) -> HashMap<Vec<u8>, i64> {
    let mut stmt = store
        .connection()
        .prepare("SELECT trace_id, count(*) FROM spans GROUP BY trace")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn count(store: &Store, sql: &str) -> i64 {
    store.connection().query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Traces of `generate` whose spans start in `[t0, t0 + 1.03 ms]`, one per
/// millisecond: the root at `t`, the last child ends well after `t + 0.5 ms`.
fn write_traces(store: &mut Store, seed: u64, n: usize, t0: u64, at: u64) {
    let batches = generate::traces(seed, n, t0, MS);
    store.write(&batches, cursor(at)).unwrap();
}

#[test]
fn age_deletes_whole_traces_including_spans_newer_than_the_limit() {
    let dir = tempdir("age");
    let mut store = Store::open(&dir.join("t.db")).unwrap();
    write_traces(&mut store, 1, 100, T0, 1);
    // Trace k's root starts at T0 + k ms and its children run until at
    // least 0.2 ms later: a cut at T0 + 50.1 ms falls inside trace 50.
    let cutoff = T0 + 50 * MS + 100_000;
    let straddling: i64 = count(
        &store,
        &format!(
            "SELECT count(*) FROM (SELECT trace FROM spans GROUP BY trace \
             HAVING min(start_ns) < {cutoff} AND max(start_ns) >= {cutoff})"
        ),
    );
    assert!(straddling >= 1, "the test needs a trace across the cut");
    let policy = Retention {
        max_age: Some(Duration::from_nanos(1_000 * MS)),
        max_bytes: None,
    };
    let out = store.prune(&policy, cutoff + 1_000 * MS, AMPLE).unwrap();
    assert!(out.done);
    // Traces 0..=50 started before the cut: all gone, the straddling one
    // with its spans after the cut.
    assert_eq!(out.traces, 51);
    assert_eq!(out.spans, 51 * SPANS_PER_TRACE as u64);
    let left = spans_per_trace(&store);
    assert_eq!(left.len(), 49);
    assert!(left.values().all(|&n| n == SPANS_PER_TRACE as i64));
    assert_eq!(count(&store, "SELECT count(*) FROM traces"), 49);
    let oldest = count(&store, "SELECT min(start_ns) FROM spans");
    assert!(oldest >= cutoff as i64);
    // Nothing more is due.
    let again = store.prune(&policy, cutoff + 1_000 * MS, AMPLE).unwrap();
    assert_eq!((again.traces, again.done), (0, true));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn size_limit_holds_under_steady_writes_and_kept_traces_stay_whole() {
    let dir = tempdir("size");
    let mut store = Store::open(&dir.join("t.db")).unwrap();
    // Measure one batch (200 traces, 2 800 spans) to set the limit at
    // about six of them.
    write_traces(&mut store, 0, 200, T0, 1);
    let batch_bytes = store.used_bytes().unwrap();
    let max_bytes = 6 * batch_bytes;
    let policy = Retention {
        max_age: None,
        max_bytes: Some(max_bytes),
    };
    let mut deleted = 0;
    let mut peak_file = 0;
    for round in 1..60u64 {
        // What the exporter does: prune, then write.
        deleted += store.prune(&policy, T0, AMPLE).unwrap().traces;
        write_traces(&mut store, round, 200, T0 + round * 200 * MS, round + 1);
        let used = store.used_bytes().unwrap();
        assert!(
            used <= max_bytes + 2 * batch_bytes,
            "round {round}: {used} bytes used, limit {max_bytes} + one step"
        );
        let pages = store.pages().unwrap();
        peak_file = peak_file.max(pages.count * pages.size);
    }
    assert!(deleted > 1_000, "only {deleted} traces deleted");
    // Every trace left is whole, and the newest ones are all there.
    let left = spans_per_trace(&store);
    assert!(
        left.values().all(|&n| n == SPANS_PER_TRACE as i64),
        "{left:?}"
    );
    let last_batch = T0 + 59 * 200 * MS;
    let newest = count(
        &store,
        &format!(
            "SELECT count(*) FROM spans WHERE trace IN \
             (SELECT trace FROM spans GROUP BY trace HAVING min(start_ns) >= {last_batch})"
        ),
    );
    assert_eq!(newest, 200 * SPANS_PER_TRACE as i64);
    // The file grows to the limit plus the reserve of free pages, not with
    // the data written (60 batches).
    assert!(
        peak_file <= max_bytes + 2 * batch_bytes + RESERVE_BYTES,
        "file reached {peak_file} bytes"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn free_pages_beyond_the_reserve_go_back_to_the_file_system() {
    let dir = tempdir("vacuum");
    let path = dir.join("t.db");
    let mut store = Store::open(&path).unwrap();
    for round in 0..60u64 {
        write_traces(&mut store, round, 500, T0 + round * 500 * MS, round + 1);
    }
    let before = store.pages().unwrap();
    assert!(before.count * before.size > RESERVE_BYTES + (8 << 20));
    let policy = Retention {
        max_age: Some(Duration::from_secs(1)),
        max_bytes: None,
    };
    let out = store
        .prune(&policy, T0 + 3_600 * 1_000 * MS, AMPLE)
        .unwrap();
    assert_eq!(count(&store, "SELECT count(*) FROM spans"), 0);
    assert!(out.released_bytes > 0);
    let after = store.pages().unwrap();
    assert!(after.free * after.size <= RESERVE_BYTES);
    assert_eq!(before.count - after.count, out.released_bytes / before.size);
    drop(store);
    // The file itself shrank (after the WAL is checkpointed into it).
    let store = Store::open(&path).unwrap();
    store
        .connection()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len <= RESERVE_BYTES + (4 << 20), "file is {len} bytes");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unlimited_retention_deletes_nothing() {
    let dir = tempdir("none");
    let mut store = Store::open(&dir.join("t.db")).unwrap();
    write_traces(&mut store, 0, 10, T0, 1);
    let out = store.prune(&Retention::default(), u64::MAX, AMPLE).unwrap();
    assert_eq!((out.traces, out.done), (0, true));
    assert_eq!(count(&store, "SELECT count(*) FROM spans"), 140);
    std::fs::remove_dir_all(&dir).unwrap();
}
