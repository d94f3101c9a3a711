//! One process of the mini file store (`ringside demo-node <role>`, started by
//! `ringside demo`): the metadata node, a data node, the gateway or the client
//! workload. Each writes its spans to its own ring in `$RINGSIDE_DIR`, prints
//! `listening <addr>` on stdout once it serves, stops on SIGTERM/SIGINT or when
//! the demo that started it is gone, and prints a last line of counters
//! (`stats {json}`) before it exits.

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use ringside::trace::Tracer;

use super::data::{Chunks, DataNode, Faults};
use super::gateway::Gateway;
use super::instrument::Tracing;
use super::link::{self, Link, TcpLink};
use super::metadata::Metadata;
use super::{http, signals, workload};

/// A process of the demo's file store.
#[derive(Args, Debug)]
pub struct NodeArgs {
    #[command(subcommand)]
    role: Role,
}

/// Which process to be.
#[derive(Subcommand, Debug)]
enum Role {
    /// The metadata node.
    Metadata {
        /// Address to listen on (port 0 picks one).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Number of data nodes to place chunks on.
        #[arg(long, default_value_t = 3)]
        data_nodes: u32,
    },
    /// A data node.
    Data {
        /// Node id, from 1.
        #[arg(long)]
        id: u32,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Directory for the chunk files.
        #[arg(long)]
        dir: PathBuf,
        /// Extra latency of every chunk read and write, in milliseconds.
        #[arg(long, default_value_t = 0)]
        slow_ms: u64,
        /// Chance in [0, 1] that a chunk read or write fails with EIO.
        #[arg(long, default_value_t = 0.0)]
        error_rate: f64,
    },
    /// The HTTP gateway.
    Gateway {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// The metadata node.
        #[arg(long)]
        meta: SocketAddr,
        /// The data nodes, node 1 first.
        #[arg(long, value_delimiter = ',', required = true)]
        data: Vec<SocketAddr>,
    },
    /// The client workload: runs for a duration, then exits by itself.
    Client(workload::WorkloadArgs),
}

/// Runs the process until it is told to stop.
pub fn run(args: NodeArgs) -> anyhow::Result<()> {
    signals::install().context("cannot install signal handlers")?;
    watch_parent();
    match args.role {
        Role::Metadata { listen, data_nodes } => {
            let tracing = tracing("metadata")?;
            let node = Arc::new(Metadata::new(tracing.clone(), data_nodes));
            serve_rpc(listen, Arc::clone(&node) as Arc<dyn link::Handler>)?;
            wait_for_stop();
            report(&node.stats, &tracing, 0)
        }
        Role::Data {
            id,
            listen,
            dir,
            slow_ms,
            error_rate,
        } => {
            if !(0.0..=1.0).contains(&error_rate) {
                anyhow::bail!("--error-rate must be within [0, 1], not {error_rate}");
            }
            let tracing = tracing(&format!("data-{id}"))?;
            let faults = Faults {
                slow: Duration::from_millis(slow_ms),
                error_rate,
            };
            let node = DataNode::new(id, tracing.clone(), Chunks::Disk(dir.clone()), faults)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let node = Arc::new(node);
            serve_rpc(listen, Arc::clone(&node) as Arc<dyn link::Handler>)?;
            wait_for_stop();
            report(&node.stats, &tracing, 0)
        }
        Role::Gateway { listen, meta, data } => {
            let tracing = tracing("gateway")?;
            let data: Vec<Box<dyn Link>> = data
                .into_iter()
                .map(|a| Box::new(TcpLink::new(a)) as Box<dyn Link>)
                .collect();
            let gateway = Gateway::new(tracing.clone(), Some(Box::new(TcpLink::new(meta))), data);
            let gateway = Arc::new(gateway);
            serve_http(&listen.to_string(), Arc::clone(&gateway))?;
            report(
                &gateway.stats,
                &tracing,
                gateway.failed.load(Ordering::Relaxed),
            )
        }
        Role::Client(args) => {
            let tracing = tracing("client")?;
            let summary = workload::run(&args, &tracing)?;
            println!("stats {}", serde_json::to_string(&summary)?);
            Ok(())
        }
    }
}

/// Runs the gateway's HTTP server on `addr` until a stop signal: announces the
/// address, then serves.
pub fn serve_http(addr: &str, gateway: Arc<Gateway>) -> anyhow::Result<()> {
    let server = http::bind(addr)?;
    let bound = server
        .server_addr()
        .to_ip()
        .context("the HTTP server is not on an IP address")?;
    announce(bound);
    http::serve(server, gateway, signals::stopping);
    Ok(())
}

/// A ringside tracer for `service` writing to `$RINGSIDE_DIR`, its ring
/// created now so that a broken ring directory fails the start.
fn tracing(service: &str) -> anyhow::Result<Tracing> {
    let tracer = Tracer::new(service);
    tracer
        .open()
        .map_err(|e| anyhow::anyhow!("cannot create the ring of {service}: {e}"))?;
    Ok(Tracing::Ringside(tracer))
}

fn serve_rpc(listen: SocketAddr, handler: Arc<dyn link::Handler>) -> anyhow::Result<()> {
    let listener =
        TcpListener::bind(listen).with_context(|| format!("cannot listen on {listen}"))?;
    announce(listener.local_addr()?);
    link::serve(listener, handler);
    Ok(())
}

/// Tells the demo where this process serves.
fn announce(addr: SocketAddr) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening {addr}");
    let _ = out.flush();
}

fn wait_for_stop() {
    while signals::sleep(Duration::from_secs(3600)) {}
}

/// Stops this process when the demo that started it is gone (killed without
/// the chance to stop its children): the parent pid changes.
fn watch_parent() {
    let parent = std::os::unix::process::parent_id();
    std::thread::spawn(move || {
        while !signals::stopping() {
            if std::os::unix::process::parent_id() != parent {
                signals::request_stop();
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
}

/// The last line a server process prints: its counters.
fn report(stats: &link::NodeStats, tracing: &Tracing, failed: u64) -> anyhow::Result<()> {
    let line = serde_json::json!({
        "requests": stats.requests.load(Ordering::Relaxed),
        "invalid_contexts": stats.invalid_contexts.load(Ordering::Relaxed),
        "failed": failed,
        "spans_written": tracing.written(),
        "spans_dropped": tracing.dropped(),
    });
    println!("stats {line}");
    Ok(())
}
