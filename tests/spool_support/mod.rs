//! Helpers shared by the spool tests: sample batches and reading everything.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ringside::record::{Record, Value};
use ringside_agent::batch::{Resource, SpanBatch};
use ringside_agent::sidecar::spool::{SpoolCursor, SpoolReader};

/// A fresh, empty directory, removed when dropped.
pub struct TestDir(tempfile::TempDir);

impl std::ops::Deref for TestDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        self.0.path()
    }
}

/// A fresh, empty directory for one test.
pub fn test_dir(name: &str) -> TestDir {
    TestDir(
        tempfile::Builder::new()
            .prefix(&format!("ringside-spool-{name}-"))
            .tempdir()
            .expect("temporary directory"),
    )
}

/// The resource of ring `ring_id` of `service`.
pub fn resource(service: &str, ring_id: u64) -> Arc<Resource> {
    Arc::new(Resource {
        service: service.into(),
        pid: 4000 + ring_id as u32,
        host: "host-a".into(),
        ring_id,
        attributes: vec![
            ("deployment.environment".into(), "test".into()),
            ("k".into(), String::new()),
        ],
    })
}

/// `n` records whose span ids are `first..first + n` (little-endian).
pub fn batch(resource: &Arc<Resource>, first: u64, n: u64) -> SpanBatch {
    let records = (first..first + n)
        .map(|id| {
            let mut r = Record::new("spool.test");
            r.span_id = id.to_le_bytes();
            r.trace_id = [7; 16];
            r.start = 1_764_000_000_000_000_000 + id;
            r.end = r.start + 10;
            r.push_attr("id", Value::I64(id as i64));
            r
        })
        .collect();
    SpanBatch {
        resource: Arc::clone(resource),
        records,
    }
}

/// The id a [`batch`] record carries.
pub fn id_of(r: &Record) -> u64 {
    u64::from_le_bytes(r.span_id)
}

/// Span ids of everything in `batches`, in order.
pub fn ids(batches: &[SpanBatch]) -> Vec<u64> {
    batches
        .iter()
        .flat_map(|b| b.records.iter().map(id_of))
        .collect()
}

/// True when two records are byte for byte equal.
pub fn same_record(a: &Record, b: &Record) -> bool {
    bytemuck::bytes_of(a) == bytemuck::bytes_of(b)
}

/// Reads and acknowledges until nothing is left; returns the ids, lost spans
/// and the final cursor.
pub fn drain(reader: &mut SpoolReader) -> (Vec<u64>, u64, SpoolCursor) {
    let (mut all, mut lost) = (Vec::new(), 0);
    loop {
        let read = reader.read(1000, 1 << 20).expect("read");
        lost += read.lost_spans;
        if read.batches.is_empty() {
            return (all, lost, read.next);
        }
        all.extend(ids(&read.batches));
        reader.ack(read.next).expect("ack");
    }
}

/// The segment files in `dir`, oldest first.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("spool dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    out.sort();
    out
}
