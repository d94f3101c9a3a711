//! Retention of the sqlite exporter, through the exporter the sidecar runs:
//! spans written steadily while the oldest traces are deleted, with a reader
//! walking the store at the same time; the age limit from the configuration;
//! the counters `/metrics` shows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ringside_agent::analyze::input::{Input, SpanQuery};
use ringside_agent::batch::SpoolCursor;
use ringside_agent::export::Exporter;
use ringside_agent::export::sqlite::{SqliteConfig, SqliteExporter};
use ringside_agent::sidecar::config::Config;
use ringside_agent::store::generate::{self, SPANS_PER_TRACE};
use ringside_agent::store::retention::{RETENTION_STATS, Reason};
use ringside_agent::store::{Store, retention};

const MS: u64 = 1_000_000;

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "ringside-store-retention-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cursor(n: u64) -> SpoolCursor {
    SpoolCursor {
        segment: n,
        offset: 0,
    }
}

/// Spans per trace id.
fn spans_per_trace(path: &Path) -> HashMap<Vec<u8>, i64> {
    let store = Store::open_read_only(path).unwrap();
    let mut stmt = store
        .connection()
        .prepare("SELECT trace_id, count(*) FROM spans GROUP BY trace")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn size_limit_under_steady_writes_keeps_whole_traces_and_readers_never_see_half_a_trace() {
    let dir = TempDir::new("size");
    let path = dir.0.join("traces.db");
    let t0 = ringside::clock::unix_ns() - 3_600_000 * MS;
    // One export of 100 traces, to learn its size.
    let mut probe = SqliteExporter::open(&dir.0.join("probe.db")).unwrap();
    probe
        .export(&generate::traces(0, 100, t0, MS), cursor(1))
        .unwrap();
    drop(probe);
    let step = Store::open_read_only(&dir.0.join("probe.db"))
        .unwrap()
        .used_bytes()
        .unwrap();
    let config = SqliteConfig {
        path: path.clone(),
        max_age_s: 0,
        max_bytes: 8 * step,
    };
    let mut exporter = SqliteExporter::from_config(&config).unwrap();
    exporter
        .export(&generate::traces(0, 100, t0, MS), cursor(1))
        .unwrap();
    let before = RETENTION_STATS.traces(Reason::Size);

    // A reader walking the store trace by trace while the writer deletes
    // and inserts: each trace it sees is whole (deletes are transactions).
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, path) = (stop.clone(), path.clone());
        std::thread::spawn(move || {
            let mut walks = 0u64;
            while !stop.load(Ordering::Relaxed) || walks == 0 {
                let input = Input::store(&path).unwrap();
                input
                    .for_each_trace(&SpanQuery::default(), &mut |spans| {
                        assert_eq!(spans.len(), SPANS_PER_TRACE, "a reader saw part of a trace");
                    })
                    .unwrap();
                walks += 1;
            }
            walks
        })
    };
    let rounds = 80u64;
    for round in 1..rounds {
        let batches = generate::traces(round, 100, t0 + round * 100 * MS, MS);
        let out = exporter.export(&batches, cursor(round + 1)).unwrap();
        assert_eq!(out.accepted, 100 * SPANS_PER_TRACE as u64);
        let used = Store::open_read_only(&path).unwrap().used_bytes().unwrap();
        assert!(
            used <= config.max_bytes + 2 * step,
            "round {round}: {used} bytes, limit {} plus one step of {step}",
            config.max_bytes
        );
        // Everything this export wrote is there, whole.
        let left = spans_per_trace(&path);
        assert!(left.values().all(|&n| n == SPANS_PER_TRACE as i64));
    }
    stop.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    let left = spans_per_trace(&path);
    // Bounded: far fewer traces than the 8 000 written, and the newest
    // export is all there.
    assert!(left.len() < 2_000, "{} traces left", left.len());
    let newest: Vec<Vec<u8>> = generate::traces(rounds - 1, 100, 0, MS)
        .iter()
        .flat_map(|b| b.records.iter().map(|r| r.trace_id.to_vec()))
        .collect();
    assert!(newest.iter().all(|id| left.contains_key(id)));
    // Counted for /metrics.
    let deleted = RETENTION_STATS.traces(Reason::Size) - before;
    assert!(deleted >= 8_000 - 2_000, "{deleted} deletions counted");
}

#[test]
fn age_limit_from_the_configuration_deletes_old_traces_whole() {
    let dir = TempDir::new("age");
    let path = dir.0.join("traces.db");
    let toml = format!(
        "[[exporters]]\nkind = \"sqlite\"\npath = \"{}\"\nmax_age_s = 60\nmax_bytes = 0\n",
        path.display()
    );
    let config = Config::from_toml(&toml).unwrap();
    let ringside_agent::sidecar::config::ExporterConfig::Sqlite(sqlite) = &config.exporters[0]
    else {
        panic!("not a sqlite exporter: {:?}", config.exporters[0]);
    };
    assert_eq!(
        sqlite.retention(),
        retention::Retention {
            max_age: Some(std::time::Duration::from_secs(60)),
            max_bytes: None
        }
    );
    let mut exporter = SqliteExporter::from_config(sqlite).unwrap();
    let now = ringside::clock::unix_ns();
    // 50 traces an hour old; 50 one every 100 ms from 62.5 s ago, across
    // the limit (the older ones go, whole); then 50 fresh ones.
    let before = RETENTION_STATS.traces(Reason::Age);
    exporter
        .export(
            &generate::traces(1, 50, now - 3_600_000 * MS, MS),
            cursor(1),
        )
        .unwrap();
    exporter
        .export(
            &generate::traces(2, 50, now - 62_500 * MS, 100 * MS),
            cursor(2),
        )
        .unwrap();
    exporter
        .export(&generate::traces(3, 50, now, MS), cursor(3))
        .unwrap();
    let left = spans_per_trace(&path);
    assert!(left.values().all(|&n| n == SPANS_PER_TRACE as i64));
    // The hour-old ones and the straddling ones whose first span is past
    // the limit are gone; the ones after it and the fresh ones stay.
    let ids = |seed, start| -> Vec<Vec<u8>> {
        generate::traces(seed, 50, start, MS)
            .iter()
            .flat_map(|b| b.records.iter())
            .filter(|r| r.parent_span_id == [0; 8])
            .map(|r| r.trace_id.to_vec())
            .collect()
    };
    assert!(ids(1, 0).iter().all(|id| !left.contains_key(id)));
    let straddling_kept = ids(2, 0).iter().filter(|id| left.contains_key(*id)).count();
    assert!(
        (1..50).contains(&straddling_kept),
        "{straddling_kept} of the traces around the limit kept"
    );
    assert!(ids(3, 0).iter().all(|id| left.contains_key(id)));
    assert!(RETENTION_STATS.traces(Reason::Age) - before > 50);
}
