//! Answers from spans, on one node and without a backend: one trace as a tree
//! ([`tree`], [`view`]), the critical path ([`critical_path`]), trace search
//! ([`search`]), latency statistics ([`stats`]), bottlenecks
//! ([`bottlenecks`]), and pictures ([`chart`], [`report`]).
//!
//! Every analysis works on [`model::SpanRow`]s loaded by [`input::Input`] from the
//! SQLite store or from OTLP-JSON lines files.

pub mod bottlenecks;
pub mod chart;
pub mod critical_path;
pub mod input;
pub mod model;
pub mod report;
pub mod search;
pub mod stats;
pub mod time;
pub mod tree;
pub mod view;

#[cfg(test)]
pub(crate) mod testing;
