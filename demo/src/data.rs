//! A data node: stores chunk replicas as files (or, for the bench's loop, in
//! memory), each with its CRC-32, and checks it on every read and write. A node
//! can be given a slow disk and an error rate, so traces have something to show.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use ringside::trace::storage::{self, DataOp};

use super::instrument::Tracing;
use super::link::{Handler, NodeStats};
use super::rng;
use super::rpc::{self, Frame, FrameError, Method, Status};

/// Where replicas are kept.
pub enum Chunks {
    /// One file per chunk in this directory: 4 bytes of CRC, then the data.
    Disk(PathBuf),
    /// In memory (the bench's loop without I/O).
    Memory(Mutex<HashMap<String, (u32, Vec<u8>)>>),
}

/// Injected trouble.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    /// Added to every chunk read and write.
    pub slow: Duration,
    /// Chance in [0, 1] that a chunk read or write fails with `EIO`.
    pub error_rate: f64,
}

/// A data node.
pub struct DataNode {
    id: u32,
    tracing: Tracing,
    chunks: Chunks,
    faults: Faults,
    /// Request and context counters.
    pub stats: NodeStats,
}

/// A failed chunk operation: error type and message.
type Failure = (&'static str, String);

/// Chunk ids come off the network: only `[A-Za-z0-9._-]`, at most 64 bytes,
/// not starting with a dot, so they are safe file names.
fn valid_chunk_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn io_failure(e: io::Error) -> Failure {
    (storage::io_error_type(&e), e.to_string())
}

impl DataNode {
    /// Data node `id` (from 1) keeping chunks in `chunks`.
    pub fn new(id: u32, tracing: Tracing, chunks: Chunks, faults: Faults) -> io::Result<DataNode> {
        if let Chunks::Disk(dir) = &chunks {
            std::fs::create_dir_all(dir)?;
        }
        Ok(DataNode {
            id,
            tracing,
            chunks,
            faults,
            stats: NodeStats::default(),
        })
    }

    /// Sleeps for the slow disk and rolls the dice for an injected error.
    fn disk_trouble(&self) -> Result<(), Failure> {
        if !self.faults.slow.is_zero() {
            std::thread::sleep(self.faults.slow);
        }
        if self.faults.error_rate > 0.0 && rng::chance(self.faults.error_rate) {
            return Err(("EIO", format!("injected disk error on node {}", self.id)));
        }
        Ok(())
    }

    fn write(&self, chunk: &str, crc: u32, data: &[u8]) -> Result<(), Failure> {
        if crc32fast::hash(data) != crc {
            return Err(("checksum", "chunk arrived corrupted".into()));
        }
        self.disk_trouble()?;
        match &self.chunks {
            Chunks::Disk(dir) => {
                let tmp = dir.join(format!(".{chunk}.tmp"));
                let mut file = std::fs::File::create(&tmp).map_err(io_failure)?;
                file.write_all(&crc.to_be_bytes()).map_err(io_failure)?;
                file.write_all(data).map_err(io_failure)?;
                std::fs::rename(&tmp, dir.join(chunk)).map_err(io_failure)
            }
            Chunks::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
                map.insert(chunk.to_string(), (crc, data.to_vec()));
                Ok(())
            }
        }
    }

    /// The chunk's CRC and bytes, `Ok(None)` if it does not exist.
    fn read(&self, chunk: &str) -> Result<Option<(u32, Vec<u8>)>, Failure> {
        self.disk_trouble()?;
        let (crc, data) = match &self.chunks {
            Chunks::Disk(dir) => match std::fs::read(dir.join(chunk)) {
                Ok(mut bytes) if bytes.len() >= 4 => {
                    let crc = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                    bytes.drain(..4);
                    (crc, bytes)
                }
                Ok(_) => return Err(("checksum", "chunk file too short".into())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io_failure(e)),
            },
            Chunks::Memory(map) => match map.lock().unwrap_or_else(|e| e.into_inner()).get(chunk) {
                Some((crc, data)) => (*crc, data.clone()),
                None => return Ok(None),
            },
        };
        if crc32fast::hash(&data) != crc {
            return Err(("checksum", format!("chunk {chunk} failed its checksum")));
        }
        Ok(Some((crc, data)))
    }

    fn delete(&self, chunk: &str) -> Result<bool, Failure> {
        match &self.chunks {
            Chunks::Disk(dir) => match std::fs::remove_file(dir.join(chunk)) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(io_failure(e)),
            },
            Chunks::Memory(map) => Ok(map
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(chunk)
                .is_some()),
        }
    }

    fn answer(&self, frame: &[u8]) -> Result<Vec<u8>, FrameError> {
        let mut req = rpc::parse_request(frame)?;
        let (parent, invalid) = self.stats.parent(&req.context);
        let chunk = req.body.str()?;
        if !valid_chunk_id(chunk) {
            return Err(FrameError("invalid chunk id"));
        }
        let (op, crc, replica) = match req.method {
            Method::WriteChunk => (DataOp::Write, req.body.u64()? as u32, req.body.u64()?),
            Method::ReadChunk => (DataOp::Read, 0, req.body.u64()?),
            Method::DeleteChunk => (DataOp::Delete, 0, req.body.u64()?),
            _ => return Err(FrameError("not a data method")),
        };
        let payload = req.body.rest();
        let replica = replica as u32;
        let size = payload.len() as u64;
        let mut span = self
            .tracing
            .data_op(parent, op, chunk, size, self.id, replica);
        NodeStats::mark(&mut span, invalid);
        let result = match op {
            DataOp::Write => self
                .write(chunk, crc, payload)
                .map(|()| Frame::response(Status::Ok)),
            DataOp::Read => self.read(chunk).map(|found| match found {
                Some((crc, data)) => {
                    let mut f = Frame::response(Status::Ok);
                    f.u64(u64::from(crc)).bytes(&data);
                    f
                }
                None => Frame::response(Status::NotFound),
            }),
            _ => self
                .delete(chunk)
                .map(|found| Frame::response(if found { Status::Ok } else { Status::NotFound })),
        };
        let reply = match result {
            Ok(f) => f,
            Err((error_type, message)) => {
                span.fail(error_type, &message);
                Frame::error(error_type, &message)
            }
        };
        span.end();
        Ok(reply.finish())
    }
}

impl Handler for DataNode {
    fn handle(&self, frame: &[u8]) -> Vec<u8> {
        self.answer(frame)
            .unwrap_or_else(|e| Frame::error("bad_request", &e.to_string()).finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_ids_that_are_not_plain_file_names_are_refused() {
        assert!(valid_chunk_id("c0000001f"));
        for bad in ["", "../etc/passwd", ".hidden", "a/b", &"x".repeat(65)] {
            assert!(!valid_chunk_id(bad), "{bad:?}");
        }
    }
}
