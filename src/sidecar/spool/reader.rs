//! A reader: one exporter's view of the spool, with its own position and its
//! own durable cursor. Readers open segment files themselves and take the
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
use bytemuck::Zeroable;

use crate::batch::{Resource, SpanBatch};
use ringside::record::{RECORD_SIZE, Record};

/// Cursors returned by recent reads, remembered so that acknowledging one
/// costs no file read.
const HISTORY: usize = 64;
/// Resources remembered for sharing one `Arc` between batches of a ring.
const RESOURCE_CACHE: usize = 256;

/// One exporter's reader. Create it with [`super::Spool::reader`]; move it to
/// the exporter's thread.
///
/// [`read`](Self::read) returns the data after the reader's position (its last
/// [`ack`](Self::ack) or [`seek`](Self::seek)) without moving it, so a failed
/// export simply reads again. After a restart the reader resumes at its last
/// ack: what was read but not acknowledged is read again (at-least-once).
pub struct SpoolReader {
    shared: Arc<Shared>,
    name: String,
    /// Where reads start: an entry boundary, the start of a segment (offset
    /// 0), or the end of the committed data.
    pos: SpoolCursor,
    /// Spans appended to the spool before `pos`.
    pos_span_seq: u64,
    /// Spans deleted by the size cap that reads skipped since the last ack
    /// or seek.
    unacked_lost: u64,
    /// `next` of the last read: [`wait`](Self::wait) waits for data past it.
    read_end: SpoolCursor,
    /// Damage before this cursor was already logged.
    warned_until: SpoolCursor,
    /// The segment last read, kept open.
    seg: Option<SegmentFile>,
    resources: HashMap<u64, Arc<Resource>>,
    /// `(next, spans before next)` of recent reads.
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
                let r = ReaderState {
                    acked: start,
                    acked_span_seq: start_span_seq,
                    attached: true,
                };
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
        read_end: acked,
        unacked_lost: 0,
        warned_until: acked,
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

    /// Reads the batches after the reader's position, stopping before the
    /// entry that would take the total over `max_spans` spans or `max_bytes`
    /// bytes of records (248 each), but always returning at least one entry
    /// when there is one. Does not move the position: reading again returns
    /// the same batches plus what was appended since (within the limits).
    /// Spans the size cap deleted before this reader got to them are in
    /// `lost_spans`, in every read until the next ack.
    pub fn read(&mut self, max_spans: usize, max_bytes: usize) -> io::Result<ReadBatch> {
        let mut out = ReadBatch {
            next: self.pos,
            ..ReadBatch::default()
        };
        let (mut cur, mut cur_span_seq) = (self.pos, self.pos_span_seq);
        let (mut spans, mut bytes) = (0usize, 0usize);
        'segments: loop {
            // While nothing is collected, the position may follow `cur`: what
            // lies between holds no spans (or is gone).
            if out.batches.is_empty() {
                (self.pos, self.pos_span_seq) = (cur, cur_span_seq);
            }
            let (len, next) = match self.shared.lock().locate(cur.segment) {
                Located::Here { len, next } => (len, next),
                Located::Gone { .. } if !out.batches.is_empty() => break,
                Located::Gone {
                    seq,
                    first_span_seq,
                } => {
                    self.unacked_lost += first_span_seq.saturating_sub(cur_span_seq);
                    (cur, cur_span_seq) = (
                        SpoolCursor {
                            segment: seq,
                            offset: 0,
                        },
                        first_span_seq,
                    );
                    continue;
                }
                Located::Beyond => break,
            };
            if self.seg.as_ref().map(|s| s.seq) != Some(cur.segment) {
                self.seg = None;
                match SegmentFile::open(&self.shared.dir, cur.segment)? {
                    Some(seg) => self.seg = Some(seg),
                    None => continue, // deleted just now: `locate` will say so
                }
            }
            let Some(seg) = self.seg.as_mut() else { break };
            if cur.offset < FILE_HEADER_LEN as u64 {
                let header = seg.bytes(0, FILE_HEADER_LEN, len)?;
                cur.offset = match format::check_file_header(header, cur.segment) {
                    FileHeader::Valid => FILE_HEADER_LEN as u64,
                    _ => len, // counted by the recovery that found it
                };
            }
            cur.offset = cur.offset.min(len);
            while cur.offset < len {
                let at = cur.offset;
                let e = match seg.entry_at(at, len)? {
                    Found::Entry(e) => e,
                    Found::Damaged => {
                        cur.offset = seg.next_valid(at, len)?.unwrap_or(len);
                        if cur > self.warned_until {
                            // Counted (and logged) by the recovery that found it.
                            log::debug!(
                                "spool reader {}: skipped damaged data at {at} in segment {}",
                                self.name,
                                seg.seq
                            );
                            self.warned_until = cur;
                        }
                        continue;
                    }
                };
                cur_span_seq = cur_span_seq.max(e.span_seq);
                if e.kind == format::KIND_BATCH {
                    let Some((head, resource, raw)) = format::decode_batch(e.body) else {
                        cur.offset += e.len as u64;
                        continue;
                    };
                    let count = head.count as usize;
                    let over = spans + count > max_spans || bytes + count * RECORD_SIZE > max_bytes;
                    if !out.batches.is_empty() && over {
                        break 'segments;
                    }
                    spans += count;
                    bytes += count * RECORD_SIZE;
                    cur_span_seq = e.span_seq + count as u64;
                    if count > 0 {
                        let resource = share_resource(&mut self.resources, resource);
                        let mut records = vec![Record::zeroed(); count];
                        bytemuck::cast_slice_mut::<Record, u8>(&mut records).copy_from_slice(raw);
                        out.batches.push(SpanBatch { resource, records });
                    }
                }
                cur.offset += e.len as u64;
            }
            match next {
                Some(seq) => {
                    cur = SpoolCursor {
                        segment: seq,
                        offset: 0,
                    }
                }
                None => break,
            }
        }
        if out.batches.is_empty() {
            (self.pos, self.pos_span_seq) = (cur, cur_span_seq);
        }
        out.next = cur;
        out.lost_spans = self.unacked_lost;
        self.read_end = cur;
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back((cur, cur_span_seq));
        Ok(out)
    }

    /// Persists `cursor` as this reader's durable position (atomically: a
    /// small file written and renamed) and moves the reader there, then
    /// deletes the segments that every reader has acknowledged. `cursor` is
    /// normally a [`ReadBatch::next`]. Fails on a cursor past the end of the
    /// spool. When the cursor file cannot be written (disk full) the reader
    /// still moves past `cursor`, so the next read does not return the same
    /// data again, and the error is returned.
    pub fn ack(&mut self, cursor: SpoolCursor) -> io::Result<()> {
        if cursor > self.shared.lock().end() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("spool cursor {cursor:?} lies beyond the end of the spool"),
            ));
        }
        let span_seq = self.span_seq_at(cursor)?;
        if let Err(e) = write_cursor(&self.shared.dir, &self.name, cursor, span_seq) {
            // The data up to `cursor` is done: reads go on after it, so it is
            // not exported twice by this process. The segments stay until a
            // later ack is stored, and a restart resumes at the stored cursor.
            (self.pos, self.pos_span_seq) = (cursor, span_seq);
            self.unacked_lost = 0;
            return Err(e);
        }
        let gone = {
            let mut st = self.shared.lock();
            if let Some(r) = st.readers.get_mut(&self.name) {
                r.acked = cursor;
                r.acked_span_seq = span_seq;
            }
            st.take_acked()
        };
        self.shared.unlink(&gone);
        (self.pos, self.pos_span_seq) = (cursor, span_seq);
        self.unacked_lost = 0;
        Ok(())
    }

    /// Moves the reader to `cursor`, for an exporter that keeps its own
    /// cursor with its data (the durable cursor file is not touched). A
    /// cursor before the oldest data or after the newest is clamped to it; one
    /// that is not an entry boundary (a damaged cursor) goes to the next entry.
    pub fn seek(&mut self, cursor: SpoolCursor) {
        let (start, start_span_seq, end) = {
            let st = self.shared.lock();
            let (start, start_span_seq) = st.start();
            (start, start_span_seq, st.end())
        };
        let (cursor, span_seq) = if cursor < start {
            (start, start_span_seq)
        } else {
            let cursor = cursor.min(end);
            match self.span_seq_at(cursor) {
                Ok(s) => (cursor, s),
                Err(e) => {
                    log::warn!(
                        "spool reader {}: cannot seek to {cursor:?} ({e}); staying at {:?}",
                        self.name,
                        self.pos
                    );
                    (self.pos, self.pos_span_seq)
                }
            }
        };
        (self.pos, self.pos_span_seq) = (cursor, span_seq);
        self.read_end = cursor;
        self.unacked_lost = 0;
    }

    /// Spans appended before `cursor`. A cursor inside a segment that is not
    /// an entry boundary is moved to the next entry.
    fn span_seq_at(&mut self, cursor: SpoolCursor) -> io::Result<u64> {
        if cursor == self.pos {
            return Ok(self.pos_span_seq);
        }
        if let Some(&(_, s)) = self.history.iter().rev().find(|(c, _)| *c == cursor) {
            return Ok(s);
        }
        let (edge, len, start_span_seq) = {
            let st = self.shared.lock();
            let located = match st.locate(cursor.segment) {
                Located::Gone { first_span_seq, .. } => Some(first_span_seq),
                _ => None,
            };
            let len = st.segments.get(&cursor.segment).map(|m| m.len);
            (st.span_seq_at_edge(cursor).or(located), len, st.start().1)
        };
        if let Some(s) = edge {
            return Ok(s);
        }
        let Some(len) = len else {
            return Ok(start_span_seq);
        };
        let mut opened = None;
        let seg = match self.seg.as_mut() {
            Some(seg) if seg.seq == cursor.segment => seg,
            _ => match SegmentFile::open(&self.shared.dir, cursor.segment)? {
                Some(seg) => opened.insert(seg),
                None => return Ok(start_span_seq),
            },
        };
        let at = match seg.entry_at(cursor.offset, len)? {
            Found::Entry(e) => return Ok(e.span_seq),
            Found::Damaged => seg.next_valid(cursor.offset, len)?,
        };
        Ok(match at.map(|at| seg.entry_at(at, len)).transpose()? {
            Some(Found::Entry(e)) => e.span_seq,
            _ => self
                .shared
                .lock()
                .span_seq_at_edge(SpoolCursor {
                    segment: cursor.segment,
                    offset: len,
                })
                .unwrap_or(start_span_seq),
        })
    }

    /// Blocks until data is appended past what the last [`read`](Self::read)
    /// returned (at once if there already is), the spool is closed, or
    /// `timeout` passes.
    pub fn wait(&self, timeout: Duration) {
        let read_end = self.read_end;
        let st = self.shared.lock();
        let _ = self
            .shared
            .appended
            .wait_timeout_while(st, timeout, |st| !st.closed && st.end() <= read_end)
            .unwrap_or_else(PoisonError::into_inner);
    }

    /// False once the size cap deleted the segment the reader's position lies
    /// in: what was read from there and not acknowledged is gone from the
    /// spool (the next [`read`](Self::read) counts it in
    /// [`ReadBatch::lost_spans`]). An exporter retries a batch only while
    /// this holds.
    pub fn holds_position(&self) -> bool {
        !matches!(
            self.shared.lock().locate(self.pos.segment),
            Located::Gone { .. }
        )
    }

    /// True when data lies past what the last [`read`](Self::read) returned.
    pub fn has_new_data(&self) -> bool {
        self.shared.lock().end() > self.read_end
    }

    /// True once the [`super::Spool`] was closed (or dropped): after the
    /// remaining data is read, no more will come.
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
