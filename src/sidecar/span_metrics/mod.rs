//! Span metrics stage: calls and a duration histogram per service, span name,
//! kind, status code and configured extra dimensions, computed from every
//! drained span *before* sampling, so counts are exact whatever the sampling
//! ratio. Spans that are kept afterwards leave exemplars (trace and span id)
//! in their histogram bucket.
//!
//! Memory is bounded by configuration: at most `max_series` series, each of
//! fixed size ([`series_bytes`]); spans of new series beyond the limit go to
//! one overflow series (`otel.metric.overflow="true"`) and are counted; series
//! not updated for `stale_after_s` are dropped. [`memory_bound`] states the
//! bound. Shown on `/metrics` ([`expose`]) and to `ringside top` ([`live`]).

pub mod histogram;
pub mod series;
pub mod expose;
pub mod live;
pub mod otlp;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::batch::SpanBatch;
pub use crate::sidecar::config::SpanMetricsConfig;
use histogram::{FINE_BUCKETS, Fine, Layout};
use series::Labels;

/// The most recent kept span seen in one bucket of a series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exemplar {
    /// Its trace.
    pub trace_id: [u8; 16],
    /// The span.
    pub span_id: [u8; 8],
    /// Its duration, ns.
    pub duration_ns: u64,
    /// When it ended, Unix ns.
    pub end_unix_ns: u64,
}

/// One series' state. Fixed size once created.
#[derive(Clone, Debug)]
pub struct Series {
    /// Durations, fine-grained (count and sum are the exact call count and total).
    pub fine: Fine,
    /// Classic bucket counts (not cumulative), [`Layout::len`] of them.
    pub classic: Box<[u64]>,
    /// Latest kept span per classic bucket.
    pub exemplars: Box<[Option<Exemplar>]>,
    /// When the series was created, Unix ns (OTLP's start time).
    pub start_unix_ns: u64,
    /// Seconds since the stage started when a span last came.
    last_seen_s: u64,
}

impl Series {
    fn new(layout: &Layout, now_s: u64) -> Series {
        Series {
            fine: Fine::default(),
            classic: vec![0; layout.len()].into_boxed_slice(),
            exemplars: vec![None; layout.len()].into_boxed_slice(),
            start_unix_ns: ringside::clock::unix_ns(),
            last_seen_s: now_s,
        }
    }
}

/// Counters of the stage itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageStats {
    /// Spans counted in the overflow series.
    pub overflow_spans: u64,
    /// Series dropped for staleness.
    pub stale_series: u64,
    /// Series now.
    pub series: usize,
    /// The configured limit.
    pub max_series: usize,
}

/// Bytes one series holds at most: its state, its key (service, name and
/// dimensions, each cut to [`series::MAX_PART`]) and its index entry.
pub fn series_bytes(config: &SpanMetricsConfig) -> usize {
    let buckets = config.buckets.len() + 1;
    let key = 2 + (2 + config.dimensions.len()) * (1 + series::MAX_PART);
    std::mem::size_of::<Series>()
        + FINE_BUCKETS * 8
        + buckets * (8 + std::mem::size_of::<Option<Exemplar>>())
        // Index entry: the boxed key's pointer and length, the slot number,
        // one control byte; tables grow by doubling, so up to twice that.
        + 2 * (std::mem::size_of::<(Box<[u8]>, u32)>() + 1)
        + key
}

/// The most memory the stage holds, in bytes: `max_series + 1` series (the
/// overflow series included) at [`series_bytes`] each. A scrape or a `top`
/// client copies what it renders, so each one in progress adds up to that
/// again while it runs.
pub fn memory_bound(config: &SpanMetricsConfig) -> usize {
    (config.max_series + 1) * series_bytes(config)
}

/// The stage.
#[derive(Debug)]
pub struct SpanMetrics {
    layout: Layout,
    dimensions: Vec<String>,
    max_series: usize,
    stale_after_s: u64,
    /// Series key → position in `series`. foldhash rather than SipHash:
    /// the lookup runs for every span, and keys are not chosen by a remote
    /// party (service names and span names come from local writers, and the
    /// series limit bounds what they can do).
    index: HashMap<Box<[u8]>, u32, foldhash::fast::RandomState>,
    series: Vec<Series>,
    overflow: Series,
    key: Vec<u8>,
    started: Instant,
    stats: StageStats,
}

impl SpanMetrics {
    /// A stage with `config`'s limits and buckets.
    pub fn new(config: &SpanMetricsConfig) -> SpanMetrics {
        let layout = Layout::new(&config.buckets);
        SpanMetrics {
            overflow: Series::new(&layout, 0),
            layout,
            dimensions: config.dimensions.clone(),
            max_series: config.max_series,
            stale_after_s: config.stale_after_s,
            index: HashMap::default(),
            series: Vec::new(),
            key: Vec::with_capacity(512),
            started: Instant::now(),
            stats: StageStats {
                max_series: config.max_series,
                ..StageStats::default()
            },
        }
    }

    /// The classic bucket layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The configured extra dimensions.
    pub fn dimensions(&self) -> &[String] {
        &self.dimensions
    }

    fn now_s(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// Counts every span of `batch` (call this before sampling).
    pub fn observe(&mut self, batch: &SpanBatch) {
        let now_s = self.now_s();
        for rec in &batch.records {
            if !series::pack(&mut self.key, &batch.resource, rec, &self.dimensions) {
                continue;
            }
            let ns = rec.end.saturating_sub(rec.start);
            let at = match self.index.get(self.key.as_slice()) {
                Some(&i) => Some(i as usize),
                None if self.series.len() < self.max_series => {
                    self.index
                        .insert(self.key.as_slice().into(), self.series.len() as u32);
                    self.series.push(Series::new(&self.layout, now_s));
                    Some(self.series.len() - 1)
                }
                None => None,
            };
            let s = match at {
                Some(i) => &mut self.series[i],
                None => {
                    self.stats.overflow_spans += 1;
                    &mut self.overflow
                }
            };
            s.fine.record(ns);
            s.classic[self.layout.index(ns)] += 1;
            s.last_seen_s = now_s;
        }
    }

    /// Leaves exemplars for the spans of `batch`, which the sampler kept
    /// (call this after sampling, and for spans the tail rules release).
    pub fn offer_kept(&mut self, batch: &SpanBatch) {
        for rec in &batch.records {
            if !series::pack(&mut self.key, &batch.resource, rec, &self.dimensions) {
                continue;
            }
            let ns = rec.end.saturating_sub(rec.start);
            let s = match self.index.get(self.key.as_slice()) {
                Some(&i) => &mut self.series[i as usize],
                None if self.overflow.fine.count > 0 => &mut self.overflow,
                None => continue,
            };
            s.exemplars[self.layout.index(ns)] = Some(Exemplar {
                trace_id: rec.trace_id,
                span_id: rec.span_id,
                duration_ns: ns,
                end_unix_ns: rec.end,
            });
        }
    }

    /// Drops the series that saw no span for `stale_after_s` before `now`.
    pub fn sweep(&mut self, now: Instant) {
        let now_s = now.saturating_duration_since(self.started).as_secs();
        let stale_after = self.stale_after_s;
        let keep: Vec<bool> = self
            .series
            .iter()
            .map(|s| now_s.saturating_sub(s.last_seen_s) < stale_after)
            .collect();
        if keep.iter().all(|k| *k) {
            return;
        }
        let mut moved = vec![u32::MAX; self.series.len()];
        let mut next = 0u32;
        for (i, k) in keep.iter().enumerate() {
            if *k {
                moved[i] = next;
                next += 1;
            }
        }
        let mut i = 0;
        self.series.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        self.index.retain(|_, at| {
            *at = moved[*at as usize];
            *at != u32::MAX
        });
        self.stats.stale_series += (keep.len() - self.series.len()) as u64;
        // Give back the memory of a burst of series that went away.
        if self.index.capacity() > 4 * self.index.len().max(64) {
            self.index.shrink_to_fit();
            self.series.shrink_to_fit();
        }
    }

    /// The stage's own counters.
    pub fn stats(&self) -> StageStats {
        StageStats {
            series: self.series.len(),
            ..self.stats
        }
    }

    /// Every series with its labels (`None` labels: the overflow series, shown
    /// only once it counted something).
    pub fn series(&self) -> impl Iterator<Item = (Option<Labels>, &Series)> {
        let named = self
            .index
            .iter()
            .filter_map(|(k, &i)| Some((Some(series::unpack(k)?), &self.series[i as usize])));
        let overflow = (self.overflow.fine.count > 0).then_some((None, &self.overflow));
        named.chain(overflow)
    }

    /// A copy of what `/metrics` shows, so rendering can happen without
    /// holding up the stage.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            layout: self.layout.clone(),
            dimensions: self.dimensions.clone(),
            series: self.series().map(|(l, s)| (l, s.clone())).collect(),
            stats: self.stats(),
        }
    }
}

/// A copy of the stage's series taken for one scrape.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The classic buckets.
    pub layout: Layout,
    /// Dimension keys.
    pub dimensions: Vec<String>,
    /// Labels (`None`: overflow) and state.
    pub series: Vec<(Option<Labels>, Series)>,
    /// Stage counters.
    pub stats: StageStats,
}

/// Where span metrics go over OTLP: the collector of the first OTLP exporter.
#[derive(Clone, Debug)]
pub struct OtlpTarget {
    /// Its traces endpoint (`…/v1/traces`).
    pub traces_endpoint: String,
    /// Its extra headers.
    pub headers: Vec<(String, String)>,
    /// Its request timeout.
    pub timeout: std::time::Duration,
    /// Its TLS settings (CA bundle, client certificate), already loaded.
    pub tls: ureq::tls::TlsConfig,
}

/// The stage and what serves it, as `ringside run` starts them.
pub struct Running {
    /// The stage, fed by the poll loop.
    pub stage: Shared,
    _live: Option<live::LiveServer>,
    /// The OTLP metrics export, when configured.
    pub export: Option<otlp::MetricsExport>,
}

impl Running {
    /// Starts the stage, its `ringside top` socket in `ring_dir` and, with a
    /// `target` and a non-zero interval, its OTLP export. A socket or thread
    /// that cannot start is logged; the metrics are still computed.
    pub fn start(
        config: &SpanMetricsConfig,
        ring_dir: &std::path::Path,
        target: Option<OtlpTarget>,
    ) -> Running {
        let stage: Shared = Arc::new(Mutex::new(SpanMetrics::new(config)));
        let live = live::LiveServer::start(ring_dir, stage.clone())
            .inspect_err(|e| log::warn!(error = e.to_string().as_str(); "no live view endpoint for ringside top"))
            .ok();
        let export = target.filter(|_| config.export_interval_s > 0).and_then(|t| {
            let endpoint = otlp::metrics_endpoint(&t.traces_endpoint);
            log::info!(endpoint = endpoint.as_str(), interval_s = config.export_interval_s; "span metrics export to OTLP");
            otlp::MetricsExport::start(
                stage.clone(),
                endpoint,
                t.headers,
                std::time::Duration::from_secs(config.export_interval_s),
                crate::export::otlp::agent(t.timeout, t.tls),
            )
            .inspect_err(|e| log::warn!(error = e.to_string().as_str(); "no span metrics export"))
            .ok()
        });
        Running {
            stage,
            _live: live,
            export,
        }
    }
}

/// The stage shared between the poll loop (which feeds it) and the threads
/// that show it (`/metrics`, `ringside top`).
pub type Shared = Arc<Mutex<SpanMetrics>>;

/// Locks the shared stage; a panic elsewhere while it was held leaves
/// counters that are still usable.
pub fn lock(shared: &Shared) -> MutexGuard<'_, SpanMetrics> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests;
