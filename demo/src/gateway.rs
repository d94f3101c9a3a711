//! The gateway's storage logic: a file operation becomes metadata calls and
//! replica reads or writes on the data nodes. Transport-free: the HTTP server
//! (`http.rs`) and the bench's in-process loop both call it.

use std::sync::atomic::{AtomicU64, Ordering};

use ringside::trace::SpanContext;
use ringside::trace::storage::{self, FileOp};

use super::instrument::{OpSpan, Tracing};
use super::link::{Link, NodeStats};
use super::metadata::{Entry, read_nodes, write_nodes};
use super::rpc::{self, Fields, Frame, Method, Status};

/// Largest file the gateway stores.
pub const MAX_FILE: usize = 4 << 20;

/// A failed file operation, as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// HTTP status to answer with.
    pub status: u16,
    /// `error.type` of the file span.
    pub error_type: String,
    /// What went wrong.
    pub message: String,
}

impl Failure {
    fn new(status: u16, error_type: &str, message: impl Into<String>) -> Failure {
        Failure {
            status,
            error_type: error_type.to_string(),
            message: message.into(),
        }
    }
}

/// The outcome of a file operation: an HTTP status and the body.
pub type Outcome = Result<(u16, Vec<u8>), Failure>;

/// The gateway: a tracer, the metadata node and the data nodes (id `i + 1` at
/// index `i`).
pub struct Gateway {
    /// The tracer.
    pub tracing: Tracing,
    meta: Option<Box<dyn Link>>,
    data: Vec<Box<dyn Link>>,
    /// HTTP requests and invalid incoming contexts.
    pub stats: NodeStats,
    /// File operations that failed (5xx).
    pub failed: AtomicU64,
}

impl Gateway {
    /// A gateway over these nodes; without a metadata node only the W3C test
    /// endpoint works.
    pub fn new(tracing: Tracing, meta: Option<Box<dyn Link>>, data: Vec<Box<dyn Link>>) -> Gateway {
        Gateway {
            tracing,
            meta,
            data,
            stats: NodeStats::default(),
            failed: AtomicU64::new(0),
        }
    }

    /// Runs one file operation under its server span.
    pub fn file_op(
        &self,
        parent: Option<&SpanContext>,
        invalid_context: bool,
        op: FileOp,
        path: &str,
        body: &[u8],
        client: &str,
    ) -> Outcome {
        let size = (op == FileOp::Write).then_some(body.len() as u64);
        let mut span = self.tracing.file_op(parent, op, path, size, client);
        NodeStats::mark(&mut span, invalid_context);
        let outcome = match op {
            FileOp::Write => self.put(&span, path, body),
            FileOp::Read => self.get(&mut span, path),
            FileOp::Delete => self.delete(&span, path),
            _ => Err(Failure::new(405, "unsupported", "operation not supported")),
        };
        if let Err(f) = &outcome {
            if f.status >= 500 {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
            span.fail(&f.error_type, &f.message);
        }
        span.end();
        outcome
    }

    /// Calls `link` under a transfer span; a remote error becomes a failure.
    fn call(
        &self,
        link: &dyn Link,
        parent: &OpSpan<'_>,
        method: Method,
        fill: impl FnOnce(&mut Frame),
    ) -> Result<(Status, Vec<u8>), Failure> {
        let span = self
            .tracing
            .transfer(Some(&parent.context()), method.span_name(), link.peer());
        let mut frame = Frame::request(method, Some(&span.context()));
        fill(&mut frame);
        let frame = frame.finish();
        let sent = frame.len() as u64;
        let mut reply = Vec::new();
        let result = link
            .call(&frame, &mut reply)
            .map_err(|e| Failure::new(502, storage::io_error_type(&e), e.to_string()))
            .and_then(|()| {
                let (status, mut body) = rpc::parse_response(&reply)
                    .map_err(|e| Failure::new(502, "bad_reply", e.to_string()))?;
                if status == Status::Error {
                    let error_type = body.str().unwrap_or("unknown");
                    let message = body.str().unwrap_or("");
                    return Err(Failure::new(502, error_type, message));
                }
                Ok(status)
            });
        let received = reply.len() as u64 + 4;
        match &result {
            Ok(_) => span.end_transfer(sent, received, None),
            Err(f) => span.end_transfer(sent, received, Some((&f.error_type, &f.message))),
        }
        // The body starts after the status byte.
        result.map(|status| {
            reply.drain(..1);
            (status, reply)
        })
    }

    fn meta(&self) -> Result<&dyn Link, Failure> {
        self.meta
            .as_deref()
            .ok_or_else(|| Failure::new(503, "unavailable", "no storage nodes behind this gateway"))
    }

    fn data_node(&self, id: u32) -> Result<&dyn Link, Failure> {
        self.data
            .get((id as usize).wrapping_sub(1))
            .map(|b| b.as_ref())
            .ok_or_else(|| Failure::new(502, "bad_placement", format!("no data node {id}")))
    }

    fn put(&self, span: &OpSpan<'_>, path: &str, data: &[u8]) -> Outcome {
        let size = data.len() as u64;
        let (_, reply) = self.call(self.meta()?, span, Method::Allocate, |f| {
            f.str(path).u64(size);
        })?;
        let mut body = Fields(&reply);
        let bad = |e: rpc::FrameError| Failure::new(502, "bad_reply", e.to_string());
        let chunk = body.str().map_err(bad)?.to_string();
        let nodes = read_nodes(&mut body).map_err(bad)?;
        let crc = crc32fast::hash(data);
        for (replica, &node) in nodes.iter().enumerate() {
            self.call(self.data_node(node)?, span, Method::WriteChunk, |f| {
                f.str(&chunk)
                    .u64(u64::from(crc))
                    .u64(replica as u64)
                    .bytes(data);
            })?;
        }
        let (_, reply) = self.call(self.meta()?, span, Method::Commit, |f| {
            f.str(path).str(&chunk).u64(size).u64(u64::from(crc));
            write_nodes(f, &nodes);
        })?;
        // An overwrite: the old version's replicas are garbage now. The write
        // has succeeded whatever happens to them.
        let mut body = Fields(&reply);
        if body.u64().is_ok()
            && let Ok(old) = Entry::read(&mut body)
        {
            for (replica, &node) in old.nodes.iter().enumerate() {
                if let Ok(link) = self.data_node(node) {
                    let _ = self.call(link, span, Method::DeleteChunk, |f| {
                        f.str(&old.chunk).u64(replica as u64);
                    });
                }
            }
        }
        Ok((201, Vec::new()))
    }

    fn lookup(
        &self,
        span: &OpSpan<'_>,
        method: Method,
        path: &str,
    ) -> Result<Option<Entry>, Failure> {
        let (status, reply) = self.call(self.meta()?, span, method, |f| {
            f.str(path);
        })?;
        if status == Status::NotFound {
            return Ok(None);
        }
        Entry::read(&mut Fields(&reply))
            .map(Some)
            .map_err(|e| Failure::new(502, "bad_reply", e.to_string()))
    }

    /// Reads replica 0, then the next replica if that one fails.
    fn get(&self, span: &mut OpSpan<'_>, path: &str) -> Outcome {
        let Some(entry) = self.lookup(span, Method::Lookup, path)? else {
            return Ok((404, Vec::new()));
        };
        span.set_size(entry.size);
        let mut last = Failure::new(502, "no_replica", "file has no replicas");
        for (replica, &node) in entry.nodes.iter().enumerate() {
            let reply = self.call(self.data_node(node)?, span, Method::ReadChunk, |f| {
                f.str(&entry.chunk).u64(replica as u64);
            });
            match reply {
                Ok((Status::Ok, reply)) if reply.len() >= 8 => {
                    let data = &reply[8..];
                    if crc32fast::hash(data) == entry.crc {
                        return Ok((200, data.to_vec()));
                    }
                    last = Failure::new(502, "checksum", format!("replica {replica} is corrupt"));
                }
                Ok(_) => {
                    last = Failure::new(502, "missing_replica", format!("replica {replica} lost"))
                }
                Err(f) => last = f,
            }
        }
        Err(last)
    }

    fn delete(&self, span: &OpSpan<'_>, path: &str) -> Outcome {
        let Some(entry) = self.lookup(span, Method::Delete, path)? else {
            return Ok((404, Vec::new()));
        };
        for (replica, &node) in entry.nodes.iter().enumerate() {
            self.call(self.data_node(node)?, span, Method::DeleteChunk, |f| {
                f.str(&entry.chunk).u64(replica as u64);
            })?;
        }
        Ok((204, Vec::new()))
    }
}
