//! The spool: a disk-backed queue between draining the rings and exporting.
//!
//! The poll-loop thread owns the [`Spool`] and appends [`SpanBatch`]es; every
//! exporter thread owns a [`SpoolReader`] with its own named, durable cursor.
//! Readers are independent: a slow one holds up nobody, and only the size cap
//! (`max_bytes`) bounds the disk it pins; what the cap deletes before a reader
//! saw it is counted in that reader's [`ReadBatch::lost_spans`].
//!
//! # On disk
//!
//! The directory holds segment files `<seq:020>.seg`, one cursor file
//! `cursor.<name>` per reader (one line of text, replaced atomically) and a
//! `lock` file. A segment starts with a 16-byte header — `RSSPOOL`, format version (1), sequence
//! number (u64 LE) — followed by entries, all little-endian:
//!
//! | bytes | field                                                              |
//! |-------|--------------------------------------------------------------------|
//! | 0..4  | magic `A7 'S' 'P' 'E'`                                             |
//! | 4..8  | CRC-32 of bytes 8..len                                             |
//! | 8..12 | len: whole entry, header included                                  |
//! | 12    | kind: 1 ring positions, 2 batch, 3 forget ring                     |
//! | 16..24| write time, Unix ns                                                |
//! | 24..32| spans appended to the spool before this entry                     |
//! | 32..  | body                                                               |
//!
//! A batch body is ring id, ring end position, resource ring id (u64 each),
//! pid, record count (u32 each), service and host (u16 length + UTF-8), the
//! resource attributes (u16 count, then key/value pairs) and the records
//! (248 bytes each, as in memory). The resource is inline in every entry: it
//! costs tens of bytes next to records of 248 bytes each, and it keeps every
//! entry readable on its own after any other entry is lost.
//!
//! # Ring positions
//!
//! Every batch entry records `(ring_id, ring_end)`. A new segment is created
//! (written to `*.seg.tmp`, then renamed) with a first entry that snapshots
//! every ring's newest position, and forgetting a ring appends a forget entry.
//! Replaying the segments in order therefore rebuilds the positions even after
//! the segments that first recorded them were deleted: the oldest remaining
//! segment begins with a snapshot of everything before it. Keeping them in the
//! segments, rather than a side file, means they are exactly as durable as the
//! records they describe and need no second write per append.
//!
//! # Deletion
//!
//! Sealed segments are deleted when every registered reader (every cursor
//! file) has acknowledged past them, or, oldest first, when the spool grows
//! beyond `max_bytes`. The active segment is never deleted.

mod cursors;
mod format;
mod reader;
mod recover;
mod segment;
mod state;
mod writer;

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;

pub use reader::SpoolReader;

use crate::batch::SpanBatch;
use state::Shared;
use writer::ActiveSegment;

pub use crate::batch::SpoolCursor;

/// Size limits of a spool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpoolLimits {
    /// Cap on the total size of the segment files; beyond it the oldest sealed
    /// segments are deleted whether or not every reader has read them.
    pub max_bytes: u64,
    /// A segment is sealed and a new one started when the next entry would
    /// take it past this size (a single larger entry gets a segment of its own).
    pub segment_bytes: u64,
}

/// What [`SpoolReader::read`] returns.
#[derive(Clone, Debug, Default)]
pub struct ReadBatch {
    /// Batches in spool order (entries without records are left out).
    pub batches: Vec<SpanBatch>,
    /// The cursor just after the last entry returned: acknowledge it once the
    /// batches are exported.
    pub next: SpoolCursor,
    /// Spans the size cap deleted before this reader saw them, since its last
    /// [`SpoolReader::ack`] or [`SpoolReader::seek`]. Like the batches, the
    /// count is repeated by every read until the ack, so that counting it at
    /// each ack counts every lost span once.
    pub lost_spans: u64,
}

/// Counters for metrics and `ringside status`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Total size of the segment files.
    pub bytes: u64,
    /// Number of segment files.
    pub segments: u64,
    /// Batch entries in them.
    pub entries: u64,
    /// Spans appended but not yet acknowledged by the slowest reader (with no
    /// reader: every span in the spool).
    pub pending_spans: u64,
    /// For "age of the oldest record": write time (Unix ns) of the first batch
    /// entry of the segment holding the slowest reader's oldest unacknowledged
    /// data — at most a segment older than that data. `None` when nothing is
    /// pending.
    pub oldest_pending_unix_ns: Option<u64>,
    /// Spans deleted by the size cap before the slowest reader acknowledged them.
    pub dropped_spans: u64,
    /// Damaged entries (or segment headers) skipped since the spool was opened.
    pub corrupt_entries: u64,
}

/// What [`Spool::open`] found and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segments kept.
    pub segments: u64,
    /// Batch entries in them.
    pub entries: u64,
    /// Damaged entries or segment headers skipped (their spans are lost).
    pub corrupt_entries: u64,
    /// Bytes cut off the end of the newest segment (a write torn by a crash).
    pub truncated_bytes: u64,
    /// Cursor files that could not be read (those readers restart at the oldest data).
    pub bad_cursor_files: u64,
    /// Files in the directory that are not the spool's (left alone).
    pub unknown_files: u64,
}

/// How a segment file is synced (see `Spool::sync_file`).
type SyncFile = Box<dyn FnMut(&File) -> io::Result<()> + Send>;

/// The appending side of the spool, owned by the poll-loop thread.
pub struct Spool {
    shared: Arc<Shared>,
    limits: SpoolLimits,
    active: ActiveSegment,
    /// Sealed segments written since the last [`Spool::sync`].
    unsynced: Vec<File>,
    /// fdatasync of one segment: [`File::sync_data`]; the unit tests swap in
    /// a failing one to check what a failed sync keeps.
    sync_file: SyncFile,
    positions: HashMap<u64, u64>,
    /// Spans appended over the spool's whole life.
    next_span_seq: u64,
    report: RecoveryReport,
    /// Encoding buffer, reused.
    buf: Vec<u8>,
    /// Held (flock) while the spool is open: one appender per directory.
    _lock: File,
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir` and recovers it: a torn
    /// last entry is cut off, damaged entries and segments are skipped and
    /// counted (and logged), foreign files are left alone. Fails when another
    /// process has the spool open or a segment has a newer format version.
    pub fn open(dir: &Path, limits: SpoolLimits) -> io::Result<Spool> {
        fs::create_dir_all(dir)?;
        let lock = lock_dir(dir)?;
        let rec = recover::recover(dir)?;
        let report = rec.report.clone();
        if report.corrupt_entries
            + report.truncated_bytes
            + report.bad_cursor_files
            + report.unknown_files
            > 0
        {
            log::warn!(
                "spool {}: skipped {} damaged entries, cut {} torn bytes, ignored {} unreadable cursor files and {} foreign files",
                dir.display(),
                report.corrupt_entries,
                report.truncated_bytes,
                report.bad_cursor_files,
                report.unknown_files
            );
        }
        let mut state = rec.state;
        state.corrupt_entries = report.corrupt_entries;
        let active = match state.active() {
            Some(seq) => ActiveSegment::reopen(dir, seq, &state.segments[&seq])?,
            None => {
                let seq = rec.last_seq + 1;
                let (active, meta) =
                    ActiveSegment::create(dir, seq, &rec.positions, rec.next_span_seq)?;
                state.bytes += meta.len;
                state.segments.insert(seq, meta);
                active
            }
        };
        Ok(Spool {
            shared: Arc::new(Shared::new(dir.to_path_buf(), state)),
            limits,
            active,
            unsynced: Vec::new(),
            sync_file: Box::new(File::sync_data),
            positions: rec.positions,
            next_span_seq: rec.next_span_seq,
            report,
            buf: Vec::new(),
            _lock: lock,
        })
    }

    /// What the open found and repaired.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    /// Newest ring end position appended, by ring id (after a restart: as
    /// recovered from disk).
    pub fn ring_positions(&self) -> &HashMap<u64, u64> {
        &self.positions
    }

    /// Opens reader `name` (1 to 64 ASCII letters, digits, `-`, `_`). Its
    /// cursor persists in the spool directory; a new name starts at the oldest
    /// data. One [`SpoolReader`] per name at a time.
    pub fn reader(&self, name: &str) -> io::Result<SpoolReader> {
        reader::attach(&self.shared, name)
    }

    /// Forgets the cursors of readers not in `names` (exporters no longer
    /// configured) so they do not pin segments, and deletes what that frees.
    /// Readers currently open are kept.
    pub fn retain_readers(&mut self, names: &[&str]) -> io::Result<()> {
        let (doomed, gone) = {
            let mut st = self.shared.lock();
            let doomed: Vec<String> = st
                .readers
                .iter()
                .filter(|(name, r)| !r.attached && !names.contains(&name.as_str()))
                .map(|(name, _)| name.clone())
                .collect();
            for name in &doomed {
                st.readers.remove(name);
            }
            (doomed, st.take_acked())
        };
        self.shared.unlink(&gone);
        // A cursor file that cannot be removed brings its reader back at the
        // next open, where the next call forgets it again.
        doomed
            .iter()
            .try_for_each(|name| cursors::remove_cursor(&self.shared.dir, name))
    }

    /// Current counters.
    pub fn stats(&self) -> SpoolStats {
        let st = self.shared.lock();
        let (oldest_kept_cursor, oldest_kept) = st.start();
        let (from, acked) = st
            .readers
            .values()
            .map(|r| (r.acked, r.acked_span_seq))
            .min_by_key(|&(_, seq)| seq)
            .unwrap_or((oldest_kept_cursor, oldest_kept));
        let pending_spans = self.next_span_seq - acked.max(oldest_kept).min(self.next_span_seq);
        let oldest_pending_unix_ns = if pending_spans == 0 {
            None
        } else {
            st.segments
                .range(from.segment..)
                .find_map(|(_, m)| m.first_batch_ns)
        };
        SpoolStats {
            bytes: st.bytes,
            segments: st.segments.len() as u64,
            entries: st.entries,
            pending_spans,
            oldest_pending_unix_ns,
            dropped_spans: st.dropped_spans,
            corrupt_entries: st.corrupt_entries,
        }
    }

    /// Tells readers that no more data will come: their [`SpoolReader::wait`]
    /// returns at once. Appending after this still works; readers find the
    /// data when they next read. Also done on drop.
    pub fn close(&mut self) {
        self.shared.lock().closed = true;
        self.shared.appended.notify_all();
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        self.close();
    }
}

/// Takes an exclusive advisory lock on `dir/lock`, held as long as the file.
fn lock_dir(dir: &Path) -> io::Result<File> {
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))?;
    // SAFETY: flock only reads its arguments; the descriptor is valid while `file` lives.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::WouldBlock {
            return Err(io::Error::new(
                io::ErrorKind::ResourceBusy,
                format!("spool {} is in use by another process", dir.display()),
            ));
        }
        return Err(e);
    }
    Ok(file)
}

#[cfg(test)]
mod tests;
