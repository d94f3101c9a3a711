//! `ringside demo`: a traced mini file store on loopback. A gateway (HTTP), a
//! metadata node and three data nodes (a binary RPC over TCP), each its own
//! process with its own ring, a client workload, and the sidecar collecting
//! the spans; at the end, a summary with the slowest trace as a tree.
//!
//! Reading order: [`rpc`] (the frame), [`link`] (sockets), [`metadata`],
//! [`data`], [`gateway`] (the storage logic), [`http`] (the gateway's front),
//! [`workload`] (clients), [`node`] (one process), [`process`] and [`run`]
//! (the whole demo), [`traces`] (reading the spans back). [`instrument`] lets
//! the same code run under ringside, tracing off or the OpenTelemetry SDK
//! (`otel`, feature `otel`) for `ringside bench` ([`bench`]).

pub mod rpc;
pub mod link;
pub mod metadata;
pub mod data;
pub mod gateway;
pub mod http;
pub mod workload;
pub mod node;
pub mod process;
pub mod run;
pub mod traces;
pub mod instrument;
pub mod http_names;
#[cfg(feature = "otel")]
pub mod otel;
pub mod bench;
pub mod rng;
pub mod signals;
