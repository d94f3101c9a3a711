//! `ringside bench`: latency of the mini file store under a fixed request rate,
//! with tracing off, with ringside at 100% sampling, and with the
//! OpenTelemetry SDK (feature `otel`), on two targets: the store over
//! loopback (HTTP to the gateway, the storage RPC over TCP to the nodes, chunk
//! files on disk) and an in-process loop of the same storage operations (no
//! network, chunks in memory).
//!
//! K clients share the rate; each has a schedule (client `c` sends its `n`-th
//! request at `start + (n + c / K) * K / rate`) and a request's latency is
//! counted from its scheduled time, not from when it was sent: a stall delays
//! the requests behind it and they are counted as late, which corrects for
//! coordinated omission. The first tenth of each run warms up unrecorded.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use hdrhistogram::Histogram;
use ringside::trace::Tracer;
use ringside::trace::storage::FileOp;

use super::bench_report;
use super::bench_store::{Store, request};
use super::instrument::Tracing;

/// Options of `ringside bench`.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Seconds per mode and target.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Requests per second, all clients together.
    #[arg(long, default_value_t = 1000)]
    pub rate: u32,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    pub clients: u32,
    /// File size in bytes.
    #[arg(long, default_value_t = 4096)]
    pub size: usize,
    /// What to drive.
    #[arg(long, value_enum, default_value_t = Target::Both)]
    pub target: Target,
    /// Write the results as JSON here.
    #[arg(long, default_value = "ringside-bench.json")]
    pub json: PathBuf,
    /// Directory for rings and chunk files (default: a new temporary one,
    /// removed at the end).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// What the bench drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// The store over loopback sockets.
    Store,
    /// The same operations in process, without network or disk.
    Loop,
    /// Both, store first.
    Both,
}

/// Which tracing the store runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// No tracing (`Tracer::disabled`).
    Off,
    /// ringside, every span recorded.
    Ringside,
    /// The OpenTelemetry SDK with a `BatchSpanProcessor` exporting OTLP.
    Otel,
}

impl Mode {
    fn all() -> &'static [Mode] {
        if cfg!(feature = "otel") {
            &[Mode::Off, Mode::Ringside, Mode::Otel]
        } else {
            &[Mode::Off, Mode::Ringside]
        }
    }
}

/// The outcome of one mode on one target.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModeResult {
    /// Target driven.
    pub target: Target,
    /// Tracing mode.
    pub mode: Mode,
    /// Requests recorded (after warm-up).
    pub requests: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Completed requests per second.
    pub throughput: f64,
    /// Latency percentiles and maximum, microseconds.
    pub p50_us: f64,
    /// See `p50_us`.
    pub p99_us: f64,
    /// See `p50_us`.
    pub p999_us: f64,
    /// See `p50_us`.
    pub max_us: f64,
    /// Spans that arrived where the mode sends them (drained from the rings, or
    /// received by the OTLP receiver).
    pub spans: u64,
    /// Spans lost on the way (ring full; OpenTelemetry: started but never
    /// received).
    pub dropped: u64,
    /// p50 against tracing off on the same target, in percent.
    pub p50_overhead_pct: Option<f64>,
    /// p99 against tracing off on the same target, in percent.
    pub p99_overhead_pct: Option<f64>,
}

/// Runs every mode on the chosen targets, prints the table, writes the JSON.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    if !(args.duration > 0.0 && args.duration <= 3600.0) {
        bail!("--duration must be between 0 and 3600 seconds");
    }
    if args.rate == 0 || args.clients == 0 || args.clients > 1024 {
        bail!("--rate must be positive and --clients between 1 and 1024");
    }
    if args.size == 0 || args.size > super::gateway::MAX_FILE {
        bail!(
            "--size must be between 1 and {} bytes",
            super::gateway::MAX_FILE
        );
    }
    let (dir, temporary) = match &args.dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("ringside-bench-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let targets: &[Target] = match args.target {
        Target::Both => &[Target::Store, Target::Loop],
        t => std::slice::from_ref(match t {
            Target::Store => &Target::Store,
            _ => &Target::Loop,
        }),
    };
    let mut results = Vec::new();
    for &target in targets {
        for &mode in Mode::all() {
            eprintln!(
                "bench: {target:?} with tracing {mode:?} for {} s",
                args.duration
            );
            let run_dir = dir.join(format!("{target:?}-{mode:?}").to_lowercase());
            results.push(run_mode(&args, target, mode, &run_dir)?);
        }
    }
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    bench_report::fill_overheads(&mut results);
    print!("{}", bench_report::table(&args, &results));
    bench_report::write_json(&args, &results)?;
    println!("results written to {}", args.json.display());
    Ok(())
}

/// The tracings of one run: one per process of the store, as in the demo.
pub struct Tracings {
    /// The client workload.
    pub client: Tracing,
    /// The gateway.
    pub gateway: Tracing,
    /// The metadata node.
    pub metadata: Tracing,
    /// The data nodes, node 1 first.
    pub data: Vec<Tracing>,
    #[cfg(feature = "otel")]
    receiver: Option<super::otel::Receiver>,
}

impl Tracings {
    fn new(mode: Mode, rings: &Path) -> anyhow::Result<Tracings> {
        #[cfg(feature = "otel")]
        let receiver = match mode {
            Mode::Otel => Some(super::otel::Receiver::start()?),
            _ => None,
        };
        let make = |service: &str| -> anyhow::Result<Tracing> {
            Ok(match mode {
                Mode::Off => Tracing::Ringside(Tracer::disabled(service)),
                Mode::Ringside => {
                    let t = Tracer::builder(service).dir(rings).build();
                    t.open().map_err(|e| anyhow::anyhow!("{e}"))?;
                    Tracing::Ringside(t)
                }
                #[cfg(feature = "otel")]
                Mode::Otel => {
                    let endpoint = &receiver.as_ref().context("no receiver")?.endpoint;
                    Tracing::Otel(super::otel::OtelTracing::new(service, endpoint)?)
                }
                #[cfg(not(feature = "otel"))]
                Mode::Otel => {
                    bail!("built without the otel feature (cargo build --features bench-otel)")
                }
            })
        };
        Ok(Tracings {
            client: make("client")?,
            gateway: make("gateway")?,
            metadata: make("metadata")?,
            data: (1..=3)
                .map(|i| make(&format!("data-{i}")))
                .collect::<anyhow::Result<_>>()?,
            #[cfg(feature = "otel")]
            receiver,
        })
    }

    fn all(&self) -> impl Iterator<Item = &Tracing> {
        [&self.client, &self.gateway, &self.metadata]
            .into_iter()
            .chain(self.data.iter())
    }
}

fn run_mode(
    args: &BenchArgs,
    target: Target,
    mode: Mode,
    dir: &Path,
) -> anyhow::Result<ModeResult> {
    let rings = dir.join("rings");
    std::fs::create_dir_all(&rings)?;
    let tracings = Tracings::new(mode, &rings)?;
    let stop = Arc::new(AtomicBool::new(false));
    let drain = (mode == Mode::Ringside)
        .then(|| bench_report::drain_rings(rings.clone(), Arc::clone(&stop)));
    let store = Store::build(target, &tracings, dir, Arc::clone(&stop))?;
    let hist = drive(args, &store, &tracings.client)?;
    stop.store(true, Ordering::Relaxed);
    let drained = drain.map(|d| d.join().unwrap_or(0));
    for t in tracings.all() {
        t.shutdown();
    }
    let dropped: u64 = tracings.all().map(Tracing::dropped).sum();
    let (spans, dropped) = match mode {
        Mode::Off => (0, 0),
        Mode::Ringside => (drained.unwrap_or(0), dropped),
        #[cfg(feature = "otel")]
        Mode::Otel => {
            let received = tracings.receiver.as_ref().map_or(0, |r| r.spans());
            let started: u64 = tracings.all().map(Tracing::written).sum();
            (received, started.saturating_sub(received))
        }
        #[cfg(not(feature = "otel"))]
        Mode::Otel => (0, 0),
    };
    Ok(bench_report::result(target, mode, &hist, spans, dropped))
}

/// Runs the clients at the fixed rate; latencies in nanoseconds from each
/// request's scheduled time, the errors, and the seconds from the end of
/// the warm-up to the last answer.
fn drive(
    args: &BenchArgs,
    store: &Store,
    client: &Tracing,
) -> anyhow::Result<(Histogram<u64>, u64, f64)> {
    let interval = Duration::from_secs_f64(f64::from(args.clients) / f64::from(args.rate));
    let start = Instant::now() + Duration::from_millis(50);
    let warm = start + Duration::from_secs_f64(args.duration * 0.1);
    let end = start + Duration::from_secs_f64(args.duration);
    let content: Vec<u8> = (0..args.size).map(|i| (i % 251) as u8).collect();
    let mut total = Histogram::<u64>::new_with_bounds(1_000, 60_000_000_000, 3)?;
    let mut errors = 0;
    std::thread::scope(|s| -> anyhow::Result<()> {
        let handles: Vec<_> = (0..args.clients)
            .map(|c| {
                let content = &content;
                s.spawn(move || -> anyhow::Result<(Histogram<u64>, u64)> {
                    let mut hist = Histogram::<u64>::new_with_bounds(1_000, 60_000_000_000, 3)?;
                    let mut errors = 0;
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .build()
                        .into();
                    let offset = interval.mul_f64(f64::from(c) / f64::from(args.clients));
                    for n in 0u64.. {
                        let due = start + offset + interval.mul_f64(n as f64);
                        if due >= end {
                            break;
                        }
                        wait_until(due);
                        let op = if n % 2 == 0 {
                            FileOp::Write
                        } else {
                            FileOp::Read
                        };
                        let path = format!("/c{c}/f{}", (n / 2) % 16);
                        if !request(store, client, &agent, op, &path, content) {
                            errors += 1;
                        }
                        if due >= warm {
                            let ns = due.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64;
                            hist.saturating_record(ns.max(1_000));
                        }
                    }
                    Ok((hist, errors))
                })
            })
            .collect();
        for h in handles {
            let (hist, e) = h
                .join()
                .map_err(|_| anyhow::anyhow!("a client panicked"))??;
            total.add(&hist)?;
            errors += e;
        }
        Ok(())
    })?;
    let secs = warm.elapsed().as_secs_f64();
    Ok((total, errors, secs))
}

/// Sleeps until shortly before `due`, then yields until it: a sleep alone
/// wakes up tens of microseconds late, which would count as latency.
fn wait_until(due: Instant) {
    const SPIN: Duration = Duration::from_micros(200);
    let now = Instant::now();
    if due > now + SPIN {
        std::thread::sleep(due - now - SPIN);
    }
    while Instant::now() < due {
        std::thread::yield_now();
    }
}
