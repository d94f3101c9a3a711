//! Self-metrics: a small HTTP server on a loopback address serving
//! `/metrics` (Prometheus text format 0.0.4, or OpenMetrics on request) and `/healthz` (200 `ok`, or 503
//! with the reason). Each connection is answered on a thread of its own, at
//! most [`MAX_CONNECTIONS`] at once (beyond that a client gets 503 at once),
//! with `Connection: close`; a client has [`CLIENT_TIMEOUT`] in total to send
//! its request and take the answer, however slowly it dribbles bytes, so a
//! slow client can neither hold the endpoint nor keep a thread for long.

mod exposition;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use exposition::{
    Bucket, CONTENT_TYPE, ExemplarText, Exposition, OPENMETRICS_CONTENT_TYPE, escape_label_value,
};

use super::sample::{Reason, SamplerStats};
use crate::store::retention::{self, RetentionStats};

/// Fills a page of metrics; called once per `/metrics` request.
pub type Collect = Arc<dyn Fn(&mut Exposition) + Send + Sync>;
/// Says whether the sidecar is healthy, or why not.
pub type Health = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Longest time a connection is served, from accepting it to the last byte
/// of the answer.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);
/// Most connections served at once.
pub const MAX_CONNECTIONS: usize = 16;
/// Largest request head read.
const MAX_REQUEST: usize = 8 << 10;

/// The running server; stops on [`MetricsServer::stop`] or when dropped.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `listen` (`host:port`; port 0 picks one) and serves on a thread
    /// of its own. A refused bind names the address.
    pub fn start(listen: &str, collect: Collect, health: Health) -> io::Result<MetricsServer> {
        let listener = TcpListener::bind(listen)
            .map_err(|e| io::Error::new(e.kind(), format!("metrics endpoint {listen}: {e}")))?;
        let addr = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let flag = stopping.clone();
        let thread = std::thread::Builder::new()
            .name("ringside-metrics".into())
            .spawn(move || serve(listener, &flag, &collect, &health))?;
        Ok(MetricsServer {
            addr,
            stopping,
            thread: Some(thread),
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and waits for the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the blocking accept; if the connect fails the listener is gone
        // already and the thread is ending anyway.
        let _ = TcpStream::connect_timeout(&self.addr, CLIENT_TIMEOUT);
        let _ = thread.join();
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn serve(listener: TcpListener, stopping: &AtomicBool, collect: &Collect, health: &Health) {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(mut stream) = stream else { continue };
        if active.load(Ordering::Acquire) >= MAX_CONNECTIONS {
            // A few bytes into an empty socket buffer: does not block. The
            // request is not waited for; what has come is read so that the
            // close sends the answer and a FIN rather than a reset.
            let _ = stream.set_nonblocking(true);
            let _ = stream.read(&mut [0u8; 1024]);
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
            let _ = respond(
                &mut stream,
                false,
                503,
                "text/plain",
                "too many connections\n",
            );
            let _ = stream.shutdown(std::net::Shutdown::Write);
            continue;
        }
        active.fetch_add(1, Ordering::AcqRel);
        let slot = ConnectionSlot(active.clone());
        let (collect, health) = (collect.clone(), health.clone());
        let spawned = std::thread::Builder::new()
            .name("ringside-metrics-conn".into())
            .spawn(move || {
                let _slot = slot;
                if let Err(e) = answer(stream, &collect, &health) {
                    log::debug!(error = e.to_string().as_str(); "metrics client");
                }
            });
        if let Err(e) = spawned {
            log::warn!(error = e.to_string().as_str(); "cannot start a metrics connection thread");
        }
    }
}

/// One of the [`MAX_CONNECTIONS`]; given back when dropped.
struct ConnectionSlot(Arc<AtomicUsize>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Time left before `deadline`, or a timeout error when it has passed.
fn left(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "client did not finish within the time limit",
        ));
    }
    Ok(left)
}

/// Reads one request and writes its answer, all within [`CLIENT_TIMEOUT`].
fn answer(mut stream: TcpStream, collect: &Collect, health: &Health) -> io::Result<()> {
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        // The whole request shares one deadline: a byte now and then does
        // not extend it.
        stream.set_read_timeout(Some(left(deadline)?))?;
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_REQUEST {
            stream.set_write_timeout(Some(left(deadline)?))?;
            return respond(&mut stream, false, 431, "text/plain", "request too large\n");
        }
    }
    stream.set_write_timeout(Some(left(deadline)?))?;
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let is_head = method == "HEAD";
    if method != "GET" && !is_head {
        return respond(&mut stream, false, 405, "text/plain", "only GET and HEAD\n");
    }
    let path = target.split('?').next().unwrap_or("");
    match path {
        "/metrics" => {
            let accept = header_value(&head, "accept").unwrap_or_default();
            let page = catch_unwind(AssertUnwindSafe(|| {
                let mut e = Exposition::for_accept(&accept);
                collect(&mut e);
                (e.content_type(), e.finish())
            }));
            match page {
                Ok((kind, page)) => respond(&mut stream, is_head, 200, kind, &page),
                Err(_) => respond(
                    &mut stream,
                    is_head,
                    500,
                    "text/plain",
                    "metrics collection failed\n",
                ),
            }
        }
        "/healthz" => match catch_unwind(AssertUnwindSafe(|| health())) {
            Ok(Ok(())) => respond(&mut stream, is_head, 200, "text/plain", "ok\n"),
            Ok(Err(reason)) => respond(
                &mut stream,
                is_head,
                503,
                "text/plain",
                &format!("{reason}\n"),
            ),
            Err(_) => respond(
                &mut stream,
                is_head,
                503,
                "text/plain",
                "health check failed\n",
            ),
        },
        _ => respond(
            &mut stream,
            is_head,
            404,
            "text/plain",
            "not found; try /metrics or /healthz\n",
        ),
    }
}

/// The value of header `name` (lowercase) in a request head.
fn header_value(head: &[u8], name: &str) -> Option<String> {
    String::from_utf8_lossy(head).lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

fn respond(
    stream: &mut TcpStream,
    head_only: bool,
    status: u16,
    content_type: &str,
    body: &str,
) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        _ => "Service Unavailable",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if !head_only {
        out.push_str(body);
    }
    stream.write_all(out.as_bytes())?;
    stream.flush()
}

/// Writes the sample stage's counters: `ringside_sampled_spans_total` by
/// `decision` (kept, dropped) and `reason`, and the tail buffer's fill.
pub fn expose_sampler(e: &mut Exposition, stats: &SamplerStats) {
    const HELP: &str = "Spans decided by the sample stage, by decision and reason.";
    for reason in Reason::ALL {
        let r = reason.as_str();
        e.counter(
            "ringside_sampled_spans_total",
            HELP,
            &[("decision", "kept"), ("reason", r)],
            stats.kept(reason),
        );
        e.counter(
            "ringside_sampled_spans_total",
            HELP,
            &[("decision", "dropped"), ("reason", r)],
            stats.dropped(reason),
        );
    }
    e.gauge(
        "ringside_tail_traces",
        "Traces held by the tail rules.",
        &[],
        stats.tail_traces as f64,
    );
    e.gauge(
        "ringside_tail_spans",
        "Spans held by the tail rules.",
        &[],
        stats.tail_spans as f64,
    );
}

/// Writes the SQLite store's retention counters:
/// `ringside_store_deleted_traces_total` and `..._spans_total` by `reason`
/// (age, size), the bytes handed back to the file system, failed delete
/// steps, and the store's data size.
pub fn expose_store_retention(e: &mut Exposition, stats: &RetentionStats) {
    use std::sync::atomic::Ordering::Relaxed;
    for reason in retention::Reason::ALL {
        let labels = [("reason", reason.as_str())];
        e.counter(
            "ringside_store_deleted_traces_total",
            "Whole traces the SQLite store's retention deleted, by reason (age, size).",
            &labels,
            stats.traces(reason),
        );
        e.counter(
            "ringside_store_deleted_spans_total",
            "Spans of the traces the SQLite store's retention deleted, by reason.",
            &labels,
            stats.spans(reason),
        );
    }
    e.counter(
        "ringside_store_released_bytes_total",
        "Free pages of the SQLite store handed back to the file system.",
        &[],
        stats.released_bytes.load(Relaxed),
    );
    e.counter(
        "ringside_store_retention_errors_total",
        "Retention steps of the SQLite store that failed (writes went on).",
        &[],
        stats.errors.load(Relaxed),
    );
    e.gauge(
        "ringside_store_bytes",
        "Data size of the SQLite store (pages in use) after the last retention check.",
        &[],
        stats.store_bytes.load(Relaxed) as f64,
    );
}

#[cfg(test)]
mod tests;
