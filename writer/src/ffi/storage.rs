//! `rs_storage_*`: the storage span vocabulary of [`crate::trace::storage`]
//! for C callers. Each helper starts an `rs_span_t` named, kinded and
//! attributed exactly as its Rust counterpart does (same names, same
//! attributes in the same order), so spans from C and Rust daemons read alike.

use std::ffi::c_char;
use std::io::Write as _;
use std::net::IpAddr;

use super::context::rs_span_context_t;
use super::span::{SpanState, live_span, rs_span_end, rs_span_t, start_span};
use super::tracer::rs_tracer_t;
use super::{RS_ERR_INVALID, guard, rs_status_t, str_arg};
use crate::record::{SpanKind, StatusCode, Value};
use crate::trace::storage::{
    BYTES_RECEIVED, BYTES_SENT, CHUNK_ID, CHUNK_SIZE, CLIENT_ID, CONTEXT_INVALID, DataOp,
    ERROR_TYPE, FILE_PATH, FILE_SIZE, FileOp, METADATA_KEY, METADATA_RESULT, METADATA_VERSION,
    MetadataOp, MetadataResult, NETWORK_PEER_ADDRESS, NETWORK_PEER_PORT, NODE_ID, OPERATION,
    REPLICA_INDEX, RPC_METHOD,
};

/// A file operation: one of the `RS_FILE_*` values.
pub type rs_file_op_t = u32;
/// Read a whole file (`storage.file.read`).
pub const RS_FILE_READ: rs_file_op_t = 1;
/// Create or replace a file (`storage.file.write`).
pub const RS_FILE_WRITE: rs_file_op_t = 2;
/// Remove a file (`storage.file.delete`).
pub const RS_FILE_DELETE: rs_file_op_t = 3;
/// Read a file's attributes (`storage.file.stat`).
pub const RS_FILE_STAT: rs_file_op_t = 4;
/// List a directory (`storage.file.list`).
pub const RS_FILE_LIST: rs_file_op_t = 5;
/// Rename a file (`storage.file.rename`).
pub const RS_FILE_RENAME: rs_file_op_t = 6;

/// A metadata operation: one of the `RS_METADATA_*` operation values.
pub type rs_metadata_op_t = u32;
/// Find the entry of a key (`storage.metadata.lookup`).
pub const RS_METADATA_LOOKUP: rs_metadata_op_t = 1;
/// Choose where new data goes (`storage.metadata.allocate`).
pub const RS_METADATA_ALLOCATE: rs_metadata_op_t = 2;
/// Make new data visible under a key (`storage.metadata.commit`).
pub const RS_METADATA_COMMIT: rs_metadata_op_t = 3;
/// Remove a key (`storage.metadata.delete`).
pub const RS_METADATA_DELETE: rs_metadata_op_t = 4;
/// List keys under a prefix (`storage.metadata.list`).
pub const RS_METADATA_LIST: rs_metadata_op_t = 5;
/// Move an entry to another key (`storage.metadata.rename`).
pub const RS_METADATA_RENAME: rs_metadata_op_t = 6;

/// What a metadata operation found: `RS_METADATA_HIT` or `RS_METADATA_MISS`.
pub type rs_metadata_result_t = u32;
/// The key exists.
pub const RS_METADATA_HIT: rs_metadata_result_t = 1;
/// The key does not exist.
pub const RS_METADATA_MISS: rs_metadata_result_t = 2;

/// An operation on a chunk: one of the `RS_DATA_*` values.
pub type rs_data_op_t = u32;
/// Read a chunk (`storage.data.read`).
pub const RS_DATA_READ: rs_data_op_t = 1;
/// Write a chunk (`storage.data.write`).
pub const RS_DATA_WRITE: rs_data_op_t = 2;
/// Remove a chunk (`storage.data.delete`).
pub const RS_DATA_DELETE: rs_data_op_t = 3;
/// Check a chunk against its checksum (`storage.data.verify`).
pub const RS_DATA_VERIFY: rs_data_op_t = 4;

/// A size or version not known (yet): the attribute is left out.
pub const RS_UNKNOWN: u64 = u64::MAX;

fn file_op(op: rs_file_op_t) -> Result<FileOp, rs_status_t> {
    Ok(match op {
        RS_FILE_READ => FileOp::Read,
        RS_FILE_WRITE => FileOp::Write,
        RS_FILE_DELETE => FileOp::Delete,
        RS_FILE_STAT => FileOp::Stat,
        RS_FILE_LIST => FileOp::List,
        RS_FILE_RENAME => FileOp::Rename,
        _ => return Err(RS_ERR_INVALID),
    })
}

fn metadata_op(op: rs_metadata_op_t) -> Result<MetadataOp, rs_status_t> {
    Ok(match op {
        RS_METADATA_LOOKUP => MetadataOp::Lookup,
        RS_METADATA_ALLOCATE => MetadataOp::Allocate,
        RS_METADATA_COMMIT => MetadataOp::Commit,
        RS_METADATA_DELETE => MetadataOp::Delete,
        RS_METADATA_LIST => MetadataOp::List,
        RS_METADATA_RENAME => MetadataOp::Rename,
        _ => return Err(RS_ERR_INVALID),
    })
}

fn data_op(op: rs_data_op_t) -> Result<DataOp, rs_status_t> {
    Ok(match op {
        RS_DATA_READ => DataOp::Read,
        RS_DATA_WRITE => DataOp::Write,
        RS_DATA_DELETE => DataOp::Delete,
        RS_DATA_VERIFY => DataOp::Verify,
        _ => return Err(RS_ERR_INVALID),
    })
}

/// Runs a helper's argument checks and start; if they fail, `*span` is
/// marked not started, as `rs_span_start` does.
///
/// # Safety
/// `span` is NULL or valid for writes of an `rs_span_t`.
unsafe fn starting(
    span: *mut rs_span_t,
    body: impl FnOnce() -> Result<(), rs_status_t>,
) -> rs_status_t {
    let code = guard(body);
    if code != super::RS_OK && !span.is_null() {
        // SAFETY: non-NULL and valid for writes (caller); the first word of an
        // `rs_span_t` is its state, and 0 means "not started".
        unsafe { span.cast::<u64>().write(0) };
    }
    code
}

/// Starts the server span of a file operation (`storage.file.<op>`) at the
/// entry of the storage system, with `storage.operation`, `file.path`,
/// `file.size` (unless `size` is `RS_UNKNOWN`; set it later with
/// `rs_storage_set_size`) and `storage.client.id`. Errors as for
/// `rs_span_start`, and `RS_ERR_INVALID` for an unknown `op`.
///
/// # Safety
/// As for `rs_span_start`; `path` and `client_id` are NULL or valid for their
/// lengths.
#[allow(clippy::too_many_arguments)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_storage_file_start(
    tracer: *const rs_tracer_t,
    span: *mut rs_span_t,
    parent: *const rs_span_context_t,
    op: rs_file_op_t,
    path: *const c_char,
    path_len: usize,
    size: u64,
    client_id: *const c_char,
    client_id_len: usize,
) -> rs_status_t {
    // SAFETY: per the caller.
    unsafe {
        starting(span, || {
            let op = file_op(op)?;
            let path = str_arg(path, path_len)?;
            let client_id = str_arg(client_id, client_id_len)?;
            let s = start_named(tracer, span, op.span_name(), SpanKind::Server, parent)?;
            s.rec.push_attr(OPERATION, Value::Str(op.as_str()));
            s.rec.push_attr(FILE_PATH, Value::Str(path));
            if size != RS_UNKNOWN {
                s.rec.push_attr(FILE_SIZE, size.into());
            }
            s.rec.push_attr(CLIENT_ID, Value::Str(client_id));
            Ok(())
        })
    }
}

/// Starts a span with a name from Rust.
///
/// # Safety
/// As for `rs_span_start`.
unsafe fn start_named<'a>(
    tracer: *const rs_tracer_t,
    span: *mut rs_span_t,
    name: &str,
    kind: SpanKind,
    parent: *const rs_span_context_t,
) -> Result<&'a mut SpanState, rs_status_t> {
    // SAFETY: per the caller; `name` is valid for its length.
    unsafe {
        start_span(
            tracer,
            span,
            name.as_ptr().cast(),
            name.len(),
            kind as u32,
            parent,
        )
    }
}

/// Records the file size once known (on a read, after the lookup).
///
/// # Safety
/// `span` is NULL or valid for reads and writes of an `rs_span_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_storage_set_size(span: *mut rs_span_t, size: u64) -> rs_status_t {
    guard(|| {
        // SAFETY: per the caller.
        let s = unsafe { live_span(span)? };
        s.rec.push_attr(FILE_SIZE, size.into());
        Ok(())
    })
}

/// Starts the server span of a metadata operation on `key`
/// (`storage.metadata.<op>`, attribute `storage.metadata.key`). Record what it
/// found with `rs_storage_set_metadata_result`.
///
/// # Safety
/// As for `rs_span_start`; `key` is NULL or valid for `key_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_storage_metadata_start(
    tracer: *const rs_tracer_t,
    span: *mut rs_span_t,
    parent: *const rs_span_context_t,
    op: rs_metadata_op_t,
    key: *const c_char,
    key_len: usize,
) -> rs_status_t {
    // SAFETY: per the caller.
    unsafe {
        starting(span, || {
            let op = metadata_op(op)?;
            let key = str_arg(key, key_len)?;
            let s = start_named(tracer, span, op.span_name(), SpanKind::Server, parent)?;
            s.rec.push_attr(METADATA_KEY, Value::Str(key));
            Ok(())
        })
    }
}

/// Records whether the key was found (`RS_METADATA_HIT` or
/// `RS_METADATA_MISS`, else `RS_ERR_INVALID`) and the entry's version unless
/// it is `RS_UNKNOWN`.
///
/// # Safety
/// `span` is NULL or valid for reads and writes of an `rs_span_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_storage_set_metadata_result(
    span: *mut rs_span_t,
    result: rs_metadata_result_t,
    version: u64,
) -> rs_status_t {
    guard(|| {
        // SAFETY: per the caller.
        let s = unsafe { live_span(span)? };
        let result = match result {
            RS_METADATA_HIT => MetadataResult::Hit,
            RS_METADATA_MISS => MetadataResult::Miss,
            _ => return Err(RS_ERR_INVALID),
        };
        s.rec
            .push_attr(METADATA_RESULT, Value::Str(result.as_str()));
        if version != RS_UNKNOWN {
            s.rec.push_attr(METADATA_VERSION, version.into());
        }
        Ok(())
    })
}

/// Starts the server span of an operation on one replica of a chunk
/// (`storage.data.<op>`), on the data node `node` that holds it: attributes
/// `storage.chunk.id`, `storage.chunk.size`, `storage.node.id`,
/// `storage.replica.index`.
///
/// # Safety
/// As for `rs_span_start`; `chunk_id` is NULL or valid for its length.
#[allow(clippy::too_many_arguments)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_storage_data_start(
    tracer: *const rs_tracer_t,
    span: *mut rs_span_t,
    parent: *const rs_span_context_t,
    op: rs_data_op_t,
    chunk_id: *const c_char,
    chunk_id_len: usize,
    size: u64,
    node: u32,
    replica: u32,
) -> rs_status_t {
    // SAFETY: per the caller.
    unsafe {
        starting(span, || {
            let op = data_op(op)?;
            let chunk_id = str_arg(chunk_id, chunk_id_len)?;
            let s = start_named(tracer, span, op.span_name(), SpanKind::Server, parent)?;
            s.rec.push_attr(CHUNK_ID, Value::Str(chunk_id));
            s.rec.push_attr(CHUNK_SIZE, size.into());
            s.rec.push_attr(NODE_ID, node.into());
            s.rec.push_attr(REPLICA_INDEX, replica.into());
            Ok(())
        })
    }
}

/// Starts the client span of a call to another node. `name` is
/// `<service>/<method>` (for example `data/Write`); the part after the last
/// `/` becomes `rpc.method`. `peer_ip` is the peer's IPv4 or IPv6 address as
/// text (`RS_ERR_INVALID` if it is not one), `peer_port` its port. End it
/// with `rs_storage_transfer_end`.
///
/// # Safety
/// As for `rs_span_start`; `peer_ip` is NULL or valid for its length.
#[allow(clippy::too_many_arguments)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_storage_transfer_start(
    tracer: *const rs_tracer_t,
    span: *mut rs_span_t,
    parent: *const rs_span_context_t,
    name: *const c_char,
    name_len: usize,
    peer_ip: *const c_char,
    peer_ip_len: usize,
    peer_port: u16,
) -> rs_status_t {
    // SAFETY: per the caller.
    unsafe {
        starting(span, || {
            let ip: IpAddr = str_arg(peer_ip, peer_ip_len)?
                .parse()
                .map_err(|_| RS_ERR_INVALID)?;
            // The canonical text, as the Rust helper writes it; an IP address
            // is at most 45 characters.
            let mut text = [0u8; 64];
            let mut rest = &mut text[..];
            write!(rest, "{ip}").map_err(|_| RS_ERR_INVALID)?;
            let written = 64 - rest.len();
            let ip_text = std::str::from_utf8(&text[..written]).map_err(|_| RS_ERR_INVALID)?;
            let s = start_span(
                tracer,
                span,
                name,
                name_len,
                SpanKind::Client as u32,
                parent,
            )?;
            let full = str_arg(name, name_len)?;
            let method = full.rsplit('/').next().unwrap_or(full);
            s.rec.push_attr(RPC_METHOD, Value::Str(method));
            s.rec.push_attr(NETWORK_PEER_ADDRESS, Value::Str(ip_text));
            s.rec.push_attr(NETWORK_PEER_PORT, peer_port.into());
            Ok(())
        })
    }
}

/// Ends a transfer with the bytes it sent and received and, when
/// `error_type` is not empty, the failure: `error.type` before the byte
/// counts and the status message last, so that a full record loses words of
/// the message rather than `error.type`. Then ends the span as
/// `rs_span_end` does (and returns what it returns).
///
/// # Safety
/// `span` is NULL or valid for reads and writes of an `rs_span_t`;
/// `error_type` and `message` are NULL or valid for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_storage_transfer_end(
    span: *mut rs_span_t,
    sent: u64,
    received: u64,
    error_type: *const c_char,
    error_type_len: usize,
    message: *const c_char,
    message_len: usize,
) -> rs_status_t {
    let code = guard(|| {
        // SAFETY: per the caller.
        let s = unsafe { live_span(span)? };
        // SAFETY: per the caller.
        let error_type = unsafe { str_arg(error_type, error_type_len)? };
        // SAFETY: per the caller.
        let message = unsafe { str_arg(message, message_len)? };
        let failed = !error_type.is_empty();
        if failed {
            s.rec.push_attr(ERROR_TYPE, Value::Str(error_type));
        }
        s.rec.push_attr(BYTES_SENT, sent.into());
        s.rec.push_attr(BYTES_RECEIVED, received.into());
        if failed {
            s.rec.set_status(StatusCode::Error, message);
        }
        Ok(())
    });
    if code != super::RS_OK {
        return code;
    }
    // SAFETY: per the caller.
    unsafe { rs_span_end(span) }
}

/// Marks a server span whose incoming context was present but invalid, so
/// that it started a new trace (`storage.context.invalid` = true).
///
/// # Safety
/// `span` is NULL or valid for reads and writes of an `rs_span_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rs_storage_mark_invalid_context(span: *mut rs_span_t) -> rs_status_t {
    guard(|| {
        // SAFETY: per the caller.
        let s = unsafe { live_span(span)? };
        s.rec.push_attr(CONTEXT_INVALID, Value::Bool(true));
        Ok(())
    })
}
