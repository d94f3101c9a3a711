//! Where benchmark rings live: on tmpfs when the machine has `/dev/shm`, as
//! `/run/ringside` is on a systemd host. On a disk file system the kernel's
//! writeback write-protects a shared mapping's dirty pages every few seconds
//! and the next store to each page takes a fault: that is the disk's cost, not
//! the write path's.

use std::path::PathBuf;

/// The directory benchmark rings are created under.
pub fn ring_base() -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() {
        shm
    } else {
        std::env::temp_dir()
    }
}
