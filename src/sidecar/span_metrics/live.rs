//! The local endpoint `ringside top` reads: a Unix socket in the ring
//! directory ([`SOCKET_NAME`]), so the ring directory's permissions (the
//! sidecar's user and the ring group) decide who may connect, as they decide
//! who may write rings. A client connects, the sidecar writes one JSON
//! [`LiveSnapshot`] and closes. Histograms are cumulative; a client takes the
//! difference of two snapshots for a window.

use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use ringside::id::hex;
use serde::{Deserialize, Serialize};

use super::series::{kind_label, status_label};
use super::{Shared, SpanMetrics, lock};

/// The socket's file name in the ring directory (not `*.ring`, so the source
/// stage never takes it for a ring).
pub const SOCKET_NAME: &str = "ringside-live.sock";
/// Longest wait for a client to take its snapshot.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest snapshot a client accepts.
const MAX_SNAPSHOT: u64 = 256 << 20;

/// One series as `ringside top` sees it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LiveSeries {
    /// `service.name`; empty for the overflow series.
    pub service: String,
    /// Span name; empty for the overflow series.
    pub name: String,
    /// `SPAN_KIND_…`.
    pub kind: String,
    /// `STATUS_CODE_…`.
    pub status: String,
    /// Configured dimensions and their values.
    pub dimensions: Vec<(String, String)>,
    /// True for the overflow series.
    pub overflow: bool,
    /// Spans counted since the series was created (cumulative).
    pub calls: u64,
    /// Sum of their durations, ns.
    pub sum_ns: u64,
    /// Non-empty fine buckets (see [`super::histogram::fine_bounds`]):
    /// `(bucket, count)`.
    pub buckets: Vec<(u16, u64)>,
    /// When the series was created, Unix ns (a reset shows as a new start).
    pub start_unix_ns: u64,
}

/// A kept span, from the exemplars: what `ringside trace <trace_id>` shows.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LiveTrace {
    /// Service of the span.
    pub service: String,
    /// Span name.
    pub name: String,
    /// `STATUS_CODE_…`.
    pub status: String,
    /// Trace id, hex.
    pub trace_id: String,
    /// Span id, hex.
    pub span_id: String,
    /// Duration, ns.
    pub duration_ns: u64,
    /// End, Unix ns.
    pub end_unix_ns: u64,
}

/// Everything the endpoint answers.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct LiveSnapshot {
    /// When it was taken, Unix ns.
    pub unix_ns: u64,
    /// Every series.
    pub series: Vec<LiveSeries>,
    /// Kept spans, one per series and histogram bucket, latest first.
    pub traces: Vec<LiveTrace>,
    /// Spans counted in the overflow series.
    pub overflow_spans: u64,
    /// The series limit.
    pub max_series: usize,
}

impl LiveSnapshot {
    /// Takes a snapshot of `stage`.
    pub fn of(stage: &SpanMetrics) -> LiveSnapshot {
        let mut series = Vec::new();
        let mut traces = Vec::new();
        let dims = stage.dimensions();
        for (labels, s) in stage.series() {
            let (service, name, kind, status, dimensions) = match &labels {
                Some(l) => (
                    l.service.clone(),
                    l.name.clone(),
                    kind_label(l.kind).to_string(),
                    status_label(l.status).to_string(),
                    dims.iter()
                        .cloned()
                        .zip(l.dimensions.iter().cloned())
                        .collect(),
                ),
                None => Default::default(),
            };
            for x in s.exemplars.iter().flatten() {
                traces.push(LiveTrace {
                    service: service.clone(),
                    name: name.clone(),
                    status: status.clone(),
                    trace_id: hex(&x.trace_id),
                    span_id: hex(&x.span_id),
                    duration_ns: x.duration_ns,
                    end_unix_ns: x.end_unix_ns,
                });
            }
            series.push(LiveSeries {
                overflow: labels.is_none(),
                service,
                name,
                kind,
                status,
                dimensions,
                calls: s.fine.count,
                sum_ns: s.fine.sum_ns,
                buckets: s.fine.sparse(),
                start_unix_ns: s.start_unix_ns,
            });
        }
        traces.sort_by_key(|t| std::cmp::Reverse(t.end_unix_ns));
        let stats = stage.stats();
        LiveSnapshot {
            unix_ns: ringside::clock::unix_ns(),
            series,
            traces,
            overflow_spans: stats.overflow_spans,
            max_series: stats.max_series,
        }
    }
}

/// The socket path for a ring directory.
pub fn socket_path(ring_dir: &Path) -> PathBuf {
    ring_dir.join(SOCKET_NAME)
}

/// Reads one snapshot from the sidecar serving `ring_dir`.
pub fn fetch(ring_dir: &Path) -> io::Result<LiveSnapshot> {
    let path = socket_path(ring_dir);
    let stream = UnixStream::connect(&path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot reach the sidecar at {}: {e} (is `ringside run` running on this ring directory, with span metrics on?)",
                path.display()
            ),
        )
    })?;
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    let mut text = Vec::new();
    stream.take(MAX_SNAPSHOT).read_to_end(&mut text)?;
    serde_json::from_slice(&text).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad snapshot from {}: {e}", path.display()),
        )
    })
}

/// The endpoint, served on a thread of its own; stops and removes its
/// socket when dropped.
#[derive(Debug)]
pub struct LiveServer {
    path: PathBuf,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LiveServer {
    /// Binds the socket in `ring_dir` (mode 0660) and serves `stage`. A
    /// leftover socket nobody answers on is replaced; one that answers
    /// belongs to another sidecar and is an error.
    pub fn start(ring_dir: &Path, stage: Shared) -> io::Result<LiveServer> {
        let path = socket_path(ring_dir);
        if UnixStream::connect(&path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{} is served by another sidecar", path.display()),
            ));
        }
        // A stale socket from a sidecar that died; absent is fine.
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660))?;
        let stopping = Arc::new(AtomicBool::new(false));
        let flag = stopping.clone();
        let thread = std::thread::Builder::new()
            .name("ringside-live".into())
            .spawn(move || serve(listener, &flag, &stage))?;
        Ok(LiveServer {
            path,
            stopping,
            thread: Some(thread),
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LiveServer {
    fn drop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = UnixStream::connect(&self.path);
        let _ = thread.join();
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve(listener: UnixListener, stopping: &AtomicBool, stage: &Shared) {
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(mut stream) = stream else { continue };
        // Copy under the lock, serialize outside it.
        let snapshot = LiveSnapshot::of(&lock(stage));
        let sent = stream
            .set_write_timeout(Some(CLIENT_TIMEOUT))
            .and_then(|()| serde_json::to_writer(&mut stream, &snapshot).map_err(io::Error::other))
            .and_then(|()| stream.flush());
        if let Err(e) = sent {
            log::debug!(error = e.to_string().as_str(); "live view client");
        }
    }
}
