//! The sidecar: drains rings and forwards spans. Stages, in the order data
//! flows: [`source`] (discover and drain rings, with [`owners`] deciding whose
//! rings are read, [`admission`] how many are open at once, [`ring_dir`] the directory's access rules and [`sigbus`]
//! surviving a ring that shrinks under its mapping) → [`span_metrics`] (exact
//! metrics from every span) → [`sample`] (which spans leave the node) → [`spool`]
//! (durable queue on disk) → [`deliver`] (one thread per exporter, see
//! [`crate::export`]). [`run`] holds the poll loop that drives them; around it
//! sit [`config`], [`metrics`] (`/metrics`, `/healthz`), [`logging`] and
//! [`notify`] (systemd readiness).

pub mod source;
pub mod admission;
pub mod owners;
pub mod ring_dir;
pub mod sigbus;
pub mod span_metrics;
pub mod sample;
pub mod spool;
pub mod deliver;
pub mod run;
pub mod config;
pub mod metrics;
pub mod logging;
pub mod notify;
