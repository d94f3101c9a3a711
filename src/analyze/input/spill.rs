//! Grouping the spans of JSONL files by trace in bounded memory. A trace's
//! spans may be anywhere in the files, so one pass reads every span and
//! appends it, as a 64-byte record, to one of up to [`MAX_PARTS`] temporary
//! files chosen by its trace id; then each file is read back, sorted by trace
//! id (stably, so a trace's spans keep their file order) and handed out trace
//! by trace. Memory: one file's records (about [`PART_INPUT_BYTES`] of JSON
//! each) and the distinct names.
//!
//! Only spans without attributes, events and links fit a record: a query
//! asking for them groups in memory instead (no analysis command streams
//! such a query by trace; `trace <id>` loads one trace).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{LoadError, SpanQuery};
use crate::analyze::model::{SpanId, SpanKind, SpanRow, StatusCode, TraceId};

/// JSON bytes of input per temporary file: about 250 000 spans, 16 MB of
/// records.
pub const PART_INPUT_BYTES: u64 = 64 << 20;

/// Most temporary files (each has a 64 KiB write buffer while spilling).
pub const MAX_PARTS: u64 = 256;

/// Bytes per spilled span.
const RECORD: usize = 64;

/// The temporary directory, removed with everything in it when dropped.
struct SpillDir(PathBuf);

impl Drop for SpillDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Distinct service, host and operation names, numbered.
#[derive(Default)]
struct NameTable {
    names: Vec<Arc<str>>,
    index: HashMap<Arc<str>, u32>,
}

impl NameTable {
    fn number(&mut self, s: &Arc<str>) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.clone());
        self.index.insert(s.clone(), i);
        i
    }
}

fn encode(s: &SpanRow, names: &mut NameTable, out: &mut [u8; RECORD]) {
    out[..16].copy_from_slice(&s.trace_id.0);
    out[16..24].copy_from_slice(&s.span_id.0);
    out[24..32].copy_from_slice(&s.parent_span_id.map_or([0; 8], |p| p.0));
    out[32] = u8::from(s.parent_span_id.is_some());
    out[33] = s.kind as u8;
    out[34] = s.status as u8;
    out[35] = 0;
    out[36..40].copy_from_slice(&names.number(&s.service).to_le_bytes());
    out[40..44].copy_from_slice(&names.number(&s.host).to_le_bytes());
    out[44..48].copy_from_slice(&names.number(&s.name).to_le_bytes());
    out[48..56].copy_from_slice(&s.start_ns.to_le_bytes());
    out[56..64].copy_from_slice(&s.end_ns.to_le_bytes());
}

fn decode(r: &[u8], names: &[Arc<str>]) -> SpanRow {
    let u32_at = |i: usize| u32::from_le_bytes(r[i..i + 4].try_into().unwrap()) as usize;
    let u64_at = |i: usize| u64::from_le_bytes(r[i..i + 8].try_into().unwrap());
    let id8 = |i: usize| -> [u8; 8] { r[i..i + 8].try_into().unwrap() };
    SpanRow {
        trace_id: TraceId(r[..16].try_into().unwrap()),
        span_id: SpanId(id8(16)),
        parent_span_id: (r[32] != 0).then(|| SpanId(id8(24))),
        service: names[u32_at(36)].clone(),
        host: names[u32_at(40)].clone(),
        name: names[u32_at(44)].clone(),
        // Written from a valid kind and status just before.
        kind: SpanKind::from_u8(r[33]).unwrap_or(SpanKind::Internal),
        status: StatusCode::from_u8(r[34]).unwrap_or(StatusCode::Unset),
        status_message: None,
        start_ns: u64_at(48),
        end_ns: u64_at(56),
        attributes: Vec::new(),
        events: Vec::new(),
        links: Vec::new(),
    }
}

/// True when the query's spans fit a record.
pub fn fits(query: &SpanQuery) -> bool {
    query.attributes == super::AttrSelection::None && !query.details
}

/// Reads the spans `each_span` hands over into `parts` temporary files, then
/// calls `f` with each trace's spans.
pub fn group(
    parts: u64,
    each_span: impl FnOnce(&mut dyn FnMut(SpanRow)) -> Result<(), LoadError>,
    f: &mut dyn FnMut(Vec<SpanRow>),
) -> Result<(), LoadError> {
    let dir = SpillDir(std::env::temp_dir().join(format!(
        "ringside-spill-{}-{}",
        std::process::id(),
        ringside::clock::unix_ns()
    )));
    let io = |path: &Path| {
        let path = path.to_owned();
        move |error| LoadError::Io { path, error }
    };
    std::fs::create_dir_all(&dir.0).map_err(io(&dir.0))?;
    let paths: Vec<PathBuf> = (0..parts).map(|i| dir.0.join(format!("{i}"))).collect();
    let mut files = paths
        .iter()
        .map(|p| {
            File::create(p)
                .map(|f| BufWriter::with_capacity(64 << 10, f))
                .map_err(io(p))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut names = NameTable::default();
    let mut failed: Option<LoadError> = None;
    let mut record = [0u8; RECORD];
    each_span(&mut |span| {
        if failed.is_some() {
            return;
        }
        encode(&span, &mut names, &mut record);
        // The trace id is random: its first bytes spread traces evenly.
        let part = (u64::from_le_bytes(record[..8].try_into().unwrap()) % parts) as usize;
        if let Err(e) = files[part].write_all(&record) {
            failed = Some(io(&paths[part])(e));
        }
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    for (file, path) in files.into_iter().zip(&paths) {
        file.into_inner()
            .map_err(|e| io(path)(e.into_error()))?
            .sync_data()
            .ok();
    }
    let names = names.names;
    let mut buf = Vec::new();
    for path in &paths {
        buf.clear();
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut buf))
            .map_err(io(path))?;
        let _ = std::fs::remove_file(path);
        let mut records: Vec<&[u8]> = buf.chunks_exact(RECORD).collect();
        // Stable: a trace's spans stay in the order they were read.
        records.sort_by_key(|r| &r[..16]);
        for trace in records.chunk_by(|a, b| a[..16] == b[..16]) {
            f(trace.iter().map(|r| decode(r, &names)).collect());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::testing::span;

    #[test]
    fn spans_come_back_grouped_by_trace_in_their_order_and_unchanged() {
        let mut spans = Vec::new();
        for t in 0..50u8 {
            for i in 0..7u8 {
                let mut s = span(
                    i + 1,
                    i.checked_sub(1).map(|p| p + 1),
                    100 - u64::from(i),
                    200,
                );
                s.trace_id = TraceId([t + 1; 16]);
                s.trace_id.0[0] = t.wrapping_mul(37);
                s.service = Arc::from(format!("svc{}", t % 3));
                s.status = if i == 3 {
                    StatusCode::Error
                } else {
                    StatusCode::Ok
                };
                spans.push(s);
            }
        }
        // Interleave traces, as files do.
        spans.sort_by_key(|s| (s.span_id, s.trace_id));
        let mut got: Vec<Vec<SpanRow>> = Vec::new();
        group(
            7,
            |emit| {
                for s in spans.clone() {
                    emit(s);
                }
                Ok(())
            },
            &mut |t| got.push(t),
        )
        .unwrap();
        assert_eq!(got.len(), 50);
        for trace in &got {
            let id = trace[0].trace_id;
            let expected: Vec<&SpanRow> = spans.iter().filter(|s| s.trace_id == id).collect();
            assert_eq!(trace.iter().collect::<Vec<_>>(), expected);
        }
    }
}
