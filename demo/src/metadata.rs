//! The metadata node: which chunk holds each file, on which data nodes, at
//! which version. Kept in memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use ringside::trace::storage::{MetadataOp, MetadataResult};

use super::instrument::Tracing;
use super::link::{Handler, NodeStats};
use super::rpc::{self, Fields, Frame, FrameError, Method, Status};

/// Copies of each chunk.
pub const REPLICAS: usize = 2;

/// A file's current version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The chunk holding the file's bytes.
    pub chunk: String,
    /// File size in bytes.
    pub size: u64,
    /// CRC-32 of the bytes.
    pub crc: u32,
    /// Version, counting from 1 per path.
    pub version: u64,
    /// Data nodes holding a replica, replica 0 first (ids from 1).
    pub nodes: Vec<u32>,
}

impl Entry {
    /// Appends the entry to a frame.
    pub fn write(&self, f: &mut Frame) {
        f.str(&self.chunk)
            .u64(self.size)
            .u64(u64::from(self.crc))
            .u64(self.version);
        write_nodes(f, &self.nodes);
    }

    /// Reads an entry written by [`Entry::write`].
    pub fn read(body: &mut Fields<'_>) -> Result<Entry, FrameError> {
        Ok(Entry {
            chunk: body.str()?.to_string(),
            size: body.u64()?,
            crc: body.u64()? as u32,
            version: body.u64()?,
            nodes: read_nodes(body)?,
        })
    }
}

/// Appends a node list.
pub fn write_nodes(f: &mut Frame, nodes: &[u32]) {
    f.u64(nodes.len() as u64);
    for &n in nodes {
        f.u64(u64::from(n));
    }
}

/// Reads a node list (at most 16 nodes).
pub fn read_nodes(body: &mut Fields<'_>) -> Result<Vec<u32>, FrameError> {
    let n = body.u64()?;
    if n > 16 {
        return Err(FrameError("too many nodes"));
    }
    (0..n)
        .map(|_| u32::try_from(body.u64()?).map_err(|_| FrameError("node id out of range")))
        .collect()
}

/// The metadata node.
pub struct Metadata {
    tracing: Tracing,
    data_nodes: u32,
    files: Mutex<HashMap<String, Entry>>,
    next_chunk: AtomicU64,
    /// Request and context counters.
    pub stats: NodeStats,
}

impl Metadata {
    /// A metadata node placing chunks on data nodes `1..=data_nodes`.
    pub fn new(tracing: Tracing, data_nodes: u32) -> Metadata {
        Metadata {
            tracing,
            data_nodes: data_nodes.max(1),
            files: Mutex::new(HashMap::new()),
            next_chunk: AtomicU64::new(1),
            stats: NodeStats::default(),
        }
    }

    fn files(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn answer(&self, frame: &[u8]) -> Result<Vec<u8>, FrameError> {
        let mut req = rpc::parse_request(frame)?;
        let (parent, invalid) = self.stats.parent(&req.context);
        let path = req.body.str()?;
        let op = match req.method {
            Method::Allocate => MetadataOp::Allocate,
            Method::Commit => MetadataOp::Commit,
            Method::Lookup => MetadataOp::Lookup,
            Method::Delete => MetadataOp::Delete,
            _ => return Err(FrameError("not a metadata method")),
        };
        let mut span = self.tracing.metadata_op(parent, op, path);
        NodeStats::mark(&mut span, invalid);
        let body = &mut req.body;
        let reply = match op {
            MetadataOp::Allocate => {
                let _size = body.u64()?;
                let seq = self.next_chunk.fetch_add(1, Ordering::Relaxed);
                let first = (seq % u64::from(self.data_nodes)) as u32;
                let nodes: Vec<u32> = (0..REPLICAS.min(self.data_nodes as usize) as u32)
                    .map(|i| (first + i) % self.data_nodes + 1)
                    .collect();
                let current = self.files().get(path).map(|e| e.version);
                span.set_metadata_result(
                    if current.is_some() {
                        MetadataResult::Hit
                    } else {
                        MetadataResult::Miss
                    },
                    current,
                );
                let mut f = Frame::response(Status::Ok);
                f.str(&format!("c{seq:08x}"));
                write_nodes(&mut f, &nodes);
                f
            }
            MetadataOp::Commit => {
                let chunk = body.str()?.to_string();
                let (size, crc) = (body.u64()?, body.u64()? as u32);
                let nodes = read_nodes(body)?;
                let mut files = self.files();
                let version = files.get(path).map_or(0, |e| e.version) + 1;
                let entry = Entry {
                    chunk,
                    size,
                    crc,
                    version,
                    nodes,
                };
                let previous = files.insert(path.to_string(), entry);
                drop(files);
                let found = if previous.is_some() {
                    MetadataResult::Hit
                } else {
                    MetadataResult::Miss
                };
                span.set_metadata_result(found, Some(version));
                // The replaced version's chunk, for the gateway to remove.
                let mut f = Frame::response(Status::Ok);
                f.u64(version);
                if let Some(previous) = previous {
                    previous.write(&mut f);
                }
                f
            }
            _ => {
                let entry = if op == MetadataOp::Delete {
                    self.files().remove(path)
                } else {
                    self.files().get(path).cloned()
                };
                match entry {
                    Some(e) => {
                        span.set_metadata_result(MetadataResult::Hit, Some(e.version));
                        let mut f = Frame::response(Status::Ok);
                        e.write(&mut f);
                        f
                    }
                    None => {
                        span.set_metadata_result(MetadataResult::Miss, None);
                        Frame::response(Status::NotFound)
                    }
                }
            }
        };
        span.end();
        Ok(reply.finish())
    }
}

impl Handler for Metadata {
    fn handle(&self, frame: &[u8]) -> Vec<u8> {
        self.answer(frame)
            .unwrap_or_else(|e| Frame::error("bad_request", &e.to_string()).finish())
    }
}
