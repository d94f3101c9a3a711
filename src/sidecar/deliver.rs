//! Delivery stage: one thread per exporter, each reading the spool from its own
//! cursor, batching by span count, bytes and time, retrying what is worth
//! retrying, and acknowledging what is done. A slow or failing exporter only
//! falls behind in the spool; it never holds up draining or the other exporters.
//!
//! # Retries
//!
//! A retryable failure is retried after a backoff ([`RetryConfig`]) or the
//! destination's `Retry-After` (cut to `retry.max_retry_after_ms`), with no
//! give-up time: the batch is retried as long as the spool holds it. Only the
//! spool's size cap ends a retry, when it deletes the segment the batch was
//! read from; those spans are counted as lost in the spool. An outage thus
//! loses nothing until the spool is full, and then exactly what the cap
//! deletes, counted.
//!
//! # Panics
//!
//! An exporter that panics is caught on its thread, counted
//! (`ringside_export_panics_total`), reported by `/healthz` until its next
//! successful export, and restarted after a backoff: it recovers and reads
//! again from its last acknowledged position, so the batch it panicked on is
//! retried like any failure.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::config::{BatchConfig, Config, ExporterConfig, RetryConfig};
use super::spool::{Spool, SpoolReader};
use crate::export::console::ConsoleExporter;
use crate::export::jsonl::JsonlExporter;
use crate::export::otlp::{OtlpHttpExporter, OtlpSettings};
use crate::export::sqlite::SqliteExporter;
use crate::export::{ExportError, Exporter};

/// How long exporters may keep sending after a stop was requested; what is left
/// stays in the spool for the next start.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Builds the exporters the configuration names, in its order.
pub fn build_exporters(config: &Config) -> anyhow::Result<Vec<Box<dyn Exporter>>> {
    let mut out: Vec<Box<dyn Exporter>> = Vec::new();
    for e in &config.exporters {
        match e {
            ExporterConfig::Jsonl(c) => out.push(Box::new(JsonlExporter::new(
                &c.path,
                c.rotate_bytes,
                c.keep,
            ))),
            ExporterConfig::Otlp(c) => out.push(Box::new(OtlpHttpExporter::new(
                &OtlpSettings::from_config(c, config.batch.max_bytes, config.batch.max_spans)?,
            )?)),
            ExporterConfig::Console(_) => out.push(Box::new(ConsoleExporter::new())),
            ExporterConfig::Sqlite(c) => out.push(Box::new(SqliteExporter::from_config(c)?)),
        }
    }
    Ok(out)
}

/// Counters of one exporter, read by the metrics endpoint.
#[derive(Default, Debug)]
pub struct ExporterStats {
    /// Export requests that succeeded.
    pub batches_ok: AtomicU64,
    /// Spans the destination accepted.
    pub spans_ok: AtomicU64,
    /// Spans refused in a partial success.
    pub spans_rejected: AtomicU64,
    /// Retries after retryable failures.
    pub retries: AtomicU64,
    /// Spans lost because the spool dropped data this exporter had not read.
    pub spans_lost_spool: AtomicU64,
    /// Spans dropped after a failure, by reason.
    pub spans_failed: Mutex<BTreeMap<String, u64>>,
    /// Batches dropped after a failure, by reason.
    pub batches_failed: Mutex<BTreeMap<String, u64>>,
    /// Spans read but not yet acknowledged (in flight or being retried).
    pub in_flight: AtomicU64,
    /// Times the exporter panicked (and was restarted).
    pub panics: AtomicU64,
    /// Set when the exporter panicked, cleared by its next successful
    /// export; `/healthz` reports it.
    pub panicked: AtomicBool,
}

impl ExporterStats {
    fn fail(&self, reason: &str, spans: u64) {
        let short = reason.split(':').next().unwrap_or(reason).to_string();
        *self
            .spans_failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(short.clone())
            .or_default() += spans;
        *self
            .batches_failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(short)
            .or_default() += 1;
    }
}

/// The running exporter threads.
pub struct Delivery {
    workers: Vec<(String, Arc<ExporterStats>, JoinHandle<()>)>,
    stop: Arc<AtomicBool>,
}

impl Delivery {
    /// Starts one thread per exporter.
    pub fn start(
        spool: &Spool,
        exporters: Vec<Box<dyn Exporter>>,
        batch: BatchConfig,
        retry: RetryConfig,
    ) -> std::io::Result<Delivery> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers: Vec<(String, Arc<ExporterStats>, JoinHandle<()>)> = Vec::new();
        for (name, exporter) in reader_names(&exporters).into_iter().zip(exporters) {
            let reader = spool.reader(&name)?;
            let stats = Arc::new(ExporterStats::default());
            let worker = Worker {
                reader,
                exporter,
                batch: batch.clone(),
                retry: retry.clone(),
                stats: stats.clone(),
                stop: stop.clone(),
            };
            let handle = std::thread::Builder::new()
                .name(format!("export-{name}"))
                .spawn(move || worker.run_restarting())?;
            workers.push((name, stats, handle));
        }
        Ok(Delivery { workers, stop })
    }

    /// The spool reader names of the running exporters.
    pub fn names(&self) -> Vec<&str> {
        self.workers.iter().map(|(n, _, _)| n.as_str()).collect()
    }

    /// Each exporter's name and shared counters, for the metrics endpoint.
    pub fn handles(&self) -> Vec<(String, Arc<ExporterStats>)> {
        self.workers
            .iter()
            .map(|(n, s, _)| (n.clone(), s.clone()))
            .collect()
    }

    /// Each exporter's name and counters.
    pub fn stats(&self) -> impl Iterator<Item = (&str, &ExporterStats)> {
        self.workers
            .iter()
            .map(|(n, s, _)| (n.as_str(), s.as_ref()))
    }

    /// Asks the exporters to finish what the spool holds (within
    /// [`SHUTDOWN_GRACE`]) and waits for them.
    pub fn shutdown(self) {
        self.stop.store(true, Ordering::Release);
        for (name, _, handle) in self.workers {
            if handle.join().is_err() {
                log::error!(exporter = name.as_str(); "exporter thread panicked");
            }
        }
    }
}

/// The spool cursor name of each exporter: its kind (`otlp`, `jsonl`, ...),
/// with `-2`, `-3`, ... for the second and later of a kind, in configuration
/// order, so that each keeps its own cursor across restarts.
pub fn reader_names(exporters: &[Box<dyn Exporter>]) -> Vec<String> {
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    exporters
        .iter()
        .map(|e| {
            let n = seen.entry(e.name()).or_insert(0);
            *n += 1;
            if *n == 1 {
                e.name().to_string()
            } else {
                format!("{}-{}", e.name(), n)
            }
        })
        .collect()
}

struct Worker {
    reader: SpoolReader,
    exporter: Box<dyn Exporter>,
    batch: BatchConfig,
    retry: RetryConfig,
    stats: Arc<ExporterStats>,
    stop: Arc<AtomicBool>,
}

impl Worker {
    /// Runs the exporter until the stop; a panic is counted, reported and
    /// followed by a restart after a backoff.
    fn run_restarting(mut self) {
        let name = self.exporter.name().to_string();
        let mut backoff = Backoff::new(&self.retry);
        loop {
            match catch_unwind(AssertUnwindSafe(|| self.run())) {
                Ok(()) => return,
                Err(payload) => {
                    self.stats.panics.fetch_add(1, Ordering::Relaxed);
                    self.stats.panicked.store(true, Ordering::Relaxed);
                    self.stats.in_flight.store(0, Ordering::Relaxed);
                    let delay = backoff.next_delay();
                    log::error!(
                        exporter = name.as_str(), panic = panic_text(payload.as_ref()).as_str(),
                        restart_in_ms = delay.as_millis() as u64;
                        "exporter panicked; it restarts from its last acknowledged batch"
                    );
                    if self.stop.load(Ordering::Acquire) {
                        return;
                    }
                    self.sleep(delay);
                }
            }
        }
    }

    fn run(&mut self) {
        let name = self.exporter.name().to_string();
        match self.exporter.recover() {
            Ok(Some(cursor)) => self.reader.seek(cursor),
            Ok(None) => {}
            Err(e) => {
                log::error!(exporter = name.as_str(), error = format!("{e:#}").as_str(); "exporter cannot start");
                return;
            }
        }
        let mut stop_deadline: Option<Instant> = None;
        let mut backoff = Backoff::new(&self.retry);
        let max_retry_after = Duration::from_millis(self.retry.max_retry_after_ms);
        loop {
            let stopping = self.stop.load(Ordering::Acquire);
            if stopping && stop_deadline.is_none() {
                stop_deadline = Some(Instant::now() + SHUTDOWN_GRACE);
            }
            if stop_deadline.is_some_and(|d| Instant::now() >= d) {
                log::warn!(exporter = name.as_str(); "shutdown grace over; unsent spans stay in the spool");
                return;
            }
            let read = match self.read(stopping) {
                Ok(Some(read)) => read,
                Ok(None) if stopping => return,
                Ok(None) => continue,
                Err(e) => {
                    log::error!(exporter = name.as_str(), error = e.to_string().as_str(); "spool read failed");
                    self.sleep(Duration::from_secs(1));
                    continue;
                }
            };
            let spans: u64 = read.batches.iter().map(|b| b.len() as u64).sum();
            self.stats.in_flight.store(spans, Ordering::Relaxed);
            let mut failures = 0u64;
            let done = loop {
                match self.exporter.export(&read.batches, read.next) {
                    Ok(outcome) => {
                        self.stats.batches_ok.fetch_add(1, Ordering::Relaxed);
                        self.stats
                            .spans_ok
                            .fetch_add(outcome.accepted, Ordering::Relaxed);
                        self.stats
                            .spans_rejected
                            .fetch_add(outcome.rejected, Ordering::Relaxed);
                        self.stats.panicked.store(false, Ordering::Relaxed);
                        if failures > 0 {
                            log::info!(exporter = name.as_str(), spans = spans, failures = failures; "export succeeded after retries");
                        }
                        backoff = Backoff::new(&self.retry);
                        break true;
                    }
                    Err(ExportError::Permanent { reason }) => {
                        log::warn!(exporter = name.as_str(), spans = spans, reason = reason.as_str(); "export refused; batch dropped");
                        self.stats.fail(&reason, spans);
                        break true;
                    }
                    Err(ExportError::Retryable {
                        reason,
                        retry_after,
                    }) => {
                        if self.stop.load(Ordering::Acquire) {
                            // Leave it in the spool for the next start.
                            return;
                        }
                        let delay = match retry_after {
                            Some(asked) => asked.min(max_retry_after),
                            None => backoff.next_delay(),
                        };
                        failures += 1;
                        self.stats.retries.fetch_add(1, Ordering::Relaxed);
                        let delay_ms = delay.as_millis() as u64;
                        if failures == 1 {
                            log::warn!(exporter = name.as_str(), spans = spans, reason = reason.as_str(), delay_ms = delay_ms; "export failed; retrying while the spool holds the batch");
                        } else {
                            log::debug!(exporter = name.as_str(), reason = reason.as_str(), delay_ms = delay_ms; "export failed; retrying");
                        }
                        self.sleep(delay);
                        if !self.reader.holds_position() {
                            log::warn!(exporter = name.as_str(), spans = spans; "the spool's size cap deleted the batch being retried; its spans are counted as lost");
                            break false;
                        }
                    }
                }
            };
            self.stats.in_flight.store(0, Ordering::Relaxed);
            if !done {
                // The next read skips what the cap deleted and counts it.
                continue;
            }
            // Counted here, once per acknowledged read: every read before the
            // ack repeats the same count.
            self.stats
                .spans_lost_spool
                .fetch_add(read.lost_spans, Ordering::Relaxed);
            if let Err(e) = self.reader.ack(read.next) {
                log::error!(exporter = name.as_str(), error = e.to_string().as_str(); "cannot store spool cursor");
            }
        }
    }

    /// Reads the next batch, waiting up to the batch timeout for it to fill.
    fn read(&mut self, stopping: bool) -> std::io::Result<Option<super::spool::ReadBatch>> {
        let timeout = Duration::from_millis(self.batch.timeout_ms);
        let mut read = self
            .reader
            .read(self.batch.max_spans, self.batch.max_bytes)?;
        if read.batches.is_empty() {
            if stopping {
                return Ok(None);
            }
            self.reader.wait(timeout);
            self.exporter.idle();
            return Ok(None);
        }
        let spans: usize = read.batches.iter().map(|b| b.len()).sum();
        let full = spans >= self.batch.max_spans
            || spans * ringside::record::RECORD_SIZE >= self.batch.max_bytes;
        if !full && !stopping {
            // Give the batch its time to fill, then take what is there. A
            // sleep, not `reader.wait`: that returns on the next append
            // (about a millisecond under load), which would send many small
            // requests instead of one full one.
            self.sleep(timeout);
            read = self
                .reader
                .read(self.batch.max_spans, self.batch.max_bytes)?;
        }
        Ok(Some(read))
    }

    /// Sleeps up to `d`, waking early when a stop is requested.
    fn sleep(&self, d: Duration) {
        let start = Instant::now();
        while !self.stop.load(Ordering::Acquire) {
            let left = d.saturating_sub(start.elapsed());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }
}

/// The message of a panic payload (`&str` or `String`), else a placeholder.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

/// Exponential backoff with jitter: `retry.initial_backoff_ms` doubling to
/// `retry.max_backoff_ms` (1 s to 30 s by default), each delay randomly
/// 80–120 % of its nominal value so that many sidecars do not retry in step.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(&RetryConfig::default())
    }
}

impl Backoff {
    /// A backoff with `retry`'s first and longest delays.
    pub fn new(retry: &RetryConfig) -> Backoff {
        let max = Duration::from_millis(retry.max_backoff_ms);
        Backoff {
            next: Duration::from_millis(retry.initial_backoff_ms).min(max),
            max,
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let nominal = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        let jitter = 0.8 + 0.4 * (ringside::trace::SpanId::random().0[0] as f64 / 255.0);
        nominal.mul_f64(jitter)
    }
}

#[cfg(test)]
mod tests;
