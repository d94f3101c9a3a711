//! The delivery loop with scripted exporters: panics are caught, counted,
//! reported and followed by a restart; a batch is retried while the spool
//! holds it and given up, counted, once the size cap deletes it.

use std::sync::Mutex;

use super::*;
use crate::batch::{Resource, SpanBatch, SpoolCursor};
use crate::export::ExportOutcome;
use crate::sidecar::spool::SpoolLimits;
use ringside::record::Record;

#[test]
fn backoff_grows_with_jitter_to_a_cap() {
    let mut b = Backoff::default();
    let delays: Vec<_> = (0..10).map(|_| b.next_delay()).collect();
    assert!(delays[0] >= Duration::from_millis(800) && delays[0] <= Duration::from_millis(1200));
    assert!(delays[1] >= Duration::from_millis(1600) && delays[1] <= Duration::from_millis(2400));
    assert!(delays.iter().all(|d| *d <= Duration::from_secs(36)));
    assert!(delays[9] >= Duration::from_secs(24));
}

#[test]
fn backoff_follows_the_retry_settings_and_never_overflows() {
    let retry = RetryConfig {
        initial_backoff_ms: 10,
        max_backoff_ms: 40,
        max_retry_after_ms: 0,
    };
    let mut b = Backoff::new(&retry);
    let delays: Vec<_> = (0..200).map(|_| b.next_delay()).collect();
    assert!(delays[0] <= Duration::from_millis(12));
    assert!(delays.iter().all(|d| *d <= Duration::from_millis(48)));
    let mut huge = Backoff::new(&RetryConfig {
        initial_backoff_ms: u64::MAX / 2,
        max_backoff_ms: u64::MAX,
        max_retry_after_ms: 0,
    });
    for _ in 0..100 {
        huge.next_delay();
    }
}

/// What a scripted exporter does on each call, in order; `Ok` afterwards.
#[derive(Clone, Copy, Debug)]
enum Step {
    Panic,
    Retry,
    Ok,
}

/// An exporter following a script, recording the spans it accepted.
struct Scripted {
    script: Vec<Step>,
    calls: usize,
    accepted: Arc<Mutex<Vec<u64>>>,
    /// Once set, every call succeeds.
    open: Arc<AtomicBool>,
}

impl Exporter for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }

    fn export(
        &mut self,
        batches: &[SpanBatch],
        _cursor: SpoolCursor,
    ) -> Result<ExportOutcome, ExportError> {
        let step = match self.open.load(Ordering::Relaxed) {
            true => Step::Ok,
            false => self.script.get(self.calls).copied().unwrap_or(Step::Ok),
        };
        self.calls += 1;
        match step {
            Step::Panic => panic!("scripted exporter panic"),
            Step::Retry => Err(ExportError::Retryable {
                reason: "scripted".into(),
                retry_after: Some(Duration::from_secs(u64::MAX)),
            }),
            Step::Ok => {
                let mut seen = self.accepted.lock().unwrap();
                for b in batches {
                    seen.extend(b.records.iter().map(|r| u64::from_le_bytes(r.span_id)));
                }
                Ok(ExportOutcome {
                    accepted: batches.iter().map(|b| b.len() as u64).sum(),
                    rejected: 0,
                })
            }
        }
    }
}

fn batch(first: u64, n: u64) -> SpanBatch {
    let records = (first..first + n)
        .map(|i| {
            let mut r = Record::new("op");
            r.span_id = i.to_le_bytes();
            r
        })
        .collect();
    SpanBatch {
        resource: Arc::new(Resource {
            service: "svc".into(),
            ..Resource::default()
        }),
        records,
    }
}

fn fast_retry() -> RetryConfig {
    RetryConfig {
        initial_backoff_ms: 1,
        max_backoff_ms: 5,
        max_retry_after_ms: 20,
    }
}

fn fast_batch() -> BatchConfig {
    BatchConfig {
        max_spans: 1 << 20,
        max_bytes: 1 << 30,
        timeout_ms: 1,
    }
}

/// A spool in a fresh directory holding `first`, and the delivery loop
/// exporting it through a [`Scripted`] exporter following `script`.
struct Rig {
    _dir: tempfile::TempDir,
    spool: Spool,
    /// Span ids (`span_id` as a little-endian number) the exporter accepted.
    accepted: Arc<Mutex<Vec<u64>>>,
    /// Set to make every later export succeed.
    open: Arc<AtomicBool>,
    delivery: Delivery,
    stats: Arc<ExporterStats>,
}

impl Rig {
    fn start(limits: SpoolLimits, first: SpanBatch, script: Vec<Step>) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), limits).unwrap();
        spool.append(&first, None).unwrap();
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let open = Arc::new(AtomicBool::new(false));
        let exporter = Scripted {
            script,
            calls: 0,
            accepted: accepted.clone(),
            open: open.clone(),
        };
        let delivery =
            Delivery::start(&spool, vec![Box::new(exporter)], fast_batch(), fast_retry()).unwrap();
        let stats = delivery.handles()[0].1.clone();
        Rig {
            _dir: dir,
            spool,
            accepted,
            open,
            delivery,
            stats,
        }
    }
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_panicking_exporter_is_counted_reported_and_restarted() {
    let limits = SpoolLimits {
        max_bytes: 64 << 20,
        segment_bytes: 1 << 20,
    };
    let script = vec![Step::Panic, Step::Retry, Step::Panic];
    let Rig {
        _dir,
        mut spool,
        accepted,
        delivery,
        stats,
        ..
    } = Rig::start(limits, batch(1, 10), script);
    wait_until("the batch exported after two panics", || {
        accepted.lock().unwrap().len() == 10
    });
    assert_eq!(stats.panics.load(Ordering::Relaxed), 2);
    assert!(
        !stats.panicked.load(Ordering::Relaxed),
        "a successful export clears the health flag"
    );
    assert_eq!(stats.retries.load(Ordering::Relaxed), 1);
    spool.append(&batch(11, 5), None).unwrap();
    wait_until("the next batch", || accepted.lock().unwrap().len() == 15);
    delivery.shutdown();
    assert_eq!(*accepted.lock().unwrap(), (1..=15).collect::<Vec<_>>());
}

#[test]
fn a_batch_is_retried_until_the_size_cap_deletes_it_then_counted_as_lost() {
    let limits = SpoolLimits {
        max_bytes: 160 << 10,
        segment_bytes: 64 << 10,
    };
    // 100 records (about 25 KB) per entry.
    let Rig {
        _dir,
        mut spool,
        accepted,
        open,
        delivery,
        stats,
    } = Rig::start(limits, batch(1, 100), vec![Step::Retry; 1_000_000]);
    wait_until("retrying", || stats.retries.load(Ordering::Relaxed) >= 20);
    assert_eq!(
        stats.in_flight.load(Ordering::Relaxed),
        100,
        "still retried"
    );
    // Fill the spool past its cap: the first segment goes.
    let mut next = 101;
    while spool.stats().dropped_spans == 0 {
        spool.append(&batch(next, 100), None).unwrap();
        next += 100;
    }
    let dropped = spool.stats().dropped_spans;
    assert!(dropped >= 100, "{dropped}");
    // The retry notices the batch is gone and moves on to what the spool
    // still holds (more than one entry, so more than 100 spans).
    wait_until("the deleted batch given up", || {
        stats.in_flight.load(Ordering::Relaxed) > 100
    });
    open.store(true, Ordering::Relaxed);
    let total = next - 1;
    wait_until("the rest delivered", || {
        accepted.lock().unwrap().len() as u64 + stats.spans_lost_spool.load(Ordering::Relaxed)
            == total
    });
    delivery.shutdown();
    let accepted = accepted.lock().unwrap().clone();
    let lost = stats.spans_lost_spool.load(Ordering::Relaxed);
    assert_eq!(
        lost,
        spool.stats().dropped_spans,
        "the exporter counts what the spool dropped"
    );
    assert!(
        !accepted.contains(&1),
        "the deleted batch is not sent from memory"
    );
    let expected: Vec<u64> = (lost + 1..=total).collect();
    assert_eq!(accepted, expected, "the rest, each once, in order");
    let failed: u64 = stats.spans_failed.lock().unwrap().values().sum();
    assert_eq!(failed, 0, "nothing is dropped for retrying too long");
}

#[test]
fn retention_runs_while_no_spans_arrive() {
    use crate::export::sqlite::{SqliteConfig, SqliteExporter};
    use crate::store::{Store, generate};
    let dir = tempfile::tempdir().unwrap();
    let limits = SpoolLimits {
        max_bytes: 64 << 20,
        segment_bytes: 1 << 20,
    };
    let mut spool = Spool::open(&dir.path().join("spool"), limits).unwrap();
    // Ten traces that started two hours ago, in a store that keeps one hour:
    // the prune before their write finds an empty store, so they are
    // written, and only a prune after it (with no write to come) removes
    // them.
    let hour = 3_600 * 1_000_000_000u64;
    let old = ringside::clock::unix_ns() - 2 * hour;
    for b in generate::traces(1, 10, old, 1_000_000) {
        spool.append(&b, None).unwrap();
    }
    let path = dir.path().join("traces.db");
    let config = SqliteConfig {
        path: path.clone(),
        max_age_s: 3_600,
        max_bytes: 0,
    };
    let exporter = SqliteExporter::from_config(&config).unwrap();
    let delivery =
        Delivery::start(&spool, vec![Box::new(exporter)], fast_batch(), fast_retry()).unwrap();
    let stats = delivery.handles()[0].1.clone();
    let written = 10 * generate::SPANS_PER_TRACE as u64;
    wait_until("the traces written", || {
        stats.spans_ok.load(Ordering::Relaxed) == written
    });
    let spans = || -> i64 {
        Store::open_read_only(&path)
            .unwrap()
            .connection()
            .query_row("SELECT count(*) FROM spans", [], |r| r.get(0))
            .unwrap()
    };
    wait_until("the old traces pruned with no write", || spans() == 0);
    assert_eq!(
        stats.batches_ok.load(Ordering::Relaxed),
        1,
        "no export ran the prune"
    );
    delivery.shutdown();
}
