//! The sample stage: decides which spans leave the node.
//!
//! Rules, in order, for every span:
//!
//! 1. **Head** ([`head`]): with `parent_based`, a span whose trace flags say
//!    "not sampled" (an upstream process dropped the trace) is dropped, and a
//!    span with a remote parent that sampled it is kept. Every other span is
//!    decided by OpenTelemetry consistent probability sampling on its trace
//!    id (or the `rv` of its `ot` tracestate entry): the same on every node.
//! 2. **Rate limit** ([`rate`]): a span the head (or a tail rule) keeps takes a
//!    token from its service's bucket; without one it is dropped
//!    (`rate_limited`).
//! 3. **Tail** ([`tail`], when enabled): a span the head drops waits in a
//!    bounded buffer keyed by trace id. A trace with an error span
//!    (`keep_errors`) or a span at least `slower_than_ms` long is kept: its
//!    held spans come out of [`Sampler::release`], and its later spans pass
//!    until its window (`window_ms` from its first span) ends. A trace whose
//!    window ends without a match is dropped (`tail_expired`); when the buffer
//!    is full the oldest trace is decided early and dropped
//!    (`tail_buffer_full`). Held spans released by a match do not take rate
//!    tokens: the buffer already bounds them.
//!
//! # Decisions commit only with the spool append
//!
//! The poll loop samples a drained batch, then appends what is kept to the
//! spool. If that append fails (disk full), the ring is read again later and
//! the same records are sampled again. So [`Sampler::stage`] decides without
//! changing the sampler's state for good: counters and the service's rate
//! bucket are saved, and spans for the tail buffer are only noted (what the
//! buffer would answer is read from it as it stands, plus what earlier spans
//! of the same batch matched). [`Sampler::commit`] then offers the noted
//! spans to the tail buffer; [`Sampler::abort`] puts counters and tokens
//! back. A batch sampled, aborted and sampled again is counted once and
//! leaves no duplicate in the tail buffer.
//!
//! # What tail rules cannot see
//!
//! Only this node's spans. A trace whose error or slow span happened in a
//! process on another node is decided here without it: this node's part of
//! that trace is dropped unless the head kept it. A trace whose spans reach
//! the sidecar more than `window_ms` apart is decided again per window: spans
//! after the window of a kept trace start a new window and are kept only if
//! they match themselves or a later span of the trace does. The rules judge
//! finished spans; a span still running on the writer's side is unseen.
//!
//! # Known gap of the parent-based rule
//!
//! A record does not say whether its local ancestor had a remote parent, so
//! the local children of a span kept by the parent-based rule (sampled
//! upstream) are decided by the ratio. With ratio 1.0 (the default) or with
//! upstreams sampling at the same ratio this does not split traces.

pub mod head;
pub mod rate;
pub mod tail;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::batch::{Resource, SpanBatch};
use crate::sidecar::config::SamplingConfig;
use head::HeadVerdict;
use rate::{RateLimits, TokenBucket};
use ringside::record::Record;
use tail::TailBuffer;

/// Why a span was kept or dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The consistent probability sampler (kept or dropped by ratio).
    HeadRatio = 0,
    /// An upstream process sampled the trace.
    ParentSampled = 1,
    /// An upstream process did not sample the trace.
    ParentNotSampled = 2,
    /// The service's rate limit was reached.
    RateLimited = 3,
    /// The trace has an error span.
    TailError = 4,
    /// The trace has a slow span.
    TailSlow = 5,
    /// The tail window ended without a match.
    TailExpired = 6,
    /// The tail buffer was full and the trace was decided early.
    TailBufferFull = 7,
}

impl Reason {
    /// Every reason, in counter order.
    pub const ALL: [Reason; 8] = [
        Reason::HeadRatio,
        Reason::ParentSampled,
        Reason::ParentNotSampled,
        Reason::RateLimited,
        Reason::TailError,
        Reason::TailSlow,
        Reason::TailExpired,
        Reason::TailBufferFull,
    ];

    /// The name used in metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::HeadRatio => "head_ratio",
            Reason::ParentSampled => "parent_sampled",
            Reason::ParentNotSampled => "parent_not_sampled",
            Reason::RateLimited => "rate_limited",
            Reason::TailError => "tail_error",
            Reason::TailSlow => "tail_slow",
            Reason::TailExpired => "tail_expired",
            Reason::TailBufferFull => "tail_buffer_full",
        }
    }
}

/// Span counts by decision and reason, indexed by `Reason as usize`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Spans kept, by reason.
    pub kept: [u64; 8],
    /// Spans dropped, by reason.
    pub dropped: [u64; 8],
}

/// What [`Sampler::stats`] reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SamplerStats {
    /// Cumulative decisions.
    pub counts: Counters,
    /// Traces in the tail buffer now.
    pub tail_traces: usize,
    /// Spans in the tail buffer now.
    pub tail_spans: usize,
}

impl SamplerStats {
    /// Spans kept for `reason`.
    pub fn kept(&self, reason: Reason) -> u64 {
        self.counts.kept[reason as usize]
    }
    /// Spans dropped for `reason`.
    pub fn dropped(&self, reason: Reason) -> u64 {
        self.counts.dropped[reason as usize]
    }
    /// Spans kept, all reasons.
    pub fn kept_total(&self) -> u64 {
        self.counts.kept.iter().sum()
    }
    /// Spans dropped, all reasons.
    pub fn dropped_total(&self) -> u64 {
        self.counts.dropped.iter().sum()
    }
}

/// The sample stage. See the module documentation for the rules.
#[derive(Debug)]
pub struct Sampler {
    /// Rejection threshold of the head ratio (see [`head::threshold`]).
    threshold: u64,
    parent_based: bool,
    rates: RateLimits,
    /// `None` when tail rules are off.
    tail: Option<TailBuffer>,
    /// Spans of kept traces left over when the tail rules were turned off.
    orphans: Vec<SpanBatch>,
    counts: Counters,
    /// The decision of the last [`Sampler::stage`], until commit or abort.
    staged: Option<Staged>,
    /// Spans for the tail buffer noted by `stage`, in order, with the reason
    /// they passed for (`None`: to be held). Reused.
    offers: Vec<(Record, Option<Reason>)>,
    /// Traces a span of the batch being staged matched a tail rule for. Reused.
    kept_in_batch: HashMap<[u8; 16], Reason>,
}

/// What [`Sampler::abort`] restores.
#[derive(Debug)]
struct Staged {
    resource: Arc<Resource>,
    now: Instant,
    counts: Counters,
    bucket: Option<TokenBucket>,
}

impl Sampler {
    /// A sampler with `cfg`'s rules.
    pub fn new(cfg: &SamplingConfig) -> Sampler {
        Sampler {
            threshold: head::threshold(cfg.ratio),
            parent_based: cfg.parent_based,
            rates: RateLimits::new(cfg.rate_limit, cfg.rate_burst),
            tail: cfg.tail.enabled.then(|| TailBuffer::new(&cfg.tail)),
            orphans: Vec::new(),
            counts: Counters::default(),
            staged: None,
            offers: Vec::new(),
            kept_in_batch: HashMap::new(),
        }
    }

    /// Filters `batch` in place: keeps what is decided "keep" now, removes
    /// what is dropped, and moves spans awaiting a tail decision into the
    /// bounded tail buffer. `now` drives the rate limit and tail windows.
    /// The same as [`stage`](Self::stage) then [`commit`](Self::commit).
    pub fn sample(&mut self, batch: &mut SpanBatch, now: Instant) {
        self.stage(batch, now);
        self.commit();
    }

    /// Filters `batch` in place like [`sample`](Self::sample), but keeps the
    /// decision open: [`commit`](Self::commit) once the kept spans are
    /// stored, or [`abort`](Self::abort) when storing them failed and the
    /// batch will be offered again. A stage left open is committed by the
    /// next one.
    pub fn stage(&mut self, batch: &mut SpanBatch, now: Instant) {
        self.commit();
        let resource = batch.resource.clone();
        self.staged = Some(Staged {
            resource: resource.clone(),
            now,
            counts: self.counts.clone(),
            bucket: self.rates.save(&resource.service),
        });
        let Sampler {
            threshold,
            parent_based,
            rates,
            tail,
            counts,
            offers,
            kept_in_batch,
            ..
        } = self;
        kept_in_batch.clear();
        let mut limiter = rates.limiter(&resource.service, now);
        batch.records.retain(|rec: &Record| {
            let verdict = head::decide(rec, *threshold, *parent_based);
            let reason = match verdict {
                HeadVerdict::RatioKeep | HeadVerdict::RatioDrop => Reason::HeadRatio,
                HeadVerdict::ParentSampled => Reason::ParentSampled,
                HeadVerdict::ParentNotSampled => Reason::ParentNotSampled,
            };
            let reason = if verdict.keep() {
                reason
            } else {
                let Some(tail) = tail.as_ref() else {
                    counts.dropped[reason as usize] += 1;
                    return false;
                };
                let passed = kept_in_batch
                    .get(&rec.trace_id)
                    .copied()
                    .or_else(|| tail.verdict(rec, now));
                offers.push((*rec, passed));
                match passed {
                    Some(tail_reason) => {
                        kept_in_batch.entry(rec.trace_id).or_insert(tail_reason);
                        tail_reason
                    }
                    None => return false,
                }
            };
            if limiter.as_mut().is_some_and(|l| !l.take(now)) {
                counts.dropped[Reason::RateLimited as usize] += 1;
                return false;
            }
            counts.kept[reason as usize] += 1;
            true
        });
    }

    /// Makes the last [`stage`](Self::stage) final: the spans it noted for
    /// the tail buffer are offered to it, in order.
    pub fn commit(&mut self) {
        let Some(staged) = self.staged.take() else {
            return;
        };
        if let Some(tail) = &mut self.tail {
            for (rec, passed) in self.offers.drain(..) {
                let verdict =
                    tail.offer(&rec, &staged.resource, staged.now, passed, &mut self.counts);
                debug_assert_eq!(
                    verdict.is_some(),
                    passed.is_some(),
                    "stage and commit disagree"
                );
            }
        }
        self.offers.clear();
    }

    /// Undoes the last [`stage`](Self::stage): counters and the service's
    /// rate tokens go back to what they were, and nothing reaches the tail
    /// buffer. The batch it filtered is to be discarded.
    pub fn abort(&mut self) {
        let Some(staged) = self.staged.take() else {
            return;
        };
        self.counts = staged.counts;
        self.rates.restore(&staged.resource.service, staged.bucket);
        self.offers.clear();
    }

    /// Ends the tail windows that are over at `now` (their held spans are
    /// dropped and counted) and appends the held spans of kept traces to
    /// `out`, one batch per resource.
    pub fn release(&mut self, now: Instant, out: &mut Vec<SpanBatch>) {
        self.commit();
        out.append(&mut self.orphans);
        if let Some(tail) = &mut self.tail {
            tail.expire(now, &mut self.counts);
            tail.take_ready(out);
        }
    }

    /// Counters so far and the tail buffer's fill.
    pub fn stats(&self) -> SamplerStats {
        let (tail_traces, tail_spans) = self.tail.as_ref().map_or((0, 0), |t| t.held());
        SamplerStats {
            counts: self.counts.clone(),
            tail_traces,
            tail_spans,
        }
    }

    /// Applies new settings (on SIGHUP). Counters, rate buckets and held
    /// traces carry over; turning the tail rules off drops what they held
    /// (counted as `tail_expired`), spans of already kept traces still come
    /// out of the next [`Sampler::release`].
    pub fn reconfigure(&mut self, cfg: &SamplingConfig) {
        self.commit();
        self.threshold = head::threshold(cfg.ratio);
        self.parent_based = cfg.parent_based;
        self.rates.set(cfg.rate_limit, cfg.rate_burst);
        match (&mut self.tail, cfg.tail.enabled) {
            (Some(t), true) => t.set(&cfg.tail),
            (None, true) => self.tail = Some(TailBuffer::new(&cfg.tail)),
            (Some(t), false) => {
                t.clear(&mut self.counts);
                t.take_ready(&mut self.orphans);
                self.tail = None;
            }
            (None, false) => {}
        }
    }
}

#[cfg(test)]
mod tests;
