//! `rs_tracer_*`: opening, closing and freeing a tracer, and its counters.

use std::ffi::c_char;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{
    RS_ERR_CLOSED, RS_ERR_INVALID, RS_ERR_NULL, RS_ERR_RING, RS_ERR_UTF8, cstr_arg, guard, put,
    rs_status_t,
};
use crate::ring::MAX_SERVICE;
use crate::trace::Tracer;

/// Longest ring directory path accepted, in bytes (Linux `PATH_MAX` less the
/// NUL).
pub const RS_MAX_PATH: usize = 4095;

/// Marks a live `rs_tracer_t`; cleared when it is freed.
const TRACER_MAGIC: u64 = u64::from_be_bytes(*b"rsTRACER");

/// A tracer for one service: opaque, created by `rs_tracer_new`, released by
/// `rs_tracer_free`. Safe to share between threads.
pub struct rs_tracer_t {
    /// [`TRACER_MAGIC`] while live; checked by reading this field alone before
    /// a reference to the whole tracer is made.
    magic: u64,
    /// Set by `rs_tracer_close`; read by every call that starts or ends a span.
    closed: AtomicBool,
    pub(super) tracer: Tracer,
}

/// Counters of a tracer's ring.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct rs_ring_stats_t {
    /// Spans accepted by the ring.
    pub written: u64,
    /// Spans dropped because the ring was full.
    pub dropped: u64,
    /// Spans lost because the ring could not be created.
    pub lost: u64,
}

impl rs_tracer_t {
    /// The tracer at `t` if it is one and is open.
    ///
    /// # Safety
    /// `t` is NULL or points to an `rs_tracer_t` that has not been freed.
    #[inline]
    pub(super) unsafe fn open_ref<'a>(
        t: *const rs_tracer_t,
    ) -> Result<&'a rs_tracer_t, rs_status_t> {
        // SAFETY: per the caller, a non-NULL `t` points to a live tracer.
        let t = unsafe { Self::any_ref(t)? };
        if t.closed.load(Ordering::Acquire) {
            return Err(RS_ERR_CLOSED);
        }
        Ok(t)
    }

    /// The tracer at `t` if it is one, open or closed.
    ///
    /// # Safety
    /// As for [`rs_tracer_t::open_ref`].
    #[inline]
    pub(super) unsafe fn any_ref<'a>(
        t: *const rs_tracer_t,
    ) -> Result<&'a rs_tracer_t, rs_status_t> {
        if t.is_null() {
            return Err(RS_ERR_NULL);
        }
        // SAFETY: per the caller `t` points to a live tracer. Only the magic
        // field is read, through a raw pointer, so a pointer to other readable
        // memory of a tracer's size is caught here without ever making a
        // reference to something that is not a tracer.
        if unsafe { std::ptr::addr_of!((*t).magic).read_unaligned() } != TRACER_MAGIC {
            return Err(RS_ERR_INVALID);
        }
        // SAFETY: non-NULL and carrying the magic: a live tracer (caller).
        Ok(unsafe { &*t })
    }

    /// True once `rs_tracer_close` was called.
    #[inline]
    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// Creates a tracer for `service` (a NUL-terminated UTF-8 name of at most 64
/// bytes) writing to a ring in `ring_dir` (NUL-terminated; NULL means
/// `$RINGSIDE_DIR`, else `/run/ringside`). The ring file is created with the
/// first span, or at once by `rs_tracer_open`; the ring size comes from
/// `$RINGSIDE_RING_SLOTS` (default 65536 slots, 16 MiB).
///
/// Returns NULL on error and stores the code in `*status` (when `status` is not
/// NULL): `RS_ERR_NULL` (no service), `RS_ERR_UTF8`, `RS_ERR_TOO_LONG` (service
/// over 64 bytes or path over `RS_MAX_PATH`), `RS_ERR_INVALID` (empty service).
///
/// # Safety
/// `service` and `ring_dir` are NULL or NUL-terminated strings; `status` is NULL
/// or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_tracer_new(
    service: *const c_char,
    ring_dir: *const c_char,
    status: *mut rs_status_t,
) -> *mut rs_tracer_t {
    let mut made = std::ptr::null_mut();
    let code = guard(|| {
        // SAFETY: per the caller, NULL or NUL-terminated.
        let service = unsafe { cstr_arg(service, MAX_SERVICE)? };
        let service = std::str::from_utf8(service).map_err(|_| RS_ERR_UTF8)?;
        if service.is_empty() {
            return Err(RS_ERR_INVALID);
        }
        let mut builder = Tracer::builder(service);
        if !ring_dir.is_null() {
            // SAFETY: per the caller, NUL-terminated. Paths are bytes on Unix,
            // so any bytes are accepted.
            let dir = unsafe { cstr_arg(ring_dir, RS_MAX_PATH)? };
            builder = builder.dir(std::ffi::OsStr::from_bytes(dir));
        }
        made = Box::into_raw(Box::new(rs_tracer_t {
            magic: TRACER_MAGIC,
            closed: AtomicBool::new(false),
            tracer: builder.build(),
        }));
        Ok(())
    });
    // SAFETY: per the caller, NULL or valid for a write.
    unsafe { put(status, code) };
    made
}

/// Creates the ring file now rather than with the first span, so that the
/// first span does not pay for it and a ring that cannot be created is known
/// at start-up. `RS_ERR_RING` if it cannot be created (the reason goes to
/// stderr once; spans are then counted as lost and the program carries on).
///
/// # Safety
/// `tracer` is NULL or a tracer from `rs_tracer_new` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_tracer_open(tracer: *const rs_tracer_t) -> rs_status_t {
    guard(|| {
        // SAFETY: per the caller.
        let t = unsafe { rs_tracer_t::open_ref(tracer)? };
        t.tracer.open().map_err(|_| RS_ERR_RING)
    })
}

/// Closes the tracer: spans can no longer start (`RS_ERR_CLOSED`), and spans
/// still open are not written when they end (their `rs_span_end` returns
/// `RS_ERR_CLOSED`). The memory and the ring stay until `rs_tracer_free`, so
/// other threads racing with the close are safe. Closing twice gives
/// `RS_ERR_CLOSED`.
///
/// # Safety
/// `tracer` is NULL or a tracer from `rs_tracer_new` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_tracer_close(tracer: *const rs_tracer_t) -> rs_status_t {
    guard(|| {
        // SAFETY: per the caller.
        let t = unsafe { rs_tracer_t::any_ref(tracer)? };
        if t.closed.swap(true, Ordering::AcqRel) {
            return Err(RS_ERR_CLOSED);
        }
        Ok(())
    })
}

/// Frees the tracer and unmaps its ring (the sidecar drains what is left and
/// then removes the file). NULL is ignored. Every span started from it must
/// have ended, and no other thread may use it any more.
///
/// # Safety
/// `tracer` is NULL or a tracer from `rs_tracer_new` not yet freed; no span
/// started from it is still open, and no other thread uses it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_tracer_free(tracer: *mut rs_tracer_t) {
    if tracer.is_null() {
        return;
    }
    let _ = guard(|| {
        // SAFETY: per the caller, a live tracer; a pointer that is not one
        // (wrong magic) is left alone rather than freed.
        unsafe { rs_tracer_t::any_ref(tracer)? };
        // SAFETY: a live tracer from `rs_tracer_new`, i.e. a `Box` turned into
        // a raw pointer, used by nobody else from now on (per the caller).
        let mut owned = unsafe { Box::from_raw(tracer) };
        // Volatile so that the store is not dropped as dead before the free: a
        // later call with this stale pointer then more likely sees no magic.
        // SAFETY: `owned.magic` is a valid, aligned u64 we own.
        unsafe { std::ptr::write_volatile(&mut owned.magic, 0) };
        Ok(())
    });
}

/// Reads the tracer's counters into `*out` (all zero before the ring exists,
/// except `lost`). Works on a closed tracer too.
///
/// # Safety
/// `tracer` is NULL or a live tracer; `out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_tracer_stats(
    tracer: *const rs_tracer_t,
    out: *mut rs_ring_stats_t,
) -> rs_status_t {
    guard(|| {
        // SAFETY: per the caller.
        let t = unsafe { rs_tracer_t::any_ref(tracer)? };
        if out.is_null() {
            return Err(RS_ERR_NULL);
        }
        let ring = t.tracer.stats().unwrap_or_default();
        let stats = rs_ring_stats_t {
            written: ring.written,
            dropped: ring.dropped,
            lost: t.tracer.lost(),
        };
        // SAFETY: non-NULL and valid for a write, per the caller.
        unsafe { put(out, stats) };
        Ok(())
    })
}
