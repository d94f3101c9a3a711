//! W3C Trace Context (Level 2) propagation, and a compact binary context for
//! storage RPC frames.
//!
//! Text form: [`extract`] reads the `traceparent` and `tracestate` header values,
//! [`inject`] writes them. Parsing is strict (lowercase hex only, exact field
//! positions, forbidden version `ff`, all-zero ids refused) and never panics.
//!
//! Decisions where the specification leaves room:
//!
//! * Trace flags of a version `00` header are kept as the raw byte received,
//!   including bits this crate does not know; only [`TraceFlags::SAMPLED`] and
//!   [`TraceFlags::RANDOM_TRACE_ID`] have a meaning. A context formatted again
//!   without a new span id (a pass-through) is therefore re-emitted unchanged.
//!   New spans get their flags from [`child_flags`], which clears unknown bits as
//!   the specification requires.
//! * A header of a higher version (`01`..`fe`) is read by the forward-compatible
//!   rules and is always re-emitted as version `00`, so its flags are reduced to
//!   the two known bits at extraction: what other bits mean in that version is
//!   not known here, and in version `00` they are reserved and must be zero.
//! * `tracestate`: empty and whitespace-only members are ignored and do not count
//!   towards the limit of 32 members. A key that breaks the grammar, a value that
//!   breaks it (a value has 1 to 256 characters: the ABNF is
//!   `0*255(chr) nblk-chr`, so `foo=` is invalid, as the W3C test suite expects),
//!   a duplicate key or a 33rd member makes the whole `tracestate` invalid; it is
//!   then dropped (empty), and the `traceparent` stays valid.
//! * Several header fields of one name are combined by the caller as HTTP does
//!   (values joined with `,`). For `tracestate` that is the intended use; two
//!   `traceparent` fields joined that way never parse, so the trace restarts, as
//!   the W3C test suite expects.
//! * Binary form: see [`from_binary`] and [`from_binary_with_state`].

use std::fmt;

use super::context::{SpanContext, SpanId, TraceFlags, TraceId, TraceState, parse_lower_hex};

/// Name of the header carrying version, trace id, parent id and flags.
pub const TRACEPARENT: &str = "traceparent";
/// Name of the header carrying vendor-specific trace state.
pub const TRACESTATE: &str = "tracestate";

/// Length of a version `00` `traceparent` value.
const TRACEPARENT_LEN: usize = 55;
/// Flag bits defined by Trace Context Level 2.
const KNOWN_FLAGS: u8 = TraceFlags::SAMPLED | TraceFlags::RANDOM_TRACE_ID;
/// Most list members a `tracestate` may hold.
const MAX_MEMBERS: usize = 32;
/// Length of `tracestate` that [`inject`] emits at most (the specification asks
/// vendors to propagate at least 512 characters).
const TRACESTATE_LIMIT: usize = 512;
/// Members longer than this are the first to go when truncating.
const LONG_MEMBER: usize = 128;

/// Why a trace context could not be extracted. Whatever the fault, the caller
/// should start a new trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExtractError {
    /// No context: the header (or binary field) is absent or blank.
    Missing,
    /// The value breaks the format; the text says where.
    Malformed(&'static str),
    /// Version `ff` (255), which the specification forbids.
    VersionFF,
    /// The trace id is all zero.
    ZeroTraceId,
    /// The parent (span) id is all zero.
    ZeroSpanId,
}

impl fmt::Display for ExtractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtractError::Missing => f.write_str("no trace context"),
            ExtractError::Malformed(why) => write!(f, "malformed trace context: {why}"),
            ExtractError::VersionFF => f.write_str("trace context version ff is forbidden"),
            ExtractError::ZeroTraceId => f.write_str("trace id is all zero"),
            ExtractError::ZeroSpanId => f.write_str("parent id is all zero"),
        }
    }
}

impl std::error::Error for ExtractError {}

/// Why [`TraceState::insert`] refused an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceStateError {
    /// The key breaks the `tracestate` key grammar.
    InvalidKey,
    /// The value breaks the `tracestate` value grammar.
    InvalidValue,
}

impl fmt::Display for TraceStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TraceStateError::InvalidKey => "invalid tracestate key",
            TraceStateError::InvalidValue => "invalid tracestate value",
        })
    }
}

impl std::error::Error for TraceStateError {}

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

fn is_ows(c: char) -> bool {
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

fn check_ids(trace_id: &[u8; 16], span_id: &[u8; 8]) -> Result<(), ExtractError> {
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

/// Flags for a new span whose parent is `parent`.
///
/// * Root span (no parent, or an invalid one, so the trace id is generated
///   here by [`TraceId::random`], all of whose bytes are random): sampled and
///   random-trace-id.
/// * Child span: the parent's sampled bit, and its random-trace-id bit as
///   received (the trace id is the parent's; for a remote parent the
///   specification requires passing that bit on unchanged).
///
/// Bits not defined by Trace Context Level 2 are always cleared, as the
/// specification requires of anyone setting flags.
pub fn child_flags(parent: Option<&SpanContext>) -> TraceFlags {
    match parent {
        Some(p) if p.is_valid() => TraceFlags(p.flags.0 & KNOWN_FLAGS),
        _ => TraceFlags(KNOWN_FLAGS),
    }
}

// ---------------------------------------------------------------------------
// tracestate

/// `lcalpha / DIGIT / "_" / "-" / "*" / "/"`
fn is_key_char(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-' | b'*' | b'/')
}

/// `first` then up to `max_rest` key characters.
fn key_part(s: &[u8], first: fn(u8) -> bool, max_rest: usize) -> bool {
    match s.split_first() {
        Some((&c, rest)) => {
            first(c) && rest.len() <= max_rest && rest.iter().all(|&c| is_key_char(c))
        }
        None => false,
    }
}

/// `simple-key / tenant-id "@" system-id`
fn valid_key(key: &str) -> bool {
    let lcalpha = |c: u8| c.is_ascii_lowercase();
    match key.split_once('@') {
        None => key_part(key.as_bytes(), lcalpha, 255),
        Some((tenant, system)) => {
            key_part(
                tenant.as_bytes(),
                |c| c.is_ascii_lowercase() || c.is_ascii_digit(),
                240,
            ) && key_part(system.as_bytes(), lcalpha, 13)
        }
    }
}

/// `0*255(chr) nblk-chr`, where `chr` is 0x20..=0x7E but `,` and `=`.
fn valid_value(value: &str) -> bool {
    let b = value.as_bytes();
    (1..=256).contains(&b.len())
        && b.iter()
            .all(|&c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
        && b.last() != Some(&b' ')
}

/// Header length of `members` joined by commas.
fn joined_len(members: &[&str]) -> usize {
    members.iter().map(|m| m.len()).sum::<usize>() + members.len().saturating_sub(1)
}

impl TraceState {
    /// Parses a `tracestate` header value (several fields joined by `,`).
    /// Returns `None` if it is invalid: a member breaking the grammar, a
    /// duplicate key or more than 32 members. Empty and whitespace-only members
    /// are ignored; an empty or blank header is the empty state. The state keeps
    /// the members joined by `,` without optional whitespace.
    pub fn parse(header: &str) -> Option<TraceState> {
        let mut members: Vec<(&str, &str)> = Vec::new();
        for raw in header.split(',') {
            let member = raw.trim_matches(is_ows);
            if member.is_empty() {
                continue;
            }
            let (key, value) = member.split_once('=')?;
            if members.len() == MAX_MEMBERS
                || !valid_key(key)
                || !valid_value(value)
                || members.iter().any(|&(k, _)| k == key)
            {
                return None;
            }
            members.push((key, value));
        }
        let mut text = String::with_capacity(header.len());
        for (i, (key, value)) in members.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push_str(key);
            text.push('=');
            text.push_str(value);
        }
        Some(TraceState::from_validated(&text))
    }

    /// The (key, value) members, leftmost (most recent) first.
    pub fn members(&self) -> impl Iterator<Item = (&str, &str)> {
        self.as_str().split(',').filter_map(|m| m.split_once('='))
    }

    /// The value for `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.members().find(|&(k, _)| k == key).map(|(_, v)| v)
    }

    /// A copy with `key` set to `value`. The entry goes to the front (left), as
    /// the specification requires for new and updated entries; any previous
    /// entry for `key` is removed, and members beyond 32 are dropped from the
    /// end.
    pub fn insert(&self, key: &str, value: &str) -> Result<TraceState, TraceStateError> {
        if !valid_key(key) {
            return Err(TraceStateError::InvalidKey);
        }
        if !valid_value(value) {
            return Err(TraceStateError::InvalidValue);
        }
        let mut text = String::with_capacity(key.len() + value.len() + 2 + self.as_str().len());
        text.push_str(key);
        text.push('=');
        text.push_str(value);
        for (k, v) in self
            .members()
            .filter(|&(k, _)| k != key)
            .take(MAX_MEMBERS - 1)
        {
            text.push(',');
            text.push_str(k);
            text.push('=');
            text.push_str(v);
        }
        Ok(TraceState::from_validated(&text))
    }

    /// A copy without the entry for `key` (the same state if there is none).
    pub fn remove(&self, key: &str) -> TraceState {
        if self.get(key).is_none() {
            return self.clone();
        }
        let kept: Vec<&str> = self
            .as_str()
            .split(',')
            .filter(|m| m.split_once('=').is_none_or(|(k, _)| k != key))
            .collect();
        TraceState::from_validated(&kept.join(","))
    }

    /// A copy whose header is at most `limit` characters, by the
    /// specification's rule: whole members are removed, first those longer than
    /// 128 characters starting from the end, then others from the end, until the
    /// rest fits. The same state if it already fits.
    pub fn truncated(&self, limit: usize) -> TraceState {
        let text = self.as_str();
        if text.len() <= limit {
            return self.clone();
        }
        let mut members: Vec<&str> = text.split(',').collect();
        let mut i = members.len();
        while i > 0 && joined_len(&members) > limit {
            i -= 1;
            if members[i].len() > LONG_MEMBER {
                members.remove(i);
            }
        }
        while joined_len(&members) > limit {
            members.pop();
        }
        TraceState::from_validated(&members.join(","))
    }
}

// ---------------------------------------------------------------------------
// binary form

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

#[cfg(test)]
mod tests;
