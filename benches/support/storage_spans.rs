//! The storage spans the sidecar benches encode and drain (a data node's
//! writes: remote parent, five attributes) and a ring filled with them for a
//! sidecar source. Included by the benches with
//! `#[path = "support/storage_spans.rs"] mod storage_spans;` (and by
//! tests/sidecar_cpu.rs).
#![allow(dead_code)]

use ringside::record::{Record, SpanKind, Value};
use ringside::ring::Ring;
use ringside_agent::batch::SpanBatch;
use ringside_agent::sidecar::source::Source;

/// Span `i` of a data node's writes: named `name`, from `start` (raw ticks
/// or Unix ns) for `duration`, sixteen spans a trace under a remote parent,
/// with a path, size, operation, node and client id that all fit.
pub fn storage_span(i: u64, name: &str, start: u64, duration: u64) -> Record {
    let mut r = Record::new(name);
    r.trace_id = [0x5a; 16];
    r.trace_id[..8].copy_from_slice(&(i / 16).to_le_bytes());
    r.span_id = (i + 1).to_le_bytes();
    r.parent_span_id = (i / 16 + 1_000_000).to_le_bytes();
    r.flags = Record::FLAG_PARENT_REMOTE;
    r.trace_flags = 1;
    r.kind = SpanKind::Server as u8;
    r.start = start;
    r.end = start + duration;
    let path = format!("/vol/data-07/chunks/{:04x}/{:016x}.chk", i % 4096, i * 7919);
    r.push_attr("storage.path", Value::Str(&path));
    r.push_attr("storage.size", Value::I64(4096 * (1 + (i % 256) as i64)));
    r.push_attr("storage.op", Value::Str("write"));
    r.push_attr("storage.node", Value::Str("data-node-17"));
    r.push_attr("client.id", Value::I64(10_000 + (i % 64) as i64));
    assert_eq!(r.dropped_attrs, 0, "the sample span must fit whole");
    r
}

/// A ring directory holding one ring full of records, the writer that keeps
/// it alive, and a sidecar source that has found it (set-up cost, not timed).
pub struct FilledRing {
    _dir: tempfile::TempDir,
    _ring: Ring,
    /// The source, ready to drain the ring.
    source: Source,
}

/// A ring of exactly `records.len()` slots (a power of two) holding `records`.
pub fn filled_ring(records: &[Record]) -> FilledRing {
    let dir = tempfile::tempdir().expect("temporary directory");
    let ring = Ring::create(dir.path(), "data-node", records.len()).expect("ring");
    for r in records {
        ring.push(r).expect("ring has room");
    }
    let mut source = Source::new(dir.path(), Vec::new());
    source.scan(|_| None);
    FilledRing {
        _dir: dir,
        _ring: ring,
        source,
    }
}

impl FilledRing {
    /// Drains every span of the ring in batches of at most `batch` spans,
    /// handing each to `each`; returns the spans drained.
    pub fn drain_all(&mut self, batch: usize, mut each: impl FnMut(&mut SpanBatch)) -> usize {
        let mut total = 0;
        loop {
            let report = self.source.drain(batch, |b, _, _| {
                each(b);
                Ok(())
            });
            total += report.records;
            if report.records == 0 {
                return total;
            }
        }
    }
}
