//! The operating-system plumbing of the poll loop: the ring directory, the
//! signalfd and the inotify watch.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// Blocks SIGTERM, SIGINT and SIGHUP for this thread (and threads it starts
/// later) and returns a signalfd that reports them.
pub(super) fn signal_fd() -> io::Result<OwnedFd> {
    // SAFETY: plain libc calls on a local, initialized signal set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::sigaddset(&mut set, sig);
        }
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// The signals waiting on the signalfd.
pub(super) fn read_signals(fd: Option<&OwnedFd>) -> Vec<i32> {
    let Some(fd) = fd else { return Vec::new() };
    let mut out = Vec::new();
    loop {
        // SAFETY: signalfd_siginfo is plain data; all-zero is a valid value.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: `info` is writable for `size` bytes.
        let n = unsafe {
            libc::read(
                fd.as_raw_fd(),
                (&mut info as *mut libc::signalfd_siginfo).cast(),
                size,
            )
        };
        if n != size as isize {
            return out;
        }
        out.push(info.ssi_signo as i32);
    }
}

/// An inotify descriptor watching `dir` for rings appearing and disappearing.
pub(super) fn watch_dir(dir: &Path) -> io::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())?;
    // SAFETY: plain syscalls; `path` is NUL-terminated and outlives the call;
    // the descriptor is owned by the returned OwnedFd.
    unsafe {
        let fd = libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let owned = OwnedFd::from_raw_fd(fd);
        let mask = libc::IN_MOVED_TO | libc::IN_CREATE | libc::IN_DELETE | libc::IN_CLOSE_WRITE;
        if libc::inotify_add_watch(fd, path.as_ptr(), mask) < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(owned)
    }
}

/// Reads and discards everything waiting on a non-blocking descriptor.
pub(super) fn drain_fd(fd: Option<&OwnedFd>) {
    let Some(fd) = fd else { return };
    let raw: RawFd = fd.as_raw_fd();
    let mut buf = [0u8; 4096];
    // SAFETY: `buf` is writable for its length; the descriptor is non-blocking.
    while unsafe { libc::read(raw, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_missing_ring_directory_is_created_sticky_setgid_3770() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("run").join("ringside");
        crate::sidecar::ring_dir::prepare(&dir).expect("created");
        let mode = std::fs::metadata(&dir)
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o3770, "{mode:o}");
        // As root, give the directory another group: a ring created inside
        // gets that group, not its creator's.
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            use std::os::unix::fs::MetadataExt;
            std::os::unix::fs::chown(&dir, None, Some(47_002)).expect("chown");
            let file = dir.join("svc.1.ring");
            std::fs::write(&file, b"").expect("write");
            assert_eq!(std::fs::metadata(&file).expect("file").gid(), 47_002);
        }
    }
}
