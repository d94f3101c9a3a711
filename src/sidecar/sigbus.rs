//! Surviving a ring file that shrinks under its mapping.
//!
//! The sidecar maps files that other processes own. If a writer truncates its
//! ring while it is mapped, the next access past the new end of the file raises
//! SIGBUS, whose default action would kill the sidecar and stop tracing for
//! every daemon on the node. Wayland compositors meet the same problem with
//! client shared memory and answer it the same way: a SIGBUS handler that
//! finds the faulting address inside a registered mapping, maps a private zero
//! page over it (so the faulting instruction, re-run, reads zeros and writes go
//! nowhere), and marks the mapping as faulted. The reader checks the mark after
//! each pass over a ring and drops that ring; zeros in between are rejected by
//! the record and header validation like any other corruption.
//!
//! A fault outside every registered mapping is a real bug: the handler puts
//! the default action back and returns, so the access faults again and the
//! process dies as it would have without the handler.

use std::io;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Most mappings guarded at once (the sidecar's cap on open rings is below).
pub const MAX_REGIONS: usize = 8192;

/// One guarded mapping. Invariant: `start == 0` means the slot is free; a
/// registering thread claims a slot by a CAS of `start` from 0, having stored
/// `len` before (SYNC POINT: the Release CAS pairs with the Acquire load of
/// `start` in the handler, so a handler that sees `start` sees `len`).
struct Region {
    start: AtomicUsize,
    len: AtomicUsize,
    faulted: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)] // used only to build the array
const FREE: Region = Region {
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    faulted: AtomicBool::new(false),
};

static REGIONS: [Region; MAX_REGIONS] = [FREE; MAX_REGIONS];
static PAGE: AtomicUsize = AtomicUsize::new(4096);
static INSTALL: Once = Once::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Installs the process-wide SIGBUS handler (once; later calls do nothing).
pub fn install() -> io::Result<()> {
    let mut result = Ok(());
    INSTALL.call_once(|| {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if page > 0 {
            PAGE.store(page as usize, Ordering::Relaxed);
        }
        // SAFETY: `action` is fully initialized before sigaction reads it; the
        // handler is an `extern "C"` function with the SA_SIGINFO signature.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigbus as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut())
        };
        if rc == 0 {
            INSTALLED.store(true, Ordering::Relaxed);
        } else {
            result = Err(io::Error::last_os_error());
        }
    });
    result
}

/// A registered mapping; unregistered on drop, which must happen before the
/// mapping is unmapped.
#[derive(Debug)]
pub struct Guard {
    index: usize,
}

impl Guard {
    /// Guards `len` bytes mapped at `start`. `None` when the handler is not
    /// installed or every slot is taken (the caller then refuses the ring).
    pub fn register(start: *const u8, len: usize) -> Option<Guard> {
        if !INSTALLED.load(Ordering::Relaxed) || start.is_null() || len == 0 {
            return None;
        }
        for (index, region) in REGIONS.iter().enumerate() {
            if region.start.load(Ordering::Relaxed) != 0 {
                continue;
            }
            region.len.store(len, Ordering::Relaxed);
            region.faulted.store(false, Ordering::Relaxed);
            // SYNC POINT: pairs with the Acquire load of `start` in `on_sigbus`.
            if region
                .start
                .compare_exchange(0, start as usize, Ordering::Release, Ordering::Relaxed)
                .is_ok()
            {
                return Some(Guard { index });
            }
        }
        None
    }

    /// True once an access to the mapping went past the end of its file: the
    /// file shrank, and the pages past the end now read as zeros.
    pub fn faulted(&self) -> bool {
        REGIONS[self.index].faulted.load(Ordering::Acquire)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        REGIONS[self.index].start.store(0, Ordering::Release);
    }
}

/// The SIGBUS handler. Only async-signal-safe work: atomic loads and stores,
/// mmap(2) and signal(2).
extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = PAGE.load(Ordering::Relaxed);
    for region in &REGIONS {
        // SYNC POINT: pairs with the Release CAS in `Guard::register`.
        let start = region.start.load(Ordering::Acquire);
        let len = region.len.load(Ordering::Relaxed);
        if start == 0 || addr < start || addr >= start + len {
            continue;
        }
        let at = addr & !(page - 1);
        // SAFETY: [at, at + page) lies inside a mapping the sidecar owns and
        // registered (start and len are page multiples' bounds); replacing it
        // with a private anonymous page only changes what that mapping reads.
        let mapped = unsafe {
            libc::mmap(
                at as *mut libc::c_void,
                page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if mapped != libc::MAP_FAILED {
            region.faulted.store(true, Ordering::Release);
            return;
        }
        break;
    }
    // Not a ring (or the zero page could not be mapped): die as without us.
    // SAFETY: resetting a signal's disposition is async-signal-safe.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::sync::Mutex;

    /// The slot table is process-wide: these tests take turns.
    static SERIAL: Mutex<()> = Mutex::new(());

    #[test]
    fn a_truncated_mapping_reads_zeros_and_is_marked() {
        let _one_at_a_time = SERIAL.lock().unwrap();
        install().unwrap();
        let file = tempfile::tempfile().unwrap();
        let len = 16 * 4096;
        file.set_len(len as u64).unwrap();
        // SAFETY: a fresh shared mapping of a file this test owns.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED);
        let base = ptr.cast::<u8>();
        // SAFETY: inside the mapping, within the file.
        unsafe { base.add(8 * 4096).write_volatile(7) };
        let guard = Guard::register(base, len).expect("a free slot");
        assert!(!guard.faulted());
        file.set_len(4096).unwrap();
        // SAFETY: inside the mapping; past the file's end now, so this faults
        // and the handler maps a zero page there.
        let after = unsafe { base.add(8 * 4096).read_volatile() };
        assert_eq!(after, 0);
        assert!(guard.faulted());
        // SAFETY: inside the mapping and the (shrunk) file.
        let first = unsafe { base.read_volatile() };
        assert_eq!(first, 0);
        drop(guard);
        // SAFETY: unmapping what this test mapped; nothing uses it after.
        unsafe { libc::munmap(ptr, len) };
    }

    #[test]
    fn full_table_refuses_then_frees_on_drop() {
        let _one_at_a_time = SERIAL.lock().unwrap();
        install().unwrap();
        let data = vec![0u8; 4096];
        let mut held = Vec::new();
        while let Some(g) = Guard::register(data.as_ptr(), data.len()) {
            held.push(g);
        }
        assert_eq!(held.len(), MAX_REGIONS);
        held.pop();
        assert!(Guard::register(data.as_ptr(), data.len()).is_some());
    }
}
