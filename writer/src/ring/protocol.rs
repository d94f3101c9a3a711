//! The slot protocol shared by writers and the reader: many producers (the threads
//! of one process), one consumer (the sidecar), no locks, no waiting on the write
//! path.
//!
//! Positions are `u64` counters that only grow. Position `p` lives in slot
//! `p & mask`. The consumer's `head` is the first position not yet handed off;
//! the producers' `tail` is the first position not yet reserved. Each slot's
//! stamp says what happened to the position that last used it:
//!
//! | stamp | meaning for position `p` of this slot |
//! |---|---|
//! | `p + 1` | committed: the record is complete and may be read |
//! | `(p + 1) \| ABANDONED` | the reader gave up on `p` (writer dead or stuck) |
//! | anything else | `p` is free (`p >= tail`) or being written (`p < tail`) |
//!
//! A writer reserves `p` by moving `tail` from `p` to `p + 1`, but only while
//! `p - head < capacity`, so it never touches a slot the reader has not finished
//! with; when the ring is full it counts a drop and returns at once. It copies the
//! record into the slot and publishes it with a compare-and-swap of the stamp from
//! the value it saw before writing to `p + 1`. If the reader abandoned `p`
//! meanwhile, that CAS fails: the writer learns it was late and counts its record
//! as dropped. Stamps are unique per position, so no ABA is possible.

use crate::record::Record;
use crate::sync::{AtomicU64, Ordering, UnsafeCell};

/// Stamp bit set by the reader when it abandons a position.
pub(crate) const ABANDONED: u64 = 1 << 63;

/// One ring slot: the stamp, then the record. 256 bytes.
#[repr(C)]
pub(crate) struct Slot {
    /// See the module table. Written by the producer of the position (commit CAS)
    /// and by the consumer (abandon CAS).
    pub(crate) stamp: AtomicU64,
    /// The record. Written only by the producer that reserved the position, read
    /// only by the consumer after it saw the committed stamp.
    pub(crate) rec: UnsafeCell<Record>,
}

// SAFETY: the record cell is written only by the producer that reserved the
// position and read only by the consumer after the committed stamp (Release /
// Acquire), never both at once; the stamp is atomic.
unsafe impl Sync for Slot {}

#[cfg(not(loom))]
const _: () = assert!(std::mem::size_of::<Slot>() == crate::record::SLOT_SIZE);

/// Producer-side counters, each on its own cache line.
#[repr(C, align(64))]
pub struct ProducerLine {
    /// First position not yet reserved. Moved only by a producer's CAS.
    pub(crate) tail: AtomicU64,
}

/// Drop counters, written by producers only when something goes wrong.
#[repr(C, align(64))]
pub struct DropLine {
    /// Records refused because the ring was full.
    pub(crate) dropped: AtomicU64,
    /// Records whose position the reader abandoned before the writer committed
    /// (the writer was stalled, not dead). Also counted as dropped by readers of
    /// the counters: such a record never reaches the sidecar.
    pub(crate) late: AtomicU64,
}

/// Consumer-side state, on its own cache line.
#[repr(C, align(64))]
pub struct ConsumerLine {
    /// First position not yet handed off. Persisted in the ring file: a restarted
    /// reader resumes here. Moved only by the consumer, after its caller confirmed
    /// the records before it are safe.
    pub(crate) head: AtomicU64,
    /// Positions the reader abandoned (writer died or stalled mid-record).
    pub(crate) abandoned: AtomicU64,
}

/// The shared counters of one ring.
#[repr(C)]
pub struct Counters {
    /// Producers' reservation position.
    pub producer: ProducerLine,
    /// Failure counters of producers.
    pub drops: DropLine,
    /// Consumer's hand-off position.
    pub consumer: ConsumerLine,
}

/// Why a record was not written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushError {
    /// The ring was full; the record was dropped and counted.
    Full,
    /// The reader abandoned the reserved position before the writer committed;
    /// the record was dropped and counted.
    Late,
}

/// What the reader found at a position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SlotState {
    /// Complete; copied out.
    Committed,
    /// Abandoned earlier (by this reader before a restart): skip it.
    Abandoned,
    /// Reserved but not committed; carries the stamp seen, for [`RingRef::abandon`].
    InProgress(u64),
    /// Not reserved yet: nothing more to read.
    Empty,
}

/// A view of one ring's counters and slots. Cheap to build; all protocol steps
/// are methods on it.
#[derive(Clone, Copy)]
pub(crate) struct RingRef<'a> {
    pub(crate) counters: &'a Counters,
    pub(crate) slots: &'a [Slot],
}

impl<'a> RingRef<'a> {
    /// `slots.len()` must be a power of two.
    pub(crate) fn new(counters: &'a Counters, slots: &'a [Slot]) -> Self {
        debug_assert!(slots.len().is_power_of_two());
        RingRef { counters, slots }
    }

    #[inline(always)]
    fn slot(&self, pos: u64) -> &'a Slot {
        let i = (pos & (self.slots.len() as u64 - 1)) as usize;
        debug_assert!(i < self.slots.len());
        &self.slots[i]
    }

    /// Reserves the next position, or counts a drop if the ring is full.
    #[inline]
    pub(crate) fn reserve(&self) -> Result<u64, PushError> {
        let cap = self.slots.len() as u64;
        // SYNC POINT: pairs with the Release store of `head` in `commit_consumed`:
        // every read of a slot below `head` happened before we may overwrite it.
        // `head` is read before `tail`, so `tail >= head` in what we see.
        let head = self.counters.consumer.head.load(Ordering::Acquire);
        let mut tail = self.counters.producer.tail.load(Ordering::Relaxed);
        loop {
            if tail.wrapping_sub(head) >= cap {
                // `head` may have moved since we read it; one fresh look before
                // giving up keeps a draining reader from causing spurious drops.
                let head = self.counters.consumer.head.load(Ordering::Acquire);
                if tail.wrapping_sub(head) >= cap {
                    self.counters.drops.dropped.fetch_add(1, Ordering::Relaxed);
                    return Err(PushError::Full);
                }
                return self.reserve_after(head, tail);
            }
            match self.counters.producer.tail.compare_exchange_weak(
                tail,
                tail + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(tail),
                Err(now) => tail = now,
            }
        }
    }

    /// The slow path of `reserve` once `head` was reloaded.
    #[cold]
    fn reserve_after(&self, head: u64, mut tail: u64) -> Result<u64, PushError> {
        let cap = self.slots.len() as u64;
        loop {
            if tail.wrapping_sub(head) >= cap {
                self.counters.drops.dropped.fetch_add(1, Ordering::Relaxed);
                return Err(PushError::Full);
            }
            match self.counters.producer.tail.compare_exchange_weak(
                tail,
                tail + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(tail),
                Err(now) => tail = now,
            }
        }
    }

    /// The stamp of the slot of `pos` before writing, to be passed to `commit`.
    #[inline]
    pub(crate) fn stamp_before_write(&self, pos: u64) -> u64 {
        self.slot(pos).stamp.load(Ordering::Relaxed)
    }

    /// Copies `rec` into the reserved position `pos`.
    #[inline]
    pub(crate) fn write(&self, pos: u64, rec: &Record) {
        self.slot(pos).rec.with_mut(|p| {
            // SAFETY: the caller reserved `pos` with `reserve`, so no other
            // producer writes this slot, and the consumer reads it only after the
            // committed stamp, which is stored after this write.
            unsafe { p.write(*rec) }
        });
    }

    /// Publishes position `pos`. `before` is the stamp read by
    /// `stamp_before_write` before the record was written.
    #[inline]
    pub(crate) fn commit(&self, pos: u64, before: u64) -> Result<(), PushError> {
        // SYNC POINT: the Release half pairs with the Acquire load in `state`:
        // a reader that sees `pos + 1` sees the whole record.
        match self.slot(pos).stamp.compare_exchange(
            before,
            pos + 1,
            Ordering::Release,
            Ordering::Relaxed,
        ) {
            Ok(_) => Ok(()),
            Err(_) => {
                self.counters.drops.late.fetch_add(1, Ordering::Relaxed);
                Err(PushError::Late)
            }
        }
    }

    /// Reserve, write and commit: the whole write path.
    #[inline]
    pub(crate) fn push(&self, rec: &Record) -> Result<u64, PushError> {
        let pos = self.reserve()?;
        let before = self.stamp_before_write(pos);
        if before == (pos + 1) | ABANDONED {
            // Abandoned before we even started (we were stalled right after
            // reserving): do not touch the slot.
            self.counters.drops.late.fetch_add(1, Ordering::Relaxed);
            return Err(PushError::Late);
        }
        self.write(pos, rec);
        self.commit(pos, before).map(|()| pos)
    }

    /// First position not yet reserved.
    pub(crate) fn tail(&self) -> u64 {
        self.counters.producer.tail.load(Ordering::Acquire)
    }

    /// First position not yet handed off.
    pub(crate) fn head(&self) -> u64 {
        self.counters.consumer.head.load(Ordering::Acquire)
    }

    /// Looks at `pos` (which must be `>= head`) and copies the record out if it
    /// is committed.
    pub(crate) fn state(&self, pos: u64, out: &mut Record) -> SlotState {
        let slot = self.slot(pos);
        // SYNC POINT: Acquire pairs with the Release CAS in `commit`.
        let stamp = slot.stamp.load(Ordering::Acquire);
        if stamp == pos + 1 {
            slot.rec.with(|p| {
                // SAFETY: the stamp says `pos` is committed; its producer wrote the
                // record before the Release CAS we synchronized with, and no
                // producer writes the slot again until `head` passes `pos`, which
                // only this consumer does.
                *out = unsafe { p.read() };
            });
            SlotState::Committed
        } else if stamp == (pos + 1) | ABANDONED {
            SlotState::Abandoned
        } else if pos < self.tail() {
            SlotState::InProgress(stamp)
        } else {
            SlotState::Empty
        }
    }

    /// Gives up on the reserved position `pos`, whose stamp was `seen`. Returns
    /// false if the writer committed meanwhile (read it instead).
    pub(crate) fn abandon(&self, pos: u64, seen: u64) -> bool {
        let won = self
            .slot(pos)
            .stamp
            .compare_exchange(
                seen,
                (pos + 1) | ABANDONED,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok();
        if won {
            self.counters
                .consumer
                .abandoned
                .fetch_add(1, Ordering::Relaxed);
        }
        won
    }

    /// Hands every position below `pos` back to the producers and makes `pos` the
    /// restart point. `pos` never goes backwards.
    pub(crate) fn release(&self, pos: u64) {
        let head = self.head();
        debug_assert!(pos >= head && pos <= self.tail());
        if pos > head {
            // SYNC POINT: Release pairs with the Acquire load of `head` in
            // `reserve`: our reads of the slots happened before producers reuse them.
            self.counters.consumer.head.store(pos, Ordering::Release);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests;

#[cfg(all(test, loom))]
mod loom_tests;

/// A ring in ordinary memory, for model checking and tests of the protocol.
#[cfg(any(test, loom))]
pub(crate) struct HeapRing {
    pub(crate) counters: Counters,
    pub(crate) slots: Vec<Slot>,
}

#[cfg(any(test, loom))]
impl HeapRing {
    /// A ring of `capacity` slots (a power of two).
    pub(crate) fn new(capacity: usize) -> HeapRing {
        assert!(capacity.is_power_of_two());
        let zero = || AtomicU64::new(0);
        HeapRing {
            counters: Counters {
                producer: ProducerLine { tail: zero() },
                drops: DropLine {
                    dropped: zero(),
                    late: zero(),
                },
                consumer: ConsumerLine {
                    head: zero(),
                    abandoned: zero(),
                },
            },
            slots: (0..capacity)
                .map(|_| Slot {
                    stamp: zero(),
                    rec: UnsafeCell::new(bytemuck::Zeroable::zeroed()),
                })
                .collect(),
        }
    }

    /// The protocol view of this ring.
    pub(crate) fn view(&self) -> RingRef<'_> {
        RingRef::new(&self.counters, &self.slots)
    }
}
