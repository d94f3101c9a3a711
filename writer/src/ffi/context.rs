//! `rs_span_context_t` and `rs_context_*`: span contexts as plain structs, and
//! their W3C text (`traceparent`, `tracestate`) and binary forms.

use std::ffi::c_char;

use super::{
    RS_ERR_BUFFER, RS_ERR_INVALID, RS_ERR_NO_CONTEXT, RS_ERR_NULL, RS_ERR_UTF8, guard, put,
    rs_status_t, str_arg,
};
use crate::trace::propagation::{self, BINARY_LEN};
use crate::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

/// Length of a `traceparent` value; its buffer needs one more byte for the NUL.
pub const RS_TRACEPARENT_LEN: usize = 55;
/// Longest `tracestate` kept in a context and injected (the W3C minimum that
/// must be propagated); its buffer needs one more byte for the NUL.
pub const RS_TRACESTATE_MAX: usize = 512;
/// Length of the binary context form (`rs_context_to_binary`).
pub const RS_BINARY_LEN: usize = 26;

const _: () = assert!(RS_BINARY_LEN == BINARY_LEN);

/// What identifies a span to its children and to other processes. Plain data:
/// copy it freely. A zeroed context is invalid (no parent).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct rs_span_context_t {
    /// W3C trace id.
    pub trace_id: [u8; 16],
    /// Span id.
    pub span_id: [u8; 8],
    /// W3C trace flags (bit 0: sampled, bit 1: random trace id).
    pub flags: u8,
    /// 1 when the context came from another process (extracted), else 0.
    pub is_remote: u8,
    /// Bytes used in `trace_state`, at most `RS_TRACESTATE_MAX`.
    pub trace_state_len: u16,
    /// W3C `tracestate` text (not NUL-terminated).
    pub trace_state: [c_char; RS_TRACESTATE_MAX],
}

impl rs_span_context_t {
    /// A context from its parts; a trace state over `RS_TRACESTATE_MAX` bytes
    /// (never produced here) is left out.
    pub(super) fn new(
        trace_id: [u8; 16],
        span_id: [u8; 8],
        flags: u8,
        is_remote: bool,
        trace_state: &str,
    ) -> rs_span_context_t {
        let mut ctx = rs_span_context_t {
            trace_id,
            span_id,
            flags,
            is_remote: u8::from(is_remote),
            trace_state_len: 0,
            trace_state: [0; RS_TRACESTATE_MAX],
        };
        let state = trace_state.as_bytes();
        if state.len() <= RS_TRACESTATE_MAX {
            for (dst, &src) in ctx.trace_state.iter_mut().zip(state) {
                *dst = src as c_char;
            }
            ctx.trace_state_len = state.len() as u16;
        }
        ctx
    }

    fn from_context(ctx: &SpanContext) -> rs_span_context_t {
        let state = ctx.trace_state.truncated(RS_TRACESTATE_MAX);
        Self::new(
            ctx.trace_id.0,
            ctx.span_id.0,
            ctx.flags.0,
            ctx.is_remote,
            state.as_str(),
        )
    }

    /// The context without its trace state (so no allocation), and the trace
    /// state text, which must be printable ASCII as every valid `tracestate`
    /// is (so a hand-filled context cannot smuggle line breaks into a header).
    pub(super) fn parts(&self) -> Result<(SpanContext, &str), rs_status_t> {
        let len = usize::from(self.trace_state_len);
        if len > RS_TRACESTATE_MAX {
            return Err(RS_ERR_INVALID);
        }
        // SAFETY: `c_char` and `u8` have the same size and alignment, and the
        // first `len` elements are in bounds.
        let bytes =
            unsafe { std::slice::from_raw_parts(self.trace_state.as_ptr().cast::<u8>(), len) };
        if !bytes.iter().all(|b| (0x20..=0x7e).contains(b)) {
            return Err(RS_ERR_INVALID);
        }
        let state = std::str::from_utf8(bytes).map_err(|_| RS_ERR_UTF8)?;
        let ctx = SpanContext {
            trace_id: TraceId(self.trace_id),
            span_id: SpanId(self.span_id),
            flags: TraceFlags(self.flags),
            is_remote: self.is_remote != 0,
            trace_state: TraceState::EMPTY,
        };
        Ok((ctx, state))
    }
}

/// The context at `ctx`, which must be valid.
///
/// # Safety
/// `ctx` is NULL or points to an `rs_span_context_t`.
unsafe fn valid_parts<'a>(
    ctx: *const rs_span_context_t,
) -> Result<(SpanContext, &'a str), rs_status_t> {
    // SAFETY: per the caller.
    let ctx = unsafe { ctx.as_ref() }.ok_or(RS_ERR_NULL)?;
    let parts = ctx.parts()?;
    if !parts.0.is_valid() {
        return Err(RS_ERR_INVALID);
    }
    Ok(parts)
}

/// True when both ids of `ctx` are non-zero (false for NULL).
///
/// # Safety
/// `ctx` is NULL or points to an `rs_span_context_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_context_is_valid(ctx: *const rs_span_context_t) -> bool {
    // SAFETY: per the caller.
    unsafe { ctx.as_ref() }.is_some_and(|c| c.trace_id != [0; 16] && c.span_id != [0; 8])
}

/// Writes the W3C headers for `ctx`: the `traceparent` value, NUL-terminated,
/// into `traceparent` (`traceparent_cap` at least `RS_TRACEPARENT_LEN + 1`),
/// and, when `tracestate` is not NULL, the `tracestate` value, NUL-terminated,
/// into `tracestate` with its length in `*tracestate_len` (0: send no
/// `tracestate` header). `RS_ERR_INVALID` for an invalid context,
/// `RS_ERR_BUFFER` when a buffer is too small (nothing is written then).
///
/// # Safety
/// `ctx` is NULL or points to a context; each buffer is NULL or valid for
/// writes of its capacity; `tracestate_len` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_context_inject(
    ctx: *const rs_span_context_t,
    traceparent: *mut c_char,
    traceparent_cap: usize,
    tracestate: *mut c_char,
    tracestate_cap: usize,
    tracestate_len: *mut usize,
) -> rs_status_t {
    guard(|| {
        // SAFETY: per the caller.
        let (ctx, state) = unsafe { valid_parts(ctx)? };
        if traceparent.is_null() {
            return Err(RS_ERR_NULL);
        }
        if traceparent_cap <= RS_TRACEPARENT_LEN
            || (!tracestate.is_null() && tracestate_cap <= state.len())
        {
            return Err(RS_ERR_BUFFER);
        }
        let mut buf = [0u8; RS_TRACEPARENT_LEN];
        let value = propagation::format_traceparent(&ctx, &mut buf);
        // SAFETY: the buffer holds `traceparent_cap > RS_TRACEPARENT_LEN` bytes.
        unsafe { write_c_string(traceparent, value.as_bytes()) };
        if !tracestate.is_null() {
            // SAFETY: the buffer holds `tracestate_cap > state.len()` bytes.
            unsafe { write_c_string(tracestate, state.as_bytes()) };
            // SAFETY: per the caller.
            unsafe { put(tracestate_len, state.len()) };
        } else {
            // SAFETY: per the caller.
            unsafe { put(tracestate_len, 0) };
        }
        Ok(())
    })
}

/// Copies `bytes` and a NUL to `dst`.
///
/// # Safety
/// `dst` is valid for writes of `bytes.len() + 1` bytes.
unsafe fn write_c_string(dst: *mut c_char, bytes: &[u8]) {
    // SAFETY: per the caller; the source is a distinct Rust slice.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst.cast::<u8>(), bytes.len());
        dst.add(bytes.len()).write(0);
    }
}

/// Extracts a remote parent from the values of the `traceparent` and
/// `tracestate` headers (lengths explicit; `tracestate` may be NULL). Parsing
/// is strict W3C Trace Context Level 2. On success `*out` is the parent for the
/// server span; on any error `*out` is zeroed (invalid, so a span started with
/// it as parent starts a new trace) and the code says why: `RS_ERR_NO_CONTEXT`
/// for an absent or malformed `traceparent`, `RS_ERR_UTF8` if it is not UTF-8.
/// A `tracestate` that is invalid (including not UTF-8) is dropped without
/// failing the call, as the specification requires; one over
/// `RS_TRACESTATE_MAX` bytes is truncated by its rules.
///
/// # Safety
/// The strings are NULL or valid for their lengths; `out` is NULL or valid for
/// a write of an `rs_span_context_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_context_extract(
    traceparent: *const c_char,
    traceparent_len: usize,
    tracestate: *const c_char,
    tracestate_len: usize,
    out: *mut rs_span_context_t,
) -> rs_status_t {
    guard(|| {
        if out.is_null() {
            return Err(RS_ERR_NULL);
        }
        // SAFETY: non-NULL and valid for a write, per the caller.
        unsafe { out.write(rs_span_context_t::new([0; 16], [0; 8], 0, false, "")) };
        if traceparent.is_null() {
            return Err(RS_ERR_NULL);
        }
        // SAFETY: per the caller.
        let parent = unsafe { str_arg(traceparent, traceparent_len)? };
        // SAFETY: per the caller; a state that is not UTF-8 is dropped.
        let state = unsafe { str_arg(tracestate, tracestate_len) }.ok();
        let ctx = propagation::extract(Some(parent), state).map_err(|_| RS_ERR_NO_CONTEXT)?;
        // SAFETY: as above.
        unsafe { out.write(rs_span_context_t::from_context(&ctx)) };
        Ok(())
    })
}

/// Writes the 26-byte binary form of `ctx` (version, trace id, span id, flags;
/// no trace state) to `out`, which holds `cap` bytes (at least
/// `RS_BINARY_LEN`).
///
/// # Safety
/// `ctx` is NULL or points to a context; `out` is NULL or valid for writes of
/// `cap` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_context_to_binary(
    ctx: *const rs_span_context_t,
    out: *mut u8,
    cap: usize,
) -> rs_status_t {
    guard(|| {
        // SAFETY: per the caller.
        let (ctx, _) = unsafe { valid_parts(ctx)? };
        if out.is_null() {
            return Err(RS_ERR_NULL);
        }
        if cap < BINARY_LEN {
            return Err(RS_ERR_BUFFER);
        }
        let bytes = propagation::to_binary(&ctx);
        // SAFETY: `out` holds at least `BINARY_LEN` bytes (checked).
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), out, BINARY_LEN) };
        Ok(())
    })
}

/// Writes the binary form with the trace state (`RS_BINARY_LEN` bytes, a
/// big-endian 16-bit length, the `tracestate` text) to `out` (`cap` bytes) and
/// its length to `*written`.
///
/// # Safety
/// As for `rs_context_to_binary`; `written` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_context_to_binary_with_state(
    ctx: *const rs_span_context_t,
    out: *mut u8,
    cap: usize,
    written: *mut usize,
) -> rs_status_t {
    guard(|| {
        // SAFETY: per the caller.
        let (ctx, state) = unsafe { valid_parts(ctx)? };
        if out.is_null() {
            return Err(RS_ERR_NULL);
        }
        let total = BINARY_LEN + 2 + state.len();
        if cap < total {
            return Err(RS_ERR_BUFFER);
        }
        let fixed = propagation::to_binary(&ctx);
        let len = (state.len() as u16).to_be_bytes();
        // SAFETY: `out` holds at least `total` bytes (checked), written as the
        // three consecutive parts below.
        unsafe {
            std::ptr::copy_nonoverlapping(fixed.as_ptr(), out, BINARY_LEN);
            std::ptr::copy_nonoverlapping(len.as_ptr(), out.add(BINARY_LEN), 2);
            std::ptr::copy_nonoverlapping(state.as_ptr(), out.add(BINARY_LEN + 2), state.len());
            put(written, total);
        }
        Ok(())
    })
}

/// Reads a binary context of exactly `len` bytes (version 0) into `*out`
/// (`is_remote` set, no trace state). On error `*out` is zeroed and the code
/// is `RS_ERR_NO_CONTEXT`.
///
/// # Safety
/// `bytes` is NULL or valid for `len` bytes; `out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_context_from_binary(
    bytes: *const u8,
    len: usize,
    out: *mut rs_span_context_t,
) -> rs_status_t {
    // SAFETY: per the caller.
    unsafe {
        decode_binary(bytes, len, out, std::ptr::null_mut(), |b| {
            propagation::from_binary(b).map(|c| (c, b.len()))
        })
    }
}

/// Reads the form written by `rs_context_to_binary_with_state` from the start
/// of `bytes` (`len` bytes) into `*out`, and the bytes it took into
/// `*consumed` (the rest of the frame is the caller's). On error `*out` is
/// zeroed and the code is `RS_ERR_NO_CONTEXT`.
///
/// # Safety
/// As for `rs_context_from_binary`; `consumed` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_context_from_binary_with_state(
    bytes: *const u8,
    len: usize,
    out: *mut rs_span_context_t,
    consumed: *mut usize,
) -> rs_status_t {
    // SAFETY: per the caller.
    unsafe {
        decode_binary(
            bytes,
            len,
            out,
            consumed,
            propagation::from_binary_with_state,
        )
    }
}

/// Shared body of the binary decoders: `decode` gives the context and the
/// bytes it took, stored in `*consumed`.
///
/// # Safety
/// `bytes` is NULL or valid for `len` bytes; `out` and `consumed` are NULL or
/// valid for a write.
unsafe fn decode_binary(
    bytes: *const u8,
    len: usize,
    out: *mut rs_span_context_t,
    consumed: *mut usize,
    decode: impl FnOnce(&[u8]) -> Result<(SpanContext, usize), propagation::ExtractError>,
) -> rs_status_t {
    guard(|| {
        if out.is_null() {
            return Err(RS_ERR_NULL);
        }
        // SAFETY: non-NULL and valid for a write, per the caller.
        unsafe { out.write(rs_span_context_t::new([0; 16], [0; 8], 0, false, "")) };
        if bytes.is_null() {
            return Err(RS_ERR_NULL);
        }
        if len > super::RS_MAX_STRING {
            return Err(super::RS_ERR_TOO_LONG);
        }
        // SAFETY: non-NULL and valid for `len` bytes, per the caller.
        let bytes = unsafe { std::slice::from_raw_parts(bytes, len) };
        let (ctx, used) = decode(bytes).map_err(|_| RS_ERR_NO_CONTEXT)?;
        // SAFETY: as above, and `consumed` per the caller.
        unsafe {
            out.write(rs_span_context_t::from_context(&ctx));
            put(consumed, used);
        }
        Ok(())
    })
}
