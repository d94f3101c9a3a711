//! The C ABI, for storage daemons written in C, C++, Go (cgo) or anything else
//! that can call C. The header is `include/ringside.h`, generated from these
//! files by cbindgen (`tests/c_header.rs` fails when the two differ); a C++
//! wrapper with RAII spans is `include/ringside.hpp`.
//!
//! The shape follows the Rust writer API ([`crate::trace`]):
//!
//! * `rs_tracer_new` / `rs_tracer_free` open and release a tracer for a service.
//!   One tracer may be shared by every thread of the process.
//! * `rs_span_start` fills an `rs_span_t` that the caller keeps wherever it
//!   likes, usually on its stack: the span's record lives inside it until
//!   `rs_span_end` copies it into the ring. Nothing is allocated per span.
//! * `rs_span_context` gives a span's `rs_span_context_t`, a plain struct that
//!   parents children and is injected into or extracted from W3C headers
//!   (`rs_context_inject`, `rs_context_extract`) or the binary form.
//! * `rs_storage_*` start file, metadata, data and transfer spans named and
//!   attributed as [`crate::trace::storage`] does for Rust daemons.
//!
//! Every function returns an `rs_status_t`: `RS_OK` (0) or an error code, named
//! by `rs_strerror`. Bad arguments (NULL pointers, strings that are not UTF-8 or
//! longer than [`RS_MAX_STRING`], a closed tracer, a span ended twice) get their
//! code and change nothing. Every entry point runs its body under
//! `catch_unwind`, so a panic (a bug) becomes `RS_ERR_INTERNAL` and never
//! unwinds into C.
//!
//! What the caller must still guarantee, as with any C API: pointers are either
//! NULL or valid for the stated length; a tracer is freed only after every span
//! started from it has ended; a started span is not copied (moving it and never
//! using the old copy is fine) and is used by one thread at a time.

#![allow(non_camel_case_types)]

use std::ffi::c_char;
use std::panic::{AssertUnwindSafe, catch_unwind};

mod attr;
mod context;
mod span;
mod storage;
mod tracer;

pub use attr::*;
pub use context::*;
pub use span::*;
pub use storage::*;
pub use tracer::*;

/// Result of every call: `RS_OK` or one of the `RS_ERR_*` codes.
pub type rs_status_t = i32;

/// Success.
pub const RS_OK: rs_status_t = 0;
/// A pointer argument that must not be NULL was NULL.
pub const RS_ERR_NULL: rs_status_t = 1;
/// A string argument is not valid UTF-8.
pub const RS_ERR_UTF8: rs_status_t = 2;
/// A string or array argument is longer than accepted (see each function).
pub const RS_ERR_TOO_LONG: rs_status_t = 3;
/// The tracer was closed by `rs_tracer_close`.
pub const RS_ERR_CLOSED: rs_status_t = 4;
/// The span has already ended.
pub const RS_ERR_ENDED: rs_status_t = 5;
/// The span was never started (or its start failed).
pub const RS_ERR_NOT_STARTED: rs_status_t = 6;
/// An argument is out of range (span kind, status code, invalid context, a
/// pointer that is not a tracer).
pub const RS_ERR_INVALID: rs_status_t = 7;
/// An output buffer is too small; nothing was written to it.
pub const RS_ERR_BUFFER: rs_status_t = 8;
/// No trace context could be extracted (absent or malformed): start a new trace.
pub const RS_ERR_NO_CONTEXT: rs_status_t = 9;
/// The ring file could not be created (see stderr for why).
pub const RS_ERR_RING: rs_status_t = 10;
/// A bug in ringside (a caught panic); the call had no effect.
pub const RS_ERR_INTERNAL: rs_status_t = 11;

/// Longest string argument accepted, in bytes; longer ones get
/// `RS_ERR_TOO_LONG`. Attribute values and messages are kept only as far as
/// they fit in the span's record (and marked truncated), as in the Rust API.
pub const RS_MAX_STRING: usize = 65536;

/// A static, NUL-terminated description of `status` (never NULL; unknown codes
/// get "unknown status").
#[unsafe(no_mangle)]
pub extern "C" fn rs_strerror(status: rs_status_t) -> *const c_char {
    let text: &'static std::ffi::CStr = match status {
        RS_OK => c"success",
        RS_ERR_NULL => c"a required pointer argument is NULL",
        RS_ERR_UTF8 => c"a string argument is not valid UTF-8",
        RS_ERR_TOO_LONG => c"a string or array argument is too long",
        RS_ERR_CLOSED => c"the tracer is closed",
        RS_ERR_ENDED => c"the span has already ended",
        RS_ERR_NOT_STARTED => c"the span was never started",
        RS_ERR_INVALID => c"an argument is out of range",
        RS_ERR_BUFFER => c"the output buffer is too small",
        RS_ERR_NO_CONTEXT => c"no valid trace context to extract",
        RS_ERR_RING => c"the ring file could not be created",
        RS_ERR_INTERNAL => c"internal error in ringside",
        _ => c"unknown status",
    };
    text.as_ptr()
}

/// The library version, a static NUL-terminated string such as `"0.1.0"`.
#[unsafe(no_mangle)]
pub extern "C" fn rs_version() -> *const c_char {
    const VERSION: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
    ) {
        Ok(v) => v,
        Err(_) => c"unknown",
    };
    VERSION.as_ptr()
}

/// Runs one entry point's body; a panic becomes [`RS_ERR_INTERNAL`] instead of
/// unwinding into C.
#[inline(always)]
fn guard(body: impl FnOnce() -> Result<(), rs_status_t>) -> rs_status_t {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => RS_OK,
        Ok(Err(code)) => code,
        Err(_) => RS_ERR_INTERNAL,
    }
}

/// The string at `ptr` of `len` bytes. `(NULL, 0)` is the empty string.
///
/// # Safety
/// `ptr` is NULL or valid for reads of `len` bytes (when `len <= RS_MAX_STRING`).
#[inline]
unsafe fn str_arg<'a>(ptr: *const c_char, len: usize) -> Result<&'a str, rs_status_t> {
    if ptr.is_null() {
        return if len == 0 { Ok("") } else { Err(RS_ERR_NULL) };
    }
    if len > RS_MAX_STRING {
        return Err(RS_ERR_TOO_LONG);
    }
    // SAFETY: the caller guarantees `len` readable bytes at a non-NULL `ptr`.
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) };
    if bytes.is_ascii() {
        // SAFETY: ASCII is UTF-8. (Names, keys and most values are ASCII:
        // this inlined check is cheaper than the general validation call.)
        return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes).map_err(|_| RS_ERR_UTF8)
}

/// The bytes of the NUL-terminated string at `ptr`, if it ends within `max`
/// bytes.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string, or to at least `max + 1`
/// readable bytes.
unsafe fn cstr_arg<'a>(ptr: *const c_char, max: usize) -> Result<&'a [u8], rs_status_t> {
    if ptr.is_null() {
        return Err(RS_ERR_NULL);
    }
    // SAFETY: strnlen reads at most `max + 1` bytes and stops at the first NUL,
    // both within what the caller guarantees.
    let len = unsafe { libc::strnlen(ptr, max + 1) };
    if len > max {
        return Err(RS_ERR_TOO_LONG);
    }
    // SAFETY: the `len` bytes before the NUL were just read by strnlen.
    Ok(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

/// Stores `value` at `out` if `out` is not NULL.
///
/// # Safety
/// `out` is NULL or valid for a write of `T`.
#[inline]
unsafe fn put<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: non-NULL and valid for writes, per the caller.
        unsafe { out.write(value) };
    }
}
