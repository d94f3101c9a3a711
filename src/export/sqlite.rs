//! SQLite exporter: spans into the local trace store ([`crate::store`]) that
//! the analysis commands read.
//!
//! Exactly once: every export is one transaction holding the spans and the
//! spool cursor after them, so after a crash [`Exporter::recover`] returns the
//! cursor of the last committed batch and the spool hands out only what came
//! after it. A batch handed out again anyway (cursor not past the stored one)
//! is acknowledged without being written, and spans already present (same
//! trace and span id) are ignored.
//!
//! Retention ([`crate::store::retention`]): before each write, traces older
//! than `max_age_s` or beyond `max_bytes` are deleted, oldest first, in
//! transactions of a few milliseconds, for at most twice the time the last
//! write took (at least [`PRUNE_MIN`], at most [`PRUNE_MAX`]): pruning keeps
//! pace with writing and never holds an export up for long. A node that stops
//! writing still prunes: while the spool has nothing new, the delivery stage
//! calls [`Exporter::idle`], which prunes at most every [`IDLE_PRUNE_EVERY`]
//! with the same [`PRUNE_MAX`] budget, so traces past `max_age` go within
//! about that long of getting too old, writes or not.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{ExportError, ExportOutcome, Exporter};
use crate::batch::{SpanBatch, SpoolCursor};
use crate::store::retention::{RETENTION_STATS, Retention};
use crate::store::{Store, StoreError};

/// The `[[exporters]]` entry of kind `sqlite`.
#[derive(Clone, Debug, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SqliteConfig {
    /// The database file.
    pub path: PathBuf,
    /// Delete traces whose earliest span is older than this many seconds,
    /// 0 = keep them forever.
    #[serde(default)]
    pub max_age_s: u64,
    /// Delete the oldest traces while the store's data is larger than this
    /// many bytes, 0 = no limit.
    #[serde(default)]
    pub max_bytes: u64,
}

impl SqliteConfig {
    /// A store at `path`, kept forever.
    pub fn at(path: PathBuf) -> SqliteConfig {
        SqliteConfig {
            path,
            max_age_s: 0,
            max_bytes: 0,
        }
    }

    /// The retention these settings ask for.
    pub fn retention(&self) -> Retention {
        Retention {
            max_age: (self.max_age_s > 0).then(|| Duration::from_secs(self.max_age_s)),
            max_bytes: (self.max_bytes > 0).then_some(self.max_bytes),
        }
    }
}

/// Least time given to pruning before a write.
pub const PRUNE_MIN: Duration = Duration::from_millis(10);
/// Most time given to pruning before a write (half the default batch
/// timeout).
pub const PRUNE_MAX: Duration = Duration::from_millis(100);

/// Least time between two prunes while no span arrives ([`Exporter::idle`]):
/// the age limit holds to within this much on an idle store; a prune with
/// nothing to delete costs two index probes.
pub const IDLE_PRUNE_EVERY: Duration = Duration::from_secs(1);

/// Writes spans into the store at one path.
#[derive(Debug)]
pub struct SqliteExporter {
    path: PathBuf,
    store: Store,
    retention: Retention,
    /// How long the last write took.
    last_write: Duration,
    /// When retention last ran (before a write or while idle).
    last_prune: Option<Instant>,
    /// The last prune ran out of time with traces left to delete.
    prune_behind: bool,
}

impl SqliteExporter {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> anyhow::Result<SqliteExporter> {
        let store = Store::open(path)
            .map_err(|e| anyhow::anyhow!("sqlite exporter: {}: {e}", path.display()))?;
        Ok(SqliteExporter {
            path: path.to_owned(),
            store,
            retention: Retention::default(),
            last_write: Duration::ZERO,
            last_prune: None,
            prune_behind: false,
        })
    }

    /// Opens the store `config` names, with its retention.
    pub fn from_config(config: &SqliteConfig) -> anyhow::Result<SqliteExporter> {
        Ok(SqliteExporter::open(&config.path)?.with_retention(config.retention()))
    }

    /// Deletes what `retention` does not keep, before each write.
    pub fn with_retention(mut self, retention: Retention) -> SqliteExporter {
        self.retention = retention;
        self
    }

    /// Prunes for at most `budget`; a failure is counted and logged, and the
    /// write goes on (it may be what frees the disk next time).
    fn prune(&mut self, budget: Duration) {
        if self.retention.is_unlimited() {
            return;
        }
        self.last_prune = Some(Instant::now());
        match self
            .store
            .prune(&self.retention, ringside::clock::unix_ns(), budget)
        {
            Ok(pruned) => self.prune_behind = !pruned.done,
            Err(e) => {
                RETENTION_STATS
                    .errors
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                log::warn!("sqlite exporter: {}: retention: {e}", self.path.display());
            }
        }
    }
}

impl Exporter for SqliteExporter {
    fn name(&self) -> &str {
        "sqlite"
    }

    fn recover(&mut self) -> anyhow::Result<Option<SpoolCursor>> {
        self.store
            .cursor()
            .map_err(|e| anyhow::anyhow!("sqlite exporter: {}: {e}", self.path.display()))
    }

    fn export(
        &mut self,
        batches: &[SpanBatch],
        cursor: SpoolCursor,
    ) -> Result<ExportOutcome, ExportError> {
        self.prune((2 * self.last_write).clamp(PRUNE_MIN, PRUNE_MAX));
        let started = Instant::now();
        let written = self.store.write(batches, cursor);
        self.last_write = started.elapsed();
        match written {
            Ok(w) => Ok(ExportOutcome {
                accepted: w.inserted + w.duplicates,
                rejected: w.invalid,
            }),
            // A full disk, a locked file or an I/O error may pass; the
            // batches stay in the spool until it does.
            Err(e @ (StoreError::Sqlite(_) | StoreError::Io(_))) => Err(ExportError::Retryable {
                reason: format!("{}: {e}", self.path.display()),
                retry_after: None,
            }),
            Err(e) => Err(ExportError::Permanent {
                reason: format!("{}: {e}", self.path.display()),
            }),
        }
    }

    /// Prunes when [`IDLE_PRUNE_EVERY`] has passed since the last prune, or
    /// at once when that one left traces to delete; nothing waits for a write
    /// now, so the budget is the longest a write would wait ([`PRUNE_MAX`]).
    fn idle(&mut self) {
        let due = self.prune_behind
            || self
                .last_prune
                .is_none_or(|t| t.elapsed() >= IDLE_PRUNE_EVERY);
        if due {
            self.prune(PRUNE_MAX);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::batch::Resource;
    use ringside::record::{Record, StatusCode};

    fn record(trace: u8, span: u8, parent: Option<u8>, start: u64, end: u64) -> Record {
        let mut r = Record::new("read");
        r.trace_id = [trace; 16];
        r.span_id = [span; 8];
        r.parent_span_id = parent.map_or([0; 8], |p| [p; 8]);
        r.start = start;
        r.end = end;
        r.push_attr("file.path", ringside::record::Value::Str("/a/b"));
        r.kind = ringside::record::SpanKind::Server as u8;
        r.set_status(StatusCode::Ok, "");
        r
    }

    fn batch(records: Vec<Record>) -> SpanBatch {
        SpanBatch {
            resource: Arc::new(Resource {
                service: "osd".into(),
                pid: 7,
                host: "node1".into(),
                ring_id: 42,
                attributes: vec![],
            }),
            records,
        }
    }

    fn count(path: &Path) -> i64 {
        let store = Store::open_read_only(path).unwrap();
        store
            .connection()
            .query_row("SELECT count(*) FROM spans", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn cursor_survives_reopen_and_replay_is_not_duplicated() {
        let dir = tempdir();
        let path = dir.join("traces.db");
        let c1 = SpoolCursor {
            segment: 1,
            offset: 4096,
        };
        let c2 = SpoolCursor {
            segment: 2,
            offset: 128,
        };
        let first = batch(vec![
            record(1, 1, None, 100, 200),
            record(1, 2, Some(1), 120, 180),
        ]);
        let second = batch(vec![record(2, 3, None, 300, 400)]);
        {
            let mut e = SqliteExporter::open(&path).unwrap();
            assert_eq!(e.recover().unwrap(), None);
            let out = e.export(std::slice::from_ref(&first), c1).unwrap();
            assert_eq!(out.accepted, 2);
            e.export(std::slice::from_ref(&second), c2).unwrap();
        }
        let mut e = SqliteExporter::open(&path).unwrap();
        assert_eq!(e.recover().unwrap(), Some(c2));
        // The spool hands the same range out again (crash before it learnt
        // of the commit): acknowledged, nothing written twice.
        e.export(std::slice::from_ref(&first), c1).unwrap();
        e.export(std::slice::from_ref(&second), c2).unwrap();
        assert_eq!(count(&path), 3);
        assert_eq!(e.recover().unwrap(), Some(c2));
        // The same spans again under a newer cursor (a spool rebuilt from the
        // rings) are ignored by id, and the cursor moves on.
        let c3 = SpoolCursor {
            segment: 3,
            offset: 0,
        };
        let out = e.export(&[first, second], c3).unwrap();
        assert_eq!(out.accepted, 3);
        assert_eq!(count(&path), 3);
        assert_eq!(e.recover().unwrap(), Some(c3));
        let mode: String = Store::open_read_only(&path)
            .unwrap()
            .connection()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_a_file_that_is_not_a_store() {
        let dir = tempdir();
        let path = dir.join("other.db");
        std::fs::write(
            &path,
            b"this is not sqlite, just some text that is long enough to matter",
        )
        .unwrap();
        let err = SqliteExporter::open(&path).unwrap_err().to_string();
        assert!(err.contains("other.db"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn idle_prunes_what_got_too_old_without_a_write() {
        let dir = tempdir();
        let path = dir.join("traces.db");
        let config = SqliteConfig {
            path: path.clone(),
            max_age_s: 3_600,
            max_bytes: 0,
        };
        let mut e = SqliteExporter::from_config(&config).unwrap();
        // The prune before this write finds the store empty: the traces,
        // two hours old, are written.
        let old = ringside::clock::unix_ns() - 2 * 3_600 * 1_000_000_000;
        let batches = crate::store::generate::traces(1, 10, old, 1_000_000);
        e.export(&batches, SpoolCursor::default()).unwrap();
        assert_eq!(
            count(&path),
            10 * crate::store::generate::SPANS_PER_TRACE as i64
        );
        // As if IDLE_PRUNE_EVERY had passed since the prune before the write.
        e.last_prune = None;
        e.idle();
        assert_eq!(count(&path), 0);
        // Without retention, idle does nothing (it is always due then: an
        // unlimited prune returns before it sets `last_prune`).
        let mut keep = SqliteExporter::open(&dir.join("keep.db")).unwrap();
        keep.export(&batches, SpoolCursor::default()).unwrap();
        keep.idle();
        assert_eq!(count(&dir.join("keep.db")), 140);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "ringside-sqlite-exporter-{}-{}",
            std::process::id(),
            ringside::clock::unix_ns()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
