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

mod binary;
mod text;
mod tracestate;

use std::fmt;

use super::context::{SpanContext, TraceFlags};

pub use binary::{
    BINARY_LEN, from_binary, from_binary_with_state, to_binary, to_binary_with_state,
};
pub use text::{extract, format_traceparent, inject, traceparent};

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

#[cfg(test)]
mod tests;
