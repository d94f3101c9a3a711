//! The client workload: K concurrent clients sending a mix of writes, reads and
//! deletes of files from 4 KiB to 4 MiB to the gateway for a set time. Each
//! request is the root of its own trace (an HTTP client span); the gateway
//! continues it through `traceparent`. Every request is logged with its trace
//! id, so a test can check that each has exactly one trace.

use std::io::{BufWriter, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use ringside::trace::propagation;
use serde::{Deserialize, Serialize};

use super::instrument::Tracing;
use super::{rng, signals};

/// Smallest file written.
pub const MIN_SIZE: u64 = 4 << 10;
/// Largest file written.
pub const MAX_SIZE: u64 = 4 << 20;
/// Files each client keeps, so that the data directory stays small.
const FILES_PER_CLIENT: u64 = 8;

/// What the clients do.
#[derive(Args, Debug, Clone)]
pub struct WorkloadArgs {
    /// The gateway.
    #[arg(long)]
    pub gateway: SocketAddr,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    pub clients: u32,
    /// How long to run, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub duration_ms: u64,
    /// Log each request here: trace id, method, path, status.
    #[arg(long)]
    pub log: Option<PathBuf>,
}

/// Counts of one workload run.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct WorkloadSummary {
    /// Requests sent.
    pub requests: u64,
    /// Writes sent.
    pub writes: u64,
    /// Reads sent.
    pub reads: u64,
    /// Deletes sent.
    pub deletes: u64,
    /// Requests answered with a 5xx status or not answered.
    pub failed: u64,
    /// Bytes written and read.
    pub bytes: u64,
}

/// Runs the clients and returns what they did.
pub fn run(args: &WorkloadArgs, tracing: &Tracing) -> anyhow::Result<WorkloadSummary> {
    let log = match &args.log {
        Some(p) => Some(Mutex::new(BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        ))),
        None => None,
    };
    let content: Vec<u8> = (0..MAX_SIZE).map(|i| (i * 31 % 251) as u8).collect();
    let end = Instant::now() + Duration::from_millis(args.duration_ms);
    let total = Mutex::new(WorkloadSummary::default());
    std::thread::scope(|s| {
        for client in 0..args.clients {
            let (content, log, total) = (&content, &log, &total);
            s.spawn(move || {
                let mine = client_loop(args, tracing, client, content, log.as_ref(), end);
                let mut t = total.lock().unwrap_or_else(|e| e.into_inner());
                t.requests += mine.requests;
                t.writes += mine.writes;
                t.reads += mine.reads;
                t.deletes += mine.deletes;
                t.failed += mine.failed;
                t.bytes += mine.bytes;
            });
        }
    });
    if let Some(log) = log {
        log.into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .flush()
            .context("cannot write the request log")?;
    }
    Ok(total.into_inner().unwrap_or_else(|e| e.into_inner()))
}

fn client_loop(
    args: &WorkloadArgs,
    tracing: &Tracing,
    client: u32,
    content: &[u8],
    log: Option<&Mutex<BufWriter<std::fs::File>>>,
    end: Instant,
) -> WorkloadSummary {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut written = [false; FILES_PER_CLIENT as usize];
    let mut sum = WorkloadSummary::default();
    while Instant::now() < end && !signals::stopping() {
        let n = (rng::next_u64() % FILES_PER_CLIENT) as usize;
        let path = format!("/files/c{client}/f{n}");
        let roll = rng::unit();
        let method = if !written[n] || roll < 0.4 {
            "PUT"
        } else if roll < 0.9 {
            "GET"
        } else {
            "DELETE"
        };
        let mut span = tracing.client_request(method, &path, args.gateway);
        let ctx = span.context();
        let url = format!("http://{}{path}", args.gateway);
        let mut headers: Vec<(&'static str, String)> =
            vec![("x-client-id", format!("client-{client}"))];
        propagation::inject(&ctx, |name, value| headers.push((name, value.to_string())));
        let result = match method {
            "PUT" => {
                let size = rng::log_uniform(MIN_SIZE, MAX_SIZE) as usize;
                sum.writes += 1;
                sum.bytes += size as u64;
                let mut req = agent.put(&url);
                for (k, v) in &headers {
                    req = req.header(*k, v);
                }
                req.send(&content[..size]).map(|r| (r.status().as_u16(), 0))
            }
            m => {
                let mut req = if m == "GET" {
                    sum.reads += 1;
                    agent.get(&url)
                } else {
                    sum.deletes += 1;
                    agent.delete(&url)
                };
                for (k, v) in &headers {
                    req = req.header(*k, v);
                }
                req.call().map(|mut r| {
                    let status = r.status().as_u16();
                    let len = r.body_mut().read_to_vec().map_or(0, |b| b.len() as u64);
                    (status, len)
                })
            }
        };
        sum.requests += 1;
        let status = match result {
            Ok((status, read)) => {
                sum.bytes += read;
                span.set_http_status(status);
                if status >= 500 {
                    span.fail(&status.to_string(), "server error");
                }
                status
            }
            Err(e) => {
                span.fail("http", &e.to_string());
                0
            }
        };
        if status == 0 || status >= 500 {
            sum.failed += 1;
        }
        match (method, status) {
            ("PUT", 201) => written[n] = true,
            ("DELETE", 204 | 404) | ("GET", 404) => written[n] = false,
            _ => {}
        }
        span.end();
        if let Some(log) = log {
            let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(log, "{}\t{method}\t{path}\t{status}", ctx.trace_id.to_hex());
        }
    }
    sum
}
