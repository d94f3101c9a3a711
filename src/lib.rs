//! ringside: span tracing for storage daemons at close to no cost on the request
//! path. A span becomes one fixed-size record in a shared-memory ring; a sidecar
//! drains the rings and forwards the spans to OTLP, files or SQLite.

#![warn(missing_docs)]

#[cfg(all(feature = "sidecar", not(loom)))]
pub mod analyze;
pub mod clock;
#[cfg(all(feature = "sidecar", not(loom)))]
pub mod export;
#[cfg(not(loom))]
pub mod ffi;
pub mod record;
pub mod ring;
#[cfg(all(feature = "sidecar", not(loom)))]
pub mod sidecar;
#[cfg(all(feature = "sidecar", not(loom)))]
pub mod store;
mod sync;
#[cfg(not(loom))]
pub mod trace;
