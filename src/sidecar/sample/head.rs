//! Head decisions: OpenTelemetry consistent probability sampling and the
//! parent-based rule.
//!
//! The randomness `R` of a trace is the 56-bit `rv` value of its `ot`
//! tracestate entry when present (14 hex digits), otherwise the trace id's
//! rightmost 7 bytes. A ratio `p` becomes the rejection threshold
//! `T = round((1 - p) · 2^56)`; the trace is kept iff `R >= T`. `R` and `T`
//! depend only on the trace and the ratio, so every sidecar given the same
//! ratio keeps the same traces, and a sidecar with a higher ratio keeps a
//! superset of what one with a lower ratio keeps.

use ringside::record::Record;

/// 2^56: the randomness space, and the threshold that rejects everything.
pub const RANDOMNESS_SPACE: u64 = 1 << 56;

/// The rejection threshold for keeping a fraction `ratio` (clamped to 0..=1).
/// Computed as `2^56 - round(ratio · 2^56)`: scaling by a power of two is
/// exact in `f64`, so the result is the exact rounding of `(1 - ratio) · 2^56`
/// (10% gives `e6666666666666`, the specification's example).
pub fn threshold(ratio: f64) -> u64 {
    let ratio = if ratio.is_nan() {
        0.0
    } else {
        ratio.clamp(0.0, 1.0)
    };
    let kept = (ratio * RANDOMNESS_SPACE as f64).round() as u64;
    RANDOMNESS_SPACE - kept.min(RANDOMNESS_SPACE)
}

/// The trace's 56-bit randomness: `rv` from the `ot` tracestate entry if it
/// is well formed, else the rightmost 7 bytes of the trace id.
pub fn randomness(rec: &Record) -> u64 {
    let explicit = rec
        .trace_state_bytes()
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(explicit_randomness);
    if let Some(rv) = explicit {
        return rv;
    }
    let mut low = [0u8; 8];
    low[1..].copy_from_slice(&rec.trace_id[9..16]);
    u64::from_be_bytes(low)
}

/// `rv` of the `ot` member of a tracestate text: exactly 14 lowercase hex
/// digits, as the specification requires; anything else is ignored.
pub fn explicit_randomness(trace_state: &str) -> Option<u64> {
    let ot = trace_state
        .split(',')
        .filter_map(|m| m.trim().split_once('='))
        .find(|&(k, _)| k == "ot")?
        .1;
    let rv = ot
        .split(';')
        .filter_map(|kv| kv.split_once(':'))
        .find(|&(k, _)| k == "rv")?
        .1;
    if rv.len() != 14
        || !rv
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    {
        return None;
    }
    u64::from_str_radix(rv, 16).ok()
}

/// What the head sampler says about one span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadVerdict {
    /// Kept by the ratio.
    RatioKeep,
    /// Dropped by the ratio.
    RatioDrop,
    /// Kept because an upstream process sampled the trace.
    ParentSampled,
    /// Dropped because an upstream process did not sample the trace.
    ParentNotSampled,
}

impl HeadVerdict {
    /// Whether the span is kept.
    pub fn keep(self) -> bool {
        matches!(self, HeadVerdict::RatioKeep | HeadVerdict::ParentSampled)
    }
}

/// The head rule for one record.
///
/// With `parent_based`: a span whose trace flags say "not sampled" is
/// dropped (writers give local roots the sampled flag and children inherit
/// their parent's, so an unsampled flag always comes from upstream, and every
/// local span below that remote parent carries it too); a span with a remote,
/// sampled parent is kept. Every other span (local roots and local children)
/// is decided by the ratio on its trace id, so all of them agree.
pub fn decide(rec: &Record, threshold: u64, parent_based: bool) -> HeadVerdict {
    const SAMPLED: u8 = 0x01;
    if parent_based {
        if rec.trace_flags & SAMPLED == 0 {
            return HeadVerdict::ParentNotSampled;
        }
        if rec.flags & Record::FLAG_PARENT_REMOTE != 0 {
            return HeadVerdict::ParentSampled;
        }
    }
    if threshold == 0 || randomness(rec) >= threshold {
        HeadVerdict::RatioKeep
    } else {
        HeadVerdict::RatioDrop
    }
}
