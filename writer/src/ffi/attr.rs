//! Attributes, events and links of a span: `rs_span_set_*`,
//! `rs_span_add_event`, `rs_span_add_link`, and the `rs_attr_t` they take.

use std::ffi::c_char;

use super::context::rs_span_context_t;
use super::span::{live_span, rs_span_t};
use super::{RS_ERR_INVALID, RS_ERR_NULL, RS_ERR_TOO_LONG, guard, rs_status_t, str_arg};
use crate::clock;
use crate::record::Value;

/// Type of an attribute value: one of the `RS_VALUE_*` values.
pub type rs_value_kind_t = u32;
/// UTF-8 text (`as_str`).
pub const RS_VALUE_STR: rs_value_kind_t = 1;
/// Signed 64-bit integer (`as_i64`).
pub const RS_VALUE_I64: rs_value_kind_t = 2;
/// Double (`as_f64`).
pub const RS_VALUE_F64: rs_value_kind_t = 3;
/// Boolean (`as_bool`, nonzero is true).
pub const RS_VALUE_BOOL: rs_value_kind_t = 4;

/// Most attributes one event or link may carry.
pub const RS_MAX_EVENT_ATTRS: usize = 32;

/// A string with an explicit length (not NUL-terminated). `{NULL, 0}` is the
/// empty string.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct rs_str_t {
    /// First byte.
    pub ptr: *const c_char,
    /// Length in bytes.
    pub len: usize,
}

/// An attribute value; which member is meant is given by `rs_attr_t.kind`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union rs_value_t {
    /// For `RS_VALUE_STR`.
    pub as_str: rs_str_t,
    /// For `RS_VALUE_I64`.
    pub as_i64: i64,
    /// For `RS_VALUE_F64`.
    pub as_f64: f64,
    /// For `RS_VALUE_BOOL`: nonzero is true.
    pub as_bool: u8,
}

/// One attribute of an event or link (see the `rs_attr_*` helpers).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct rs_attr_t {
    /// Attribute key, at most 255 bytes.
    pub key: rs_str_t,
    /// Which member of `value` holds the value.
    pub kind: rs_value_kind_t,
    /// The value.
    pub value: rs_value_t,
}

/// Adds an attribute from a key and a [`Value`] made by `value` (which checks
/// its own arguments).
///
/// # Safety
/// As for the `rs_span_set_*` functions.
#[inline]
unsafe fn set_attr<'v>(
    span: *mut rs_span_t,
    key: *const c_char,
    key_len: usize,
    value: impl FnOnce() -> Result<Value<'v>, rs_status_t>,
) -> rs_status_t {
    guard(|| {
        // SAFETY: per the caller.
        let s = unsafe { live_span(span)? };
        // SAFETY: per the caller.
        let key = unsafe { attr_key(key, key_len)? };
        s.rec.push_attr(key, value()?);
        Ok(())
    })
}

/// An attribute key: at most 255 bytes, the most a record can hold.
///
/// # Safety
/// `key` is NULL or valid for `key_len` bytes.
#[inline]
unsafe fn attr_key<'a>(key: *const c_char, key_len: usize) -> Result<&'a str, rs_status_t> {
    if key_len > usize::from(u8::MAX) {
        return Err(RS_ERR_TOO_LONG);
    }
    // SAFETY: per the caller.
    unsafe { str_arg(key, key_len) }
}

/// Adds a string attribute. Keys are at most 255 bytes (`RS_ERR_TOO_LONG`);
/// values longer than the room left in the record are cut at a character
/// boundary and marked; an attribute that does not fit at all is dropped and
/// counted in the span (the exporters report it), and the call still succeeds.
///
/// # Safety
/// `span` is NULL or valid for reads and writes of an `rs_span_t`; `key` and
/// `value` are NULL or valid for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_span_set_str(
    span: *mut rs_span_t,
    key: *const c_char,
    key_len: usize,
    value: *const c_char,
    value_len: usize,
) -> rs_status_t {
    // SAFETY: per the caller; `value` is valid for `value_len` bytes.
    unsafe {
        set_attr(span, key, key_len, || {
            str_arg(value, value_len).map(Value::Str)
        })
    }
}

/// Adds an integer attribute (see `rs_span_set_str` for limits).
///
/// # Safety
/// `span` is NULL or valid for reads and writes of an `rs_span_t`; `key` is
/// NULL or valid for `key_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_span_set_i64(
    span: *mut rs_span_t,
    key: *const c_char,
    key_len: usize,
    value: i64,
) -> rs_status_t {
    // SAFETY: per the caller.
    unsafe { set_attr(span, key, key_len, || Ok(Value::I64(value))) }
}

/// Adds a floating-point attribute (see `rs_span_set_str` for limits).
///
/// # Safety
/// As for `rs_span_set_i64`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_span_set_f64(
    span: *mut rs_span_t,
    key: *const c_char,
    key_len: usize,
    value: f64,
) -> rs_status_t {
    // SAFETY: per the caller.
    unsafe { set_attr(span, key, key_len, || Ok(Value::F64(value))) }
}

/// Adds a boolean attribute (see `rs_span_set_str` for limits).
///
/// # Safety
/// As for `rs_span_set_i64`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_span_set_bool(
    span: *mut rs_span_t,
    key: *const c_char,
    key_len: usize,
    value: bool,
) -> rs_status_t {
    // SAFETY: per the caller.
    unsafe { set_attr(span, key, key_len, || Ok(Value::Bool(value))) }
}

/// Reads `n` attributes at `attrs` into `out` and returns the filled part.
///
/// # Safety
/// `attrs` is NULL or valid for `n` `rs_attr_t`, whose strings are NULL or
/// valid for their lengths.
unsafe fn read_attrs<'a, 'o>(
    attrs: *const rs_attr_t,
    n: usize,
    out: &'o mut [(&'a str, Value<'a>); RS_MAX_EVENT_ATTRS],
) -> Result<&'o [(&'a str, Value<'a>)], rs_status_t> {
    if n == 0 {
        return Ok(&[]);
    }
    if attrs.is_null() {
        return Err(RS_ERR_NULL);
    }
    if n > RS_MAX_EVENT_ATTRS {
        return Err(RS_ERR_TOO_LONG);
    }
    // SAFETY: non-NULL and valid for `n` elements, per the caller.
    let attrs = unsafe { std::slice::from_raw_parts(attrs, n) };
    for (slot, a) in out.iter_mut().zip(attrs) {
        // SAFETY: per the caller, the key is NULL or valid for its length.
        let key = unsafe { attr_key(a.key.ptr, a.key.len)? };
        // SAFETY: `kind` says which member of the union the caller wrote; every
        // member is plain data, and string members are NULL or valid for their
        // lengths (caller).
        let value = unsafe {
            match a.kind {
                RS_VALUE_STR => Value::Str(str_arg(a.value.as_str.ptr, a.value.as_str.len)?),
                RS_VALUE_I64 => Value::I64(a.value.as_i64),
                RS_VALUE_F64 => Value::F64(a.value.as_f64),
                RS_VALUE_BOOL => Value::Bool(a.value.as_bool != 0),
                _ => return Err(RS_ERR_INVALID),
            }
        };
        *slot = (key, value);
    }
    Ok(&out[..n])
}

/// Adds an event that happens now, with `n_attrs` attributes (at most
/// `RS_MAX_EVENT_ATTRS`; `attrs` may be NULL when `n_attrs` is 0). An event
/// that does not fit in the record whole is dropped and counted.
///
/// # Safety
/// `span` is NULL or valid for reads and writes of an `rs_span_t`; `name` is
/// NULL or valid for `name_len` bytes; `attrs` is NULL or valid for `n_attrs`
/// attributes whose strings are NULL or valid for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_span_add_event(
    span: *mut rs_span_t,
    name: *const c_char,
    name_len: usize,
    attrs: *const rs_attr_t,
    n_attrs: usize,
) -> rs_status_t {
    guard(|| {
        // SAFETY: per the caller.
        let s = unsafe { live_span(span)? };
        // SAFETY: per the caller.
        let name = unsafe { str_arg(name, name_len)? };
        let mut buf = [("", Value::Bool(false)); RS_MAX_EVENT_ATTRS];
        // SAFETY: per the caller.
        let attrs = unsafe { read_attrs(attrs, n_attrs, &mut buf)? };
        s.rec.push_event(clock::now(), name, attrs);
        Ok(())
    })
}

/// Adds a link to the span described by `to` (for example the request that
/// queued this work), with attributes as for `rs_span_add_event`.
/// `RS_ERR_INVALID` if `to` is not a valid context.
///
/// # Safety
/// As for `rs_span_add_event`; `to` is NULL or points to an
/// `rs_span_context_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_span_add_link(
    span: *mut rs_span_t,
    to: *const rs_span_context_t,
    attrs: *const rs_attr_t,
    n_attrs: usize,
) -> rs_status_t {
    guard(|| {
        // SAFETY: per the caller.
        let s = unsafe { live_span(span)? };
        // SAFETY: per the caller, NULL or a context.
        let to = unsafe { to.as_ref() }.ok_or(RS_ERR_NULL)?;
        let (ctx, _) = to.parts()?;
        if !ctx.is_valid() {
            return Err(RS_ERR_INVALID);
        }
        let mut buf = [("", Value::Bool(false)); RS_MAX_EVENT_ATTRS];
        // SAFETY: per the caller.
        let attrs = unsafe { read_attrs(attrs, n_attrs, &mut buf)? };
        s.rec
            .push_link(ctx.trace_id.0, ctx.span_id.0, ctx.flags.0, attrs);
        Ok(())
    })
}
