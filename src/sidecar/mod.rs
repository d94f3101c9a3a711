//! The sidecar: drains rings and forwards spans. Stages, in the order data
//! flows: [`source`] (discover and drain rings) → [`spool`] (durable queue) →
//! exporters ([`crate::export`]).

pub mod spans;
pub mod spool;
