//! The text form: the `traceparent` and `tracestate` HTTP header values.

use super::{
    ExtractError, KNOWN_FLAGS, TRACEPARENT, TRACEPARENT_LEN, TRACESTATE, TRACESTATE_LIMIT,
};
use crate::trace::context::{
    SpanContext, SpanId, TraceFlags, TraceId, TraceState, parse_lower_hex,
};

/// Extracts a remote span context (`is_remote = true`) from the values of the
/// `traceparent` and `tracestate` headers.
///
/// Optional whitespace (space, tab) around either value is ignored. A missing,
/// empty or invalid `tracestate` never fails the extraction: the state is then
/// empty. A `tracestate` without a valid `traceparent` is ignored.
pub fn extract(
    traceparent: Option<&str>,
    tracestate: Option<&str>,
) -> Result<SpanContext, ExtractError> {
    let (trace_id, span_id, flags) = parse_traceparent(traceparent.ok_or(ExtractError::Missing)?)?;
    Ok(SpanContext {
        trace_id,
        span_id,
        flags,
        is_remote: true,
        trace_state: tracestate.and_then(TraceState::parse).unwrap_or_default(),
    })
}

pub(super) fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn parse_traceparent(value: &str) -> Result<(TraceId, SpanId, TraceFlags), ExtractError> {
    use ExtractError::Malformed;
    // Work on bytes only: slicing the `str` could split a multi-byte character.
    let b = value.trim_matches(is_ows).as_bytes();
    if b.is_empty() {
        return Err(ExtractError::Missing);
    }
    let mut version = [0u8; 1];
    if b.len() < 3 || b[2] != b'-' || !parse_lower_hex(&b[..2], &mut version) {
        return Err(Malformed(
            "version is not two lowercase hex digits and a dash",
        ));
    }
    let version = version[0];
    if version == 0xff {
        return Err(ExtractError::VersionFF);
    }
    if version == 0 && b.len() != TRACEPARENT_LEN {
        return Err(Malformed("version 00 value is not 55 characters"));
    }
    if b.len() < TRACEPARENT_LEN {
        return Err(Malformed("value is shorter than 55 characters"));
    }
    if b.len() > TRACEPARENT_LEN && b[TRACEPARENT_LEN] != b'-' {
        return Err(Malformed("flags are not followed by a dash"));
    }
    if b[35] != b'-' || b[52] != b'-' {
        return Err(Malformed("fields are not separated by dashes"));
    }
    let (mut trace_id, mut span_id, mut flags) = ([0u8; 16], [0u8; 8], [0u8; 1]);
    if !parse_lower_hex(&b[3..35], &mut trace_id) {
        return Err(Malformed("trace id is not 32 lowercase hex digits"));
    }
    if !parse_lower_hex(&b[36..52], &mut span_id) {
        return Err(Malformed("parent id is not 16 lowercase hex digits"));
    }
    if !parse_lower_hex(&b[53..55], &mut flags) {
        return Err(Malformed("flags are not 2 lowercase hex digits"));
    }
    check_ids(&trace_id, &span_id)?;
    let flags = if version == 0 {
        flags[0]
    } else {
        flags[0] & KNOWN_FLAGS
    };
    Ok((TraceId(trace_id), SpanId(span_id), TraceFlags(flags)))
}

pub(super) fn check_ids(trace_id: &[u8; 16], span_id: &[u8; 8]) -> Result<(), ExtractError> {
    if *trace_id == [0; 16] {
        Err(ExtractError::ZeroTraceId)
    } else if *span_id == [0; 8] {
        Err(ExtractError::ZeroSpanId)
    } else {
        Ok(())
    }
}

/// Writes the version `00` `traceparent` value of `ctx` into `out` and returns
/// it; no allocation. The flags byte is written as stored (see the module
/// documentation). The ids are not checked: see [`inject`].
pub fn format_traceparent<'a>(ctx: &SpanContext, out: &'a mut [u8; 55]) -> &'a str {
    fn put_hex(dst: &mut [u8], bytes: &[u8]) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for (pair, b) in dst.chunks_exact_mut(2).zip(bytes) {
            pair[0] = DIGITS[usize::from(b >> 4)];
            pair[1] = DIGITS[usize::from(b & 15)];
        }
    }
    out[..3].copy_from_slice(b"00-");
    put_hex(&mut out[3..35], &ctx.trace_id.0);
    out[35] = b'-';
    put_hex(&mut out[36..52], &ctx.span_id.0);
    out[52] = b'-';
    put_hex(&mut out[53..55], &[ctx.flags.0]);
    // Always ASCII, so this never falls back.
    std::str::from_utf8(&out[..]).unwrap_or_default()
}

/// The version `00` `traceparent` value of `ctx`, as a new string.
pub fn traceparent(ctx: &SpanContext) -> String {
    let mut buf = [0u8; TRACEPARENT_LEN];
    format_traceparent(ctx, &mut buf).to_owned()
}

/// Passes the headers for `ctx` to `set` as (name, value): `traceparent`
/// always, `tracestate` when the state is not empty, truncated to 512
/// characters by [`TraceState::truncated`]. Does nothing when `ctx` is not
/// valid (an all-zero id), since no valid header could describe it.
pub fn inject(ctx: &SpanContext, mut set: impl FnMut(&'static str, &str)) {
    if !ctx.is_valid() {
        return;
    }
    let mut buf = [0u8; TRACEPARENT_LEN];
    set(TRACEPARENT, format_traceparent(ctx, &mut buf));
    if !ctx.trace_state.is_empty() {
        let state = ctx.trace_state.truncated(TRACESTATE_LIMIT);
        if !state.is_empty() {
            set(TRACESTATE, state.as_str());
        }
    }
}
