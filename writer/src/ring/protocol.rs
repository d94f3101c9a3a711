//! The lane protocol shared by writers and the reader: a ring is cut into
//! lanes, each written by one thread at a time and read by one consumer (the
//! sidecar). No locks, no waiting, no read-modify-write on the write path.
//!
//! Positions are `u64` counters that only grow. Position `p` of a lane lives in
//! slot `p & mask` of that lane. Per lane:
//!
//! - `tail` (writer line): the first position not yet published. Only the
//!   lane's writer stores it, with Release, after the record is whole.
//! - `head` (reader line): the first position not yet handed off. Only the
//!   consumer stores it, with Release, after the records below it are safe.
//! - `owner` (writer line): 0 when the lane is free, else taken. A thread takes
//!   a lane with one compare-and-swap and keeps it until it exits (an *owned*
//!   lane); lane 0 of a ring with more than one lane is never owned: threads
//!   that found no free lane take it for one record at a time (the *guest*
//!   lane), and so do all threads when the ring has a single lane.
//!
//! A writer holding a lane checks room against its cached copy of `head`,
//! reloading the real `head` only when the cached one says the lane is full;
//! it stores the slot's stamp (`p + 1`), copies the record's cache lines up to
//! its used payload, and publishes with `tail = p + 1`. The reader loads
//! `tail` (Acquire) and reads every slot below it: a record is in the ring
//! whole or not at all, so there
//! is nothing to abandon and nothing to wait for. A writer stalled mid-record
//! delays only its own unpublished record; a writer killed mid-record leaves a
//! stamp `tail + 1` in the slot at `tail`, which the reader counts as
//! *abandoned* once the process is gone (see [`LaneRef::unfinished`]).

use crate::record::{PAYLOAD_OFFSET, RECORD_SIZE, Record, SLOT_SIZE, STAMP_SIZE};
use crate::sync::{AtomicU64, Ordering, UnsafeCell};

/// `owner` of a free lane.
pub(crate) const FREE: u64 = 0;
/// `owner` of a lane a thread keeps until it exits.
pub(crate) const OWNED: u64 = 1;
/// `owner` of the guest lane while one thread writes one record into it.
pub(crate) const GUEST: u64 = 2;
/// Positions stay below this, so `p + 1` never overflows; the reader refuses
/// counters at or above it.
pub(crate) const POSITION_LIMIT: u64 = 1 << 63;

/// One ring slot: the stamp, then the record. 256 bytes.
#[repr(C)]
pub(crate) struct Slot {
    /// `p + 1` once the writer of position `p` started writing this slot.
    /// Stored by the writer before the record; checked by the reader after it
    /// saw `tail > p`, so a mismatch means memory nobody wrote through the
    /// protocol.
    pub(crate) stamp: AtomicU64,
    /// The record. Written only by the lane's current writer at `tail`, read
    /// only by the consumer below `tail`; never both, because the writer only
    /// writes at positions `>= head` and the reader only reads below `tail`.
    pub(crate) rec: UnsafeCell<Record>,
}

// SAFETY: the record cell is written only by the lane's single writer at a
// position the reader has not been told about (`>= tail`) and read only by the
// consumer below `tail` after the Release/Acquire pair on `tail`; the writer
// does not write it again until `head` passes it (Release/Acquire on `head`).
unsafe impl Sync for Slot {}

#[cfg(not(loom))]
const _: () = assert!(std::mem::size_of::<Slot>() == crate::record::SLOT_SIZE);

/// A lane's writer-side state, on its own pair of cache lines.
#[repr(C, align(128))]
pub struct WriterLine {
    /// First position not yet published. Stored (Release) only by the thread
    /// holding the lane.
    pub(crate) tail: AtomicU64,
    /// [`FREE`], [`OWNED`] or [`GUEST`]; moved from [`FREE`] by a CAS
    /// (Acquire), back to it by a Release store.
    pub(crate) owner: AtomicU64,
    /// The holder's last view of `head`; `<=` the real `head`. Touched only by
    /// the thread holding the lane.
    pub(crate) cached_head: AtomicU64,
    /// Records its holders dropped because the lane was full.
    pub(crate) dropped: AtomicU64,
}

/// A lane's reader-side state, on its own pair of cache lines.
#[repr(C, align(128))]
pub struct ReaderLine {
    /// First position not yet handed off. Persisted: a restarted reader
    /// resumes here. Stored (Release) only by the consumer.
    pub(crate) head: AtomicU64,
    /// Where `head` goes when the pending hand-off mark is confirmed.
    pub(crate) pending: AtomicU64,
    /// `p + 1` of an unfinished record at `p` already counted as abandoned,
    /// so that a restarted reader does not count it again.
    pub(crate) unfinished: AtomicU64,
}

/// One lane's control block: 256 bytes in the header.
#[repr(C)]
pub struct LaneCounters {
    /// Writer side.
    pub writer: WriterLine,
    /// Reader side.
    pub reader: ReaderLine,
}

/// Ring-wide writer-side counters, touched only off the fast path.
#[repr(C, align(128))]
pub struct RingLine {
    /// Records dropped by threads that found the guest lane busy or full.
    pub(crate) dropped: AtomicU64,
    /// Bumped each time a lane is given back: a writer whose lane is full looks
    /// for another only when this or the released mark moved.
    pub(crate) claims: AtomicU64,
}

/// Ring-wide reader-side state: the hand-off marks (see the consumer).
#[repr(C, align(128))]
pub struct MarkLine {
    /// Last hand-off mark whose records are safe; lanes' `head` follow it.
    pub(crate) released: AtomicU64,
    /// Last hand-off mark given out; `>= released`. Its lane positions are the
    /// lanes' `pending`.
    pub(crate) pending: AtomicU64,
    /// Records begun by a writer that died before publishing them.
    pub(crate) abandoned: AtomicU64,
}

#[cfg(not(loom))]
const _: () = {
    assert!(std::mem::size_of::<LaneCounters>() == super::LANE_BLOCK_SIZE);
    assert!(std::mem::size_of::<RingLine>() == 128);
    assert!(std::mem::size_of::<MarkLine>() == 128);
};

/// Why a record was not written. Either way it was dropped and counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushError {
    /// The lane (and every lane the thread could move to) was full.
    Full,
    /// The thread had no lane of its own and the shared guest lane was in use
    /// by another thread at that instant.
    Busy,
}

/// A view of one lane. Cheap to build; the protocol steps are methods on it.
#[derive(Clone, Copy)]
pub(crate) struct LaneRef<'a> {
    pub(crate) counters: &'a LaneCounters,
    pub(crate) slots: &'a [Slot],
}

impl<'a> LaneRef<'a> {
    /// `slots.len()` must be a power of two.
    pub(crate) fn new(counters: &'a LaneCounters, slots: &'a [Slot]) -> Self {
        debug_assert!(slots.len().is_power_of_two());
        LaneRef { counters, slots }
    }

    #[inline(always)]
    fn slot(&self, pos: u64) -> &'a Slot {
        let i = (pos & (self.slots.len() as u64 - 1)) as usize;
        debug_assert!(i < self.slots.len());
        &self.slots[i]
    }

    /// Slots of this lane.
    #[inline(always)]
    pub(crate) fn capacity(&self) -> u64 {
        self.slots.len() as u64
    }

    /// Takes the lane if it is free: `OWNED` to keep it, `GUEST` for one record.
    #[inline]
    pub(crate) fn try_take(&self, as_what: u64) -> bool {
        // SYNC POINT: Acquire pairs with the Release store in `give_back`: the
        // previous holder's `tail` and `cached_head` are visible to us.
        self.counters
            .writer
            .owner
            .compare_exchange(FREE, as_what, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Gives the lane back.
    #[inline]
    pub(crate) fn give_back(&self) {
        // SYNC POINT: Release pairs with the Acquire CAS in `try_take`.
        self.counters.writer.owner.store(FREE, Ordering::Release);
    }

    /// True if nobody holds the lane.
    pub(crate) fn is_free(&self) -> bool {
        self.counters.writer.owner.load(Ordering::Relaxed) == FREE
    }

    /// Free slots as last seen (a hint for choosing a lane; may be stale).
    pub(crate) fn room_hint(&self) -> u64 {
        let w = &self.counters.writer;
        let used = w
            .tail
            .load(Ordering::Relaxed)
            .wrapping_sub(self.counters.reader.head.load(Ordering::Relaxed));
        self.capacity().saturating_sub(used)
    }

    /// The position to write next, or `None` if the lane is full. Reloads
    /// `head` only when the cached copy says the lane is full.
    ///
    /// # Safety
    /// The calling thread holds the lane (took it with [`LaneRef::try_take`]
    /// and has not given it back), so no other thread writes it meanwhile.
    #[inline(always)]
    pub(crate) unsafe fn room(&self) -> Option<u64> {
        let w = &self.counters.writer;
        let cap = self.capacity();
        // Only the holder stores `tail` and `cached_head`: Relaxed loads see
        // its own last stores (or, after a take, the previous holder's, through
        // the Acquire CAS).
        let tail = w.tail.load(Ordering::Relaxed);
        if tail.wrapping_sub(w.cached_head.load(Ordering::Relaxed)) >= cap {
            // SYNC POINT: Acquire pairs with the Release store of `head` in
            // `release`: the reader's copies of the slots below `head` happened
            // before we overwrite them.
            let head = self.counters.reader.head.load(Ordering::Acquire);
            w.cached_head.store(head, Ordering::Relaxed);
            if tail.wrapping_sub(head) >= cap {
                return None;
            }
        }
        Some(tail)
    }

    /// Writes `rec` at `tail` (from [`LaneRef::room`]) and publishes it.
    /// `between` runs after the record is copied and before it is published
    /// (fault-injection tests stall or kill the writer there).
    ///
    /// # Safety
    /// The calling thread holds the lane and `tail` came from its last call
    /// of `room`.
    #[inline(always)]
    pub(crate) unsafe fn write(&self, tail: u64, rec: &Record, between: impl FnOnce()) {
        let slot = self.slot(tail);
        slot.stamp.store(tail + 1, Ordering::Relaxed);
        slot.rec.with_mut(|p| {
            // SAFETY: we hold the lane (caller), so no other writer touches
            // it; the reader reads only below `tail`, which we have not moved
            // past this slot, and finished with the slot's previous position
            // before `head` passed it (checked in `room`). Only the lines the
            // record uses are copied: its header and `payload_len` payload
            // bytes (clamped to the payload).
            unsafe { copy_used(rec, p) }
        });
        between();
        // SYNC POINT: Release pairs with the Acquire load of `tail` in
        // `published`: a reader that sees `tail + 1` sees the stamp and record.
        self.counters.writer.tail.store(tail + 1, Ordering::Release);
    }

    /// `room`, then `write`: the whole write path of a held lane.
    ///
    /// # Safety
    /// As for [`LaneRef::room`].
    #[inline(always)]
    pub(crate) unsafe fn push(
        &self,
        rec: &Record,
        between: impl FnOnce(),
    ) -> Result<(), PushError> {
        // SAFETY: per the caller.
        let tail = unsafe { self.room() }.ok_or(PushError::Full)?;
        // SAFETY: per the caller; `tail` is from `room` just now.
        unsafe { self.write(tail, rec, between) };
        Ok(())
    }

    /// Counts a record its holder dropped.
    ///
    /// # Safety
    /// The calling thread holds the lane.
    pub(crate) unsafe fn count_drop(&self) {
        let d = &self.counters.writer.dropped;
        // Only the holder writes it: no read-modify-write needed.
        d.store(d.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// First position not yet published, as the reader sees it.
    #[inline]
    pub(crate) fn published(&self) -> u64 {
        // SYNC POINT: Acquire pairs with the Release store in `push`.
        self.counters.writer.tail.load(Ordering::Acquire)
    }

    /// First position not yet handed off.
    #[inline]
    pub(crate) fn head(&self) -> u64 {
        self.counters.reader.head.load(Ordering::Acquire)
    }

    /// Copies the record at `pos` (which must be `>= head` and below a value
    /// returned by `published`) into `out`; false if the slot's stamp is not
    /// `pos + 1` (memory not written through the protocol: skip it). Payload
    /// bytes past the record's used length are zeroed, not copied.
    pub(crate) fn read(&self, pos: u64, out: &mut Record) -> bool {
        let slot = self.slot(pos);
        if slot.stamp.load(Ordering::Relaxed) != pos + 1 {
            return false;
        }
        slot.rec.with(|p| {
            // SAFETY: `pos` is below a `tail` we loaded with Acquire, so its
            // writer's copy happened before; no writer writes the slot again
            // until `head` passes `pos`, and only this consumer moves `head`.
            unsafe { read_used(p, out) }
        });
        true
    }

    /// Hands every position below `pos` back to the writers. `pos` never goes
    /// backwards.
    pub(crate) fn release(&self, pos: u64) {
        if pos > self.head() {
            // SYNC POINT: Release pairs with the Acquire load of `head` in
            // `push`: our reads of the slots happened before writers reuse them.
            self.counters.reader.head.store(pos, Ordering::Release);
        }
    }

    /// For a lane whose writer process is gone: true (once) if a record was
    /// begun at `tail` but never published, i.e. its writer was killed while
    /// copying it. Marks it so that it is counted only once.
    pub(crate) fn unfinished(&self) -> bool {
        let tail = self.published();
        let r = &self.counters.reader;
        if tail >= POSITION_LIMIT || r.unfinished.load(Ordering::Relaxed) == tail + 1 {
            return false;
        }
        if self.slot(tail).stamp.load(Ordering::Relaxed) == tail + 1 {
            r.unfinished.store(tail + 1, Ordering::Relaxed);
            return true;
        }
        false
    }
}

/// Copies the cache lines of the record that hold its header and used
/// payload to `dst` (bytes past the payload in the last line go along; the
/// reader never reads them).
///
/// # Safety
/// `dst` is valid for writes of a `Record` and not read or written by anyone
/// else during the call.
#[inline(always)]
unsafe fn copy_used(rec: &Record, dst: *mut Record) {
    // A record sits 8 bytes into its 256-byte slot, so its cache lines start
    // at record offsets 56, 120 and 184. It is copied in whole lines, only
    // those it uses: fixed-size copies the compiler can inline.
    const FIRST_LINE: usize = SLOT_SIZE / 4 - STAMP_SIZE;
    const LINE: usize = SLOT_SIZE / 4;
    const _: () = assert!(FIRST_LINE + 3 * LINE == RECORD_SIZE);
    let used = PAYLOAD_OFFSET + (rec.payload_len as usize).min(crate::record::PAYLOAD_SIZE);
    let (src, dst) = ((rec as *const Record).cast::<u8>(), dst.cast::<u8>());
    // SAFETY: every copy lies within `size_of::<Record>()` (the assertion
    // above); `rec` and `dst` do not overlap (one is the caller's record, the
    // other a ring slot) and `dst` is valid for writes (caller). Records are
    // plain bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(src, dst, FIRST_LINE);
        let mut at = FIRST_LINE;
        while at < used {
            std::ptr::copy_nonoverlapping(src.add(at), dst.add(at), LINE);
            at += LINE;
        }
    }
}

/// Copies a record out of a slot, zeroing the payload past its used length
/// (stale bytes of older records stay in the slot, never in `out`).
///
/// # Safety
/// `src` is valid for reads of a `Record` and not written during the call.
#[inline]
unsafe fn read_used(src: *const Record, out: &mut Record) {
    // SAFETY: per the caller; records are plain bytes, any value is valid.
    *out = unsafe { src.read() };
    let used = (out.payload_len as usize).min(crate::record::PAYLOAD_SIZE);
    out.payload[used..].fill(0);
}

/// A view of a whole ring: the ring-wide lines, every lane's control block
/// and the slots.
#[derive(Clone, Copy)]
pub(crate) struct RingRef<'a> {
    pub(crate) ring: &'a RingLine,
    pub(crate) marks: &'a MarkLine,
    pub(crate) lanes: &'a [LaneCounters],
    pub(crate) slots: &'a [Slot],
}

impl<'a> RingRef<'a> {
    /// `slots.len()` is a multiple of `lanes.len()`, both powers of two.
    pub(crate) fn new(
        ring: &'a RingLine,
        marks: &'a MarkLine,
        lanes: &'a [LaneCounters],
        slots: &'a [Slot],
    ) -> Self {
        debug_assert!(lanes.len().is_power_of_two() && slots.len().is_power_of_two());
        debug_assert!(slots.len() >= lanes.len());
        RingRef {
            ring,
            marks,
            lanes,
            slots,
        }
    }

    /// Number of lanes.
    #[inline(always)]
    pub(crate) fn lane_count(&self) -> usize {
        self.lanes.len()
    }

    /// Lane `i`.
    #[inline(always)]
    pub(crate) fn lane(&self, i: usize) -> LaneRef<'a> {
        // Both are powers of two: a shift, not a division, on the write path.
        let per = self.slots.len() >> self.lanes.len().trailing_zeros();
        LaneRef::new(&self.lanes[i], &self.slots[i * per..(i + 1) * per])
    }

    /// The lane that is never owned: taken for one record at a time by
    /// threads without a lane of their own.
    pub(crate) const GUEST_LANE: usize = 0;

    /// Writes `rec` through the guest lane: take it, push, give it back.
    /// Counts a drop in the ring-wide counter when the lane is busy or full.
    pub(crate) fn push_as_guest(
        &self,
        rec: &Record,
        between: impl FnOnce(),
    ) -> Result<(), PushError> {
        let lane = self.lane(Self::GUEST_LANE);
        if !lane.try_take(GUEST) {
            self.ring.dropped.fetch_add(1, Ordering::Relaxed);
            return Err(PushError::Busy);
        }
        // SAFETY: we just took the lane and give it back below.
        let result = unsafe { lane.push(rec, between) };
        lane.give_back();
        if result.is_err() {
            self.ring.dropped.fetch_add(1, Ordering::Relaxed);
        }
        result
    }
}

#[cfg(all(test, not(loom)))]
mod tests;

#[cfg(all(test, loom))]
mod loom_tests;

/// A ring in ordinary memory, for model checking and tests of the protocol.
#[cfg(any(test, loom))]
pub(crate) struct HeapRing {
    pub(crate) ring: RingLine,
    pub(crate) marks: MarkLine,
    pub(crate) lanes: Vec<LaneCounters>,
    pub(crate) slots: Vec<Slot>,
}

#[cfg(any(test, loom))]
impl HeapRing {
    /// A ring of `lanes` lanes of `lane_slots` slots (powers of two).
    pub(crate) fn new(lanes: usize, lane_slots: usize) -> HeapRing {
        assert!(lanes.is_power_of_two() && lane_slots.is_power_of_two());
        let zero = || AtomicU64::new(0);
        HeapRing {
            ring: RingLine {
                dropped: zero(),
                claims: zero(),
            },
            marks: MarkLine {
                released: zero(),
                pending: zero(),
                abandoned: zero(),
            },
            lanes: (0..lanes)
                .map(|_| LaneCounters {
                    writer: WriterLine {
                        tail: zero(),
                        owner: zero(),
                        cached_head: zero(),
                        dropped: zero(),
                    },
                    reader: ReaderLine {
                        head: zero(),
                        pending: zero(),
                        unfinished: zero(),
                    },
                })
                .collect(),
            slots: (0..lanes * lane_slots)
                .map(|_| Slot {
                    stamp: zero(),
                    rec: UnsafeCell::new(bytemuck::Zeroable::zeroed()),
                })
                .collect(),
        }
    }

    /// The protocol view of this ring.
    pub(crate) fn view(&self) -> RingRef<'_> {
        RingRef::new(&self.ring, &self.marks, &self.lanes, &self.slots)
    }
}
