//! A reader: one exporter's view of the spool, with its own read position and
//! its own durable cursor. Readers open segment files themselves and take the
//! shared lock only to learn where data ends, so a slow reader never holds up
//! the appender.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use super::cursors::{check_name, write_cursor};
use super::format::{self, FILE_HEADER_LEN, FileHeader};
use super::segment::{Found, SegmentFile};
use super::state::{Located, ReaderState, Shared};
use super::{ReadBatch, SpoolCursor};
use crate::record::{Record, RecordView};
use crate::sidecar::spans::{Resource, SpanBatch};

/// Cursors returned by recent reads, remembered so that acknowledging one
/// costs no file read.
const HISTORY: usize = 64;
/// Resources remembered for sharing one `Arc` between batches of a ring.
const RESOURCE_CACHE: usize = 256;

/// One exporter's reader. Create it with [`super::Spool::reader`] (or a
/// [`super::SpoolHandle`]); move it to the exporter's thread.
///
/// [`read`](Self::read) moves the read position; [`ack`](Self::ack) makes a
/// position durable. After a restart the reader resumes at its last ack, so
/// what was read but not acknowledged is read again (at-least-once).
pub struct SpoolReader {
    shared: Arc<Shared>,
    name: String,
    /// Where the next read starts: an entry boundary, the start of a segment
    /// (offset 0), or the end of the committed data.
    pos: SpoolCursor,
    /// Spans appended to the spool before `pos`.
    pos_span_seq: u64,
    /// The segment `pos` is in, once opened.
    seg: Option<SegmentFile>,
    resources: HashMap<u64, Arc<Resource>>,
    history: VecDeque<(SpoolCursor, u64)>,
}

/// Registers (or re-attaches) reader `name`. A new reader starts at the
/// oldest data in the spool, and its cursor file is written at once so that
/// a restart keeps the data for it.
pub(super) fn attach(shared: &Arc<Shared>, name: &str) -> io::Result<SpoolReader> {
    check_name(name)?;
    let (acked, span_seq, is_new) = {
        let mut st = shared.lock();
        let (start, start_span_seq) = st.start();
        match st.readers.get_mut(name) {
            Some(r) if r.attached => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("spool reader {name:?} is already in use"),
                ));
            }
            Some(r) => {
                r.attached = true;
                (r.acked, r.acked_span_seq, false)
            }
            None => {
                let r = ReaderState { acked: start, acked_span_seq: start_span_seq, attached: true };
                st.readers.insert(name.to_string(), r);
                (start, start_span_seq, true)
            }
        }
    };
    if is_new {
        if let Err(e) = write_cursor(&shared.dir, name, acked, span_seq) {
            shared.lock().readers.remove(name);
            return Err(e);
        }
    }
    Ok(SpoolReader {
        shared: Arc::clone(shared),
        name: name.to_string(),
        pos: acked,
        pos_span_seq: span_seq,
        seg: None,
        resources: HashMap::new(),
        history: VecDeque::new(),
    })
}

impl SpoolReader {
    /// The reader's name (its cursor file is `cursor.<name>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the next [`read`](Self::read) starts.
    pub fn position(&self) -> SpoolCursor {
        self.pos
    }

    /// The last acknowledged cursor (where a restart would resume).
    pub fn acked(&self) -> SpoolCursor {
        let st = self.shared.lock();
        st.readers.get(&self.name).map(|r| r.acked).unwrap_or_default()
    }

    /// Reads the batches after the read position, stopping before the batch
    /// that would take the total over `max_spans` spans or `max_bytes` entry
    /// bytes, but always returning at least one batch when there is one. Moves
    /// the read position to `next` of the result; does not touch the durable
    /// cursor. Spans this reader will never see (segments deleted by the size
    /// cap, damaged entries) are counted in `lost_spans`.
    pub fn read(&mut self, max_spans: usize, max_bytes: usize) -> io::Result<ReadBatch> {
        let mut out = ReadBatch { next: self.pos, ..ReadBatch::default() };
        let (mut spans, mut bytes) = (0usize, 0usize);
        'segments: loop {
            let (len, next) = match self.shared.lock().locate(self.pos.segment) {
                Located::Here { len, next } => (len, next),
                Located::Gone { seq, first_span_seq } => {
                    out.lost_spans += first_span_seq.saturating_sub(self.pos_span_seq);
                    self.move_to(SpoolCursor { segment: seq, offset: 0 }, first_span_seq);
                    continue;
                }
                Located::Beyond => break,
            };
            if self.seg.as_ref().map(|s| s.seq) != Some(self.pos.segment) {
                match SegmentFile::open(&self.shared.dir, self.pos.segment)? {
                    Some(seg) => self.seg = Some(seg),
                    None => continue, // deleted just now: `locate` will say so
                }
            }
            let Some(seg) = self.seg.as_mut() else { break };
            if self.pos.offset < FILE_HEADER_LEN as u64 {
                let header = seg.bytes(0, FILE_HEADER_LEN, len)?;
                self.pos.offset = match format::check_file_header(header, seg.seq) {
                    FileHeader::Valid => FILE_HEADER_LEN as u64,
                    _ => {
                        out.corrupt_entries += 1;
                        len
                    }
                };
            }
            self.pos.offset = self.pos.offset.min(len);
            while self.pos.offset < len {
                let at = self.pos.offset;
                let e = match seg.entry_at(at, len)? {
                    Found::Entry(e) => e,
                    Found::Damaged => {
                        out.corrupt_entries += 1;
                        self.pos.offset = seg.next_valid(at, len)?.unwrap_or(len);
                        continue;
                    }
                };
                // Spans between the last entry seen and this one were in
                // damaged entries.
                out.lost_spans += e.span_seq.saturating_sub(self.pos_span_seq);
                self.pos_span_seq = self.pos_span_seq.max(e.span_seq);
                if e.kind == format::KIND_BATCH {
                    let Some((head, resource, raw)) = format::decode_batch(e.body) else {
                        out.corrupt_entries += 1;
                        self.pos.offset += e.len as u64;
                        continue;
                    };
                    let count = head.count as usize;
                    if !out.batches.is_empty() && (spans + count > max_spans || bytes + e.len > max_bytes) {
                        break 'segments;
                    }
                    spans += count;
                    bytes += e.len;
                    self.pos_span_seq = e.span_seq + count as u64;
                    let resource = share_resource(&mut self.resources, resource);
                    let mut records: Vec<Record> = bytemuck::pod_collect_to_vec(raw);
                    records.retain(|r| RecordView::new(r).is_ok());
                    out.invalid_records += (count - records.len()) as u64;
                    if !records.is_empty() {
                        out.batches.push(SpanBatch { resource, records });
                    }
                }
                self.pos.offset += e.len as u64;
            }
            match next {
                Some(seq) => self.move_to(SpoolCursor { segment: seq, offset: 0 }, self.pos_span_seq),
                None => break,
            }
        }
        out.next = self.pos;
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back((self.pos, self.pos_span_seq));
        Ok(out)
    }

    fn move_to(&mut self, pos: SpoolCursor, span_seq: u64) {
        self.pos = pos;
        self.pos_span_seq = span_seq;
        if self.seg.as_ref().is_some_and(|s| s.seq != pos.segment) {
            self.seg = None;
        }
    }

    /// Persists `cursor` as this reader's durable position (atomically: a
    /// small file written and renamed), then deletes the segments that every
    /// reader has acknowledged. `cursor` is normally a [`ReadBatch::next`].
    pub fn ack(&mut self, cursor: SpoolCursor) -> io::Result<()> {
        let span_seq = self.span_seq_at(cursor)?;
        write_cursor(&self.shared.dir, &self.name, cursor, span_seq)?;
        let gone = {
            let mut st = self.shared.lock();
            if let Some(r) = st.readers.get_mut(&self.name) {
                r.acked = cursor;
                r.acked_span_seq = span_seq;
            }
            st.take_acked()
        };
        self.shared.unlink(&gone);
        Ok(())
    }

    /// Sets the read position, for an exporter that keeps its own cursor with
    /// its data. `cursor` must be one the spool handed out (an entry boundary);
    /// one inside a segment deleted since is accepted, and the next read counts
    /// what was lost from the reader's last acknowledged cursor on.
    pub fn seek(&mut self, cursor: SpoolCursor) -> io::Result<()> {
        let span_seq = self.span_seq_at(cursor)?;
        self.move_to(cursor, span_seq);
        Ok(())
    }

    /// Spans appended before `cursor`; checks that `cursor` is within the
    /// spool and on an entry boundary.
    fn span_seq_at(&mut self, cursor: SpoolCursor) -> io::Result<u64> {
        let bad = |why: &str| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("spool cursor {cursor:?} {why}"))
        };
        if cursor == self.pos {
            return Ok(self.pos_span_seq);
        }
        if let Some(&(_, s)) = self.history.iter().rev().find(|(c, _)| *c == cursor) {
            return Ok(s);
        }
        let (edge, len, acked, first) = {
            let st = self.shared.lock();
            if cursor > st.end() {
                return Err(bad("lies beyond the end of the spool"));
            }
            let acked = st.readers.get(&self.name).map(|r| (r.acked, r.acked_span_seq));
            let first = st.start().1;
            (st.span_seq_at_edge(cursor), st.segments.get(&cursor.segment).map(|m| m.len), acked, first)
        };
        if let Some(s) = edge {
            return Ok(s);
        }
        let Some(len) = len else {
            // Deleted: the best known count is at the last acknowledgement.
            return Ok(match acked {
                Some((c, s)) if c <= cursor => s,
                _ => first,
            });
        };
        let mut opened = None;
        let seg = match self.seg.as_mut() {
            Some(seg) if seg.seq == cursor.segment => seg,
            _ => match SegmentFile::open(&self.shared.dir, cursor.segment)? {
                Some(seg) => opened.insert(seg),
                None => return Ok(first),
            },
        };
        match seg.entry_at(cursor.offset, len)? {
            Found::Entry(e) => Ok(e.span_seq),
            Found::Damaged => Err(bad("does not point at an entry")),
        }
    }

    /// Blocks until data lies beyond the read position, the spool is closed,
    /// or `timeout` passes. True when there is data to read.
    pub fn wait(&self, timeout: Duration) -> bool {
        let pos = self.pos;
        let st = self.shared.lock();
        let (st, _) = self
            .shared
            .appended
            .wait_timeout_while(st, timeout, |st| !st.closed && st.end() <= pos)
            .unwrap_or_else(PoisonError::into_inner);
        st.end() > pos
    }

    /// True once the [`super::Spool`] (the appender) has been dropped: after
    /// the remaining data is read, no more will come.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }
}

impl Drop for SpoolReader {
    fn drop(&mut self) {
        if let Some(r) = self.shared.lock().readers.get_mut(&self.name) {
            r.attached = false;
        }
    }
}

/// The shared `Arc` for `resource`: batches of one ring share one.
fn share_resource(cache: &mut HashMap<u64, Arc<Resource>>, resource: Resource) -> Arc<Resource> {
    if let Some(known) = cache.get(&resource.ring_id) {
        if **known == resource {
            return Arc::clone(known);
        }
    }
    if cache.len() >= RESOURCE_CACHE {
        cache.clear();
    }
    let shared = Arc::new(resource);
    cache.insert(shared.ring_id, Arc::clone(&shared));
    shared
}
