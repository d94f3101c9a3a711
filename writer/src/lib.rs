//! ringside's writer: what a storage daemon links to trace its requests.
//!
//! A span becomes one fixed-size record ([`record`]) written into a
//! shared-memory ring ([`ring`]) with raw clock ticks ([`clock`]); no lock, no
//! syscall and no allocation on the request path, and a full ring drops the
//! record and counts it instead of waiting. [`trace`] is the Rust API, [`ffi`]
//! the same API for C, C++ and Go (`include/ringside.h`). The sidecar
//! (`ringside run`, crate `ringside-agent`) drains the rings.
//!
//! Modules in the order a span travels: [`trace`] builds it, [`record`] lays it
//! out, [`clock`] stamps it, [`ring`] carries it to the reader; [`id`] (ids and
//! hex) and the random source are leaves they share.

#![warn(missing_docs)]

#[cfg(not(loom))]
pub mod trace;
#[cfg(not(loom))]
pub mod ffi;
pub mod record;
pub mod clock;
pub mod ring;
#[cfg(not(loom))]
pub mod id;
#[cfg(not(loom))]
mod random;
mod sync;
