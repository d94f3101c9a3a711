//! Arguments shared by the C ABI bad-argument tests.

#![allow(dead_code)]

use std::ffi::c_char;

use ringside::ffi::*;

/// Bytes that are not UTF-8.
pub const BAD_UTF8: &[u8] = b"ab\xff\xfe";

/// `bytes` as a C string pointer (its length is passed apart).
pub fn c(bytes: &[u8]) -> *const c_char {
    bytes.as_ptr().cast()
}

/// An invalid (all-zero) context.
pub fn zero_context() -> rs_span_context_t {
    rs_span_context_t {
        trace_id: [0; 16],
        span_id: [0; 8],
        flags: 0,
        is_remote: 0,
        trace_state_len: 0,
        trace_state: [0; RS_TRACESTATE_MAX],
    }
}

/// A valid context with trace state "k=v".
pub fn some_context() -> rs_span_context_t {
    let mut ctx = zero_context();
    let tp = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    // SAFETY: every pointer given is NULL or valid for the length given; the
    // bad arguments are NULLs, lengths, contents and states, never wild memory.
    let status = unsafe { rs_context_extract(c(tp), tp.len(), c(b"k=v"), 3, &mut ctx) };
    assert_eq!(status, RS_OK);
    ctx
}
