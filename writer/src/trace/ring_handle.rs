//! Where a tracer's finished spans go: the process's ring, created on first
//! use. Shared by every clone of a [`Tracer`](super::Tracer) and every span
//! they start.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::record::Record;
use crate::ring::{PushError, Ring};

/// A tracer's write handle on its ring.
pub(crate) struct RingHandle {
    pub(super) service: String,
    pub(super) dir: PathBuf,
    pub(super) capacity: usize,
    pub(super) enabled: bool,
    pub(super) ring: OnceLock<Result<Ring, String>>,
    /// Spans that could not be written: the ring could not be created, or
    /// the span had no record (see [`super::pool`]).
    pub(super) lost: AtomicU64,
}

impl RingHandle {
    /// The ring, created on first use.
    #[inline]
    pub(super) fn ring(&self) -> Option<&Ring> {
        if !self.enabled {
            return None;
        }
        self.ring.get_or_init(|| self.create_ring()).as_ref().ok()
    }

    #[cold]
    fn create_ring(&self) -> Result<Ring, String> {
        Ring::create(&self.dir, &self.service, self.capacity).map_err(|e| {
            let msg = format!("tracing disabled for service {:?}: {e}", self.service);
            eprintln!("ringside: {msg}");
            msg
        })
    }

    /// Writes a finished span's record.
    #[inline(always)]
    pub(crate) fn submit(&self, rec: &Record) -> Result<(), PushError> {
        match self.ring() {
            Some(ring) => ring.push(rec),
            None => {
                self.count_lost();
                Ok(())
            }
        }
    }

    /// Counts a span that could not be written (no ring, or no record).
    #[cold]
    pub(super) fn count_lost(&self) {
        if self.enabled {
            self.lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }
}
