//! ringside: span tracing for storage daemons at close to no cost on the request
//! path. A span becomes one fixed-size record in a shared-memory ring; a sidecar
//! drains the rings and forwards the spans to OTLP, files or SQLite.

#![warn(missing_docs)]

pub mod clock;
pub mod record;
pub mod ring;
mod sync;
#[cfg(not(loom))]
pub mod trace;
