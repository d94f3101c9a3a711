//! Ring files: creating one for a writer process, opening and validating one for
//! the reader.
//!
//! A writer builds its ring under a hidden temporary name, maps and fills in the
//! header, and only then renames it to `<service>.<pid>.ring` without replacing
//! anything, so the reader never sees a half-made ring. The writer holds a shared
//! `flock` on the file for as long as the ring is open; the kernel drops it when
//! the process dies, which is how the reader tells a live writer from a dead one
//! (across pid namespaces, and immune to pid reuse).

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use memmap2::MmapOptions;

use super::mapping::{Mapping, RingStats};
use super::protocol::{POSITION_LIMIT, PushError, RingRef};
use super::{
    HEADER_SIZE, Identity, MAGIC, MAX_CAPACITY, MAX_LANES, MAX_SERVICE, MIN_CAPACITY, VERSION,
    lanes_for,
};
use crate::clock::Calibration;
use crate::record::{Record, SLOT_SIZE};

/// The ring directory: `$RINGSIDE_DIR`, else `/run/ringside`.
pub fn default_dir() -> PathBuf {
    std::env::var_os("RINGSIDE_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/ringside"))
}

/// `<service>.<pid>.ring`, with characters outside `[A-Za-z0-9_-]` of the service
/// replaced by `_` and the service cut to 64 bytes.
pub fn ring_file_name(service: &str, pid: u32) -> String {
    let clean: String = service
        .chars()
        .take(MAX_SERVICE)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let clean = if clean.is_empty() {
        "unknown".to_string()
    } else {
        clean
    };
    format!("{clean}.{pid}.ring")
}

/// The writer's side of a ring. Cheap to share between threads: every method
/// takes `&self` and is lock-free.
pub struct Ring {
    /// Shared with the thread-locals of the threads holding a lane in it, so
    /// that a thread exiting after the ring was dropped still gives its lane
    /// back into mapped memory.
    mapping: Arc<Mapping>,
    /// Holds the shared liveness lock for as long as the ring is open.
    _file: File,
    path: PathBuf,
}

impl Ring {
    /// Creates a ring of `capacity` slots (a power of two between 8 and 2^24) for
    /// `service` in `dir`, mode 0660. The directory must exist.
    pub fn create(dir: &Path, service: &str, capacity: usize) -> io::Result<Ring> {
        if !capacity.is_power_of_two() || !(MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "ring capacity {capacity} is not a power of two in {MIN_CAPACITY}..={MAX_CAPACITY}"
                ),
            ));
        }
        let pid = std::process::id();
        let ring_id = crate::id::SpanId::random();
        let tmp = dir.join(format!(".{}.{}.tmp", ring_file_name(service, pid), ring_id));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o660)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&tmp)
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot create ring in {}: {e}", dir.display()),
                )
            })?;
        let built = Self::build(
            &file,
            service,
            pid,
            capacity,
            u64::from_be_bytes(ring_id.0),
            dir,
            &tmp,
        );
        if built.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        let (mapping, path) = built?;
        super::lanes::watch_forks();
        Ok(Ring {
            mapping: Arc::new(mapping),
            _file: file,
            path,
        })
    }

    fn build(
        file: &File,
        service: &str,
        pid: u32,
        capacity: usize,
        ring_id: u64,
        dir: &Path,
        tmp: &Path,
    ) -> io::Result<(Mapping, PathBuf)> {
        // umask may have narrowed the mode; the group must be able to read and write.
        file.set_permissions(std::fs::Permissions::from_mode(0o660))?;
        let len = HEADER_SIZE + capacity * SLOT_SIZE;
        file.set_len(len as u64)?;
        // Reserve the memory now: on tmpfs a sparse page touched later could
        // raise SIGBUS when memory is short; this fails here instead, cleanly.
        use std::os::fd::AsRawFd;
        // SAFETY: plain syscall on an open descriptor.
        let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len as libc::off_t) };
        if rc != 0 && rc != libc::EOPNOTSUPP {
            return Err(io::Error::from_raw_os_error(rc));
        }
        // SAFETY: the file was just created by us under a unique name and has the
        // length mapped; other processes only ever map it, never truncate it.
        let mut map = unsafe { MmapOptions::new().len(len).populate().map_mut(file)? };
        let mut id = Identity {
            magic: MAGIC,
            version: VERSION,
            header_size: HEADER_SIZE as u32,
            slot_size: SLOT_SIZE as u32,
            capacity: capacity as u32,
            pid,
            service_len: 0,
            ring_id,
            created_unix_ns: crate::clock::unix_ns(),
            clock: Calibration::measure(),
            service: [0; MAX_SERVICE],
            lanes: lanes_for(capacity) as u32,
            reserved: 0,
        };
        let kept = crate::record::cut_utf8(service, MAX_SERVICE);
        id.service[..kept.len()].copy_from_slice(kept.as_bytes());
        id.service_len = kept.len() as u32;
        map[..std::mem::size_of::<Identity>()].copy_from_slice(bytemuck::bytes_of(&id));
        // SAFETY: plain syscall on an open descriptor.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let path = publish(tmp, dir, &ring_file_name(service, pid))?;
        let lanes = id.lanes as usize;
        Ok((
            Mapping {
                map,
                capacity,
                lanes,
            },
            path,
        ))
    }

    /// Writes one record from the calling thread's lane. Never blocks: a full
    /// lane (with no free lane to move to) drops the record and counts it.
    #[inline]
    pub fn push(&self, rec: &Record) -> Result<(), PushError> {
        super::lanes::push(&self.mapping, rec, || ())
    }

    /// Like [`Ring::push`], but calls `between` after writing the record into
    /// its slot, before publishing it. For fault-injection tests (a writer
    /// killed or stalled mid-record).
    #[doc(hidden)]
    pub fn push_with_pause(&self, rec: &Record, between: impl FnOnce()) -> Result<(), PushError> {
        super::lanes::push(&self.mapping, rec, between)
    }

    /// Number of lanes the slots are cut into.
    pub fn lanes(&self) -> usize {
        self.mapping.lanes
    }

    /// The ring's counters.
    pub fn stats(&self) -> RingStats {
        self.mapping.stats()
    }

    /// Where the ring file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The header's identity part.
    pub fn identity(&self) -> &Identity {
        self.mapping.identity()
    }
}

/// Renames `tmp` to `name` in `dir`, or to `name` with `-1`, `-2`, ... before
/// `.ring` if a ring of that name still exists (a dead process whose pid was
/// reused): an undrained ring is never replaced.
fn publish(tmp: &Path, dir: &Path, name: &str) -> io::Result<PathBuf> {
    let stem = name.trim_end_matches(".ring");
    let c_tmp = CString::new(tmp.as_os_str().as_bytes())?;
    for n in 0..1000 {
        let path = if n == 0 {
            dir.join(name)
        } else {
            dir.join(format!("{stem}-{n}.ring"))
        };
        let c_path = CString::new(path.as_os_str().as_bytes())?;
        // SAFETY: both paths are NUL-terminated strings that outlive the call.
        let rc = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                c_tmp.as_ptr(),
                libc::AT_FDCWD,
                c_path.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if rc == 0 {
            return Ok(path);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EEXIST) {
            return Err(err);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free ring file name",
    ))
}

/// Why a ring file could not be opened for reading. One per fault, so the
/// sidecar can say exactly what is wrong with which file.
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenError {
    /// The file could not be opened, inspected or mapped.
    Io(io::Error),
    /// A symbolic link or something else that is not a regular file.
    NotRegularFile,
    /// Shorter than the header.
    TooShort(u64),
    /// The first eight bytes are not `RINGSIDE`.
    BadMagic,
    /// A layout version this build does not read.
    Version(u32),
    /// A header size other than 4096.
    HeaderSize(u32),
    /// A slot size other than 256.
    SlotSize(u32),
    /// A capacity that is not a power of two in the accepted range.
    Capacity(u32),
    /// A lane count that does not cut the capacity into lanes this build
    /// makes.
    Lanes(u32),
    /// The file length does not match the capacity.
    Length {
        /// Length implied by the header.
        expected: u64,
        /// Actual length.
        found: u64,
    },
    /// Owned by a user outside the accepted set (see the sidecar's ownership check).
    Owner(u32),
    /// Positions no writer can produce, in some lane: the published position
    /// behind the hand-off position, more than a lane ahead of it, or at or
    /// above 2^63.
    Counters {
        /// Hand-off (consumer) position.
        head: u64,
        /// Published (producer) position.
        tail: u64,
    },
    /// Hand-off marks no reader writes: the pending mark behind the released
    /// one, at or above 2^63, or a lane's pending position outside its
    /// hand-off and published positions.
    Marks {
        /// Last released mark.
        released: u64,
        /// Last pending mark.
        pending: u64,
    },
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Io(e) => write!(f, "{e}"),
            OpenError::NotRegularFile => {
                write!(f, "not a regular file (symbolic links are refused)")
            }
            OpenError::TooShort(n) => write!(
                f,
                "file is {n} bytes, shorter than the {HEADER_SIZE}-byte header"
            ),
            OpenError::BadMagic => write!(f, "not a ringside ring (bad magic)"),
            OpenError::Version(v) if *v < VERSION => write!(
                f,
                "ring layout version {v}, written by an older ringside writer library; \
                 this build reads version {VERSION} only (drain it with the sidecar of \
                 that release, or restart the writer with the new library)"
            ),
            OpenError::Version(v) => write!(
                f,
                "ring layout version {v}, newer than this build reads ({VERSION}); \
                 upgrade the sidecar"
            ),
            OpenError::HeaderSize(v) => write!(f, "header size {v}, expected {HEADER_SIZE}"),
            OpenError::SlotSize(v) => write!(f, "slot size {v}, expected {SLOT_SIZE}"),
            OpenError::Capacity(v) => {
                write!(
                    f,
                    "capacity {v} is not a power of two in {MIN_CAPACITY}..={MAX_CAPACITY}"
                )
            }
            OpenError::Length { expected, found } => {
                write!(
                    f,
                    "file is {found} bytes, header says {expected} (truncated or corrupt)"
                )
            }
            OpenError::Lanes(n) => write!(
                f,
                "{n} lanes, not a power of two up to {MAX_LANES} that divides the capacity"
            ),
            OpenError::Owner(uid) => {
                write!(f, "owned by uid {uid}, which may not write rings here")
            }
            OpenError::Counters { head, tail } => write!(
                f,
                "corrupt counters: a lane's writer at position {tail}, reader at {head}"
            ),
            OpenError::Marks { released, pending } => write!(
                f,
                "corrupt hand-off marks: released {released}, pending {pending}"
            ),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpenError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for OpenError {
    fn from(e: io::Error) -> Self {
        OpenError::Io(e)
    }
}

/// An opened, validated ring file, for the reader.
pub(crate) struct OpenedRing {
    mapping: Mapping,
    pub(crate) file: File,
    pub(crate) identity: Identity,
    pub(crate) metadata: std::fs::Metadata,
}

impl OpenedRing {
    /// Address and length of the mapping (header and slots).
    pub(crate) fn mapped(&self) -> (*const u8, usize) {
        (self.mapping.map.as_ptr(), self.mapping.map.len())
    }

    pub(crate) fn view(&self) -> RingRef<'_> {
        self.mapping.view()
    }

    pub(crate) fn stats(&self) -> RingStats {
        self.mapping.stats()
    }
}

/// Opens `path` read-write (the reader moves the heads and hand-off marks) and
/// checks every header field against the file before mapping the slots.
pub(crate) fn open_for_reading(path: &Path) -> Result<OpenedRing, OpenError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => OpenError::NotRegularFile,
            _ => OpenError::Io(e),
        })?;
    let metadata = file.metadata()?;
    if !metadata.file_type().is_file() {
        return Err(OpenError::NotRegularFile);
    }
    let len = metadata.size();
    if len < HEADER_SIZE as u64 {
        return Err(OpenError::TooShort(len));
    }
    let mut raw = [0u8; std::mem::size_of::<Identity>()];
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut raw, 0)?;
    let identity: Identity = bytemuck::pod_read_unaligned(&raw);
    check_identity(&identity, len)?;
    let capacity = identity.capacity as usize;
    let lanes = identity.lanes as usize;
    // SAFETY: the length was checked against the header; the file is a regular
    // file in the ring directory. A writer that truncates its own ring while we
    // read would fault us (SIGBUS); writers never do, and only members of the
    // ring group can write there.
    let map = unsafe { MmapOptions::new().len(len as usize).map_mut(&file)? };
    let mapping = Mapping {
        map,
        capacity,
        lanes,
    };
    check_counters(&mapping.view())?;
    Ok(OpenedRing {
        mapping,
        file,
        identity,
        metadata,
    })
}

/// Writers keep `head <= tail <= head + lane capacity` in every lane and
/// positions below 2^63; the reader keeps `released <= pending` and each
/// lane's pending position between its head and tail. A reader trusting other
/// counters would read positions nobody wrote, up to 2^64 of them, or
/// overflow a position.
fn check_counters(view: &RingRef<'_>) -> Result<(), OpenError> {
    let released = view.marks.released.load(Relaxed);
    let pending = view.marks.pending.load(Relaxed);
    if pending < released || pending >= POSITION_LIMIT {
        return Err(OpenError::Marks { released, pending });
    }
    for i in 0..view.lane_count() {
        let lane = view.lane(i);
        // Head first: only the reader moves it, so tail read after it is >= head.
        let head = lane.head();
        let tail = lane.published();
        if tail < head || tail - head > lane.capacity() || tail >= POSITION_LIMIT {
            return Err(OpenError::Counters { head, tail });
        }
        let lane_pending = lane.counters.reader.pending.load(Relaxed);
        if pending > released && (lane_pending < head || lane_pending > tail) {
            return Err(OpenError::Marks { released, pending });
        }
    }
    Ok(())
}

fn check_identity(id: &Identity, len: u64) -> Result<(), OpenError> {
    if id.magic != MAGIC {
        return Err(OpenError::BadMagic);
    }
    if id.version != VERSION {
        return Err(OpenError::Version(id.version));
    }
    if id.header_size != HEADER_SIZE as u32 {
        return Err(OpenError::HeaderSize(id.header_size));
    }
    if id.slot_size != SLOT_SIZE as u32 {
        return Err(OpenError::SlotSize(id.slot_size));
    }
    let cap = id.capacity as usize;
    if !cap.is_power_of_two() || !(MIN_CAPACITY..=MAX_CAPACITY).contains(&cap) {
        return Err(OpenError::Capacity(id.capacity));
    }
    let lanes = id.lanes as usize;
    if !lanes.is_power_of_two() || lanes > MAX_LANES || cap / lanes < MIN_CAPACITY {
        return Err(OpenError::Lanes(id.lanes));
    }
    let expected = (HEADER_SIZE + cap * SLOT_SIZE) as u64;
    if len != expected {
        return Err(OpenError::Length {
            expected,
            found: len,
        });
    }
    Ok(())
}
