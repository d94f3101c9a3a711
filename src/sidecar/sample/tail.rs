//! Node-local tail rules: spans the head would drop wait here, grouped by
//! trace, until their trace shows an error or a slow span (kept) or its
//! window ends (dropped). Bounded in traces and in spans; when full, the
//! oldest trace is decided early (dropped, counted as `tail_buffer_full`).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Counters, Reason};
use crate::batch::{Resource, SpanBatch};
use crate::sidecar::config::TailConfig;
use ringside::record::{Record, StatusCode};

/// Most spans held at once over all traces (256 bytes each: 64 MiB).
pub const MAX_HELD_SPANS: usize = 1 << 18;

/// One trace in the buffer.
#[derive(Debug)]
struct Held {
    /// Matches the trace's entry in `TailBuffer::order`; stale entries differ.
    generation: u64,
    /// End of the trace's window (first span seen + window).
    deadline: Instant,
    /// `Some(reason)` once a rule matched: later spans pass until the deadline.
    kept: Option<Reason>,
    /// Spans waiting for a decision (empty once kept).
    spans: Vec<(Arc<Resource>, Record)>,
}

/// The tail buffer.
#[derive(Debug)]
pub struct TailBuffer {
    keep_errors: bool,
    /// Spans at least this long (ns) keep their trace; 0 = rule off.
    slower_than_ns: u64,
    window: Duration,
    max_traces: usize,
    max_spans: usize,
    traces: HashMap<[u8; 16], Held>,
    /// Traces in the order first seen (= deadline order while the window is
    /// unchanged), with the generation they were inserted with.
    order: VecDeque<([u8; 16], u64, Instant)>,
    next_generation: u64,
    /// Spans held over all traces.
    held_spans: usize,
    /// Spans of kept traces waiting for [`TailBuffer::take_ready`].
    ready: Vec<SpanBatch>,
}

impl TailBuffer {
    /// An empty buffer with `cfg`'s rules.
    pub fn new(cfg: &TailConfig) -> TailBuffer {
        let mut t = TailBuffer {
            keep_errors: false,
            slower_than_ns: 0,
            window: Duration::ZERO,
            max_traces: 1,
            max_spans: MAX_HELD_SPANS,
            traces: HashMap::new(),
            order: VecDeque::new(),
            next_generation: 0,
            held_spans: 0,
            ready: Vec::new(),
        };
        t.set(cfg);
        t
    }

    /// Changes the rules; held traces keep their deadlines (a shrunk buffer
    /// is cut down at the next insertion).
    pub fn set(&mut self, cfg: &TailConfig) {
        self.keep_errors = cfg.keep_errors;
        self.slower_than_ns = cfg.slower_than_ms.saturating_mul(1_000_000);
        self.window = Duration::from_millis(cfg.window_ms.max(1));
        self.max_traces = cfg.max_traces.max(1);
    }

    /// Sets the span cap (tests use small ones).
    #[cfg(test)]
    pub fn set_max_spans(&mut self, max_spans: usize) {
        self.max_spans = max_spans.max(1);
    }

    /// Traces and spans held.
    pub fn held(&self) -> (usize, usize) {
        (self.traces.len(), self.held_spans)
    }

    /// The rule `rec` matches by itself, if any.
    fn matches(&self, rec: &Record) -> Option<Reason> {
        if self.keep_errors && rec.status == StatusCode::Error as u8 {
            return Some(Reason::TailError);
        }
        if self.slower_than_ns > 0 && rec.end.saturating_sub(rec.start) >= self.slower_than_ns {
            return Some(Reason::TailSlow);
        }
        None
    }

    /// What [`offer`](Self::offer) would answer for `rec` now, without
    /// changing anything: `Some(reason)` when its trace is kept (window not
    /// over) or the span matches a rule itself.
    pub fn verdict(&self, rec: &Record, now: Instant) -> Option<Reason> {
        let kept = self
            .traces
            .get(&rec.trace_id)
            .filter(|h| h.deadline > now)
            .and_then(|h| h.kept);
        kept.or_else(|| self.matches(rec))
    }

    /// Offers a span the head would drop. `Some(reason)`: its trace is kept,
    /// the span passes now. `None`: the span is held (or, when there is no
    /// room even after deciding older traces, dropped and counted).
    /// `passed` is the reason a span already let through was kept for (from
    /// [`verdict`](Self::verdict)): such a span keeps its trace and is never
    /// held.
    pub fn offer(
        &mut self,
        rec: &Record,
        resource: &Arc<Resource>,
        now: Instant,
        passed: Option<Reason>,
        counts: &mut Counters,
    ) -> Option<Reason> {
        let id = rec.trace_id;
        if self.traces.get(&id).is_some_and(|h| h.deadline <= now) {
            self.finish(id, Reason::TailExpired, counts);
        }
        let matched = self.matches(rec).or(passed);
        if let Some(held) = self.traces.get_mut(&id) {
            if let Some(reason) = held.kept {
                return Some(reason);
            }
            if let Some(reason) = matched {
                held.kept = Some(reason);
                let spans = std::mem::take(&mut held.spans);
                self.held_spans -= spans.len();
                counts.kept[reason as usize] += spans.len() as u64;
                for (res, rec) in spans {
                    push_grouped(&mut self.ready, res, rec);
                }
                return Some(reason);
            }
            if self.held_spans >= self.max_spans {
                self.evict_oldest_except(id, counts);
            }
            if self.held_spans >= self.max_spans {
                counts.dropped[Reason::TailBufferFull as usize] += 1;
                return None;
            }
            self.traces
                .get_mut(&id)
                .expect("present above")
                .spans
                .push((resource.clone(), *rec));
            self.held_spans += 1;
            return None;
        }
        while self.traces.len() >= self.max_traces
            || (matched.is_none() && self.held_spans >= self.max_spans)
        {
            if !self.evict_oldest_except(id, counts) {
                break;
            }
        }
        let generation = self.next_generation;
        self.next_generation += 1;
        let deadline = now + self.window;
        let spans = if matched.is_some() {
            Vec::new()
        } else {
            vec![(resource.clone(), *rec)]
        };
        self.held_spans += spans.len();
        self.traces.insert(
            id,
            Held {
                generation,
                deadline,
                kept: matched,
                spans,
            },
        );
        self.order.push_back((id, generation, deadline));
        matched
    }

    /// Decides the oldest trace other than `except` early; false if there is
    /// none (or the oldest is `except`).
    fn evict_oldest_except(&mut self, except: [u8; 16], counts: &mut Counters) -> bool {
        while let Some(&(id, generation, _)) = self.order.front() {
            if self
                .traces
                .get(&id)
                .is_none_or(|h| h.generation != generation)
            {
                self.order.pop_front();
                continue;
            }
            if id == except {
                return false;
            }
            self.order.pop_front();
            self.finish(id, Reason::TailBufferFull, counts);
            return true;
        }
        false
    }

    /// Removes trace `id`; its held spans (if it was not kept) are dropped and
    /// counted under `reason`.
    fn finish(&mut self, id: [u8; 16], reason: Reason, counts: &mut Counters) {
        if let Some(held) = self.traces.remove(&id) {
            self.held_spans -= held.spans.len();
            counts.dropped[reason as usize] += held.spans.len() as u64;
        }
    }

    /// Ends every window that is over at `now`.
    pub fn expire(&mut self, now: Instant, counts: &mut Counters) {
        while let Some(&(id, generation, deadline)) = self.order.front() {
            let live = self
                .traces
                .get(&id)
                .is_some_and(|h| h.generation == generation);
            if live && deadline > now {
                break;
            }
            self.order.pop_front();
            if live {
                self.finish(id, Reason::TailExpired, counts);
            }
        }
    }

    /// Drops everything held (the rules were turned off), counted as expired.
    pub fn clear(&mut self, counts: &mut Counters) {
        for (_, held) in self.traces.drain() {
            counts.dropped[Reason::TailExpired as usize] += held.spans.len() as u64;
        }
        self.order.clear();
        self.held_spans = 0;
    }

    /// Moves out the spans of kept traces, grouped by resource.
    pub fn take_ready(&mut self, out: &mut Vec<SpanBatch>) {
        out.append(&mut self.ready);
    }
}

/// Appends `rec` to the batch of `resource` in `batches`, or a new one.
fn push_grouped(batches: &mut Vec<SpanBatch>, resource: Arc<Resource>, rec: Record) {
    match batches
        .iter_mut()
        .find(|b| Arc::ptr_eq(&b.resource, &resource))
    {
        Some(b) => b.records.push(rec),
        None => batches.push(SpanBatch {
            resource,
            records: vec![rec],
        }),
    }
}
