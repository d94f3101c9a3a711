//! A mapped ring file (header and slots) and the protocol's view of it: what
//! the writer's [`Ring`](super::Ring), its lanes and the reader's
//! [`Consumer`](super::Consumer) all work on.

use std::sync::atomic::Ordering::Relaxed;

use memmap2::MmapMut;

use super::protocol::{LaneCounters, MarkLine, RingLine, RingRef, Slot};
use super::{HEADER_SIZE, Identity, LANES_OFFSET, MARK_LINE_OFFSET, RING_LINE_OFFSET};

/// A mapped ring file: the header and the slots.
pub(super) struct Mapping {
    pub(super) map: MmapMut,
    pub(super) capacity: usize,
    pub(super) lanes: usize,
}

impl Mapping {
    pub(super) fn identity(&self) -> &Identity {
        bytemuck::from_bytes(&self.map[..std::mem::size_of::<Identity>()])
    }

    /// The protocol view of the mapped ring.
    #[inline(always)]
    pub(super) fn view(&self) -> RingRef<'_> {
        let base = self.map.as_ptr();
        // SAFETY: the mapping is HEADER_SIZE + capacity * SLOT_SIZE bytes
        // (checked when created or opened) and page aligned. The ring-wide
        // lines and the lane blocks sit at 128-byte aligned offsets inside the
        // header and consist of atomics, which tolerate concurrent access from
        // other processes; `lanes <= MAX_LANES` blocks fit before HEADER_SIZE.
        // Slot is 256 bytes of an atomic stamp and a record cell accessed only
        // through the protocol. The references live no longer than `self`,
        // which owns the map.
        unsafe {
            RingRef::new(
                &*(base.add(RING_LINE_OFFSET) as *const RingLine),
                &*(base.add(MARK_LINE_OFFSET) as *const MarkLine),
                std::slice::from_raw_parts(
                    base.add(LANES_OFFSET) as *const LaneCounters,
                    self.lanes,
                ),
                std::slice::from_raw_parts(base.add(HEADER_SIZE) as *const Slot, self.capacity),
            )
        }
    }

    pub(super) fn stats(&self) -> RingStats {
        let v = self.view();
        let abandoned = v.marks.abandoned.load(Relaxed);
        let mut s = RingStats {
            written: abandoned,
            dropped: v.ring.dropped.load(Relaxed),
            abandoned,
            released: 0,
        };
        for l in v.lanes {
            s.written = s.written.wrapping_add(l.writer.tail.load(Relaxed));
            s.dropped = s.dropped.wrapping_add(l.writer.dropped.load(Relaxed));
            s.released = s.released.wrapping_add(l.reader.head.load(Relaxed));
        }
        s
    }
}

/// Counters of one ring, as read from its header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingStats {
    /// Records accepted by the ring: published, plus those begun by a writer
    /// that died before publishing them (`abandoned`).
    pub written: u64,
    /// Records refused because the ring was full (or, for a thread without a
    /// lane of its own, the shared guest lane was busy).
    pub dropped: u64,
    /// Records begun by a writer process that died before publishing them.
    pub abandoned: u64,
    /// Records handed off by the reader (released to the writers).
    pub released: u64,
}
