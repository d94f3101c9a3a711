//! The poll loop of `ringside run`: one thread, one `mio::Poll`, a token per
//! event source (signals, the ring directory's inotify watch, the metrics
//! listener, an in-process stop). Between events it drains every ring; the wait
//! grows while the rings are idle, so an idle sidecar wakes only a few dozen
//! times a second and spends almost no CPU.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use super::config::Config;
use super::deliver::Delivery;
use super::metrics::MetricsServer;
use super::sample::Sampler;
use super::source::Source;
use super::span_metrics::{self, OtlpTarget};
use super::spool::{Spool, SpoolLimits};
use crate::batch::SpanBatch;
use crate::sidecar::config::ExporterConfig;
use status::{Snapshot, Status};

mod os;
mod reload;
mod status;
mod supervise;
use os::{drain_fd, read_signals, signal_fd, watch_dir};
use supervise::Supervisor;

const SIGNALS: Token = Token(0);
const RING_DIR: Token = Token(1);
const WAKE: Token = Token(2);

/// Rescan the ring directory at least this often, in case an inotify event was
/// missed (queue overflow, directory replaced).
const RESCAN: Duration = Duration::from_secs(2);

/// Stops a sidecar running in this process (tests, the demo) from another thread.
#[derive(Clone)]
pub struct StopHandle {
    flag: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl StopHandle {
    /// Asks the loop to drain, flush and return.
    pub fn stop(&self) {
        self.flag.store(true, Ordering::Release);
        let _ = self.waker.wake();
    }
}

/// What the loop needs between turns.
pub struct Sidecar {
    config: Config,
    poll: Poll,
    signals: Option<OwnedFd>,
    inotify: Option<OwnedFd>,
    stop: StopHandle,
    source: Source,
    spool: Spool,
    delivery: Option<Delivery>,
    last_sync: Instant,
    supervisor: Supervisor,
    reloader: Option<Reloader>,
    sampler: Sampler,
    /// Span metrics (before sampling), shared with `/metrics` and `ringside top`.
    span_metrics: Option<span_metrics::Running>,
    /// Tail-sampling releases waiting for the spool.
    released: Vec<SpanBatch>,
    status: Arc<Status>,
    last_publish: Instant,
    rings_removed: u64,
    spool_errors: u64,
    /// Kept for its lifetime: the endpoint stops when the sidecar does.
    _metrics: Option<MetricsServer>,
}

/// Produces the configuration again on SIGHUP (file, environment, flags).
pub type Reloader = Box<dyn FnMut() -> anyhow::Result<Config>>;

impl Sidecar {
    /// Sets everything up: signal handling (when `handle_signals`), the ring
    /// directory and its watch, the spool (recovering it), the exporters.
    pub fn new(config: Config, handle_signals: bool) -> anyhow::Result<Sidecar> {
        config.validate().context("invalid configuration")?;
        super::config::warn_ignored_keys(&config);
        let poll = Poll::new().context("cannot create poll")?;
        let signals = if handle_signals {
            let fd = signal_fd().context("cannot set up signal handling")?;
            poll.registry().register(
                &mut SourceFd(&fd.as_raw_fd()),
                SIGNALS,
                Interest::READABLE,
            )?;
            Some(fd)
        } else {
            None
        };
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let stop = StopHandle {
            flag: Arc::new(AtomicBool::new(false)),
            waker,
        };
        let dir = &config.rings.dir;
        match super::ring_dir::prepare(dir)? {
            super::ring_dir::Isolation::PerWriter => {}
            super::ring_dir::Isolation::GroupShared => log::warn!(
                dir = dir.display().to_string().as_str();
                "ring directory has no per-writer ACL (file system without POSIX ACLs, or not owned by this user): members of its group can read each other's rings"
            ),
        }
        if let Err(e) = super::sigbus::install() {
            log::warn!(error = e.to_string().as_str(); "no SIGBUS handler: a ring truncated while mapped would stop the sidecar");
        }
        let inotify = match watch_dir(dir) {
            Ok(fd) => {
                poll.registry().register(
                    &mut SourceFd(&fd.as_raw_fd()),
                    RING_DIR,
                    Interest::READABLE,
                )?;
                Some(fd)
            }
            Err(e) => {
                log::warn!(dir = dir.display().to_string().as_str(), error = e.to_string().as_str(); "no inotify watch; rescanning periodically");
                None
            }
        };
        let spool = Spool::open(
            &config.spool.dir,
            SpoolLimits {
                max_bytes: config.spool.max_bytes,
                segment_bytes: config.spool.segment_bytes,
            },
        )
        .with_context(|| format!("cannot open spool {}", config.spool.dir.display()))?;
        let exporters = super::deliver::build_exporters(&config)?;
        let sampler = Sampler::new(&config.sampling);
        let status = Status::new();
        let metrics = start_metrics(&config.metrics.listen, &status)?;
        let target = match config.exporters.iter().find_map(|e| match e {
            ExporterConfig::Otlp(o) => Some(o),
            _ => None,
        }) {
            Some(o) => Some(OtlpTarget {
                traces_endpoint: o.endpoint.clone(),
                headers: o.headers.clone().into_iter().collect(),
                timeout: Duration::from_millis(o.timeout_ms),
                tls: o
                    .tls_files()
                    .load()
                    .map_err(|e| anyhow::anyhow!("OTLP {e}"))?,
            }),
            None => None,
        };
        let span_metrics = config.span_metrics.enabled.then(|| {
            let running = span_metrics::Running::start(&config.span_metrics, dir, target);
            status.set_span_metrics(running.stage.clone(), running.export.as_ref());
            running
        });
        let delivery = Delivery::start(
            &spool,
            exporters,
            config.batch.clone(),
            config.retry.clone(),
        )
        .context("cannot start exporters")?;
        status.set_exporters(delivery.handles());
        let mut source = Source::new(dir, resource_attributes(&config));
        source.set_check(
            super::owners::ring_check(dir, &config.rings.allowed_users)
                .map_err(anyhow::Error::msg)?,
        );
        source.set_max_open(max_open_rings(&config));
        Ok(Sidecar {
            config,
            poll,
            signals,
            inotify,
            stop,
            source,
            spool,
            delivery: Some(delivery),
            last_sync: Instant::now(),
            supervisor: Supervisor::from_env(),
            reloader: None,
            sampler,
            span_metrics,
            released: Vec::new(),
            status,
            last_publish: Instant::now(),
            rings_removed: 0,
            spool_errors: 0,
            _metrics: metrics,
        })
    }

    /// How to read the configuration again on SIGHUP; without one, SIGHUP is
    /// logged and ignored.
    pub fn set_reloader(&mut self, reloader: Reloader) {
        self.reloader = Some(reloader);
    }

    /// A handle that stops [`Sidecar::run`] from another thread.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Runs until SIGTERM/SIGINT or a stop request; then drains every ring,
    /// flushes the spool, lets exporters finish, and returns.
    pub fn run(mut self) -> anyhow::Result<()> {
        self.scan();
        log::info!(dir = self.config.rings.dir.display().to_string().as_str(), rings = self.source.ring_count(); "ringside sidecar running");
        let mut events = Events::with_capacity(64);
        let idle_max = Duration::from_millis(self.config.rings.idle_poll_ms);
        let mut wait = Duration::from_millis(1);
        let status = format!("draining {} rings", self.source.ring_count());
        self.supervisor.ready(&status);
        loop {
            if self.supervisor.stalled() {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            self.supervisor.turn();
            let this_wait = self.supervisor.max_wait().map_or(wait, |m| wait.min(m));
            if let Err(e) = self.poll.poll(&mut events, Some(this_wait)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e).context("poll failed");
                }
            }
            let mut rescan = false;
            let mut stopping = self.stop.flag.load(Ordering::Acquire);
            for event in events.iter() {
                match event.token() {
                    SIGNALS => {
                        for sig in read_signals(self.signals.as_ref()) {
                            match sig {
                                libc::SIGTERM | libc::SIGINT => stopping = true,
                                libc::SIGHUP => self.reload(),
                                _ => {}
                            }
                        }
                    }
                    RING_DIR => {
                        drain_fd(self.inotify.as_ref());
                        rescan = true;
                    }
                    _ => {}
                }
            }
            if rescan
                || self
                    .source
                    .last_scan()
                    .is_none_or(|t| t.elapsed() >= RESCAN)
            {
                self.scan();
            }
            let moved = self.drain_once();
            self.release_sampled(Instant::now());
            self.publish();
            if self.last_sync.elapsed() >= Duration::from_millis(self.config.spool.sync_interval_ms)
            {
                if let Err(e) = self.spool.sync() {
                    log::error!(error = e.to_string().as_str(); "spool sync failed");
                }
                self.last_sync = Instant::now();
            }
            if stopping {
                return self.shut_down();
            }
            wait = if moved > 0 {
                Duration::from_millis(1)
            } else {
                (wait * 2).min(idle_max)
            };
        }
    }

    fn scan(&mut self) {
        let spool = &self.spool;
        for problem in self
            .source
            .scan(|id| spool.ring_positions().get(&id).copied())
        {
            log::warn!("{problem}");
        }
        for (level, line) in self.source.take_admission_log() {
            log::log!(level, "{line}");
        }
    }

    /// One drain of every ring into the spool; returns the records moved.
    fn drain_once(&mut self) -> usize {
        let (spool, sampler) = (&mut self.spool, &mut self.sampler);
        let mut stage = self
            .span_metrics
            .as_ref()
            .map(|r| span_metrics::lock(&r.stage));
        let now = Instant::now();
        let report = self
            .source
            .drain(self.config.rings.max_per_ring, |batch, ring_id, end| {
                if let Some(m) = stage.as_mut() {
                    m.observe(batch);
                }
                // The decision stands only once the kept spans are in the
                // spool: a failed append rewinds the ring and the same
                // records are sampled again.
                sampler.stage(batch, now);
                if let Some(m) = stage.as_mut() {
                    m.offer_kept(batch);
                }
                if batch.records.is_empty() {
                    // Nothing kept: the ring's own position is enough.
                    sampler.commit();
                    return Ok(());
                }
                match spool.append(batch, Some((ring_id, end))) {
                    Ok(_) => {
                        sampler.commit();
                        Ok(())
                    }
                    Err(e) => {
                        sampler.abort();
                        Err(e)
                    }
                }
            });
        self.rings_removed += report.removed.len() as u64;
        self.spool_errors += report.sink_errors.len() as u64;
        for gone in &report.removed {
            let s = gone.stats;
            log::info!(
                ring = gone.path.display().to_string().as_str(),
                service = gone.resource.service.as_str(),
                pid = gone.resource.pid,
                written = s.written,
                dropped = s.dropped,
                abandoned = s.abandoned,
                corrupt = gone.corrupt,
                delivered = gone.delivered;
                "writer gone; ring drained and removed"
            );
            if let Err(e) = self.spool.forget_ring(gone.resource.ring_id) {
                log::warn!(error = e.to_string().as_str(); "cannot forget a removed ring in the spool");
            }
        }
        for path in &report.replaced {
            log::warn!(
                ring = path.display().to_string().as_str();
                "ring file replaced under the same name while its writer was gone; the new file is left in place and opened at the next scan"
            );
        }
        for e in &report.sink_errors {
            log::error!(error = e.as_str(); "spool write failed; records stay in the ring");
        }
        for bad in &report.shrunk {
            log::warn!(
                ring = bad.path.display().to_string().as_str(),
                service = bad.resource.service.as_str(),
                pid = bad.resource.pid,
                delivered = bad.delivered;
                "ring file shrank while mapped (truncated?); ring dropped, other rings go on"
            );
        }
        drop(stage);
        report.records
    }

    /// Appends the spans the tail rules decided to keep. They are not tied
    /// to a ring position (the ring moved on when they were buffered), so a
    /// failed append keeps them here for the next turn.
    fn release_sampled(&mut self, now: Instant) {
        self.sampler.release(now, &mut self.released);
        if let Some(r) = &self.span_metrics {
            let mut stage = span_metrics::lock(&r.stage);
            self.released.iter().for_each(|b| stage.offer_kept(b));
        }
        while let Some(batch) = self.released.first() {
            if let Err(e) = self.spool.append(batch, None) {
                self.spool_errors += 1;
                log::error!(error = e.to_string().as_str(); "spool write failed; tail-kept spans held in memory");
                return;
            }
            self.released.remove(0);
        }
    }

    /// Publishes the loop's state for `/metrics`, at most a few times a second.
    fn publish(&mut self) {
        self.status.beat();
        if self.last_publish.elapsed() < Duration::from_millis(250) {
            return;
        }
        self.last_publish = Instant::now();
        if let Some(r) = &self.span_metrics {
            span_metrics::lock(&r.stage).sweep(Instant::now());
        }
        self.status.publish(Snapshot {
            rings: self.source.reports(),
            rings_removed: self.rings_removed,
            rings_refused: self.source.refused(),
            sampler: self.sampler.stats(),
            spool: self.spool.stats(),
            spool_errors: self.spool_errors,
        });
    }

    fn shut_down(mut self) -> anyhow::Result<()> {
        self.supervisor.stopping();
        log::info!("stopping: draining rings");
        // Drain until the rings are empty, bounded so a writer that keeps
        // writing cannot hold the shutdown forever.
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.drain_once() > 0 && Instant::now() < deadline {}
        // Decide every trace the tail rules still hold.
        self.release_sampled(Instant::now() + Duration::from_secs(24 * 3600));
        self.spool.sync().context("final spool sync")?;
        if let Some(delivery) = self.delivery.take() {
            delivery.shutdown();
        }
        log::info!("stopped");
        Ok(())
    }
}

/// `rings.max_open`, cut to what the open file limit allows (logged).
pub(super) fn max_open_rings(config: &Config) -> usize {
    let (max_open, cut) = super::admission::fit_to_fd_limit(config.rings.max_open);
    if let Some(why) = cut {
        log::warn!("{why}");
    }
    max_open
}

/// Runs the sidecar in this process until SIGTERM or SIGINT; SIGHUP calls
/// `reloader` for a new configuration.
pub fn run(config: Config, reloader: Option<Reloader>) -> anyhow::Result<()> {
    let mut sidecar = Sidecar::new(config, true)?;
    if let Some(r) = reloader {
        sidecar.set_reloader(r);
    }
    sidecar.run()
}

/// Starts `/metrics` and `/healthz` on `listen` (empty: none).
fn start_metrics(listen: &str, status: &Arc<Status>) -> anyhow::Result<Option<MetricsServer>> {
    if listen.is_empty() {
        return Ok(None);
    }
    let (a, b) = (status.clone(), status.clone());
    let server = MetricsServer::start(
        listen,
        Arc::new(move |e| a.render(e)),
        Arc::new(move || b.health()),
    )
    .with_context(|| format!("cannot serve metrics on {listen}"))?;
    log::info!(listen = server.local_addr().to_string().as_str(); "metrics endpoint up");
    Ok(Some(server))
}

/// The configured resource attributes every ring's spans get.
fn resource_attributes(config: &Config) -> Vec<(String, String)> {
    config
        .resource
        .attributes
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
