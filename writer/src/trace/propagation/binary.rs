//! The binary form, for storage RPC frames.

use super::text::check_ids;
use super::{ExtractError, KNOWN_FLAGS};
use crate::trace::context::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

/// Length of the binary context: `[version = 0][trace id: 16][span id: 8][flags: 1]`.
pub const BINARY_LEN: usize = 26;
/// Version byte written by [`to_binary`].
const BINARY_VERSION: u8 = 0;

/// The binary form of `ctx` (version 0, flags byte as stored).
pub fn to_binary(ctx: &SpanContext) -> [u8; BINARY_LEN] {
    let mut out = [0u8; BINARY_LEN];
    out[0] = BINARY_VERSION;
    out[1..17].copy_from_slice(&ctx.trace_id.0);
    out[17..25].copy_from_slice(&ctx.span_id.0);
    out[25] = ctx.flags.0;
    out
}

/// Reads the version byte and the 26-byte context at the start of `bytes`.
fn decode_binary(bytes: &[u8]) -> Result<(u8, SpanContext), ExtractError> {
    let Some(&version) = bytes.first() else {
        return Err(ExtractError::Missing);
    };
    if version == 0xff {
        return Err(ExtractError::VersionFF);
    }
    let Some(fixed) = bytes.get(..BINARY_LEN) else {
        return Err(ExtractError::Malformed(
            "binary context shorter than 26 bytes",
        ));
    };
    let (mut trace_id, mut span_id) = ([0u8; 16], [0u8; 8]);
    trace_id.copy_from_slice(&fixed[1..17]);
    span_id.copy_from_slice(&fixed[17..25]);
    check_ids(&trace_id, &span_id)?;
    let flags = if version == BINARY_VERSION {
        fixed[25]
    } else {
        fixed[25] & KNOWN_FLAGS
    };
    let ctx = SpanContext {
        trace_id: TraceId(trace_id),
        span_id: SpanId(span_id),
        flags: TraceFlags(flags),
        is_remote: true,
        trace_state: TraceState::EMPTY,
    };
    Ok((version, ctx))
}

/// Decodes a binary context (`is_remote = true`, empty trace state).
///
/// Version 0 must be exactly [`BINARY_LEN`] bytes: trailing bytes are an error,
/// as extra characters are in a version `00` `traceparent`. A higher version
/// (1..=254) is read forward-compatibly: its first 26 bytes must follow the
/// version 0 layout, the rest is ignored, and the flags are reduced to the known
/// bits. Version 255 is refused, as in text. An empty slice is
/// [`ExtractError::Missing`].
pub fn from_binary(bytes: &[u8]) -> Result<SpanContext, ExtractError> {
    let (version, ctx) = decode_binary(bytes)?;
    if version == BINARY_VERSION && bytes.len() != BINARY_LEN {
        return Err(ExtractError::Malformed(
            "trailing bytes after a version 0 binary context",
        ));
    }
    Ok(ctx)
}

/// Appends the binary form of `ctx` with its trace state to `out`: the 26 bytes
/// of [`to_binary`], the length of the `tracestate` text as a big-endian `u16`,
/// then the text. A state too long for the length field (impossible for a
/// valid state of at most 32 members) is truncated to fit.
pub fn to_binary_with_state(ctx: &SpanContext, out: &mut Vec<u8>) {
    let max = usize::from(u16::MAX);
    let state = ctx.trace_state.truncated(max);
    let text = state.as_str().as_bytes();
    let len = u16::try_from(text.len()).unwrap_or(0);
    out.reserve(BINARY_LEN + 2 + usize::from(len));
    out.extend_from_slice(&to_binary(ctx));
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&text[..usize::from(len)]);
}

/// Decodes the form written by [`to_binary_with_state`] at the start of
/// `bytes`, returning the context and the number of bytes it took; bytes after
/// that belong to the caller (the rest of the frame).
///
/// Only version 0 is accepted: the length of a future version's encoding is
/// unknown, so it could not be skipped. A length field running past the end of
/// `bytes` is an error; trace state text that is not valid UTF-8 or not a valid
/// `tracestate` gives an empty state, not an error.
pub fn from_binary_with_state(bytes: &[u8]) -> Result<(SpanContext, usize), ExtractError> {
    let (version, mut ctx) = decode_binary(bytes)?;
    if version != BINARY_VERSION {
        return Err(ExtractError::Malformed(
            "unsupported binary context version",
        ));
    }
    let Some(&[hi, lo]) = bytes.get(BINARY_LEN..BINARY_LEN + 2) else {
        return Err(ExtractError::Malformed("binary trace state length missing"));
    };
    let end = BINARY_LEN + 2 + usize::from(u16::from_be_bytes([hi, lo]));
    let Some(text) = bytes.get(BINARY_LEN + 2..end) else {
        return Err(ExtractError::Malformed(
            "binary trace state runs past the end",
        ));
    };
    ctx.trace_state = std::str::from_utf8(text)
        .ok()
        .and_then(TraceState::parse)
        .unwrap_or_default();
    Ok((ctx, end))
}
