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
mod tests {
    use super::*;

    const TP: &str = "00-12345678901234567890123456789012-1234567890123456-01";
    const TRACE_HEX: &str = "12345678901234567890123456789012";
    const SPAN_HEX: &str = "1234567890123456";

    fn tp(header: &str) -> Result<SpanContext, ExtractError> {
        extract(Some(header), None)
    }

    fn ok(header: &str) -> SpanContext {
        match tp(header) {
            Ok(ctx) => ctx,
            Err(e) => panic!("{header:?} should parse, got {e}"),
        }
    }

    fn malformed(header: &str) {
        assert!(
            matches!(tp(header), Err(ExtractError::Malformed(_))),
            "{header:?} should be malformed: {:?}",
            tp(header)
        );
    }

    fn state(header: &str) -> TraceState {
        extract(Some(TP), Some(header)).unwrap().trace_state
    }

    fn sample_ctx() -> SpanContext {
        SpanContext {
            trace_id: TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            span_id: SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            flags: TraceFlags(0x03),
            is_remote: false,
            trace_state: TraceState::parse("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE").unwrap(),
        }
    }

    // ---- traceparent -------------------------------------------------------

    #[test]
    fn valid_traceparent_parses_as_remote() {
        let ctx = ok(TP);
        assert_eq!(ctx.trace_id.to_hex(), TRACE_HEX);
        assert_eq!(ctx.span_id.to_hex(), SPAN_HEX);
        assert_eq!(ctx.flags, TraceFlags(0x01));
        assert!(ctx.is_remote);
        assert!(ctx.trace_state.is_empty());
        assert!(
            !ok("00-12345678901234567890123456789012-1234567890123456-00")
                .flags
                .is_sampled()
        );
    }

    #[test]
    fn missing_or_blank_traceparent_is_missing() {
        assert_eq!(extract(None, None), Err(ExtractError::Missing));
        assert_eq!(tp(""), Err(ExtractError::Missing));
        assert_eq!(tp(" \t "), Err(ExtractError::Missing));
    }

    #[test]
    fn tracestate_without_traceparent_is_ignored() {
        assert_eq!(extract(None, Some("foo=1")), Err(ExtractError::Missing));
    }

    #[test]
    fn traceparent_leading_and_trailing_whitespace_is_ignored() {
        for h in [
            " 00-12345678901234567890123456789012-1234567890123456-01",
            "\t00-12345678901234567890123456789012-1234567890123456-01",
            "00-12345678901234567890123456789012-1234567890123456-01 ",
            "00-12345678901234567890123456789012-1234567890123456-01\t",
            "\t 00-12345678901234567890123456789012-1234567890123456-01 \t",
        ] {
            assert_eq!(ok(h).trace_id.to_hex(), TRACE_HEX, "{h:?}");
        }
        // Only space and tab are optional whitespace.
        malformed("\n00-12345678901234567890123456789012-1234567890123456-01");
        malformed("00-12345678901234567890123456789012-1234567890123456-01\r\n");
    }

    #[test]
    fn version_ff_is_invalid() {
        assert_eq!(
            tp("ff-12345678901234567890123456789012-1234567890123456-01"),
            Err(ExtractError::VersionFF)
        );
        assert_eq!(
            tp("ff-12345678901234567890123456789012-1234567890123456-01-x"),
            Err(ExtractError::VersionFF)
        );
    }

    #[test]
    fn version_illegal_characters_is_invalid() {
        malformed(".0-12345678901234567890123456789012-1234567890123456-01");
        malformed("0.-12345678901234567890123456789012-1234567890123456-01");
        malformed("0g-12345678901234567890123456789012-1234567890123456-01");
    }

    #[test]
    fn version_too_long_or_too_short_is_invalid() {
        malformed("000-12345678901234567890123456789012-1234567890123456-01");
        malformed("0000-12345678901234567890123456789012-1234567890123456-01");
        malformed("0-12345678901234567890123456789012-1234567890123456-01");
        malformed("00");
        malformed("00-");
    }

    #[test]
    fn uppercase_version_is_invalid() {
        malformed("CC-12345678901234567890123456789012-1234567890123456-01");
        malformed("0A-12345678901234567890123456789012-1234567890123456-01");
    }

    #[test]
    fn uppercase_trace_id_is_invalid() {
        malformed("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01");
        malformed("00-4bf92f3577b34da6a3ce929d0e0e473A-00f067aa0ba902b7-01");
        assert!(tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_ok());
    }

    #[test]
    fn uppercase_parent_id_is_invalid() {
        malformed("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01");
    }

    #[test]
    fn uppercase_flags_are_invalid() {
        malformed("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A");
    }

    #[test]
    fn version_00_with_extra_fields_is_invalid() {
        malformed("00-12345678901234567890123456789012-1234567890123456-01.");
        malformed(
            "00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
        );
        malformed("00-12345678901234567890123456789012-1234567890123456-01-");
    }

    #[test]
    fn higher_version_parses() {
        let ctx = ok("cc-12345678901234567890123456789012-1234567890123456-01");
        assert_eq!(ctx.trace_id.to_hex(), TRACE_HEX);
        assert_eq!(ctx.span_id.to_hex(), SPAN_HEX);
        assert!(ctx.flags.is_sampled());
        assert!(tp("01-12345678901234567890123456789012-1234567890123456-01").is_ok());
        assert!(tp("fe-12345678901234567890123456789012-1234567890123456-01").is_ok());
    }

    #[test]
    fn higher_version_with_extra_fields_parses() {
        let ctx = ok(
            "cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
        );
        assert_eq!(ctx.trace_id.to_hex(), TRACE_HEX);
        assert!(tp("cc-12345678901234567890123456789012-1234567890123456-01-").is_ok());
        // Unknown fields are not examined.
        assert!(tp("cc-12345678901234567890123456789012-1234567890123456-01-XYZ-é").is_ok());
    }

    #[test]
    fn higher_version_without_dash_after_flags_is_invalid() {
        malformed(
            "cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like",
        );
        malformed("cc-12345678901234567890123456789012-1234567890123456-012");
    }

    #[test]
    fn higher_version_shorter_than_55_is_invalid() {
        malformed("cc-12345678901234567890123456789012-1234567890123456-1");
        malformed("cc-12345678901234567890123456789012-1234567890123456");
    }

    #[test]
    fn higher_version_keeps_only_known_flags() {
        assert_eq!(
            ok("cc-12345678901234567890123456789012-1234567890123456-ff").flags,
            TraceFlags(0x03)
        );
        assert_eq!(
            ok("cc-12345678901234567890123456789012-1234567890123456-fc-x").flags,
            TraceFlags(0x00)
        );
    }

    #[test]
    fn version_00_keeps_unknown_flag_bits_raw() {
        let ctx = ok("00-12345678901234567890123456789012-1234567890123456-ff");
        assert_eq!(ctx.flags, TraceFlags(0xff));
        assert!(ctx.flags.is_sampled() && ctx.flags.is_random());
        let ctx = ok("00-12345678901234567890123456789012-1234567890123456-08");
        assert!(!ctx.flags.is_sampled() && !ctx.flags.is_random());
        // Re-emitted unchanged (pass-through).
        assert_eq!(
            traceparent(&ctx),
            "00-12345678901234567890123456789012-1234567890123456-08"
        );
    }

    #[test]
    fn trace_id_all_zero_is_invalid() {
        assert_eq!(
            tp("00-00000000000000000000000000000000-1234567890123456-01"),
            Err(ExtractError::ZeroTraceId)
        );
        assert_eq!(
            tp("cc-00000000000000000000000000000000-1234567890123456-01-x"),
            Err(ExtractError::ZeroTraceId)
        );
    }

    #[test]
    fn parent_id_all_zero_is_invalid() {
        assert_eq!(
            tp("00-12345678901234567890123456789012-0000000000000000-01"),
            Err(ExtractError::ZeroSpanId)
        );
    }

    #[test]
    fn trace_id_illegal_characters_is_invalid() {
        malformed("00-.2345678901234567890123456789012-1234567890123456-01");
        malformed("00-1234567890123456789012345678901.-1234567890123456-01");
        malformed("00-1234567890123456789012345678901g-1234567890123456-01");
    }

    #[test]
    fn trace_id_wrong_length_is_invalid() {
        malformed("00-123456789012345678901234567890123-1234567890123456-01");
        malformed("00-1234567890123456789012345678901-1234567890123456-01");
    }

    #[test]
    fn parent_id_illegal_characters_is_invalid() {
        malformed("00-12345678901234567890123456789012-.234567890123456-01");
        malformed("00-12345678901234567890123456789012-123456789012345.-01");
    }

    #[test]
    fn parent_id_wrong_length_is_invalid() {
        malformed("00-12345678901234567890123456789012-12345678901234567-01");
        malformed("00-12345678901234567890123456789012-123456789012345-01");
    }

    #[test]
    fn flags_illegal_characters_is_invalid() {
        malformed("00-12345678901234567890123456789012-1234567890123456-.0");
        malformed("00-12345678901234567890123456789012-1234567890123456-0.");
    }

    #[test]
    fn flags_wrong_length_is_invalid() {
        malformed("00-12345678901234567890123456789012-1234567890123456-001");
        malformed("00-12345678901234567890123456789012-1234567890123456-1");
    }

    #[test]
    fn wrong_delimiters_are_invalid() {
        malformed("00_12345678901234567890123456789012-1234567890123456-01");
        malformed("00-12345678901234567890123456789012_1234567890123456-01");
        malformed("00-12345678901234567890123456789012-1234567890123456_01");
    }

    #[test]
    fn duplicated_traceparent_joined_by_comma_is_invalid() {
        malformed(&format!("{TP},{TP}"));
        malformed(
            "cc-12345678901234567890123456789012-1234567890123456-01,cc-12345678901234567890123456789012-1234567890123456-01",
        );
    }

    #[test]
    fn non_ascii_traceparent_is_invalid() {
        // Multi-byte characters across every field boundary must not panic.
        malformed("00-1234567890123456789012345678901é-1234567890123456-01");
        malformed("é0-12345678901234567890123456789012-1234567890123456-01");
        malformed("00-12345678901234567890123456789012-123456789012345é-1");
        malformed("00-12345678901234567890123456789012-1234567890123456-é");
        malformed("cc-12345678901234567890123456789012-1234567890123456-01é");
    }

    // ---- tracestate parsing ---------------------------------------------------

    #[test]
    fn tracestate_is_kept_with_valid_traceparent() {
        let s = state("foo=1,bar=2");
        assert_eq!(s.get("foo"), Some("1"));
        assert_eq!(s.get("bar"), Some("2"));
        assert_eq!(s.as_str(), "foo=1,bar=2");
    }

    #[test]
    fn invalid_tracestate_keeps_valid_traceparent() {
        let ctx = extract(Some(TP), Some("foo=1,FOO=2")).unwrap();
        assert_eq!(ctx.trace_id.to_hex(), TRACE_HEX);
        assert!(ctx.trace_state.is_empty());
        let ctx = extract(Some(TP), Some("\u{0}garbage\u{ff}")).unwrap();
        assert!(ctx.trace_state.is_empty());
    }

    #[test]
    fn tracestate_empty_header_is_empty() {
        assert!(state("").is_empty());
        assert!(state(" \t ").is_empty());
        assert!(state(",, , \t,").is_empty());
        assert_eq!(TraceState::parse(""), Some(TraceState::EMPTY));
    }

    #[test]
    fn tracestate_empty_members_are_ignored() {
        assert_eq!(state("foo=1,,bar=2").as_str(), "foo=1,bar=2");
        assert_eq!(state(",foo=1, ,bar=2,").as_str(), "foo=1,bar=2");
        // Two header fields, one empty, joined as HTTP does.
        assert_eq!(state("foo=1,").as_str(), "foo=1");
        assert_eq!(state(",foo=1").as_str(), "foo=1");
    }

    #[test]
    fn tracestate_optional_whitespace_is_removed() {
        for h in [
            "foo=1 \t , \t bar=2, \t baz=3",
            "foo=1\t \t,\t \tbar=2,\t \tbaz=3",
        ] {
            assert_eq!(state(h).as_str(), "foo=1,bar=2,baz=3", "{h:?}");
        }
        for h in [" foo=1", "\tfoo=1", "foo=1 ", "foo=1\t", "\t foo=1 \t"] {
            assert_eq!(state(h).as_str(), "foo=1", "{h:?}");
        }
    }

    #[test]
    fn tracestate_multiple_headers_joined_keep_order() {
        let s = state("foo=1,bar=2,rojo=1,congo=2,baz=3");
        let keys: Vec<&str> = s.members().map(|(k, _)| k).collect();
        assert_eq!(keys, ["foo", "bar", "rojo", "congo", "baz"]);
    }

    #[test]
    fn tracestate_duplicate_keys_is_dropped() {
        assert!(state("foo=1,foo=1").is_empty());
        assert!(state("foo=1,foo=2").is_empty());
        assert!(state("foo=1,bar=2,foo=3").is_empty());
        assert!(state("a@b=1,a@b=2").is_empty());
        // Same tenant, different system: distinct keys.
        assert_eq!(state("a@b=1,a@c=2").members().count(), 2);
    }

    #[test]
    fn tracestate_32_members_is_kept() {
        let h: Vec<String> = (1..=32).map(|i| format!("bar{i:02}={i:02}")).collect();
        let s = state(&h.join(","));
        assert_eq!(s.members().count(), 32);
        assert_eq!(s.get("bar01"), Some("01"));
        // Empty members do not count towards the limit.
        let s = state(&format!("{},,,", h.join(",,")));
        assert_eq!(s.members().count(), 32);
    }

    #[test]
    fn tracestate_33_members_is_dropped() {
        let h: Vec<String> = (1..=33).map(|i| format!("bar{i:02}={i:02}")).collect();
        assert!(state(&h.join(",")).is_empty());
        assert_eq!(TraceState::parse(&h.join(",")), None);
    }

    #[test]
    fn tracestate_all_allowed_characters_are_kept() {
        let key: String = ('a'..='z').chain('0'..='9').chain("_-*/".chars()).collect();
        let key_with_vendor = format!("{key}@a-z0-9_-*/");
        let value: String = (0x20u8..=0x7e)
            .filter(|c| *c != b',' && *c != b'=')
            .map(char::from)
            .collect();
        let s = state(&format!("{key}={value}"));
        assert_eq!(s.get(&key), Some(value.as_str()));
        let s = state(&format!("{key_with_vendor}={value}"));
        assert_eq!(s.get(&key_with_vendor), Some(value.as_str()));
    }

    #[test]
    fn tracestate_key_illegal_characters_is_dropped() {
        for h in [
            "foo =1",
            "FOO=1",
            "foo.bar=1",
            "1foo=1",
            "_foo=1",
            "=1",
            "foo",
            "foo\t=1",
            "fé=1",
        ] {
            assert!(state(h).is_empty(), "{h:?}");
        }
    }

    #[test]
    fn tracestate_keys_with_at_parse() {
        let s = state("tenant@vendor=1,1tenant@v=2,a@b-c_d*e/f=3");
        assert_eq!(s.get("tenant@vendor"), Some("1"));
        assert_eq!(s.get("1tenant@v"), Some("2"));
        assert_eq!(s.get("a@b-c_d*e/f"), Some("3"));
    }

    #[test]
    fn tracestate_key_illegal_vendor_format_is_dropped() {
        for h in [
            "foo@=1,bar=2",
            "@foo=1,bar=2",
            "foo@@bar=1,bar=2",
            "foo@bar@baz=1,bar=2",
            "foo@1bar=1",
            "_foo@bar=1",
        ] {
            assert!(state(h).is_empty(), "{h:?}");
        }
    }

    #[test]
    fn tracestate_key_length_limits() {
        let z = |n| "z".repeat(n);
        assert_eq!(state(&format!("foo=1,{}=1", z(256))).get("foo"), Some("1"));
        assert!(state(&format!("foo=1,{}=1", z(257))).is_empty());
        assert_eq!(
            state(&format!("foo=1,{}@{}=1", "t".repeat(241), "v".repeat(14))).get("foo"),
            Some("1")
        );
        assert!(state(&format!("foo=1,{}@v=1", "t".repeat(242))).is_empty());
        assert!(state(&format!("foo=1,t@{}=1", "v".repeat(15))).is_empty());
    }

    #[test]
    fn tracestate_value_illegal_characters_is_dropped() {
        for h in [
            "foo=bar=baz",
            "foo=,bar=3",
            "foo=",
            "foo=a\tb",
            "foo=é",
            "foo=\u{7f}",
            "foo=\u{1}",
        ] {
            assert!(state(h).is_empty(), "{h:?}");
        }
    }

    #[test]
    fn tracestate_value_with_spaces_is_kept() {
        let s = state("foo=a b c,bar= lead,baz=trail  ");
        assert_eq!(s.get("foo"), Some("a b c"));
        // Leading spaces belong to the value; trailing ones are optional whitespace.
        assert_eq!(s.get("bar"), Some(" lead"));
        assert_eq!(s.get("baz"), Some("trail"));
        assert_eq!(s.as_str(), "foo=a b c,bar= lead,baz=trail");
    }

    #[test]
    fn tracestate_value_length_limits() {
        assert_eq!(
            state(&format!("foo={}", "v".repeat(256)))
                .get("foo")
                .map(str::len),
            Some(256)
        );
        assert!(state(&format!("foo={}", "v".repeat(257))).is_empty());
    }

    // ---- TraceState API -------------------------------------------------------

    #[test]
    fn get_missing_key_is_none() {
        assert_eq!(state("foo=1").get("bar"), None);
        assert_eq!(TraceState::EMPTY.get("foo"), None);
        assert_eq!(TraceState::EMPTY.members().count(), 0);
    }

    #[test]
    fn insert_new_entry_goes_first() {
        let s = TraceState::parse("congo=t61rcWkgMzE")
            .unwrap()
            .insert("rojo", "00f067aa0ba902b7")
            .unwrap();
        assert_eq!(s.as_str(), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
        assert_eq!(TraceState::EMPTY.insert("a", "1").unwrap().as_str(), "a=1");
    }

    #[test]
    fn insert_moves_updated_entry_to_front() {
        let s = TraceState::parse("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE").unwrap();
        let s = s.insert("congo", "ucfJifl5GOE").unwrap();
        assert_eq!(s.as_str(), "congo=ucfJifl5GOE,rojo=00f067aa0ba902b7");
    }

    #[test]
    fn insert_rejects_invalid_entries() {
        let s = TraceState::EMPTY;
        assert_eq!(s.insert("Foo", "1"), Err(TraceStateError::InvalidKey));
        assert_eq!(s.insert("", "1"), Err(TraceStateError::InvalidKey));
        assert_eq!(s.insert("a@", "1"), Err(TraceStateError::InvalidKey));
        assert_eq!(s.insert("foo", ""), Err(TraceStateError::InvalidValue));
        assert_eq!(s.insert("foo", "a,b"), Err(TraceStateError::InvalidValue));
        assert_eq!(s.insert("foo", "a=b"), Err(TraceStateError::InvalidValue));
        assert_eq!(
            s.insert("foo", "trailing "),
            Err(TraceStateError::InvalidValue)
        );
        assert!(s.insert("foo", " leading").is_ok());
    }

    #[test]
    fn insert_keeps_at_most_32_members() {
        let h: Vec<String> = (1..=32).map(|i| format!("k{i}={i}")).collect();
        let s = TraceState::parse(&h.join(","))
            .unwrap()
            .insert("new", "x")
            .unwrap();
        assert_eq!(s.members().count(), 32);
        assert_eq!(s.members().next(), Some(("new", "x")));
        assert_eq!(s.get("k32"), None);
        assert_eq!(s.get("k31"), Some("31"));
        // Updating an existing key of a full list drops nothing.
        let s = TraceState::parse(&h.join(","))
            .unwrap()
            .insert("k32", "y")
            .unwrap();
        assert_eq!(s.members().count(), 32);
        assert_eq!(s.get("k1"), Some("1"));
        assert_eq!(TraceState::parse(s.as_str()), Some(s));
    }

    #[test]
    fn remove_deletes_only_that_member() {
        let s = TraceState::parse("a=1,b=2,c=3").unwrap();
        assert_eq!(s.remove("b").as_str(), "a=1,c=3");
        assert_eq!(s.remove("a").remove("c").remove("b"), TraceState::EMPTY);
        assert_eq!(s.remove("zz"), s);
    }

    #[test]
    fn members_iterates_left_to_right() {
        let s = TraceState::parse("a=1, b= x ,c@d=3").unwrap();
        let m: Vec<(&str, &str)> = s.members().collect();
        assert_eq!(m, [("a", "1"), ("b", " x"), ("c@d", "3")]);
    }

    fn member(key: &str, len: usize) -> String {
        format!("{key}={}", "v".repeat(len - key.len() - 1))
    }

    #[test]
    fn truncation_is_noop_when_it_fits() {
        let s = TraceState::parse("a=1,b=2").unwrap();
        assert_eq!(s.truncated(7), s);
        assert_eq!(s.truncated(6).as_str(), "a=1");
        assert_eq!(s.truncated(0), TraceState::EMPTY);
    }

    #[test]
    fn truncation_removes_long_members_first() {
        // 100 + 200 + 100 + 150 + 100 + 4 commas = 654 > 512.
        let members = [
            member("a", 100),
            member("b", 200),
            member("c", 100),
            member("d", 150),
            member("e", 100),
        ];
        let s = TraceState::parse(&members.join(",")).unwrap();
        // Removing d (the last long one) gives 503: fits, b stays.
        let t = s.truncated(512);
        let keys: Vec<&str> = t.members().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "b", "c", "e"]);
        assert!(t.as_str().len() <= 512);
        // With a lower limit both long members go before any short one.
        let keys: Vec<String> = s
            .truncated(302)
            .members()
            .map(|(k, _)| k.to_owned())
            .collect();
        assert_eq!(keys, ["a", "c", "e"]);
    }

    #[test]
    fn truncation_then_removes_from_the_end() {
        let members = [
            member("a", 100),
            member("b", 200),
            member("c", 100),
            member("d", 100),
            member("e", 100),
        ];
        let s = TraceState::parse(&members.join(",")).unwrap();
        // Without b: 403 fits 420.
        let keys: Vec<String> = s
            .truncated(420)
            .members()
            .map(|(k, _)| k.to_owned())
            .collect();
        assert_eq!(keys, ["a", "c", "d", "e"]);
        // Without b and e: 302.
        let keys: Vec<String> = s
            .truncated(350)
            .members()
            .map(|(k, _)| k.to_owned())
            .collect();
        assert_eq!(keys, ["a", "c", "d"]);
    }

    // ---- formatting and injection -----------------------------------------------

    #[test]
    fn format_traceparent_writes_version_00() {
        let ctx = sample_ctx();
        let mut buf = [0u8; 55];
        assert_eq!(
            format_traceparent(&ctx, &mut buf),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03"
        );
        assert_eq!(
            traceparent(&ctx),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03"
        );
    }

    #[test]
    fn higher_version_is_emitted_as_version_00() {
        let ctx = ok("cc-12345678901234567890123456789012-1234567890123456-01-future");
        assert_eq!(traceparent(&ctx), TP);
    }

    #[test]
    fn extract_format_round_trip() {
        let ctx = sample_ctx();
        let mut headers = Vec::new();
        inject(&ctx, |k, v| headers.push((k, v.to_owned())));
        let back = extract(Some(&headers[0].1), Some(&headers[1].1)).unwrap();
        assert_eq!(
            SpanContext {
                is_remote: false,
                ..back
            },
            ctx
        );
    }

    #[test]
    fn inject_sets_both_headers() {
        let mut headers = Vec::new();
        inject(&sample_ctx(), |k, v| headers.push((k, v.to_owned())));
        assert_eq!(
            headers,
            [
                (
                    TRACEPARENT,
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03".to_owned()
                ),
                (
                    TRACESTATE,
                    "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn inject_omits_empty_tracestate() {
        let ctx = SpanContext {
            trace_state: TraceState::EMPTY,
            ..sample_ctx()
        };
        let mut names = Vec::new();
        inject(&ctx, |k, _| names.push(k));
        assert_eq!(names, [TRACEPARENT]);
    }

    #[test]
    fn inject_truncates_tracestate_to_512() {
        let members: Vec<String> = (0..10).map(|i| member(&format!("k{i}"), 60)).collect();
        let ctx = SpanContext {
            trace_state: TraceState::parse(&members.join(",")).unwrap(),
            ..sample_ctx()
        };
        let mut ts = None;
        inject(&ctx, |k, v| {
            if k == TRACESTATE {
                ts = Some(v.to_owned());
            }
        });
        let ts = ts.unwrap();
        assert!(ts.len() <= 512);
        assert_eq!(ts, members[..8].join(","));
    }

    #[test]
    fn inject_skips_invalid_context() {
        let mut called = false;
        inject(&SpanContext::default(), |_, _| called = true);
        assert!(!called);
    }

    // ---- child flags ------------------------------------------------------------

    #[test]
    fn child_flags_of_root_are_sampled_and_random() {
        assert_eq!(
            child_flags(None),
            TraceFlags(TraceFlags::SAMPLED | TraceFlags::RANDOM_TRACE_ID)
        );
        assert_eq!(
            child_flags(Some(&SpanContext::default())),
            child_flags(None)
        );
    }

    #[test]
    fn child_flags_inherit_sampled_from_parent() {
        let parent = ok("00-12345678901234567890123456789012-1234567890123456-00");
        assert!(!child_flags(Some(&parent)).is_sampled());
        let parent = ok("00-12345678901234567890123456789012-1234567890123456-01");
        assert!(child_flags(Some(&parent)).is_sampled());
    }

    #[test]
    fn child_flags_keep_remote_random_bit_as_received() {
        let parent = ok("00-12345678901234567890123456789012-1234567890123456-01");
        assert!(!child_flags(Some(&parent)).is_random());
        let parent = ok("00-12345678901234567890123456789012-1234567890123456-02");
        assert_eq!(
            child_flags(Some(&parent)),
            TraceFlags(TraceFlags::RANDOM_TRACE_ID)
        );
    }

    #[test]
    fn child_flags_clear_unknown_bits() {
        let parent = ok("00-12345678901234567890123456789012-1234567890123456-ff");
        assert_eq!(child_flags(Some(&parent)), TraceFlags(0x03));
    }

    // ---- binary -----------------------------------------------------------------

    #[test]
    fn binary_round_trip() {
        let ctx = sample_ctx();
        let back = from_binary(&to_binary(&ctx)).unwrap();
        assert_eq!(back.trace_id, ctx.trace_id);
        assert_eq!(back.span_id, ctx.span_id);
        assert_eq!(back.flags, ctx.flags);
        assert!(back.is_remote);
        assert!(back.trace_state.is_empty());
        let odd = SpanContext {
            flags: TraceFlags(0xfd),
            ..ctx
        };
        assert_eq!(
            from_binary(&to_binary(&odd)).unwrap().flags,
            TraceFlags(0xfd)
        );
    }

    #[test]
    fn binary_layout() {
        let b = to_binary(&sample_ctx());
        assert_eq!(b[0], 0);
        assert_eq!(
            b[1..17],
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736")
                .unwrap()
                .0
        );
        assert_eq!(b[17..25], SpanId::from_hex("00f067aa0ba902b7").unwrap().0);
        assert_eq!(b[25], 0x03);
    }

    #[test]
    fn binary_empty_is_missing_and_short_is_malformed() {
        assert_eq!(from_binary(&[]), Err(ExtractError::Missing));
        let b = to_binary(&sample_ctx());
        for n in 1..BINARY_LEN {
            assert!(
                matches!(from_binary(&b[..n]), Err(ExtractError::Malformed(_))),
                "{n}"
            );
        }
    }

    #[test]
    fn binary_version_0_with_trailing_bytes_is_invalid() {
        let mut b = to_binary(&sample_ctx()).to_vec();
        b.push(0);
        assert!(matches!(from_binary(&b), Err(ExtractError::Malformed(_))));
    }

    #[test]
    fn binary_future_version_ignores_trailing_bytes() {
        let mut b = to_binary(&SpanContext {
            flags: TraceFlags(0xff),
            ..sample_ctx()
        })
        .to_vec();
        b[0] = 7;
        b.extend_from_slice(b"future fields");
        let ctx = from_binary(&b).unwrap();
        assert_eq!(ctx.span_id, sample_ctx().span_id);
        assert_eq!(ctx.flags, TraceFlags(0x03));
        assert!(from_binary(&b[..BINARY_LEN]).is_ok());
    }

    #[test]
    fn binary_version_ff_is_invalid() {
        let mut b = to_binary(&sample_ctx());
        b[0] = 0xff;
        assert_eq!(from_binary(&b), Err(ExtractError::VersionFF));
        assert_eq!(from_binary(&[0xff]), Err(ExtractError::VersionFF));
    }

    #[test]
    fn binary_zero_ids_are_invalid() {
        let ctx = sample_ctx();
        let zt = SpanContext {
            trace_id: TraceId::INVALID,
            ..ctx.clone()
        };
        assert_eq!(from_binary(&to_binary(&zt)), Err(ExtractError::ZeroTraceId));
        let zs = SpanContext {
            span_id: SpanId::INVALID,
            ..ctx
        };
        assert_eq!(from_binary(&to_binary(&zs)), Err(ExtractError::ZeroSpanId));
    }

    #[test]
    fn binary_with_state_round_trip() {
        let ctx = sample_ctx();
        let mut buf = vec![0xaa];
        to_binary_with_state(&ctx, &mut buf);
        let len = buf.len() - 1;
        assert_eq!(len, BINARY_LEN + 2 + ctx.trace_state.as_str().len());
        buf.extend_from_slice(b"rest of frame");
        let (back, used) = from_binary_with_state(&buf[1..]).unwrap();
        assert_eq!(used, len);
        assert_eq!(
            SpanContext {
                is_remote: false,
                ..back
            },
            ctx
        );
        // Empty state: length 0.
        let mut buf = Vec::new();
        to_binary_with_state(
            &SpanContext {
                trace_state: TraceState::EMPTY,
                ..ctx
            },
            &mut buf,
        );
        assert_eq!(buf.len(), BINARY_LEN + 2);
        assert_eq!(buf[BINARY_LEN..], [0, 0]);
        assert_eq!(from_binary_with_state(&buf).unwrap().1, BINARY_LEN + 2);
    }

    #[test]
    fn binary_with_invalid_state_gives_empty_state() {
        let mut buf = to_binary(&sample_ctx()).to_vec();
        for text in [&b"FOO=1"[..], b"\xff\xfe", b"a=1,a=2"] {
            buf.truncate(BINARY_LEN);
            buf.extend_from_slice(&(text.len() as u16).to_be_bytes());
            buf.extend_from_slice(text);
            let (ctx, used) = from_binary_with_state(&buf).unwrap();
            assert!(ctx.trace_state.is_empty());
            assert_eq!(used, buf.len());
        }
    }

    #[test]
    fn binary_with_state_truncated_is_malformed() {
        let mut buf = Vec::new();
        to_binary_with_state(&sample_ctx(), &mut buf);
        for n in 1..buf.len() {
            assert!(
                matches!(
                    from_binary_with_state(&buf[..n]),
                    Err(ExtractError::Malformed(_))
                ),
                "{n}"
            );
        }
        assert_eq!(from_binary_with_state(&[]), Err(ExtractError::Missing));
    }

    #[test]
    fn binary_with_state_future_version_is_invalid() {
        let mut buf = Vec::new();
        to_binary_with_state(&sample_ctx(), &mut buf);
        buf[0] = 1;
        assert!(matches!(
            from_binary_with_state(&buf),
            Err(ExtractError::Malformed(_))
        ));
    }

    // ---- robustness ---------------------------------------------------------------

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// A byte chosen to be interesting for these parsers most of the time.
    fn pick_byte(rng: &mut XorShift) -> u8 {
        const INTERESTING: &[u8] = b"0123456789abcdefABCDEF-=,@ \t_*/.ff\x00\x7f\xc3\xa9\xff";
        if rng.below(4) == 0 {
            rng.next() as u8
        } else {
            INTERESTING[rng.below(INTERESTING.len())]
        }
    }

    fn mutate(rng: &mut XorShift, base: &[u8]) -> Vec<u8> {
        let mut b = base.to_vec();
        for _ in 0..1 + rng.below(3) {
            let i = rng.below(b.len() + 1);
            match rng.below(5) {
                0 if i < b.len() => b[i] = pick_byte(rng),
                1 => b.insert(i, pick_byte(rng)),
                2 if i < b.len() => {
                    b.remove(i);
                }
                3 => b.truncate(i),
                _ => b.extend((0..rng.below(8)).map(|_| pick_byte(rng))),
            }
        }
        b
    }

    #[test]
    fn extract_never_panics_on_random_input() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let bases: [&[u8]; 4] = [
            TP.as_bytes(),
            b"cc-12345678901234567890123456789012-1234567890123456-01-future",
            b"foo=1,bar=2, a@b= x ,k=v",
            b"",
        ];
        let mut parsed = 0;
        for round in 0..100_000 {
            let raw: Vec<u8> = if round % 3 == 0 {
                (0..rng.below(80)).map(|_| pick_byte(&mut rng)).collect()
            } else {
                let base = bases[rng.below(bases.len())];
                mutate(&mut rng, base)
            };
            let text = String::from_utf8_lossy(&raw);
            let state_raw = mutate(&mut rng, bases[2]);
            let state_text = String::from_utf8_lossy(&state_raw);
            if let Ok(ctx) = extract(Some(&text), Some(&state_text)) {
                parsed += 1;
                assert!(ctx.is_valid());
                // What parses re-parses to the same ids, and valid state survives.
                let mut headers = Vec::new();
                inject(&ctx, |k, v| headers.push((k, v.to_owned())));
                let state = headers.get(1).map(|(_, v)| v.as_str());
                let again = extract(Some(&headers[0].1), state).unwrap();
                assert_eq!((again.trace_id, again.span_id), (ctx.trace_id, ctx.span_id));
                assert_eq!(again.trace_state, ctx.trace_state.truncated(512));
                if text.trim_matches(is_ows).starts_with("00-") {
                    assert_eq!(headers[0].1, text.trim_matches(is_ows));
                }
            }
            if let Some(s) = TraceState::parse(&text) {
                assert_eq!(TraceState::parse(s.as_str()).as_ref(), Some(&s));
                let _ = s.truncated(rng.below(64));
            }
            let _ = from_binary(&raw);
            let _ = from_binary_with_state(&raw);
        }
        assert!(parsed > 1_000, "too few valid headers generated: {parsed}");
    }
}
