//! Exporters: where spans go after the spool. Each exporter runs on its own
//! thread with its own cursor into the spool, so a slow or failing one never
//! stalls the others (see [`crate::sidecar`]).

use std::time::Duration;

pub mod jsonl;
pub mod sqlite;
pub mod console;

use crate::batch::SpanBatch;
use crate::batch::SpoolCursor;

/// What an export call achieved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportOutcome {
    /// Spans the destination took.
    pub accepted: u64,
    /// Spans the destination refused while accepting the rest (OTLP partial
    /// success); they are counted and not sent again.
    pub rejected: u64,
}

/// Why an export call failed.
#[derive(Debug)]
pub enum ExportError {
    /// Worth trying again later: the batches stay in the spool.
    Retryable {
        /// What went wrong, for logs and metrics.
        reason: String,
        /// The destination asked to wait this long (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// Never worth retrying (for example OTLP 400): the batches are dropped and
    /// counted.
    Permanent {
        /// What went wrong, for logs and metrics.
        reason: String,
    },
}

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExportError::Retryable { reason, .. } => write!(f, "retryable: {reason}"),
            ExportError::Permanent { reason } => write!(f, "permanent: {reason}"),
        }
    }
}

impl std::error::Error for ExportError {}

/// A destination for spans.
pub trait Exporter: Send {
    /// Short name used in logs, metrics and the cursor file (`otlp`, `jsonl`, ...).
    fn name(&self) -> &str;

    /// Called once before the first export. An exporter that stores its spool
    /// cursor together with its own data (exactly-once local sinks: JSONL,
    /// SQLite) makes its data consistent with that cursor (for example by
    /// cutting a half-written line) and returns it. Others return `Ok(None)`,
    /// and the runner keeps their cursor in the spool directory.
    fn recover(&mut self) -> anyhow::Result<Option<SpoolCursor>> {
        Ok(None)
    }

    /// Sends `batches`. `cursor` is the spool position just after them; an
    /// exporter that keeps its own cursor stores it with the data.
    fn export(
        &mut self,
        batches: &[SpanBatch],
        cursor: SpoolCursor,
    ) -> Result<ExportOutcome, ExportError>;

    /// Called by the delivery stage each time the spool had nothing new for
    /// this exporter and it waited for more: after a whole batch timeout, or
    /// earlier when an append (or the spool closing) ended the wait. It is
    /// no clock: an exporter paces its own housekeeping (the SQLite exporter
    /// prunes at most every [`IDLE_PRUNE_EVERY`](sqlite::IDLE_PRUNE_EVERY)).
    /// For housekeeping that must not wait for the next export (the SQLite
    /// exporter's retention, so that a node that stopped writing still
    /// deletes what got too old). It runs on the exporter's thread, between
    /// exports, and should take no longer than a write would; failures are
    /// the exporter's to count and log.
    fn idle(&mut self) {}
}

pub mod otlp;
