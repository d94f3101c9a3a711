//! Storage span vocabulary: helpers that open correctly named and attributed
//! spans for the four kinds of work in a storage request.
//!
//! | helper | span name | kind | answers |
//! |---|---|---|---|
//! | [`file_op`] | `storage.file.<op>` | server | which file, how big, for whom |
//! | [`metadata_op`] | `storage.metadata.<op>` | server | which key, hit or miss, which version |
//! | [`data_op`] | `storage.data.<op>` | server | which chunk, how big, on which node, which replica |
//! | [`transfer`], [`end_transfer`] | `<service>/<method>` (as given) | client | to which peer, how many bytes each way |
//!
//! Attribute names follow the OpenTelemetry semantic conventions where one
//! exists (`file.path`, `network.peer.address`, `rpc.method`, `error.type`, ...)
//! and use the `storage.*` namespace where none does; every name is a `pub const`
//! here and is described in README.md ("Storage tracing vocabulary").
//!
//! The helpers only call [`Span`] setters: no allocation, no lock, no system
//! call. A record has 188 bytes for the span name and the attributes, so each
//! helper sets the few that identify the work, and a failed span of each kind,
//! with a short error message, still fits whole (the tests check this).
//!
//! ```no_run
//! use ringside::trace::{Tracer, storage::{self, FileOp, MetadataOp, MetadataResult}};
//! let tracer = Tracer::new("gateway");
//! let mut file = storage::file_op(&tracer, None, FileOp::Read, "/vol1/a", None, "client-7");
//! let mut meta = storage::metadata_op(&tracer, Some(&file.context()), MetadataOp::Lookup, "/vol1/a");
//! storage::set_metadata_result(&mut meta, MetadataResult::Hit, Some(3));
//! meta.end();
//! storage::set_size(&mut file, 4096);
//! file.end();
//! ```

use std::fmt::Write as _;
use std::net::SocketAddr;

use super::{Span, SpanContext, SpanKind, StatusCode, Tracer};

/// `file.path` (semconv): path of the file the client asked for.
pub const FILE_PATH: &str = "file.path";
/// `file.size` (semconv): size of the file in bytes.
pub const FILE_SIZE: &str = "file.size";
/// `server.address` (semconv): logical name of the server a client calls.
pub const SERVER_ADDRESS: &str = "server.address";
/// `server.port` (semconv): port of the server a client calls.
pub const SERVER_PORT: &str = "server.port";
/// `network.peer.address` (semconv): address of the other end of the connection.
pub const NETWORK_PEER_ADDRESS: &str = "network.peer.address";
/// `network.peer.port` (semconv): port of the other end of the connection.
pub const NETWORK_PEER_PORT: &str = "network.peer.port";
/// `rpc.method` (semconv): the method called (for example `Write`).
pub const RPC_METHOD: &str = "rpc.method";
/// `error.type` (semconv): low-cardinality class of an error (`EIO`, `timeout`).
pub const ERROR_TYPE: &str = "error.type";

/// `storage.operation`: what a file operation does (`read`, `write`, ...). On
/// metadata and data spans the operation is the last part of the span name.
pub const OPERATION: &str = "storage.operation";
/// `storage.client.id`: the storage client (tenant, mount, application) served.
pub const CLIENT_ID: &str = "storage.client.id";
/// `storage.metadata.key`: the metadata key looked up or changed.
pub const METADATA_KEY: &str = "storage.metadata.key";
/// `storage.metadata.result`: `hit` or `miss`.
pub const METADATA_RESULT: &str = "storage.metadata.result";
/// `storage.metadata.version`: version of the entry read or written.
pub const METADATA_VERSION: &str = "storage.metadata.version";
/// `storage.chunk.id`: the block or chunk read or written.
pub const CHUNK_ID: &str = "storage.chunk.id";
/// `storage.chunk.size`: bytes of the chunk.
pub const CHUNK_SIZE: &str = "storage.chunk.size";
/// `storage.node.id`: the data node that holds the chunk.
pub const NODE_ID: &str = "storage.node.id";
/// `storage.replica.index`: which copy of the chunk (0 is the first).
pub const REPLICA_INDEX: &str = "storage.replica.index";
/// `storage.bytes_sent`: bytes this side sent in a transfer, framing included.
pub const BYTES_SENT: &str = "storage.bytes_sent";
/// `storage.bytes_received`: bytes this side received in a transfer.
pub const BYTES_RECEIVED: &str = "storage.bytes_received";
/// `storage.context.invalid`: true on a server span whose incoming trace context
/// was present but invalid, so that the span started a new trace.
pub const CONTEXT_INVALID: &str = "storage.context.invalid";

macro_rules! operations {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, { $($(#[$vdoc:meta])* $var:ident => $op:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vdoc])* $var),*
        }

        impl $name {
            /// The value of [`OPERATION`].
            pub fn as_str(self) -> &'static str {
                match self { $($name::$var => $op),* }
            }

            /// The span name.
            pub fn span_name(self) -> &'static str {
                match self { $($name::$var => concat!($prefix, $op)),* }
            }
        }
    };
}

operations!(
    /// A file operation as a client asked for it.
    FileOp, "storage.file.", {
        /// Read a whole file.
        Read => "read",
        /// Create or replace a file.
        Write => "write",
        /// Remove a file.
        Delete => "delete",
        /// Read a file's attributes.
        Stat => "stat",
        /// List a directory.
        List => "list",
        /// Rename a file.
        Rename => "rename",
    }
);

operations!(
    /// An operation on the metadata service.
    MetadataOp, "storage.metadata.", {
        /// Find the entry of a key.
        Lookup => "lookup",
        /// Choose where new data goes.
        Allocate => "allocate",
        /// Make new data visible under a key (a new version).
        Commit => "commit",
        /// Remove a key.
        Delete => "delete",
        /// List keys under a prefix.
        List => "list",
        /// Move an entry to another key.
        Rename => "rename",
    }
);

operations!(
    /// An operation on a data node's chunks.
    DataOp, "storage.data.", {
        /// Read a chunk.
        Read => "read",
        /// Write a chunk.
        Write => "write",
        /// Remove a chunk.
        Delete => "delete",
        /// Check a chunk against its checksum.
        Verify => "verify",
    }
);

/// What a metadata operation found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetadataResult {
    /// The key exists.
    Hit,
    /// The key does not exist.
    Miss,
}

impl MetadataResult {
    /// The value of [`METADATA_RESULT`].
    pub fn as_str(self) -> &'static str {
        match self {
            MetadataResult::Hit => "hit",
            MetadataResult::Miss => "miss",
        }
    }
}

/// Opens the server span of a file operation at the entry of the storage system
/// (a gateway, a mount, an NFS server). `size` is the size written, or `None`
/// when not known yet (set it later with [`set_size`]).
#[inline]
pub fn file_op<'t>(
    tracer: &'t Tracer,
    parent: Option<&SpanContext>,
    op: FileOp,
    path: &str,
    size: Option<u64>,
    client_id: &str,
) -> Span<'t> {
    let mut span = tracer.span_with_parent(op.span_name(), parent);
    span.set_kind(SpanKind::Server)
        .set_attr(OPERATION, op.as_str())
        .set_attr(FILE_PATH, path);
    if let Some(size) = size {
        span.set_attr(FILE_SIZE, size);
    }
    span.set_attr(CLIENT_ID, client_id);
    span
}

/// Records the file size once known (on a read, after the lookup).
#[inline]
pub fn set_size(span: &mut Span<'_>, size: u64) {
    span.set_attr(FILE_SIZE, size);
}

/// Opens the server span of a metadata operation on `key`. Record what it found
/// with [`set_metadata_result`].
#[inline]
pub fn metadata_op<'t>(
    tracer: &'t Tracer,
    parent: Option<&SpanContext>,
    op: MetadataOp,
    key: &str,
) -> Span<'t> {
    let mut span = tracer.span_with_parent(op.span_name(), parent);
    span.set_kind(SpanKind::Server).set_attr(METADATA_KEY, key);
    span
}

/// Records whether the key was found and, if known, the entry's version.
#[inline]
pub fn set_metadata_result(span: &mut Span<'_>, result: MetadataResult, version: Option<u64>) {
    span.set_attr(METADATA_RESULT, result.as_str());
    if let Some(version) = version {
        span.set_attr(METADATA_VERSION, version);
    }
}

/// Opens the server span of an operation on one replica of a chunk, on the data
/// node `node` that holds it.
#[inline]
pub fn data_op<'t>(
    tracer: &'t Tracer,
    parent: Option<&SpanContext>,
    op: DataOp,
    chunk_id: &str,
    size: u64,
    node: u32,
    replica: u32,
) -> Span<'t> {
    let mut span = tracer.span_with_parent(op.span_name(), parent);
    span.set_kind(SpanKind::Server)
        .set_attr(CHUNK_ID, chunk_id)
        .set_attr(CHUNK_SIZE, size)
        .set_attr(NODE_ID, node)
        .set_attr(REPLICA_INDEX, replica);
    span
}

/// Opens the client span of a call to another node. `name` is
/// `<service>/<method>` (for example `data/Write`); the part after the last
/// `/` becomes [`RPC_METHOD`]. Close it with [`end_transfer`].
#[inline]
pub fn transfer<'t>(
    tracer: &'t Tracer,
    parent: Option<&SpanContext>,
    name: &str,
    peer: SocketAddr,
) -> Span<'t> {
    let method = name.rsplit('/').next().unwrap_or(name);
    let mut span = tracer.span_with_parent(name, parent);
    let mut ip = StackText::new();
    // An IP address is at most 45 characters, so this always fits.
    let _ = write!(ip, "{}", peer.ip());
    span.set_kind(SpanKind::Client)
        .set_attr(RPC_METHOD, method)
        .set_attr(NETWORK_PEER_ADDRESS, ip.as_str())
        .set_attr(NETWORK_PEER_PORT, peer.port());
    span
}

/// Ends a transfer with the bytes it sent and received and, if it failed, the
/// error as `(error type, message)`. The error type goes in before the byte
/// counts and the message last, cut to the room left, so that a full record
/// loses words of the message rather than `error.type`.
#[inline]
pub fn end_transfer(mut span: Span<'_>, sent: u64, received: u64, error: Option<(&str, &str)>) {
    if let Some((error_type, _)) = error {
        span.set_attr(ERROR_TYPE, error_type);
    }
    span.set_attr(BYTES_SENT, sent)
        .set_attr(BYTES_RECEIVED, received);
    if let Some((_, message)) = error {
        span.set_status(StatusCode::Error, message);
    }
    span.end();
}

/// Marks a span failed: [`ERROR_TYPE`] and the status message (cut to the room
/// left in the record).
#[inline]
pub fn record_error(span: &mut Span<'_>, error_type: &str, message: &str) {
    span.record_error(error_type, message);
}

/// Marks a server span whose incoming context was invalid (it started a new
/// trace instead).
#[inline]
pub fn mark_invalid_context(span: &mut Span<'_>) {
    span.set_attr(CONTEXT_INVALID, true);
}

/// A low-cardinality [`ERROR_TYPE`] for an I/O error: the errno name for the
/// common system errors (`EIO`, `ENOSPC`, ...), else the error kind.
pub fn io_error_type(e: &std::io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::EIO) => "EIO",
        Some(libc::ENOSPC) => "ENOSPC",
        Some(libc::ENOENT) => "ENOENT",
        Some(libc::EACCES) => "EACCES",
        Some(libc::EROFS) => "EROFS",
        Some(libc::ETIMEDOUT) => "ETIMEDOUT",
        Some(libc::ECONNREFUSED) => "ECONNREFUSED",
        Some(libc::ECONNRESET) => "ECONNRESET",
        Some(libc::EPIPE) => "EPIPE",
        _ => io_kind_name(e.kind()),
    }
}

fn io_kind_name(kind: std::io::ErrorKind) -> &'static str {
    use std::io::ErrorKind::*;
    match kind {
        NotFound => "not_found",
        PermissionDenied => "permission_denied",
        ConnectionRefused => "connection_refused",
        ConnectionReset => "connection_reset",
        ConnectionAborted => "connection_aborted",
        BrokenPipe => "broken_pipe",
        TimedOut => "timeout",
        UnexpectedEof => "unexpected_eof",
        InvalidData => "invalid_data",
        WriteZero => "write_zero",
        _ => "io",
    }
}

/// Text formatted on the stack (an IP address), to keep the helpers free of
/// allocation.
struct StackText {
    buf: [u8; 64],
    len: usize,
}

impl StackText {
    fn new() -> StackText {
        StackText {
            buf: [0; 64],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        // Only whole `str`s are ever copied in, so this never falls back.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
#[path = "storage_tests.rs"]
mod tests;
