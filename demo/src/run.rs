//! The whole demo: start the sidecar and the store's processes, run the client
//! workload, stop everything by pid, and print the summary.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;

use super::gateway::Gateway;
use super::instrument::Tracing;
use super::process::Proc;
use super::traces::{self, RingReader, SpanRow};
use super::workload::WorkloadSummary;
use super::{node, signals};

/// Options of `ringside demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// How long the clients run, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    pub clients: u32,
    /// Directory for rings, chunks, spool and output (default: a new directory
    /// under the system's temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Extra latency of each chunk read and write on data node 3, in ms.
    #[arg(long, default_value_t = 15)]
    pub slow_ms: u64,
    /// Chance in [0, 1] that a chunk operation on data node 3 fails with EIO.
    #[arg(long, default_value_t = 0.05)]
    pub error_rate: f64,
    /// Do not start the sidecar; read the spans straight from the rings.
    #[arg(long)]
    pub no_sidecar: bool,
    /// Serve only the gateway's W3C trace-context test endpoint (`POST /test`)
    /// on this address until SIGTERM.
    #[arg(long, value_name = "ADDR")]
    pub w3c_endpoint: Option<SocketAddr>,
}

/// Ring slots per process when no sidecar drains them (64 MiB of ring,
/// allocated only as it fills).
const UNDRAINED_SLOTS: usize = 1 << 18;

/// Data nodes in the demo; node 3 is the faulty one.
const DATA_NODES: u32 = 3;

/// Runs the demo (or the W3C endpoint) and prints the summary.
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    signals::install().context("cannot install signal handlers")?;
    if let Some(addr) = args.w3c_endpoint {
        return w3c_endpoint(addr);
    }
    if !(0.0..=1.0).contains(&args.error_rate) {
        bail!(
            "--error-rate must be within [0, 1], not {}",
            args.error_rate
        );
    }
    if !(args.duration > 0.0 && args.duration <= 86_400.0) {
        bail!("--duration must be between 0 and 86400 seconds");
    }
    if args.clients == 0 || args.clients > 256 {
        bail!("--clients must be between 1 and 256");
    }
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!(
            "ringside-demo-{}-{}",
            ringside::clock::unix_ns() / 1_000_000_000,
            std::process::id()
        )),
    };
    let rings = dir.join("rings");
    for d in [&dir, &rings] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    println!("demo directory: {}", dir.display());
    let outcome = Demo::new(&args, &dir, &rings).and_then(|mut demo| demo.run());
    outcome.map(|summary| print!("{summary}"))
}

/// The processes of a running demo.
struct Demo<'a> {
    args: &'a DemoArgs,
    dir: &'a Path,
    rings: &'a Path,
    sidecar: Option<Proc>,
    servers: Vec<Proc>,
    reader: Option<RingReader>,
    via_sidecar: bool,
}

impl<'a> Demo<'a> {
    fn new(args: &'a DemoArgs, dir: &'a Path, rings: &'a Path) -> anyhow::Result<Demo<'a>> {
        let mut demo = Demo {
            args,
            dir,
            rings,
            sidecar: None,
            servers: Vec::new(),
            reader: None,
            via_sidecar: false,
        };
        if !args.no_sidecar {
            demo.sidecar = demo.start_sidecar()?;
        }
        demo.via_sidecar = demo.sidecar.is_some();
        if demo.sidecar.is_none() {
            demo.reader = Some(RingReader::new(rings));
        }
        Ok(demo)
    }

    /// Starts `ringside run` on the demo's rings, writing JSONL and the
    /// SQLite store; without the store if this build's sidecar has no SQLite
    /// exporter. `None` if it cannot start at all.
    fn start_sidecar(&self) -> anyhow::Result<Option<Proc>> {
        let path = |name: &str| self.dir.join(name).display().to_string();
        let mut args: Vec<String> = vec![
            "run".into(),
            "--ring-dir".into(),
            self.rings.display().to_string(),
            "--spool-dir".into(),
            path("spool"),
            "--jsonl".into(),
            path("spans.jsonl"),
            "--store".into(),
            path("traces.db"),
        ];
        loop {
            let mut sidecar = Proc::start("sidecar", self.dir, self.rings, self.slots(), &args)?;
            // A sidecar that cannot start says so at once.
            std::thread::sleep(Duration::from_millis(300));
            let Some(status) = sidecar.child.try_wait()? else {
                return Ok(Some(sidecar));
            };
            let log = self.dir.join("sidecar.log");
            let why = std::fs::read_to_string(&log).unwrap_or_default();
            if args.len() > 7 && why.contains("sqlite") {
                eprintln!("ringside demo: this sidecar has no SQLite store; writing JSONL only");
                args.truncate(7);
                continue;
            }
            eprintln!(
                "ringside demo: the sidecar exited at start ({status}, see {}); reading the rings directly",
                log.display()
            );
            return Ok(None);
        }
    }

    /// Ring slots per process: the default when the sidecar drains the rings,
    /// else room for a whole run, read at the end.
    fn slots(&self) -> usize {
        if self.via_sidecar {
            ringside::ring::DEFAULT_CAPACITY
        } else {
            UNDRAINED_SLOTS
        }
    }

    fn start_node(&mut self, role: &str, extra: &[String]) -> anyhow::Result<SocketAddr> {
        let mut args = vec!["demo-node".to_string()];
        args.extend_from_slice(extra);
        let mut proc = Proc::start(role, self.dir, self.rings, self.slots(), &args)?;
        let addr = proc.address();
        self.servers.push(proc);
        addr
    }

    fn run(&mut self) -> anyhow::Result<String> {
        let started = Instant::now();
        let s = |v: &dyn ToString| v.to_string();
        let meta = self.start_node(
            "metadata",
            &[s(&"metadata"), s(&"--data-nodes"), s(&DATA_NODES)],
        )?;
        let mut data = Vec::new();
        for id in 1..=DATA_NODES {
            let faulty = id == DATA_NODES;
            let chunks = self.dir.join("data").join(format!("node-{id}"));
            let args = [
                s(&"data"),
                s(&"--id"),
                s(&id),
                s(&"--dir"),
                chunks.display().to_string(),
                s(&"--slow-ms"),
                s(&if faulty { self.args.slow_ms } else { 0 }),
                s(&"--error-rate"),
                s(&if faulty { self.args.error_rate } else { 0.0 }),
            ];
            data.push(self.start_node(&format!("data-{id}"), &args)?);
        }
        let data_list: Vec<String> = data.iter().map(ToString::to_string).collect();
        let gateway = self.start_node(
            "gateway",
            &[
                s(&"gateway"),
                s(&"--meta"),
                s(&meta),
                s(&"--data"),
                data_list.join(","),
            ],
        )?;
        let client_args = [
            s(&"demo-node"),
            s(&"client"),
            s(&"--gateway"),
            s(&gateway),
            s(&"--clients"),
            s(&self.args.clients),
            s(&"--duration-ms"),
            s(&((self.args.duration * 1000.0) as u64)),
            s(&"--log"),
            self.dir.join("requests.tsv").display().to_string(),
        ];
        let mut client = Proc::start("client", self.dir, self.rings, self.slots(), &client_args)?;
        println!(
            "running {} clients for {} s against gateway {gateway} (data node {DATA_NODES}: +{} ms per chunk, {}% errors)",
            self.args.clients,
            self.args.duration,
            self.args.slow_ms,
            self.args.error_rate * 100.0
        );
        if self.via_sidecar {
            println!(
                "live view while it runs: ringside top --ring-dir {}",
                self.rings.display()
            );
        }
        loop {
            if client.child.try_wait()?.is_some() || signals::stopping() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if signals::stopping() {
            client.terminate();
        }
        let stopped = signals::stopping();
        let client_status = client.wait(Duration::from_secs(10))?;
        let stats = client
            .stats
            .take()
            .and_then(|v| serde_json::from_value(v).ok());
        let workload: WorkloadSummary = match stats {
            Some(w) => w,
            // Stopped before the client could report (it may not even have
            // installed its own handler yet): nothing to count, not a failure.
            None if stopped => WorkloadSummary::default(),
            None => anyhow::bail!("the client workload failed ({client_status}); see its log"),
        };
        for p in &self.servers {
            p.terminate();
        }
        for p in &mut self.servers {
            p.wait(Duration::from_secs(5))?;
        }
        let spans = self.collect_spans(&client)?;
        Ok(self.summary(&workload, &client, &spans, started.elapsed()))
    }

    /// All spans: from the rings (read here), or from the sidecar's JSONL
    /// output once it drained and exited.
    fn collect_spans(&mut self, _client: &Proc) -> anyhow::Result<Vec<SpanRow>> {
        if let Some(mut sidecar) = self.sidecar.take() {
            sidecar.terminate();
            let status = sidecar.wait(Duration::from_secs(15))?;
            if !status.success() {
                eprintln!("ringside demo: the sidecar exited with {status}");
            }
            let jsonl = self.dir.join("spans.jsonl");
            // The sidecar creates the file with the first span it exports.
            if !jsonl.exists() {
                return Ok(Vec::new());
            }
            return traces::read_jsonl(&jsonl);
        }
        match self.reader.take() {
            Some(mut reader) => {
                reader.poll().context("cannot read the rings")?;
                Ok(reader.spans)
            }
            None => Ok(Vec::new()),
        }
    }

    fn summary(
        &self,
        w: &WorkloadSummary,
        client: &Proc,
        spans: &[SpanRow],
        elapsed: Duration,
    ) -> String {
        let procs = self.servers.iter().chain(std::iter::once(client));
        let (mut dropped, mut invalid) = (0, 0);
        for p in procs {
            dropped += p.stat("spans_dropped");
            invalid += p.stat("invalid_contexts");
        }
        // The sidecar removes the rings of writers that exited and logs their
        // counters; without it the rings are still there to read.
        let abandoned = if self.via_sidecar {
            sidecar_abandoned(&self.dir.join("sidecar.log"))
        } else {
            traces::ring_drops(self.rings).map_or(0, |d| d.abandoned)
        };
        let traces = traces::by_trace(spans).len();
        let mut out = String::new();
        use std::fmt::Write as _;
        let _ = writeln!(
            out,
            "\nrequests: {} ({} writes, {} reads, {} deletes; {} failed), {:.1} MiB moved",
            w.requests,
            w.writes,
            w.reads,
            w.deletes,
            w.failed,
            w.bytes as f64 / f64::from(1 << 20)
        );
        let _ = writeln!(
            out,
            "spans: {} in {traces} traces ({}), drops: {dropped} dropped, {abandoned} abandoned; invalid incoming contexts: {invalid}",
            spans.len(),
            if self.via_sidecar {
                "via the sidecar"
            } else {
                "read from the rings"
            },
        );
        if self.via_sidecar {
            let _ = writeln!(
                out,
                "sidecar output: {}",
                self.dir.join("spans.jsonl").display()
            );
            let db = self.dir.join("traces.db");
            if db.exists() {
                let _ = writeln!(out, "sidecar store: {}", db.display());
            }
        }
        match traces::slowest_tree(spans) {
            Some(tree) => {
                let _ = write!(out, "slowest {tree}");
            }
            None => out.push_str("no complete trace\n"),
        }
        let _ = writeln!(out, "done in {:.1} s", elapsed.as_secs_f64());
        out
    }
}

/// Positions the sidecar abandoned, summed from its log's `abandoned=N`
/// fields of the lines about rings it drained and removed.
fn sidecar_abandoned(log: &Path) -> u64 {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter(|l| l.contains("ring drained and removed"))
        .flat_map(|l| l.split(' '))
        .filter_map(|field| field.strip_prefix("abandoned=")?.parse::<u64>().ok())
        .sum()
}

/// `--w3c-endpoint`: only the gateway, in this process, with no storage nodes.
fn w3c_endpoint(addr: SocketAddr) -> anyhow::Result<()> {
    let tracer = ringside::trace::Tracer::new("gateway");
    if let Err(e) = tracer.open() {
        eprintln!("ringside demo: spans will not be kept: {e}");
    }
    let gateway = std::sync::Arc::new(Gateway::new(Tracing::Ringside(tracer), None, Vec::new()));
    node::serve_http(&addr.to_string(), std::sync::Arc::clone(&gateway))?;
    let invalid = gateway
        .stats
        .invalid_contexts
        .load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "ringside demo: served {} requests, {invalid} with an invalid trace context",
        gateway
            .stats
            .requests
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    Ok(())
}
