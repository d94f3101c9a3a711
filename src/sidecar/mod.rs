//! The sidecar: drains rings and forwards spans. Stages, in the order data
//! flows: [`source`] (discover and drain rings) → [`spool`] (durable queue) →
//! [`deliver`] (one thread per exporter, see [`crate::export`]). [`run`] holds
//! the poll loop that drives them.

pub mod config;
pub mod deliver;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod owners;
pub mod run;
pub mod sample;
pub mod source;
pub mod spool;
