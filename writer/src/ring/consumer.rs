//! The reader's side of a ring: copy committed records out, give up on positions
//! whose writer died or stalled, and release positions only when the caller
//! says the records are safe.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::Identity;
use super::file::{OpenError, OpenedRing, RingStats, open_for_reading};
use super::protocol::SlotState;
use crate::record::Record;

/// How long the reader waits for a live writer to commit a reserved position
/// before abandoning it. A writer commits within nanoseconds of reserving unless
/// it is descheduled, stopped or dead; a dead writer's positions are abandoned
/// at once.
pub const DEFAULT_PATIENCE: Duration = Duration::from_millis(500);

/// What one call to [`Consumer::read`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drained {
    /// Records copied out.
    pub records: usize,
    /// Positions abandoned by this call.
    pub abandoned: u64,
    /// Stopped at a position whose writer has not committed yet (and patience
    /// has not run out).
    pub waiting: bool,
}

/// Reads one ring. Positions below [`Consumer::released`] are handed off;
/// positions between it and [`Consumer::read_position`] were read but not yet
/// confirmed, and are read again after a restart.
pub struct Consumer {
    ring: OpenedRing,
    path: PathBuf,
    /// Next position to read; `>= head`.
    read: u64,
    /// The position we are waiting on and since when.
    stuck: Option<(u64, Instant)>,
    patience: Duration,
}

impl Consumer {
    /// Opens and validates a ring file.
    pub fn open(path: &Path) -> Result<Consumer, OpenError> {
        let ring = open_for_reading(path)?;
        let read = ring.view().head();
        Ok(Consumer {
            ring,
            path: path.to_path_buf(),
            read,
            stuck: None,
            patience: DEFAULT_PATIENCE,
        })
    }

    /// Sets how long to wait on a live writer's uncommitted position.
    pub fn set_patience(&mut self, patience: Duration) {
        self.patience = patience;
    }

    /// The ring's identity header.
    pub fn identity(&self) -> &Identity {
        &self.ring.identity
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

    /// First position not read yet.
    pub fn read_position(&self) -> u64 {
        self.read
    }

    /// First position not handed off (the restart point).
    pub fn released(&self) -> u64 {
        self.ring.view().head()
    }

    /// True when every reserved position has been read.
    pub fn is_drained(&self) -> bool {
        self.read >= self.ring.view().tail()
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

    /// Copies up to `max` committed records into `out`, in position order,
    /// skipping positions abandoned now or before a restart.
    pub fn read(&mut self, max: usize, out: &mut Vec<Record>) -> Drained {
        let view = self.ring.view();
        let mut done = Drained::default();
        let mut rec: Record = bytemuck::Zeroable::zeroed();
        let mut writer_alive: Option<bool> = None;
        while done.records < max {
            match view.state(self.read, &mut rec) {
                SlotState::Committed => {
                    out.push(rec);
                    done.records += 1;
                    self.read += 1;
                }
                SlotState::Abandoned => self.read += 1,
                SlotState::Empty => break,
                SlotState::InProgress(seen) => {
                    let now = Instant::now();
                    let since = match self.stuck {
                        Some((pos, since)) if pos == self.read => since,
                        _ => {
                            self.stuck = Some((self.read, now));
                            now
                        }
                    };
                    let alive = *writer_alive.get_or_insert_with(|| self.writer_alive());
                    if alive && now.duration_since(since) < self.patience {
                        done.waiting = true;
                        break;
                    }
                    if view.abandon(self.read, seen) {
                        done.abandoned += 1;
                        self.read += 1;
                    }
                    // else: committed meanwhile; the next turn reads it.
                }
            }
        }
        done
    }

    /// Confirms that every record below `pos` is safe elsewhere: releases those
    /// positions to the writers and persists `pos` as the restart point.
    /// `pos` is clamped to what was read; it never moves backwards.
    pub fn release(&mut self, pos: u64) {
        let view = self.ring.view();
        let pos = pos.min(self.read);
        if pos > view.head() {
            view.release(pos);
        }
    }

    /// Forgets what was read but not released; the next read starts again at
    /// the restart point.
    pub fn rewind(&mut self) {
        self.read = self.released();
        self.stuck = None;
    }

    /// Moves the restart point forward to `pos` without reading: the records
    /// below it are known to be safe already (the spool has them from before a
    /// restart). Ignored if `pos` is behind the restart point or beyond what
    /// writers reserved.
    pub fn skip_to(&mut self, pos: u64) {
        let view = self.ring.view();
        if pos > view.head() && pos <= view.tail() {
            view.release(pos);
            self.read = self.read.max(pos);
        }
    }
}
