//! What the appender and the readers share: the list of segments with their
//! committed lengths, each reader's acknowledged cursor, and the counters.
//! Held under one mutex for short moments only; nobody does file I/O while
//! holding it (segments taken out of the state are unlinked after release).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use super::SpoolCursor;
use super::segment::segment_path;

/// One segment as the spool knows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct SegmentMeta {
    /// Committed length in bytes: readers never look past it.
    pub len: u64,
    /// Batch entries in it.
    pub entries: u64,
    /// Spans in its batch entries.
    pub spans: u64,
    /// Spans appended to the spool before this segment.
    pub first_span_seq: u64,
    /// Spans appended to the spool up to the end of this segment.
    pub end_span_seq: u64,
    /// Write time of its first batch entry, Unix ns.
    pub first_batch_ns: Option<u64>,
}

/// A registered reader.
#[derive(Clone, Debug)]
pub(super) struct ReaderState {
    /// Its durable cursor: everything before was exported.
    pub acked: SpoolCursor,
    /// Spans appended before `acked`.
    pub acked_span_seq: u64,
    /// A [`super::SpoolReader`] for it exists in this process.
    pub attached: bool,
}

/// The shared metadata.
#[derive(Debug, Default)]
pub(super) struct State {
    /// Every segment file in the spool, by sequence number. The last one is
    /// the active segment that appends go to; all others are sealed.
    pub segments: BTreeMap<u64, SegmentMeta>,
    /// Sum of the segments' `len`.
    pub bytes: u64,
    /// Sum of the segments' `entries`.
    pub entries: u64,
    /// Registered readers by name (from cursor files and [`super::Spool::reader`]).
    pub readers: HashMap<String, ReaderState>,
    /// Batch entries deleted by the size cap before every reader had them.
    pub dropped_entries: u64,
    /// Spans in those entries that the slowest reader had not acknowledged.
    pub dropped_spans: u64,
    /// Damaged entries and segment headers skipped since the open.
    pub corrupt_entries: u64,
    /// The appender is gone: no more data will come.
    pub closed: bool,
}

/// The state, its lock and the signal that data was appended.
pub(super) struct Shared {
    /// The spool directory.
    pub dir: PathBuf,
    state: Mutex<State>,
    /// Notified (all) after every append, roll and close.
    pub appended: Condvar,
}

/// Where a cursor's segment stands.
pub(super) enum Located {
    /// The segment exists.
    Here {
        /// Its committed length.
        len: u64,
        /// The next segment, when this one is sealed.
        next: Option<u64>,
    },
    /// The segment is gone; `seq` is the first one after it.
    Gone {
        /// First existing segment after the cursor's.
        seq: u64,
        /// Its `first_span_seq`.
        first_span_seq: u64,
    },
    /// The cursor lies beyond the last segment.
    Beyond,
}

impl Shared {
    /// Wraps recovered state.
    pub fn new(dir: PathBuf, state: State) -> Shared {
        Shared {
            dir,
            state: Mutex::new(state),
            appended: Condvar::new(),
        }
    }

    /// Locks the state. A panic elsewhere while holding the lock leaves the
    /// state consistent (every update is a few plain assignments), so a
    /// poisoned lock is used as is.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Deletes segment files whose metadata was already removed.
    pub fn unlink(&self, seqs: &[u64]) {
        unlink_segments(&self.dir, seqs);
    }
}

/// Deletes segment files; a file already gone is fine, and a file that cannot
/// be deleted is found again (and deleted) at the next open.
pub(super) fn unlink_segments(dir: &Path, seqs: &[u64]) {
    for &seq in seqs {
        let _ = std::fs::remove_file(segment_path(dir, seq));
    }
}

impl State {
    /// The active segment's sequence number.
    pub fn active(&self) -> Option<u64> {
        self.segments.last_key_value().map(|(&s, _)| s)
    }

    /// The cursor just after the last committed entry.
    pub fn end(&self) -> SpoolCursor {
        match self.segments.last_key_value() {
            Some((&segment, meta)) => SpoolCursor {
                segment,
                offset: meta.len,
            },
            None => SpoolCursor::default(),
        }
    }

    /// Where a new reader starts: the beginning of the oldest segment, and the
    /// spans before it.
    pub fn start(&self) -> (SpoolCursor, u64) {
        match self.segments.first_key_value() {
            Some((&segment, meta)) => (SpoolCursor { segment, offset: 0 }, meta.first_span_seq),
            None => (SpoolCursor::default(), 0),
        }
    }

    /// Where `segment` stands.
    pub fn locate(&self, segment: u64) -> Located {
        let active = self.active();
        match self.segments.range(segment..).next() {
            Some((&seq, meta)) if seq == segment => Located::Here {
                len: meta.len,
                next: if Some(seq) == active {
                    None
                } else {
                    self.segments.range(seq + 1..).next().map(|(&s, _)| s)
                },
            },
            Some((&seq, meta)) => Located::Gone {
                seq,
                first_span_seq: meta.first_span_seq,
            },
            None => Located::Beyond,
        }
    }

    /// Removes the oldest sealed segment from the metadata and counts what it
    /// held as dropped. Returns its sequence number for the caller to unlink.
    pub fn drop_oldest(&mut self) -> Option<u64> {
        if self.segments.len() < 2 {
            return None;
        }
        let slowest = self.readers.values().map(|r| r.acked_span_seq).min();
        let (seq, meta) = self.segments.pop_first()?;
        self.bytes -= meta.len;
        self.entries -= meta.entries;
        self.dropped_entries += meta.entries;
        let unacked_from = slowest.map_or(meta.first_span_seq, |s| s.max(meta.first_span_seq));
        self.dropped_spans += meta.end_span_seq.saturating_sub(unacked_from);
        Some(seq)
    }

    /// Removes from the metadata the sealed segments that every registered
    /// reader has acknowledged wholly, and returns their sequence numbers for
    /// the caller to unlink. With no reader registered nothing is deleted: the
    /// data waits for the exporters (or for the size cap).
    pub fn take_acked(&mut self) -> Vec<u64> {
        let Some(min) = self.readers.values().map(|r| r.acked).min() else {
            return Vec::new();
        };
        let mut gone = Vec::new();
        while self.segments.len() > 1 {
            let Some((&seq, meta)) = self.segments.first_key_value() else {
                break;
            };
            let acked = seq < min.segment || (seq == min.segment && min.offset >= meta.len);
            if !acked {
                break;
            }
            self.bytes -= meta.len;
            self.entries -= meta.entries;
            self.segments.pop_first();
            gone.push(seq);
        }
        gone
    }

    /// Spans appended before `cursor`, when the metadata alone can tell: at
    /// the start or the end of an existing segment.
    pub fn span_seq_at_edge(&self, cursor: SpoolCursor) -> Option<u64> {
        let meta = self.segments.get(&cursor.segment)?;
        if cursor.offset <= super::format::FILE_HEADER_LEN as u64 {
            Some(meta.first_span_seq)
        } else if cursor.offset >= meta.len {
            Some(meta.end_span_seq)
        } else {
            None
        }
    }
}
