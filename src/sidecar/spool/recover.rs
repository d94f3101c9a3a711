//! Opening a spool directory: scan every segment in order, check every entry,
//! cut a torn tail off the newest segment, skip damaged entries elsewhere, and
//! rebuild the ring positions, the span count and the readers' cursors.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::Path;

use super::RecoveryReport;
use super::cursors::load_cursors;
use super::format::{self, FILE_HEADER_LEN, FileHeader};
use super::segment::{Found, SegmentFile, parse_segment_name, segment_path};
use super::state::{ReaderState, SegmentMeta, State};

/// What an open found on disk.
#[derive(Debug, Default)]
pub(super) struct Recovered {
    /// Segments, readers and byte counts.
    pub state: State,
    /// Highest end position per ring.
    pub positions: HashMap<u64, u64>,
    /// Spans appended to the spool so far (over its whole life).
    pub next_span_seq: u64,
    /// Highest segment number seen, kept or not.
    pub last_seq: u64,
    /// What was found and repaired.
    pub report: RecoveryReport,
}

/// Scans `dir` (which the caller has locked).
pub(super) fn recover(dir: &Path) -> io::Result<Recovered> {
    let mut rec = Recovered::default();
    let mut seqs = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            rec.report.unknown_files += 1;
            continue;
        };
        let ours_tmp =
            name.ends_with(".seg.tmp") || (name.starts_with("cursor.") && name.ends_with(".tmp"));
        if ours_tmp {
            // A segment or cursor file that was being written when we stopped;
            // the rename that would have published it never happened.
            let _ = fs::remove_file(entry.path());
        } else if let Some(seq) = parse_segment_name(name) {
            seqs.push(seq);
        } else if name != "lock" && !name.starts_with("cursor.") {
            log::warn!("spool {}: ignoring foreign file {name:?}", dir.display());
            rec.report.unknown_files += 1;
        }
    }
    seqs.sort_unstable();

    for (i, &seq) in seqs.iter().enumerate() {
        scan_segment(dir, seq, i + 1 == seqs.len(), &mut rec)?;
    }
    rec.last_seq = seqs.last().copied().unwrap_or(0);
    rec.report.segments = rec.state.segments.len() as u64;

    let (start, start_span_seq) = rec.state.start();
    let end = rec.state.end();
    for (name, cursor) in load_cursors(dir)? {
        let (mut acked, mut acked_span_seq) = cursor.unwrap_or_else(|| {
            log::warn!("spool {}: unreadable cursor file of reader {name:?}; it restarts at the oldest data", dir.display());
            rec.report.bad_cursor_files += 1;
            (start, start_span_seq)
        });
        if acked > end && !rec.state.segments.is_empty() {
            // The data it pointed into is gone (lost with a damaged segment).
            (acked, acked_span_seq) = (end, rec.next_span_seq);
        }
        rec.state.readers.insert(
            name,
            ReaderState {
                acked,
                acked_span_seq,
                attached: false,
            },
        );
    }
    if rec.state.segments.is_empty() {
        // Every segment is gone: number the next one, and its spans, after
        // everything a reader has seen, so that cursors stay ordered.
        for r in rec.state.readers.values() {
            rec.last_seq = rec.last_seq.max(r.acked.segment);
            rec.next_span_seq = rec.next_span_seq.max(r.acked_span_seq);
        }
    }
    Ok(rec)
}

/// Scans one segment into `rec`. `newest` says whether a damaged tail is a
/// torn write to cut off (the newest segment) or damage to count.
fn scan_segment(dir: &Path, seq: u64, newest: bool, rec: &mut Recovered) -> io::Result<()> {
    let path = segment_path(dir, seq);
    let file = OpenOptions::new().read(true).write(true).open(&path)?;
    let size = file.metadata()?.len();
    let mut seg = SegmentFile::from_file(seq, file);
    let span_seq_before = rec.next_span_seq;
    let mut meta = SegmentMeta {
        len: size,
        first_span_seq: span_seq_before,
        end_span_seq: span_seq_before,
        ..SegmentMeta::default()
    };

    match format::check_file_header(seg.bytes(0, FILE_HEADER_LEN, size)?, seq) {
        FileHeader::Valid => {}
        FileHeader::OtherVersion(v) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "spool segment {} has format version {v}; this ringside reads version {}",
                    path.display(),
                    format::FORMAT_VERSION
                ),
            ));
        }
        FileHeader::Corrupt if newest => {
            // Never published whole (its creation is a rename of a complete
            // file, so only a power loss gets here): nothing in it to keep.
            fs::remove_file(&path)?;
            rec.report.truncated_bytes += size;
            return Ok(());
        }
        FileHeader::Corrupt => {
            rec.report.corrupt_entries += 1;
            insert(rec, seq, meta);
            return Ok(());
        }
    }

    let mut at = FILE_HEADER_LEN as u64;
    let mut seen_entry = false;
    while at < size {
        let len = match seg.entry_at(at, size)? {
            Found::Entry(e) => {
                if !seen_entry {
                    seen_entry = true;
                    meta.first_span_seq = if at == FILE_HEADER_LEN as u64 {
                        e.span_seq
                    } else {
                        e.span_seq.min(span_seq_before)
                    };
                }
                if !apply(&e, &mut meta, rec) {
                    rec.report.corrupt_entries += 1;
                }
                e.len as u64
            }
            Found::Damaged => match seg.next_valid(at, size)? {
                Some(next) => {
                    rec.report.corrupt_entries += 1;
                    at = next;
                    continue;
                }
                None if newest => {
                    // A write cut short by a crash: cut it off so that the
                    // next entries do not follow garbage.
                    seg.file().set_len(at)?;
                    rec.report.truncated_bytes += size - at;
                    meta.len = at;
                    break;
                }
                None => {
                    rec.report.corrupt_entries += 1;
                    break;
                }
            },
        };
        at += len;
    }
    meta.end_span_seq = rec.next_span_seq;
    insert(rec, seq, meta);
    Ok(())
}

fn insert(rec: &mut Recovered, seq: u64, meta: SegmentMeta) {
    rec.state.bytes += meta.len;
    rec.state.entries += meta.entries;
    rec.report.entries += meta.entries;
    rec.state.segments.insert(seq, meta);
}

/// Applies a checked entry to the positions and counts; false when its body
/// does not decode (which a matching checksum makes a bug, not damage).
fn apply(e: &format::Entry<'_>, meta: &mut SegmentMeta, rec: &mut Recovered) -> bool {
    let mut spans = 0;
    match e.kind {
        format::KIND_POSITIONS => match format::decode_positions(e.body) {
            // Written after every entry before it: the whole truth so far.
            Some(snapshot) => rec.positions = snapshot,
            None => return false,
        },
        format::KIND_BATCH => match format::batch_head(e.body) {
            Some(head) => {
                if e.flags & format::FLAG_RING_POSITION != 0 {
                    let pos = rec.positions.entry(head.ring_id).or_insert(head.end_pos);
                    *pos = (*pos).max(head.end_pos);
                }
                spans = u64::from(head.count);
                meta.entries += 1;
                meta.spans += spans;
                meta.first_batch_ns.get_or_insert(e.unix_ns);
            }
            None => return false,
        },
        format::KIND_FORGET => match format::decode_forget(e.body) {
            Some(ring) => {
                rec.positions.remove(&ring);
            }
            None => return false,
        },
        _ => return false,
    }
    rec.next_span_seq = rec.next_span_seq.max(e.span_seq + spans);
    true
}
