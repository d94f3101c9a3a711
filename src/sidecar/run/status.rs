//! What `/metrics` and `/healthz` show: the poll loop publishes a snapshot of
//! its own state (rings, sampler, spool) a few times a second; exporter
//! counters are atomics read live. Rendering happens on the metrics thread,
//! so a scrape never holds up the loop for more than a lock swap.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::sidecar::admission::Refused;
use crate::sidecar::deliver::ExporterStats;
use crate::sidecar::metrics::{Exposition, expose_sampler, expose_store_retention};
use crate::sidecar::sample::SamplerStats;
use crate::sidecar::source::RingReport;
use crate::sidecar::span_metrics::otlp::{ExportStats, MetricsExport};
use crate::sidecar::span_metrics::{self, Shared};
use crate::sidecar::spool::SpoolStats;

/// The loop's latest published state.
#[derive(Default)]
pub(super) struct Snapshot {
    pub rings: Vec<RingReport>,
    pub rings_removed: u64,
    pub rings_refused: Refused,
    pub sampler: SamplerStats,
    pub spool: SpoolStats,
    pub spool_errors: u64,
}

/// Shared between the loop and the metrics thread.
pub(super) struct Status {
    started: Instant,
    /// Milliseconds since `started` at the loop's last turn.
    heartbeat_ms: AtomicU64,
    snapshot: Mutex<Snapshot>,
    exporters: Mutex<Vec<(String, Arc<ExporterStats>)>>,
    span_metrics: Mutex<Option<(Shared, Option<Arc<ExportStats>>)>>,
}

/// The loop counts as stuck when it has not turned for this long.
const STUCK_MS: u64 = 10_000;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Status {
    pub(super) fn new() -> Arc<Status> {
        Arc::new(Status {
            started: Instant::now(),
            heartbeat_ms: AtomicU64::new(0),
            snapshot: Mutex::new(Snapshot::default()),
            exporters: Mutex::new(Vec::new()),
            span_metrics: Mutex::new(None),
        })
    }

    /// The loop turned.
    pub(super) fn beat(&self) {
        self.heartbeat_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    pub(super) fn publish(&self, snapshot: Snapshot) {
        *lock(&self.snapshot) = snapshot;
    }

    pub(super) fn set_exporters(&self, exporters: Vec<(String, Arc<ExporterStats>)>) {
        *lock(&self.exporters) = exporters;
    }

    pub(super) fn set_span_metrics(&self, stage: Shared, export: Option<&MetricsExport>) {
        *lock(&self.span_metrics) = Some((stage, export.map(|x| x.stats.clone())));
    }

    /// `/healthz`: the loop turns, the spool takes writes and no exporter is
    /// failing after a panic.
    pub(super) fn health(&self) -> Result<(), String> {
        let since = (self.started.elapsed().as_millis() as u64)
            .saturating_sub(self.heartbeat_ms.load(Ordering::Relaxed));
        if since > STUCK_MS {
            return Err(format!("poll loop has not turned for {} ms", since));
        }
        for (name, x) in lock(&self.exporters).iter() {
            if x.panicked.load(Ordering::Relaxed) {
                return Err(format!(
                    "exporter {name} panicked and has not exported since its restart"
                ));
            }
        }
        Ok(())
    }

    /// `/metrics`.
    pub(super) fn render(&self, e: &mut Exposition) {
        let s = lock(&self.snapshot);
        for r in &s.rings {
            let pid = r.resource.pid.to_string();
            let labels = [
                ("service", r.resource.service.as_str()),
                ("pid", pid.as_str()),
            ];
            let st = &r.stats;
            e.counter(
                "ringside_ring_written_total",
                "Records writers reserved in the ring.",
                &labels,
                st.written,
            );
            e.counter(
                "ringside_ring_dropped_total",
                "Records refused because the ring was full.",
                &labels,
                st.dropped,
            );
            e.counter(
                "ringside_ring_abandoned_total",
                "Slots of writers that died mid-record, reclaimed by the sidecar.",
                &labels,
                st.abandoned,
            );
            e.counter(
                "ringside_ring_corrupt_total",
                "Records that failed validation and were skipped.",
                &labels,
                r.corrupt,
            );
            e.gauge(
                "ringside_ring_lag_records",
                "Records in the ring not yet handed to the spool.",
                &labels,
                st.written.saturating_sub(st.released) as f64,
            );
        }
        e.gauge(
            "ringside_rings",
            "Rings being drained.",
            &[],
            s.rings.len() as f64,
        );
        for (reason, n) in [
            ("max_open", s.rings_refused.max_open),
            ("fd_limit", s.rings_refused.fd_limit),
        ] {
            e.gauge(
                "ringside_rings_refused",
                "Ring files found but not open: rings.max_open reached, or out of file descriptors. Tried again at every scan.",
                &[("reason", reason)],
                n as f64,
            );
        }
        e.counter(
            "ringside_rings_removed_total",
            "Rings of exited writers drained and removed.",
            &[],
            s.rings_removed,
        );
        expose_sampler(e, &s.sampler);
        expose_store_retention(e, &crate::store::retention::RETENTION_STATS);
        let sp = &s.spool;
        e.gauge(
            "ringside_spool_bytes",
            "Size of the spool's segment files.",
            &[],
            sp.bytes as f64,
        );
        e.gauge(
            "ringside_spool_segments",
            "Spool segment files.",
            &[],
            sp.segments as f64,
        );
        e.gauge(
            "ringside_spool_pending_spans",
            "Spans not yet acknowledged by the slowest exporter.",
            &[],
            sp.pending_spans as f64,
        );
        let age = sp.oldest_pending_unix_ns.map_or(0.0, |t| {
            ringside::clock::unix_ns().saturating_sub(t) as f64 / 1e9
        });
        e.gauge(
            "ringside_spool_oldest_age_seconds",
            "Age of the oldest unacknowledged spool data.",
            &[],
            age,
        );
        e.counter(
            "ringside_spool_dropped_spans_total",
            "Spans the spool's size cap deleted before every exporter had them.",
            &[],
            sp.dropped_spans,
        );
        e.counter(
            "ringside_spool_corrupt_entries_total",
            "Damaged spool entries skipped.",
            &[],
            sp.corrupt_entries,
        );
        e.counter(
            "ringside_spool_write_errors_total",
            "Failed spool writes (records stayed in the ring).",
            &[],
            s.spool_errors,
        );
        drop(s);
        // Copied under the stage's lock, rendered after it.
        let stage = lock(&self.span_metrics).clone();
        if let Some((stage, export)) = stage {
            let snap = span_metrics::lock(&stage).snapshot();
            span_metrics::expose::expose(e, &snap);
            for (result, n) in export
                .iter()
                .flat_map(|x| [("ok", &x.ok), ("failed", &x.failed)])
            {
                e.counter(
                    "ringside_span_metrics_exports_total",
                    "OTLP span metrics requests by result (a failed one is not retried: the next carries newer totals).",
                    &[("result", result)],
                    n.load(Ordering::Relaxed),
                );
            }
        }
        for (name, x) in lock(&self.exporters).iter() {
            let ex = [("exporter", name.as_str())];
            let ok = |v: &AtomicU64| v.load(Ordering::Relaxed);
            e.counter(
                "ringside_export_batches_total",
                "Export requests by result.",
                &[("exporter", name), ("result", "ok")],
                ok(&x.batches_ok),
            );
            e.counter(
                "ringside_export_spans_total",
                "Spans by export result.",
                &[("exporter", name), ("result", "ok")],
                ok(&x.spans_ok),
            );
            e.counter(
                "ringside_export_spans_total",
                "Spans by export result.",
                &[("exporter", name), ("result", "rejected")],
                ok(&x.spans_rejected),
            );
            e.counter(
                "ringside_export_spans_total",
                "Spans by export result.",
                &[("exporter", name), ("result", "lost_in_spool")],
                ok(&x.spans_lost_spool),
            );
            for (reason, n) in lock(&x.spans_failed).iter() {
                e.counter(
                    "ringside_export_failed_spans_total",
                    "Spans dropped after an export failure, by reason.",
                    &[("exporter", name), ("reason", reason)],
                    *n,
                );
            }
            for (reason, n) in lock(&x.batches_failed).iter() {
                e.counter(
                    "ringside_export_failed_batches_total",
                    "Batches dropped after an export failure, by reason.",
                    &[("exporter", name), ("reason", reason)],
                    *n,
                );
            }
            e.counter(
                "ringside_export_panics_total",
                "Times the exporter panicked and was restarted.",
                &ex,
                ok(&x.panics),
            );
            e.counter(
                "ringside_export_retries_total",
                "Retries after retryable export failures.",
                &ex,
                ok(&x.retries),
            );
            e.gauge(
                "ringside_exporter_in_flight_spans",
                "Spans read from the spool and not yet acknowledged.",
                &ex,
                ok(&x.in_flight) as f64,
            );
        }
    }
}
