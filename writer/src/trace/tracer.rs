//! The tracer: a service's handle on its process's ring.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use super::context::{self, SpanContext};
use super::ring_handle::RingHandle;
use super::span::Span;
use crate::record::Record;
use crate::ring::{self, PushError, Ring, RingStats};

/// Creates spans for one service. Cloning is cheap and clones share the ring.
///
/// The ring file is created on the first span, in the ring directory
/// (`$RINGSIDE_DIR`, else `/run/ringside`). If it cannot be created, spans are
/// counted as lost (see [`Tracer::lost`]), a one-line message goes to stderr
/// once, and the application carries on untouched.
///
/// ```
/// # let dir = tempfile_dir();
/// use ringside::trace::{Tracer, SpanKind};
/// let tracer = Tracer::builder("meta-server").dir(&dir).build();
/// let mut span = tracer.span("metadata.lookup");
/// span.set_kind(SpanKind::Server);
/// span.set_attr("storage.metadata.key", "/vol1/a/b");
/// span.end();
/// assert_eq!(tracer.stats().unwrap().written, 1);
/// # fn tempfile_dir() -> std::path::PathBuf {
/// #     let d = std::env::temp_dir().join(format!("ringside-doc-{}", std::process::id()));
/// #     std::fs::create_dir_all(&d).unwrap(); d
/// # }
/// ```
#[derive(Clone)]
pub struct Tracer {
    inner: Arc<RingHandle>,
}

/// Configures a [`Tracer`].
pub struct TracerBuilder {
    service: String,
    dir: Option<PathBuf>,
    capacity: Option<usize>,
}

impl TracerBuilder {
    /// Ring directory (default: `$RINGSIDE_DIR`, else `/run/ringside`).
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Slots in the ring, a power of two (default: `$RINGSIDE_RING_SLOTS`,
    /// else 65536, i.e. 16 MiB).
    pub fn capacity(mut self, slots: usize) -> Self {
        self.capacity = Some(slots);
        self
    }

    /// The tracer. Nothing is created until the first span ends.
    pub fn build(self) -> Tracer {
        let capacity = self
            .capacity
            .or_else(|| std::env::var("RINGSIDE_RING_SLOTS").ok()?.parse().ok())
            .unwrap_or(ring::DEFAULT_CAPACITY);
        Tracer {
            inner: Arc::new(RingHandle {
                service: self.service,
                dir: self.dir.unwrap_or_else(ring::default_dir),
                capacity,
                enabled: true,
                ring: OnceLock::new(),
                lost: AtomicU64::new(0),
            }),
        }
    }
}

impl Tracer {
    /// A tracer for `service` with the default ring directory and size.
    pub fn new(service: &str) -> Tracer {
        Tracer::builder(service).build()
    }

    /// Starts configuring a tracer for `service`.
    pub fn builder(service: &str) -> TracerBuilder {
        TracerBuilder {
            service: service.to_string(),
            dir: None,
            capacity: None,
        }
    }

    /// A tracer that records nothing: spans still get ids and propagate context,
    /// but no ring is created and nothing is written.
    pub fn disabled(service: &str) -> Tracer {
        let t = Tracer::builder(service).build();
        Tracer {
            inner: Arc::new(RingHandle {
                enabled: false,
                ..Arc::into_inner(t.inner).expect("fresh tracer")
            }),
        }
    }

    /// The service name.
    pub fn service(&self) -> &str {
        &self.inner.service
    }

    /// Starts a span whose parent is the thread's current span (see
    /// [`Span::enter`]), or a new trace if there is none.
    #[inline(always)]
    pub fn span(&self, name: &str) -> Span<'_> {
        Span::start(&self.inner, name, context::current_for_child())
    }

    /// Starts a span with an explicit parent; `None` starts a new trace.
    #[inline(always)]
    pub fn span_with_parent(&self, name: &str, parent: Option<&SpanContext>) -> Span<'_> {
        Span::start(&self.inner, name, parent.cloned())
    }

    /// The ring's counters, or `None` before the first span or if the ring could
    /// not be created.
    pub fn stats(&self) -> Option<RingStats> {
        self.inner.ring.get()?.as_ref().ok().map(Ring::stats)
    }

    /// Why the ring could not be created, if it could not.
    pub fn ring_error(&self) -> Option<&str> {
        self.inner.ring.get()?.as_ref().err().map(String::as_str)
    }

    /// The ring file, once created.
    pub fn ring_path(&self) -> Option<PathBuf> {
        Some(self.inner.ring.get()?.as_ref().ok()?.path().to_path_buf())
    }

    /// Spans lost because the ring could not be created, or because a span
    /// started in a signal handler found its thread's record pool busy.
    pub fn lost(&self) -> u64 {
        self.inner.lost.load(Ordering::Relaxed)
    }

    /// Writes a finished span's record (the C ABI's spans end through this).
    #[inline]
    pub(crate) fn submit(&self, rec: &Record) -> Result<(), PushError> {
        self.inner.submit(rec)
    }

    /// Creates the ring now instead of on the first span (so that the first
    /// span does not pay for it). Returns the error text if that failed.
    pub fn open(&self) -> Result<(), String> {
        match self.inner.ring() {
            Some(_) => Ok(()),
            None => Err(self
                .ring_error()
                .unwrap_or("tracer is disabled")
                .to_string()),
        }
    }
}
