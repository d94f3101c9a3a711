//! The reader's side of a ring: copy published records out of every lane, and
//! hand positions back to the writers only when the caller says the records
//! are safe.
//!
//! # Hand-off marks
//!
//! A ring has one read position per lane, but the sidecar's spool records one
//! number per ring. That number is a *hand-off mark*: each [`Consumer::read`]
//! that copies records stores every lane's read position as the lane's
//! `pending` position and names the set with a new mark, `pending + 1`,
//! stored first (so a half-written set is never taken for a confirmed one).
//! [`Consumer::release`] of that mark stores `released = mark` (the commit
//! point), then moves every lane's `head` to its pending position. A reader
//! restarted after a crash:
//!
//! - finds `released == pending`: the last set was confirmed; it moves the
//!   heads there again (the crash may have come between the two steps);
//! - finds `pending > released`: the set was read but never confirmed; if the
//!   spool says it holds that mark ([`Consumer::skip_to`]) it confirms it,
//!   otherwise the records are read again from the heads.
//!
//! Marks only grow and are never reused, so a mark the spool holds names
//! exactly one set of positions.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;

use super::file::{OpenError, OpenedRing, open_for_reading};
use super::mapping::RingStats;
use super::protocol::RingRef;
use super::{Identity, MAX_LANES};
use crate::record::Record;

/// What one call to [`Consumer::read`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drained {
    /// Records copied out.
    pub records: usize,
    /// Records counted as abandoned by this call (see
    /// [`Consumer::count_abandoned`]; `read` itself never abandons).
    pub abandoned: u64,
    /// Always false since layout version 2: the reader never waits on a
    /// writer. Kept so that loops written for version 1 still compile.
    pub waiting: bool,
    /// Published positions whose slot was not written through the protocol
    /// (its stamp does not match): skipped.
    pub corrupt: u64,
}

/// Reads one ring. Records are handed off in sets named by hand-off marks
/// (see the module documentation): [`Consumer::read_position`] names what was
/// read, [`Consumer::released`] what was handed off.
pub struct Consumer {
    ring: OpenedRing,
    path: PathBuf,
    /// Next position to read in each lane; `>= head`.
    read: [u64; MAX_LANES],
    /// Lane the next read starts at, so that no lane starves the others.
    next_lane: usize,
}

impl Consumer {
    /// Opens and validates a ring file, and finishes a hand-off that a
    /// previous reader confirmed but did not complete.
    pub fn open(path: &Path) -> Result<Consumer, OpenError> {
        let ring = open_for_reading(path)?;
        let view = ring.view();
        let (released, pending) = marks(&view);
        if released == pending {
            move_heads_to_pending(&view);
        }
        let mut read = [0; MAX_LANES];
        for (i, r) in read.iter_mut().enumerate().take(view.lane_count()) {
            *r = view.lane(i).head();
        }
        Ok(Consumer {
            ring,
            path: path.to_path_buf(),
            read,
            next_lane: 0,
        })
    }

    /// The ring's identity header.
    pub fn identity(&self) -> &Identity {
        &self.ring.identity
    }

    /// Address and length of the ring's mapping in this process, for a reader
    /// that guards it (a SIGBUS handler that survives the file shrinking). The
    /// range is valid for as long as this consumer lives.
    pub fn mapped_range(&self) -> (*const u8, usize) {
        self.ring.mapped()
    }

    /// The ring file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Owner, mode and type of the file as opened.
    pub fn metadata(&self) -> &std::fs::Metadata {
        &self.ring.metadata
    }

    /// The header counters.
    pub fn stats(&self) -> RingStats {
        self.ring.stats()
    }

    /// The hand-off mark that covers every record read so far: the released
    /// mark if nothing was read since, else the pending mark of the last read.
    pub fn read_position(&self) -> u64 {
        let view = self.ring.view();
        let unreleased = (0..view.lane_count()).any(|i| self.read[i] != view.lane(i).head());
        let (released, pending) = marks(&view);
        if unreleased { pending } else { released }
    }

    /// The last hand-off mark released (the restart point).
    pub fn released(&self) -> u64 {
        marks(&self.ring.view()).0
    }

    /// True when every published record has been read.
    pub fn is_drained(&self) -> bool {
        let view = self.ring.view();
        (0..view.lane_count()).all(|i| self.read[i] >= view.lane(i).published())
    }

    /// True while some process holds the ring open for writing.
    pub fn writer_alive(&self) -> bool {
        let fd = self.ring.file.as_raw_fd();
        // SAFETY: plain syscalls on a descriptor we own. Taking the exclusive
        // lock succeeds only if no writer holds its shared lock; we release it
        // at once.
        unsafe {
            if libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) == 0 {
                libc::flock(fd, libc::LOCK_UN);
                false
            } else {
                true
            }
        }
    }

    /// Copies up to `max` published records into `out`, lane by lane, and
    /// names what was read with a new pending hand-off mark. Never waits.
    pub fn read(&mut self, max: usize, out: &mut Vec<Record>) -> Drained {
        let view = self.ring.view();
        let lanes = view.lane_count();
        let mut done = Drained::default();
        let mut rec: Record = bytemuck::Zeroable::zeroed();
        for k in 0..lanes {
            if done.records >= max {
                break;
            }
            let i = (self.next_lane + k) % lanes;
            let lane = view.lane(i);
            let tail = lane.published();
            let pos = &mut self.read[i];
            // Untrusted counters: read nothing from a lane whose writer claims
            // more than a lane's worth past the reader, or went backwards.
            if tail < *pos || tail - *pos > lane.capacity() {
                continue;
            }
            while *pos < tail && done.records < max {
                if lane.read(*pos, &mut rec) {
                    out.push(rec);
                    done.records += 1;
                } else {
                    done.corrupt += 1;
                }
                *pos += 1;
            }
        }
        self.next_lane = (self.next_lane + 1) % lanes;
        if done.records > 0 || done.corrupt > 0 {
            self.publish_pending(&view);
        }
        done
    }

    /// Names the current read positions with a new pending mark: the mark
    /// first, then the positions (see the module documentation).
    fn publish_pending(&self, view: &RingRef<'_>) {
        let pending = view.marks.pending.load(Relaxed);
        view.marks.pending.store(pending + 1, Relaxed);
        for i in 0..view.lane_count() {
            view.lane(i)
                .counters
                .reader
                .pending
                .store(self.read[i], Relaxed);
        }
    }

    /// Confirms that every record covered by `mark` (from
    /// [`Consumer::read_position`]) is safe elsewhere: hands those positions
    /// back to the writers and makes `mark` the restart point. A mark other
    /// than the latest pending one is ignored (the records stay, to be read
    /// again after a restart: duplicates, never a loss).
    pub fn release(&mut self, mark: u64) {
        let view = self.ring.view();
        let (released, pending) = marks(&view);
        if mark == pending && pending > released {
            view.marks.released.store(mark, Relaxed);
            move_heads_to_pending(&view);
        }
    }

    /// Forgets what was read but not released; the next read starts again at
    /// the heads.
    pub fn rewind(&mut self) {
        let view = self.ring.view();
        for i in 0..view.lane_count() {
            self.read[i] = view.lane(i).head();
        }
    }

    /// After a restart: the next stage already holds the records of `mark`
    /// (the spool recorded it). If that is the pending mark, confirms it as
    /// [`Consumer::release`] would; any other mark is ignored.
    pub fn skip_to(&mut self, mark: u64) {
        let view = self.ring.view();
        let (released, pending) = marks(&view);
        if mark == pending && pending > released {
            view.marks.released.store(mark, Relaxed);
            move_heads_to_pending(&view);
            for i in 0..view.lane_count() {
                self.read[i] = self.read[i].max(view.lane(i).head());
            }
        }
    }

    /// For a ring whose writer process is gone: counts (once, in the header)
    /// each record a writer began but never published because it was killed
    /// while copying it. Returns how many were counted now. Does nothing while
    /// a writer lives.
    pub fn count_abandoned(&mut self) -> u64 {
        if self.writer_alive() {
            return 0;
        }
        self.count_unfinished()
    }

    /// `count_abandoned` once the writer is known to be gone.
    fn count_unfinished(&mut self) -> u64 {
        let view = self.ring.view();
        let mut n = 0;
        for i in 0..view.lane_count() {
            if view.lane(i).unfinished() {
                n += 1;
            }
        }
        view.marks.abandoned.fetch_add(n, Relaxed);
        n
    }
}

/// (released, pending) hand-off marks.
fn marks(view: &RingRef<'_>) -> (u64, u64) {
    (
        view.marks.released.load(Relaxed),
        view.marks.pending.load(Relaxed),
    )
}

/// Moves every lane's head to its pending position (never backwards, never
/// past what the lane published).
fn move_heads_to_pending(view: &RingRef<'_>) {
    for i in 0..view.lane_count() {
        let lane = view.lane(i);
        let to = lane.counters.reader.pending.load(Relaxed);
        if to <= lane.published() {
            lane.release(to);
        }
    }
}

#[cfg(test)]
#[path = "consumer_tests.rs"]
mod tests;
