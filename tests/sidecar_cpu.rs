//! Measurements, not checks (`#[ignore]`d; numbers go to stderr): the CPU
//! `ringside run` spends forwarding spans from rings to an OTLP/HTTP sink on
//! 127.0.0.1, side by side with rotel forwarding the same spans (OTLP/HTTP in,
//! OTLP/HTTP out to the same sink); its idle CPU with no writers; its CPU and
//! peak RSS under a steady 200,000 spans/s. CPU is utime + stime of the
//! process from /proc/<pid>/stat. Run in release, rotel in `target/venv`:
//!
//! ```text
//! cargo test --release --test sidecar_cpu -- --ignored --nocapture --test-threads=1
//! ```
//!
//! `RINGSIDE_BENCH_SPANS` (default 1,000,000), `RINGSIDE_BENCH_RUNS` (3) and
//! `RINGSIDE_BENCH_SECONDS` (10, the steady-load run) change the sizes. A
//! debug build (plain `cargo test -- --include-ignored`, as CI runs) uses
//! small defaults: it checks that the harness works, its numbers mean nothing.

mod common;
mod fake_otlp;
mod rotel_support;
#[path = "../benches/support/storage_spans.rs"]
mod storage_spans;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use fake_otlp::{FakeReceiver, Reply};
use ringside::record::Record;
use ringside::ring::Ring;
use ringside_agent::batch::{Resource, SpanBatch};
use ringside_agent::export::otlp::encode_proto;
use rotel_support::Rotel;

const BATCH: usize = 8192;

/// `key` from the environment, else `release` in an optimized build and
/// `debug` in a debug build.
fn env_u64(key: &str, release: u64, debug: u64) -> u64 {
    let default = if cfg!(debug_assertions) {
        debug
    } else {
        release
    };
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A storage span (the one of benches/encode.rs): name, kind, remote parent,
/// five attributes; times from `now`.
fn storage_span(i: u64, now: u64) -> Record {
    storage_spans::storage_span(i, "storage.data.write", now, 180_000 + i % 977)
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_seconds(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    // Fields 14 and 15 of stat(5); `rest` starts at field 3.
    let ticks: u64 = rest[11].parse::<u64>().unwrap() + rest[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks as f64 / hz
}

/// Peak resident set in MiB (`VmHWM`).
fn peak_rss_mib(pid: i32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024.0
}

/// A loopback OTLP sink answering 200 to everything; counts spans.
struct Sink {
    receiver: FakeReceiver,
    spans: u64,
    requests: u64,
}

impl Sink {
    fn start() -> Sink {
        Sink {
            receiver: FakeReceiver::start(|_| Reply::ok()),
            spans: 0,
            requests: 0,
        }
    }

    fn wait_for(&mut self, spans: u64) {
        wait_for("spans at the sink", Duration::from_secs(600), || {
            for r in self.receiver.requests() {
                self.spans += r.span_ids().len() as u64;
                self.requests += 1;
            }
            self.spans >= spans
        });
    }
}

/// `ringside run` draining `rings` into an OTLP exporter sending to `endpoint`.
fn start_ringside(tmp: &TempDir, endpoint: &str) -> Proc {
    let config = tmp.join("ringside.toml");
    std::fs::write(
        &config,
        format!(
            "[rings]\ndir = \"{}\"\n[spool]\ndir = \"{}\"\n[metrics]\nlisten = \"\"\n\
             [[exporters]]\nkind = \"otlp\"\nendpoint = \"{endpoint}\"\n",
            tmp.join("rings").display(),
            tmp.join("spool").display()
        ),
    )
    .unwrap();
    std::fs::create_dir_all(tmp.join("rings")).unwrap();
    let proc = Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_ringside"))
            .arg("run")
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(tmp.join("sidecar.log")).unwrap()),
        "ringside run",
    );
    // Started and idle.
    std::thread::sleep(Duration::from_millis(500));
    proc
}

/// Writes `spans` spans into a ring, at most `per_ms` a millisecond (0: as
/// fast as the ring takes them); a full ring is waited on, never dropped from.
/// Returns the seconds the writing took.
fn write_spans(rings: &Path, spans: u64, per_ms: u64) -> f64 {
    let ring = Ring::create(rings, "data-node", 1 << 16).unwrap();
    // Built once, stamped with fresh times when written.
    let templates: Vec<Record> = (0..4096).map(|i| storage_span(i, 0)).collect();
    let start = Instant::now();
    for i in 0..spans {
        if per_ms > 0 && i % per_ms == 0 {
            let due = start + Duration::from_millis(i / per_ms);
            if let Some(d) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
        }
        let mut r = templates[(i % 4096) as usize];
        r.span_id = (i + 1).to_le_bytes();
        r.trace_id[..8].copy_from_slice(&(i / 16).to_le_bytes());
        let duration = r.end - r.start;
        r.start = ringside::clock::now();
        r.end = r.start + duration;
        while ring.push(&r).is_err() {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    let took = start.elapsed().as_secs_f64();
    // The ring (and this writer) stays until the test ends; its file is
    // removed with the temporary directory.
    std::mem::forget(ring);
    took
}

/// CPU seconds `ringside run` spent forwarding `spans` spans, and its peak RSS.
fn ringside_forwarding(spans: u64) -> (f64, f64) {
    let tmp = TempDir::new("cpu-ringside");
    let mut sink = Sink::start();
    let sidecar = start_ringside(&tmp, &sink.receiver.endpoint);
    let before = cpu_seconds(sidecar.pid());
    write_spans(&tmp.join("rings"), spans, 0);
    sink.wait_for(spans);
    let cpu = cpu_seconds(sidecar.pid()) - before;
    assert_eq!(sink.spans, spans, "the sink got every span once");
    (cpu, peak_rss_mib(sidecar.pid()))
}

/// CPU seconds rotel spent forwarding the same spans, sent to it as OTLP/HTTP
/// protobuf requests of 8192, and its peak RSS.
fn rotel_forwarding(spans: u64) -> (f64, f64) {
    let mut sink = Sink::start();
    let sink_base = sink
        .receiver
        .endpoint
        .trim_end_matches("/v1/traces")
        .to_string();
    let rotel = Rotel::start_with(
        "cpu",
        &[
            "--exporter",
            "otlp",
            "--otlp-exporter-endpoint",
            &sink_base,
            "--otlp-exporter-protocol",
            "http",
            "--otlp-exporter-compression",
            "none",
        ],
    );
    let resource = Arc::new(Resource {
        service: "data-node".into(),
        pid: std::process::id(),
        host: ringside_agent::sidecar::source::host_name(),
        ring_id: 1,
        attributes: Vec::new(),
    });
    // Encoded beforehand: the client's work is not rotel's.
    let now = ringside::clock::unix_ns();
    let bodies: Vec<Vec<u8>> = (0..spans)
        .collect::<Vec<_>>()
        .chunks(BATCH)
        .map(|ids| {
            let batch = SpanBatch {
                resource: resource.clone(),
                records: ids.iter().map(|&i| storage_span(i, now)).collect(),
            };
            let mut body = Vec::new();
            encode_proto(&[batch], &mut body);
            body
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let before = cpu_seconds(rotel.pid());
    let agent = ureq::Agent::new_with_defaults();
    for body in &bodies {
        let response = agent
            .post(&rotel.endpoint)
            .header("Content-Type", "application/x-protobuf")
            .send(&body[..])
            .expect("rotel takes the request");
        assert_eq!(response.status().as_u16(), 200);
    }
    sink.wait_for(spans);
    let cpu = cpu_seconds(rotel.pid()) - before;
    assert_eq!(sink.spans, spans, "the sink got every span once");
    (cpu, peak_rss_mib(rotel.pid()))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
#[ignore = "measurement; needs rotel in target/venv and a release build"]
fn cpu_per_million_spans_ringside_and_rotel() {
    let spans = env_u64("RINGSIDE_BENCH_SPANS", 1_000_000, 20_000);
    let runs = env_u64("RINGSIDE_BENCH_RUNS", 3, 1);
    let (mut ours, mut theirs, mut ours_rss, mut theirs_rss) = (vec![], vec![], vec![], vec![]);
    let per_million = |cpu: f64| cpu * 1e6 / spans as f64;
    for run in 0..runs {
        let (cpu, rss) = ringside_forwarding(spans);
        eprintln!(
            "run {run}: ringside {:.3} CPU-s per million spans, peak RSS {rss:.1} MiB",
            per_million(cpu),
        );
        ours.push(per_million(cpu));
        ours_rss.push(rss);
        let (cpu, rss) = rotel_forwarding(spans);
        eprintln!(
            "run {run}: rotel    {:.3} CPU-s per million spans, peak RSS {rss:.1} MiB",
            per_million(cpu)
        );
        theirs.push(per_million(cpu));
        theirs_rss.push(rss);
    }
    let (o, t) = (median(ours), median(theirs));
    eprintln!(
        "median of {runs} runs of {spans} spans: ringside {o:.3} CPU-s/M spans \
         (peak RSS {:.1} MiB), rotel {t:.3} CPU-s/M spans (peak RSS {:.1} MiB), \
         ringside/rotel = {:.2}",
        median(ours_rss),
        median(theirs_rss),
        o / t
    );
}

#[test]
#[ignore = "measurement; run in release"]
fn idle_cpu_of_ringside_run() {
    let tmp = TempDir::new("cpu-idle");
    let sink = Sink::start();
    let sidecar = start_ringside(&tmp, &sink.receiver.endpoint);
    std::thread::sleep(Duration::from_secs(1));
    let (before, t0) = (cpu_seconds(sidecar.pid()), Instant::now());
    std::thread::sleep(Duration::from_secs(10));
    let cpu = cpu_seconds(sidecar.pid()) - before;
    let wall = t0.elapsed().as_secs_f64();
    eprintln!(
        "idle: {cpu:.3} CPU-s in {wall:.1} s = {:.3} % of a core, peak RSS {:.1} MiB",
        100.0 * cpu / wall,
        peak_rss_mib(sidecar.pid())
    );
}

#[test]
#[ignore = "measurement; run in release"]
fn steady_200k_spans_per_second() {
    let seconds = env_u64("RINGSIDE_BENCH_SECONDS", 10, 1);
    let spans = 200_000 * seconds;
    let tmp = TempDir::new("cpu-steady");
    let mut sink = Sink::start();
    let sidecar = start_ringside(&tmp, &sink.receiver.endpoint);
    let (before, t0) = (cpu_seconds(sidecar.pid()), Instant::now());
    let writing = write_spans(&tmp.join("rings"), spans, 200);
    sink.wait_for(spans);
    let cpu = cpu_seconds(sidecar.pid()) - before;
    let wall = t0.elapsed().as_secs_f64();
    assert_eq!(sink.spans, spans);
    eprintln!(
        "steady: {spans} spans written in {writing:.1} s ({:.0} spans/s), at the sink after \
         {wall:.1} s: {cpu:.2} CPU-s = {:.1} % of a core over the writing, {:.2} CPU-s per \
         million spans, {} requests ({:.0} spans each), peak RSS {:.1} MiB",
        spans as f64 / writing,
        100.0 * cpu / writing,
        cpu * 1e6 / spans as f64,
        sink.requests,
        spans as f64 / sink.requests as f64,
        peak_rss_mib(sidecar.pid())
    );
}
