//! The shared-memory ring: one file per writer process, a header followed by
//! fixed-size slots cut into lanes. Each lane has one writer at a time (the
//! thread that claimed it), so a record is published with one release store and
//! no read-modify-write; the sidecar drains every lane.
//!
//! See [`protocol`] for the lane protocol, [`Ring`] for the writer side and
//! [`Consumer`] for the reader side.
//!
//! # File layout (version 2)
//!
//! | offset | size | what |
//! |---|---|---|
//! | 0 | 256 | [`Identity`], written once before the file is published |
//! | 256 | 128 | ring-wide writer line: drops of guests, claim generation |
//! | 384 | 128 | ring-wide reader line: hand-off marks, abandoned count |
//! | 4096 | 256 × 64 | one control block per lane: writer line (tail, owner, cached head, drops), reader line (head, pending position, unfinished) |
//! | [`HEADER_SIZE`] | 256 × capacity | slots; lane `i` owns slots `i * lane_slots .. (i + 1) * lane_slots` |

pub(crate) mod protocol;
#[cfg(not(loom))]
mod mapping;
#[cfg(not(loom))]
mod file;
#[cfg(not(loom))]
mod lanes;
#[cfg(not(loom))]
mod consumer;

#[cfg(not(loom))]
pub use consumer::{Consumer, Drained};
#[cfg(not(loom))]
pub use file::{OpenError, Ring, default_dir, ring_file_name};
#[cfg(not(loom))]
pub use mapping::RingStats;
pub use protocol::PushError;

use crate::clock::Calibration;

/// First bytes of every ring file.
pub const MAGIC: [u8; 8] = *b"RINGSIDE";
/// Layout version: bumped whenever the header or record layout changes.
/// Version 1 was one multi-producer ring (a CAS on a shared tail, stamps the
/// reader could abandon); version 2 cuts the slots into single-writer lanes.
pub const VERSION: u32 = 2;
/// Most lanes in a ring: one control block each in the header.
pub const MAX_LANES: usize = 64;
/// Bytes of one lane's control block in the header.
pub const LANE_BLOCK_SIZE: usize = 256;
/// Offset of the first lane's control block.
pub(crate) const LANES_OFFSET: usize = 4096;
/// Bytes before the first slot: the identity page and the lane blocks.
pub const HEADER_SIZE: usize = LANES_OFFSET + MAX_LANES * LANE_BLOCK_SIZE;
/// Slots in a ring unless configured otherwise (16 MiB of slots).
pub const DEFAULT_CAPACITY: usize = 1 << 16;
/// Smallest accepted capacity.
pub const MIN_CAPACITY: usize = 8;
/// Largest accepted capacity (4 GiB of slots).
pub const MAX_CAPACITY: usize = 1 << 24;
/// Fewest slots a lane gets when the capacity is cut into lanes: a ring of
/// fewer than `2 * LANE_SLOTS_MIN` slots has one lane, shared by every thread.
pub const LANE_SLOTS_MIN: usize = 256;
/// Longest service name kept in the header.
pub const MAX_SERVICE: usize = 64;

/// Lanes of a ring of `capacity` slots: as many lanes of at least
/// [`LANE_SLOTS_MIN`] slots as fit, at most [`MAX_LANES`], a power of two.
pub fn lanes_for(capacity: usize) -> usize {
    (capacity / LANE_SLOTS_MIN).clamp(1, MAX_LANES)
}

/// The part of the header written once, before the file is published under its
/// final name, and only read afterwards.
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Identity {
    /// [`MAGIC`].
    pub magic: [u8; 8],
    /// [`VERSION`].
    pub version: u32,
    /// [`HEADER_SIZE`].
    pub header_size: u32,
    /// [`crate::record::SLOT_SIZE`].
    pub slot_size: u32,
    /// Number of slots, a power of two.
    pub capacity: u32,
    /// Process id of the writer (in its own pid namespace).
    pub pid: u32,
    /// Length of the service name.
    pub service_len: u32,
    /// Random id of this ring, distinct for every ring ever created: the spool
    /// records hand-off marks against it.
    pub ring_id: u64,
    /// When the ring was created.
    pub created_unix_ns: u64,
    /// Clock calibration of the writer.
    pub clock: Calibration,
    /// Service name, UTF-8, `service_len` bytes.
    pub service: [u8; MAX_SERVICE],
    /// Number of lanes, a power of two up to [`MAX_LANES`] that divides
    /// `capacity` into lanes of at least [`MIN_CAPACITY`] slots.
    pub lanes: u32,
    /// Zero.
    pub reserved: u32,
}

/// Offset of the ring-wide writer line in the header page.
pub(crate) const RING_LINE_OFFSET: usize = 256;
/// Offset of the ring-wide reader line in the header page.
pub(crate) const MARK_LINE_OFFSET: usize = 384;

const _: () = {
    assert!(std::mem::size_of::<Identity>() <= RING_LINE_OFFSET);
    assert!(MARK_LINE_OFFSET + 128 <= LANES_OFFSET);
    assert!(HEADER_SIZE % crate::record::SLOT_SIZE == 0);
    assert!(MAX_LANES.is_power_of_two() && LANE_SLOTS_MIN.is_power_of_two());
    assert!(MIN_CAPACITY.is_power_of_two());
};

impl Identity {
    /// The service name (lossy if the header holds invalid UTF-8).
    pub fn service(&self) -> String {
        let n = (self.service_len as usize).min(MAX_SERVICE);
        String::from_utf8_lossy(&self.service[..n]).into_owned()
    }

    /// Slots of one lane.
    pub fn lane_slots(&self) -> usize {
        (self.capacity / self.lanes.max(1)) as usize
    }
}
