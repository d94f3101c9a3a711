//! The sidecar: drains rings and forwards spans. Stages, in the order data
//! flows: source (discover and drain rings) → [`spool`] (durable queue) →
//! delivery (one thread per exporter, see [`crate::export`]).

pub mod config;
pub mod logging;
pub mod spans;
pub mod spool;
