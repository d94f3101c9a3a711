//! What the bench's stages pass between them: the options, the targets and
//! tracing modes, and the record of one round. A leaf: it imports none of the
//! stages.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// Options of `ringside bench`.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Measured seconds per mode and target, split into rounds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of one round. Modes take turns round by round (off, then the
    /// tracing modes in rotated order, then off again), so drift in the
    /// machine lands on every mode alike.
    #[arg(long, default_value_t = 0.5)]
    pub round: f64,
    /// Seconds of warm-up per mode and target, before the rounds, not counted.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
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
    /// Write the results, with every round's numbers, as JSON here.
    #[arg(long, default_value = "ringside-bench.json")]
    pub json: PathBuf,
    /// Also draw the per-round overheads and their intervals as SVG here.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Directory for rings and chunk files (default: a new temporary one,
    /// removed at the end).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

impl BenchArgs {
    /// Measured rounds per mode and target.
    pub fn rounds_per_mode(&self) -> usize {
        (self.duration / self.round).round().max(1.0) as usize
    }
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

impl Target {
    /// The name in tables and file names.
    pub fn name(self) -> &'static str {
        match self {
            Target::Store => "store",
            Target::Loop => "loop",
            Target::Both => "both",
        }
    }
}

/// Which tracing the store runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// No tracing (`Tracer::disabled`): the reference of every comparison.
    Off,
    /// ringside, every span recorded.
    Ringside,
    /// The OpenTelemetry SDK with a `BatchSpanProcessor` exporting OTLP.
    Otel,
}

impl Mode {
    /// The modes this build can run, `Off` first.
    pub fn all() -> &'static [Mode] {
        if cfg!(feature = "otel") {
            &[Mode::Off, Mode::Ringside, Mode::Otel]
        } else {
            &[Mode::Off, Mode::Ringside]
        }
    }

    /// The name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Ringside => "ringside",
            Mode::Otel => "otel",
        }
    }
}

/// What one round measured: one mode driving one target for `--round`
/// seconds at the offered rate.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Round {
    /// Position in the target's sequence of rounds (0 is the first measured).
    pub index: usize,
    /// Target driven.
    pub target: Target,
    /// Tracing mode.
    pub mode: Mode,
    /// Seconds from the target's first measured round to this round's start.
    pub start_s: f64,
    /// Requests sent and answered.
    pub requests: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Requests per second achieved: requests over the time from the round's
    /// start to its last answer (at least the round's length).
    pub achieved_rate: f64,
    /// True if the achieved rate fell short of the offered rate by more than
    /// [`SATURATION_SHORTFALL`]: the machine did not keep up.
    pub saturated: bool,
    /// Latency percentiles and maximum, microseconds from each request's
    /// scheduled time (corrected for coordinated omission).
    pub p50_us: f64,
    /// See `p50_us`.
    pub p99_us: f64,
    /// See `p50_us`.
    pub p999_us: f64,
    /// See `p50_us`.
    pub max_us: f64,
    /// CPU time of the traced processes (clients, gateway, nodes, and the
    /// tracer's own threads such as the SDK's batch exporter), microseconds
    /// per request. The clients' share includes the load generator's own
    /// work (HTTP client, waiting on time), the same in every mode.
    pub traced_cpu_us_per_req: f64,
    /// CPU time of the sidecar's stand-in (ringside: the thread draining the
    /// rings; OpenTelemetry: the OTLP receiver), microseconds per request.
    pub sidecar_cpu_us_per_req: f64,
    /// CPU used by the machine's other processes during the round, in cores
    /// (0 where `/proc/stat` is missing): how busy the shared machine was.
    pub other_cpu_cores: f64,
    /// Share of all the machine's CPU time that was busy during the round,
    /// this process included (0 where `/proc/stat` is missing). Above
    /// [`MACHINE_BUSY`] latencies include waiting for a CPU.
    pub machine_busy: f64,
    /// p50 against the neighbouring `off` rounds, percent (tracing modes).
    pub p50_overhead_pct: Option<f64>,
    /// p99 against the neighbouring `off` rounds, percent (tracing modes).
    pub p99_overhead_pct: Option<f64>,
    /// Traced CPU per request against the neighbouring `off` rounds,
    /// microseconds per request.
    pub traced_cpu_overhead_us_per_req: Option<f64>,
}

/// A round is saturated when its achieved rate falls short of the offered
/// rate by more than this share (5 %).
pub const SATURATION_SHORTFALL: f64 = 0.05;

/// Share of the machine's CPU time busy above which a round's latencies
/// measure the scheduler as much as the tracer (90 %).
pub const MACHINE_BUSY: f64 = 0.9;
