//! The ringside agent: the sidecar that drains the writers' span rings
//! (crate `ringside`), and the tools that answer from the spans.
//!
//! Modules in the order a span flows: [`batch`] (the leaf every stage shares:
//! span batches, resources, spool positions), [`sidecar`] (discover and drain rings,
//! sample, batch, spool, deliver), [`export`] (OTLP/HTTP, JSONL, SQLite,
//! console), [`store`] (the local SQLite store), [`analyze`] (trees, critical
//! paths, percentiles, reports).

#![warn(missing_docs)]

pub mod batch;
pub(crate) mod durable;
pub mod sidecar;
pub mod export;
pub mod store;
pub mod analyze;
