//! The shared-memory ring: one file per writer process, a header page followed
//! by fixed-size slots, written by any thread of the process without locks and
//! drained by the sidecar.
//!
//! See [`protocol`] for the slot protocol, [`Ring`] for the writer side and
//! [`Consumer`] for the reader side.

pub(crate) mod protocol;
#[cfg(not(loom))]
mod file;
#[cfg(not(loom))]
mod consumer;

#[cfg(not(loom))]
pub use consumer::{Consumer, DEFAULT_PATIENCE, Drained};
#[cfg(not(loom))]
pub use file::{OpenError, Ring, RingStats, default_dir, ring_file_name};
pub use protocol::PushError;

use crate::clock::Calibration;

/// First bytes of every ring file.
pub const MAGIC: [u8; 8] = *b"RINGSIDE";
/// Layout version: bumped whenever the header or record layout changes.
pub const VERSION: u32 = 1;
/// Bytes before the first slot: one page.
pub const HEADER_SIZE: usize = 4096;
/// Slots in a ring unless configured otherwise (16 MiB of slots).
pub const DEFAULT_CAPACITY: usize = 1 << 16;
/// Smallest accepted capacity.
pub const MIN_CAPACITY: usize = 8;
/// Largest accepted capacity (4 GiB of slots).
pub const MAX_CAPACITY: usize = 1 << 24;
/// Longest service name kept in the header.
pub const MAX_SERVICE: usize = 64;

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
    /// records positions against it.
    pub ring_id: u64,
    /// When the ring was created.
    pub created_unix_ns: u64,
    /// Clock calibration of the writer.
    pub clock: Calibration,
    /// Service name, UTF-8, `service_len` bytes.
    pub service: [u8; MAX_SERVICE],
}

/// Offset of the shared counters in the header page.
pub(crate) const COUNTERS_OFFSET: usize = 256;

const _: () = {
    assert!(std::mem::size_of::<Identity>() <= COUNTERS_OFFSET);
    assert!(COUNTERS_OFFSET % 64 == 0);
    assert!(COUNTERS_OFFSET + std::mem::size_of::<protocol::Counters>() <= HEADER_SIZE);
    assert!(HEADER_SIZE % crate::record::SLOT_SIZE == 0);
};

impl Identity {
    /// The service name (lossy if the header holds invalid UTF-8).
    pub fn service(&self) -> String {
        let n = (self.service_len as usize).min(MAX_SERVICE);
        String::from_utf8_lossy(&self.service[..n]).into_owned()
    }
}
