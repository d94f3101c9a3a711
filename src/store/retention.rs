//! Retention: the store keeps traces for at most `max_age` and its data under
//! `max_bytes`, whichever limit is hit first, by deleting whole traces, oldest
//! first (the trace whose earliest span started first goes first).
//!
//! Deleting runs on the exporter's connection between writes, in
//! transactions of at most [`STEP_SPANS`] spans: the oldest spans come from
//! the `spans_by_start` index, their traces are deleted whole through
//! `spans_by_trace`, so one step costs a few milliseconds however large the
//! store is, and the next write waits for at most one step.
//!
//! A trace whose spans straddle the age limit is deleted whole as soon as its
//! earliest span is too old: the store never holds part of a trace it
//! pruned. (A span of that trace exported later starts a new, partial one.)
//!
//! Space: SQLite keeps the pages a delete frees in the file and reuses them
//! for the next inserts, so a store at `max_bytes` stops growing. Stores
//! created by this version use `auto_vacuum = INCREMENTAL`: free pages beyond
//! [`RESERVE_BYTES`] (kept for the next writes) are handed back to the file
//! system, [`VACUUM_PAGES`] at a time. A store created before that keeps its
//! free pages for reuse; `sqlite3 traces.db 'PRAGMA auto_vacuum=INCREMENTAL;
//! VACUUM'` (offline) converts it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusqlite::{TransactionBehavior, params};

use super::{Store, StoreError};

/// How long and how much the store keeps. `None` is no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Traces whose earliest span started longer ago than this are deleted.
    pub max_age: Option<Duration>,
    /// Oldest traces are deleted while the store's data (pages in use, free
    /// pages not counted) is larger than this.
    pub max_bytes: Option<u64>,
}

impl Retention {
    /// True when neither limit is set.
    pub fn is_unlimited(&self) -> bool {
        self.max_age.is_none() && self.max_bytes.is_none()
    }
}

/// Spans deleted per transaction at most (the traces of the oldest this many
/// spans, so a little more when the last trace is cut).
pub const STEP_SPANS: i64 = 2_000;

/// Free pages kept in the file for the next writes, in bytes.
pub const RESERVE_BYTES: u64 = 32 << 20;

/// Pages handed back to the file system per incremental vacuum step.
pub const VACUUM_PAGES: i64 = 256;

/// Why traces were deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Older than `max_age`.
    Age,
    /// The store was larger than `max_bytes`.
    Size,
}

impl Reason {
    /// Both, for metrics.
    pub const ALL: [Reason; 2] = [Reason::Age, Reason::Size];

    /// Lowercase name, the `reason` label in `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Age => "age",
            Reason::Size => "size",
        }
    }
}

/// Counters of everything retention did in this process, for `/metrics`.
#[derive(Debug, Default)]
pub struct RetentionStats {
    traces: [AtomicU64; 2],
    spans: [AtomicU64; 2],
    /// Pages handed back to the file system.
    pub released_bytes: AtomicU64,
    /// Delete steps that failed (the write they came before went on).
    pub errors: AtomicU64,
    /// The store's data size after the last step, bytes.
    pub store_bytes: AtomicU64,
}

impl RetentionStats {
    /// Traces deleted for `reason`.
    pub fn traces(&self, reason: Reason) -> u64 {
        self.traces[reason as usize].load(Ordering::Relaxed)
    }

    /// Spans deleted for `reason`.
    pub fn spans(&self, reason: Reason) -> u64 {
        self.spans[reason as usize].load(Ordering::Relaxed)
    }
}

/// This process's retention counters (every store adds to them).
pub static RETENTION_STATS: RetentionStats = RetentionStats {
    traces: [AtomicU64::new(0), AtomicU64::new(0)],
    spans: [AtomicU64::new(0), AtomicU64::new(0)],
    released_bytes: AtomicU64::new(0),
    errors: AtomicU64::new(0),
    store_bytes: AtomicU64::new(0),
};

/// What one [`Store::prune`] call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Traces deleted.
    pub traces: u64,
    /// Their spans.
    pub spans: u64,
    /// Transactions used.
    pub steps: u64,
    /// Bytes handed back to the file system.
    pub released_bytes: u64,
    /// False when the time budget ran out with work left.
    pub done: bool,
}

/// Page counts of the database file.
struct Pages {
    size: u64,
    count: u64,
    free: u64,
}

impl Pages {
    fn used_bytes(&self) -> u64 {
        self.count.saturating_sub(self.free) * self.size
    }
}

impl Store {
    /// The store's data size in bytes: pages in use (free pages, which the
    /// next writes reuse, are not counted; neither is the WAL).
    pub fn used_bytes(&self) -> Result<u64, StoreError> {
        Ok(self.pages()?.used_bytes())
    }

    fn pages(&self) -> Result<Pages, StoreError> {
        let get = |p: &str| -> Result<u64, StoreError> {
            let v: i64 = self
                .conn
                .query_row(&format!("PRAGMA {p}"), [], |r| r.get(0))?;
            Ok(v.max(0) as u64)
        };
        Ok(Pages {
            size: get("page_size")?,
            count: get("page_count")?,
            free: get("freelist_count")?,
        })
    }

    /// Deletes the oldest whole traces that `policy` no longer allows (age
    /// measured against `now_ns`), one small transaction after the other,
    /// until none is left or `budget` is spent; then hands free pages beyond
    /// [`RESERVE_BYTES`] back to the file system if the store allows it.
    pub fn prune(
        &mut self,
        policy: &Retention,
        now_ns: u64,
        budget: Duration,
    ) -> Result<Pruned, StoreError> {
        let started = Instant::now();
        let mut out = Pruned::default();
        if policy.is_unlimited() {
            out.done = true;
            return Ok(out);
        }
        let cutoff = policy.max_age.map(|age| {
            let age = u64::try_from(age.as_nanos()).unwrap_or(u64::MAX);
            i64::try_from(now_ns.saturating_sub(age)).unwrap_or(i64::MAX)
        });
        loop {
            let reason = match self.due(policy, cutoff)? {
                Some(r) => r,
                None => {
                    out.done = true;
                    break;
                }
            };
            if started.elapsed() >= budget {
                break;
            }
            let age_cutoff = (reason == Reason::Age).then_some(cutoff).flatten();
            let (traces, spans) = self.delete_oldest(age_cutoff)?;
            out.steps += 1;
            out.traces += traces;
            out.spans += spans;
            RETENTION_STATS.traces[reason as usize].fetch_add(traces, Ordering::Relaxed);
            RETENTION_STATS.spans[reason as usize].fetch_add(spans, Ordering::Relaxed);
            if traces == 0 {
                out.done = true;
                break;
            }
        }
        while started.elapsed() < budget {
            let released = self.release_free_pages()?;
            if released == 0 {
                break;
            }
            out.released_bytes += released;
            RETENTION_STATS
                .released_bytes
                .fetch_add(released, Ordering::Relaxed);
        }
        RETENTION_STATS
            .store_bytes
            .store(self.used_bytes()?, Ordering::Relaxed);
        Ok(out)
    }

    /// Which limit, if any, the store is over now.
    fn due(&self, policy: &Retention, cutoff: Option<i64>) -> Result<Option<Reason>, StoreError> {
        if let Some(cutoff) = cutoff {
            let oldest: Option<i64> = self
                .conn
                .prepare_cached("SELECT min(start_ns) FROM spans")?
                .query_row([], |r| r.get(0))?;
            if oldest.is_some_and(|t| t < cutoff) {
                return Ok(Some(Reason::Age));
            }
        }
        if let Some(max) = policy.max_bytes
            && self.used_bytes()? > max
        {
            return Ok(Some(Reason::Size));
        }
        Ok(None)
    }

    /// Deletes, in one transaction, the whole traces of the oldest
    /// [`STEP_SPANS`] spans (only spans starting before `cutoff`, if given).
    /// Returns the traces and spans deleted.
    fn delete_oldest(&mut self, cutoff: Option<i64>) -> Result<(u64, u64), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut traces: Vec<i64> = {
            let mut stmt = tx.prepare_cached(
                "SELECT trace FROM spans WHERE start_ns < ?1 ORDER BY start_ns LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![cutoff.unwrap_or(i64::MAX), STEP_SPANS], |r| {
                r.get(0)
            })?;
            rows.collect::<Result<_, _>>()?
        };
        traces.sort_unstable();
        traces.dedup();
        let mut spans = 0u64;
        {
            let mut delete_spans = tx.prepare_cached("DELETE FROM spans WHERE trace = ?1")?;
            let mut delete_trace = tx.prepare_cached("DELETE FROM traces WHERE id = ?1")?;
            for t in &traces {
                spans += delete_spans.execute([t])? as u64;
                delete_trace.execute([t])?;
            }
        }
        tx.commit()?;
        Ok((traces.len() as u64, spans))
    }

    /// One incremental vacuum step when free pages exceed the reserve;
    /// returns the bytes handed back (0 when nothing was, or the store was
    /// not created with `auto_vacuum = INCREMENTAL`).
    fn release_free_pages(&mut self) -> Result<u64, StoreError> {
        let before = self.pages()?;
        let reserve = RESERVE_BYTES / before.size.max(1);
        if before.free <= reserve {
            return Ok(0);
        }
        let n = (before.free - reserve).min(VACUUM_PAGES as u64);
        // incremental_vacuum returns no row per page; step through them all.
        let mut stmt = self
            .conn
            .prepare(&format!("PRAGMA incremental_vacuum({n})"))?;
        let mut rows = stmt.query([])?;
        while rows.next()?.is_some() {}
        drop(rows);
        drop(stmt);
        let after = self.pages()?;
        Ok(before.count.saturating_sub(after.count) * before.size)
    }
}

#[cfg(test)]
mod tests;
