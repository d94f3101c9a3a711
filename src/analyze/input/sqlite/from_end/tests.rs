use std::path::{Path, PathBuf};

use super::*;
use crate::analyze::input::Input;
use crate::analyze::search::{SortBy, TopTraces, TraceSummary};
use crate::analyze::tree::Trace;
use crate::batch::{SpanBatch, SpoolCursor};
use crate::store::generate;

const T0: u64 = 1_760_000_000_000_000_000;
const MS: u64 = 1_000_000;

/// 300 generated traces one per ms, and two that a walk of roots alone
/// would rank wrongly: the first trace gets a span starting after every
/// other span (a long trace still running), and the last loses its root (an
/// orphan stands in for it, the latest start of all).
fn store(dir: &Path) -> PathBuf {
    let mut batches: Vec<SpanBatch> = generate::traces(7, 300, T0, MS);
    let first = batches[0].records[0].trace_id;
    let last = batches[0].records.last().unwrap().trace_id;
    let mut moved = false;
    for b in &mut batches {
        for r in &mut b.records {
            if r.trace_id == first && r.parent_span_id != [0; 8] && !moved {
                r.start = T0 + 400 * MS;
                r.end = T0 + 401 * MS;
                moved = true;
            }
        }
        b.records
            .retain(|r| !(r.trace_id == last && r.parent_span_id == [0; 8]));
    }
    assert!(moved);
    let path = dir.join("t.db");
    let mut store = Store::open(&path).unwrap();
    store.write(&batches, SpoolCursor::default()).unwrap();
    path
}

/// The answer read the whole window, as the other orders are.
fn full(input: &Input, query: &SpanQuery, sort: SortBy, limit: usize) -> Vec<TraceSummary> {
    let mut top = TopTraces::new(sort, limit);
    input
        .for_each_trace(query, &mut |spans| {
            top.offer(TraceSummary::of(&Trace::new(spans)).unwrap())
        })
        .unwrap();
    top.finish()
}

/// The answer read from the window's end; also the traces it read.
fn from_end(
    input: &Input,
    query: &SpanQuery,
    sort: SortBy,
    limit: usize,
) -> (Vec<TraceSummary>, usize) {
    let mut top = TopTraces::new(sort, limit);
    let mut read = 0;
    input
        .for_each_trace_from_end(query, sort == SortBy::Recent, &mut |bound, spans| {
            if top.settled(bound) {
                return ControlFlow::Break(());
            }
            read += 1;
            top.offer(TraceSummary::of(&Trace::new(spans)).unwrap());
            ControlFlow::Continue(())
        })
        .unwrap();
    (top.finish(), read)
}

#[test]
fn latest_and_oldest_traces_match_a_full_read_and_read_few_traces() {
    let dir = tempfile::tempdir().unwrap();
    let input = Input::store(&store(dir.path())).unwrap();
    let windows = [
        (None, None),
        (Some(T0 + 100 * MS + MS / 2), None),
        (None, Some(T0 + 200 * MS)),
        (Some(T0 + 50 * MS), Some(T0 + 250 * MS + MS / 3)),
    ];
    for (since_ns, until_ns) in windows {
        let query = SpanQuery {
            since_ns,
            until_ns,
            ..SpanQuery::default()
        };
        for sort in [SortBy::Recent, SortBy::Oldest] {
            for limit in [0, 1, 2, 5, 20, 400] {
                let want = full(&input, &query, sort, limit);
                let (got, read) = from_end(&input, &query, sort, limit);
                assert_eq!(got, want, "{sort:?} {limit} {since_ns:?} {until_ns:?}");
                if limit <= 5 {
                    assert!(read <= 3 * limit + 4, "{read} traces read for {limit}");
                }
            }
        }
    }
    // The latest is the trace without its root, then the long one.
    let (latest, _) = from_end(&input, &SpanQuery::default(), SortBy::Recent, 2);
    assert!(latest[0].root_missing);
}

/// `EXPLAIN QUERY PLAN` details of `sql`.
fn plan(input: &Input, sql: &str, params: &[i64]) -> String {
    let Input::Store(store) = input else {
        unreachable!()
    };
    let mut stmt = store
        .connection()
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap();
    let rows = stmt
        .query_map(params_from_iter(params.iter()), |r| r.get::<_, String>(3))
        .unwrap();
    rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
}

#[test]
fn the_walk_reads_the_start_index_in_order_and_each_trace_by_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let input = Input::store(&store(dir.path())).unwrap();
    let Input::Store(s) = &input else {
        unreachable!()
    };
    for (since_ns, until_ns) in [(None, None), (Some(T0), None), (Some(T0), Some(T0 + MS))] {
        let query = SpanQuery {
            since_ns,
            until_ns,
            ..SpanQuery::default()
        };
        let read = Read::new(s, &query).unwrap();
        for newest_first in [true, false] {
            let p = plan(&input, &walk_sql(&read, newest_first), &read.params);
            assert!(p.contains("USING INDEX spans_by_start"), "{p}");
            assert!(!p.contains("TEMP B-TREE"), "no sort: {p}");
        }
        let mut params = read.params.clone();
        params.push(1);
        let p = plan(&input, &trace_sql(&read), &params);
        assert!(p.contains("USING INDEX spans_by_trace (trace=?)"), "{p}");
    }
}
