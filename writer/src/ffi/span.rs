//! `rs_span_*`: spans that live in caller memory. An `rs_span_t` holds the
//! span's whole record, so starting, annotating and ending a span allocates
//! nothing; `rs_span_end` copies the record into the ring.

use std::ffi::c_char;

use super::context::rs_span_context_t;
use super::tracer::rs_tracer_t;
use super::{
    RS_ERR_ENDED, RS_ERR_INVALID, RS_ERR_NOT_STARTED, RS_ERR_NULL, guard, rs_status_t, str_arg,
};
use crate::clock;
use crate::record::{Record, SpanKind, StatusCode, Value};
use crate::trace::begin_record;

/// Size of an `rs_span_t` in 8-byte words. It holds the span's 248-byte
/// record and its bookkeeping, with room to spare; it changes only with the
/// ring layout version.
pub const RS_SPAN_WORDS: usize = 36;

/// A span being recorded. Plain memory owned by the caller (a local variable
/// is typical): `rs_span_start` fills it, `rs_span_end` writes it to the ring.
/// Its contents are private. Do not copy a started span: two copies would
/// write the same span twice.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct rs_span_t {
    /// Private: the span's state and record.
    pub opaque: [u64; RS_SPAN_WORDS],
}

/// Kind of a span, numbered as in OTLP: one of the `RS_SPAN_KIND_*` values.
pub type rs_span_kind_t = u32;
/// Internal operation (the default).
pub const RS_SPAN_KIND_INTERNAL: rs_span_kind_t = 1;
/// Serving a remote request.
pub const RS_SPAN_KIND_SERVER: rs_span_kind_t = 2;
/// Calling a remote service.
pub const RS_SPAN_KIND_CLIENT: rs_span_kind_t = 3;
/// Sending a message to be processed later.
pub const RS_SPAN_KIND_PRODUCER: rs_span_kind_t = 4;
/// Processing a message sent earlier.
pub const RS_SPAN_KIND_CONSUMER: rs_span_kind_t = 5;

/// Status of a span, numbered as in OTLP: one of the `RS_STATUS_*` values.
pub type rs_status_code_t = u32;
/// Not set.
pub const RS_STATUS_UNSET: rs_status_code_t = 0;
/// Explicitly successful.
pub const RS_STATUS_OK: rs_status_code_t = 1;
/// Failed.
pub const RS_STATUS_ERROR: rs_status_code_t = 2;

/// What a started span looks like inside an `rs_span_t`.
#[repr(C)]
pub(super) struct SpanState {
    /// [`SPAN_LIVE`], [`SPAN_ENDED`], or anything else for "never started".
    state: u64,
    /// The tracer the span was started from; valid while `state` is live.
    tracer: *const rs_tracer_t,
    pub(super) rec: Record,
}

const SPAN_LIVE: u64 = u64::from_be_bytes(*b"rsSPANon");
const SPAN_ENDED: u64 = u64::from_be_bytes(*b"rsSPANed");

const _: () = {
    assert!(std::mem::size_of::<SpanState>() <= std::mem::size_of::<rs_span_t>());
    assert!(std::mem::align_of::<SpanState>() <= std::mem::align_of::<rs_span_t>());
};

/// The live span in `span`.
///
/// # Safety
/// `span` is NULL or valid for reads and writes of an `rs_span_t`.
#[inline]
pub(super) unsafe fn live_span<'a>(span: *mut rs_span_t) -> Result<&'a mut SpanState, rs_status_t> {
    // SAFETY: `rs_span_t` is at least as large and as aligned as `SpanState`
    // (checked above), every bit pattern is a valid `SpanState` (integers, a raw
    // pointer and a Pod record), and the caller gives us the memory.
    let s = unsafe { span.cast::<SpanState>().as_mut() }.ok_or(RS_ERR_NULL)?;
    match s.state {
        SPAN_LIVE => Ok(s),
        SPAN_ENDED => Err(RS_ERR_ENDED),
        _ => Err(RS_ERR_NOT_STARTED),
    }
}

/// The started span in `span`, live or ended, for reading.
///
/// # Safety
/// `span` is NULL or valid for reads of an `rs_span_t`.
#[inline]
unsafe fn started_span<'a>(span: *const rs_span_t) -> Result<&'a SpanState, rs_status_t> {
    // SAFETY: as in `live_span`, for reads only.
    let s = unsafe { span.cast::<SpanState>().as_ref() }.ok_or(RS_ERR_NULL)?;
    match s.state {
        SPAN_LIVE | SPAN_ENDED => Ok(s),
        _ => Err(RS_ERR_NOT_STARTED),
    }
}

fn span_kind(kind: rs_span_kind_t) -> Result<SpanKind, rs_status_t> {
    u8::try_from(kind)
        .ok()
        .and_then(SpanKind::from_u8)
        .ok_or(RS_ERR_INVALID)
}

/// Starts a span named `name` (`name_len` bytes of UTF-8; names over 128 bytes
/// are cut and marked) of `kind`, as a child of `parent`, or as the root of a
/// new trace when `parent` is NULL or invalid. The span's record is kept in
/// `*span` until `rs_span_end`.
///
/// On error `*span` is marked not started, so that later calls on it fail with
/// `RS_ERR_NOT_STARTED`. `RS_ERR_CLOSED` when the tracer is closed.
///
/// # Safety
/// `tracer` is NULL or a live tracer; `span` is NULL or valid for writes of an
/// `rs_span_t`; `name` is NULL or valid for `name_len` bytes; `parent` is NULL
/// or points to an `rs_span_context_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_span_start(
    tracer: *const rs_tracer_t,
    span: *mut rs_span_t,
    name: *const c_char,
    name_len: usize,
    kind: rs_span_kind_t,
    parent: *const rs_span_context_t,
) -> rs_status_t {
    guard(|| {
        // SAFETY: per the caller.
        unsafe { start_span(tracer, span, name, name_len, kind, parent) }.map(|_| ())
    })
}

/// Starts a span in `*span` (the body of `rs_span_start`, shared with the
/// storage helpers) and returns it. Checks, in order: `span`, the tracer, the
/// name, the kind, the parent; on any error `*span` is marked not started.
///
/// # Safety
/// As for `rs_span_start`.
pub(super) unsafe fn start_span<'a>(
    tracer: *const rs_tracer_t,
    span: *mut rs_span_t,
    name: *const c_char,
    name_len: usize,
    kind: rs_span_kind_t,
    parent: *const rs_span_context_t,
) -> Result<&'a mut SpanState, rs_status_t> {
    let s = span.cast::<SpanState>();
    if s.is_null() {
        return Err(RS_ERR_NULL);
    }
    // SAFETY: non-NULL and valid for writes (caller); the field is in bounds.
    unsafe { std::ptr::addr_of_mut!((*s).state).write(0) };
    // SAFETY: per the caller.
    let t = unsafe { rs_tracer_t::open_ref(tracer)? };
    // SAFETY: per the caller.
    let name = unsafe { str_arg(name, name_len)? };
    let kind = span_kind(kind)?;
    // SAFETY: per the caller, NULL or a context.
    let parent = match unsafe { parent.as_ref() } {
        Some(p) => Some(p.parts()?),
        None => None,
    };
    // SAFETY: valid for writes of an `rs_span_t`, which holds a `SpanState`
    // (size and alignment checked above); zeroed, it is a valid `SpanState`
    // (a null tracer, a zero record), so it may be borrowed and the record
    // built where it lives.
    let st = unsafe {
        std::ptr::write_bytes(s, 0, 1);
        &mut *s
    };
    begin_record(&mut st.rec, name, parent.as_ref().map(|(ctx, _)| ctx));
    match &parent {
        Some((ctx, state)) if ctx.is_valid() => st.rec.set_trace_state(state),
        _ => {}
    }
    st.rec.kind = kind as u8;
    st.tracer = t;
    st.state = SPAN_LIVE;
    Ok(st)
}

/// Changes the span's kind.
///
/// # Safety
/// `span` is NULL or valid for reads and writes of an `rs_span_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_span_set_kind(
    span: *mut rs_span_t,
    kind: rs_span_kind_t,
) -> rs_status_t {
    guard(|| {
        // SAFETY: per the caller.
        let s = unsafe { live_span(span)? };
        s.rec.kind = span_kind(kind)? as u8;
        Ok(())
    })
}

/// Sets the status (`RS_STATUS_*`; others get `RS_ERR_INVALID`). The message
/// is kept for `RS_STATUS_ERROR` only, cut to fit. `message` may be NULL when
/// `message_len` is 0.
///
/// # Safety
/// `span` is NULL or valid for reads and writes of an `rs_span_t`; `message`
/// is NULL or valid for `message_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_span_set_status(
    span: *mut rs_span_t,
    code: rs_status_code_t,
    message: *const c_char,
    message_len: usize,
) -> rs_status_t {
    guard(|| {
        // SAFETY: per the caller.
        let s = unsafe { live_span(span)? };
        let code = u8::try_from(code)
            .ok()
            .and_then(StatusCode::from_u8)
            .ok_or(RS_ERR_INVALID)?;
        // SAFETY: per the caller.
        let message = unsafe { str_arg(message, message_len)? };
        s.rec.set_status(code, message);
        Ok(())
    })
}

/// Marks the span failed: status error with `message`, and the attribute
/// `error.type` = `error_type` (a low-cardinality class such as `timeout` or
/// `EIO`).
///
/// # Safety
/// `span` is NULL or valid for reads and writes of an `rs_span_t`;
/// `error_type` and `message` are NULL or valid for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_span_record_error(
    span: *mut rs_span_t,
    error_type: *const c_char,
    error_type_len: usize,
    message: *const c_char,
    message_len: usize,
) -> rs_status_t {
    guard(|| {
        // SAFETY: per the caller.
        let s = unsafe { live_span(span)? };
        // SAFETY: per the caller.
        let error_type = unsafe { str_arg(error_type, error_type_len)? };
        // SAFETY: per the caller.
        let message = unsafe { str_arg(message, message_len)? };
        s.rec.push_attr("error.type", Value::Str(error_type));
        s.rec.set_status(StatusCode::Error, message);
        Ok(())
    })
}

/// Ends the span now and writes it to the ring. A full ring drops the span and
/// counts it (see `rs_tracer_stats`); that is not an error. `RS_ERR_ENDED` if
/// it already ended; `RS_ERR_CLOSED` if its tracer was closed meanwhile (the
/// span is then ended without being written).
///
/// # Safety
/// `span` is NULL or valid for reads and writes of an `rs_span_t`; the tracer
/// it was started from has not been freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_span_end(span: *mut rs_span_t) -> rs_status_t {
    guard(|| {
        // SAFETY: per the caller.
        let s = unsafe { live_span(span)? };
        s.state = SPAN_ENDED;
        // SAFETY: a live span's tracer pointer was valid at start, and the
        // caller keeps the tracer until its spans have ended.
        let t = unsafe { rs_tracer_t::any_ref(s.tracer)? };
        if t.is_closed() {
            return Err(super::RS_ERR_CLOSED);
        }
        s.rec.end = clock::now();
        // A full ring has counted the drop already.
        let _ = t.tracer.submit(&s.rec);
        Ok(())
    })
}

/// Writes the span's context to `*out`, to parent children, link to it or
/// inject it into a request. Works on an ended span too.
///
/// # Safety
/// `span` is NULL or valid for reads of an `rs_span_t`; `out` is NULL or valid
/// for a write of an `rs_span_context_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_span_context(
    span: *const rs_span_t,
    out: *mut rs_span_context_t,
) -> rs_status_t {
    guard(|| {
        // SAFETY: per the caller.
        let s = unsafe { started_span(span)? };
        if out.is_null() {
            return Err(RS_ERR_NULL);
        }
        let state = crate::record::RecordView::new(&s.rec)
            .ok()
            .and_then(|v| v.trace_state())
            .unwrap_or("");
        let ctx = rs_span_context_t::new(
            s.rec.trace_id,
            s.rec.span_id,
            s.rec.trace_flags,
            false,
            state,
        );
        // SAFETY: non-NULL and valid for a write, per the caller.
        unsafe { out.write(ctx) };
        Ok(())
    })
}
