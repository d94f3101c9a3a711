//! The appending side: the active segment, appends, rolling to a new segment,
//! the size cap, forgetting rings and syncing.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::format;
use super::segment::segment_path;
use super::state::SegmentMeta;
use super::{Spool, SpoolCursor};
use crate::batch::SpanBatch;
use ringside::clock;

/// The segment appends go to.
pub(super) struct ActiveSegment {
    /// Its sequence number.
    pub seq: u64,
    file: File,
    /// Bytes written (and committed to the shared state).
    pub len: u64,
    /// Length right after creation (header and positions snapshot): a segment
    /// this long holds no batch yet and is never rolled.
    fresh_len: u64,
}

impl ActiveSegment {
    /// Creates segment `seq` whole — header and a snapshot of `positions` —
    /// under a temporary name, then renames it into place, so a segment file
    /// that exists always starts with a valid header.
    pub fn create(
        dir: &Path,
        seq: u64,
        positions: &HashMap<u64, u64>,
        span_seq: u64,
    ) -> io::Result<(ActiveSegment, SegmentMeta)> {
        let mut buf = format::file_header(seq).to_vec();
        format::encode_positions(&mut buf, positions, clock::unix_ns(), span_seq)
            .map_err(invalid)?;
        let path = segment_path(dir, seq);
        let tmp = path.with_extension("seg.tmp");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        file.write_all_at(&buf, 0)?;
        fs::rename(&tmp, &path)?;
        let len = buf.len() as u64;
        let meta = SegmentMeta {
            len,
            first_span_seq: span_seq,
            end_span_seq: span_seq,
            ..SegmentMeta::default()
        };
        Ok((
            ActiveSegment {
                seq,
                file,
                len,
                fresh_len: len,
            },
            meta,
        ))
    }

    /// Reopens the recovered newest segment for appending.
    pub fn reopen(dir: &Path, seq: u64, meta: &SegmentMeta) -> io::Result<ActiveSegment> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(segment_path(dir, seq))?;
        let fresh_len = if meta.entries == 0 { meta.len } else { 0 };
        Ok(ActiveSegment {
            seq,
            file,
            len: meta.len,
            fresh_len,
        })
    }

    /// Writes `bytes` at the end. A failed write is cut back off so that the
    /// segment never holds a partial entry this process knows of.
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Err(e) = self.file.write_all_at(bytes, self.len) {
            let _ = self.file.set_len(self.len);
            return Err(e);
        }
        self.len += bytes.len() as u64;
        Ok(())
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

impl Spool {
    /// Appends `batch`. `ring` is `(ring_id, ring_end)`: the ring and its
    /// position just after these records, recorded for
    /// [`ring_positions`](Self::ring_positions); `None` for spans not tied to
    /// a ring position. An empty batch with a ring position records only the
    /// position. The entry is in the page cache when this returns (a killed
    /// process loses nothing; [`sync`](Self::sync) guards against power loss).
    /// Wakes waiting readers, then enforces the size cap. Returns the cursor
    /// just after the entry.
    pub fn append(
        &mut self,
        batch: &SpanBatch,
        ring: Option<(u64, u64)>,
    ) -> io::Result<SpoolCursor> {
        if batch.records.is_empty() && ring.is_none() {
            return Ok(SpoolCursor {
                segment: self.active.seq,
                offset: self.active.len,
            });
        }
        let now = clock::unix_ns();
        self.buf.clear();
        format::encode_batch(&mut self.buf, batch, ring, now, self.next_span_seq)
            .map_err(invalid)?;
        self.roll_if_full(self.buf.len() as u64)?;
        self.active.write(&self.buf)?;
        let spans = batch.records.len() as u64;
        self.next_span_seq += spans;
        if let Some((id, end)) = ring {
            let pos = self.positions.entry(id).or_insert(end);
            *pos = (*pos).max(end);
        }
        let cursor = SpoolCursor {
            segment: self.active.seq,
            offset: self.active.len,
        };
        let dropped = {
            let mut st = self.shared.lock();
            let meta = st
                .segments
                .get_mut(&self.active.seq)
                .expect("the active segment is in the state");
            meta.len = self.active.len;
            meta.entries += 1;
            meta.spans += spans;
            meta.end_span_seq = self.next_span_seq;
            meta.first_batch_ns.get_or_insert(now);
            st.bytes += self.buf.len() as u64;
            st.entries += 1;
            let mut dropped = Vec::new();
            while st.bytes > self.limits.max_bytes {
                match st.drop_oldest() {
                    Some(seq) => dropped.push(seq),
                    None => break,
                }
            }
            dropped
        };
        self.shared.appended.notify_all();
        if !dropped.is_empty() {
            log::warn!(
                "spool over its size cap: deleted {} oldest segment(s)",
                dropped.len()
            );
            self.shared.unlink(&dropped);
        }
        Ok(cursor)
    }

    /// Seals the active segment and starts a new one when an entry of
    /// `entry_len` bytes would take it past the segment size.
    fn roll_if_full(&mut self, entry_len: u64) -> io::Result<()> {
        if self.active.len + entry_len <= self.limits.segment_bytes
            || self.active.len <= self.active.fresh_len
        {
            return Ok(());
        }
        let seq = self.active.seq + 1;
        let dir = self.shared.dir.clone();
        let (next, meta) = ActiveSegment::create(&dir, seq, &self.positions, self.next_span_seq)?;
        let sealed = std::mem::replace(&mut self.active, next);
        self.unsynced.push(sealed.file);
        {
            let mut st = self.shared.lock();
            st.bytes += meta.len;
            st.segments.insert(seq, meta);
        }
        self.shared.appended.notify_all();
        Ok(())
    }

    /// Drops `ring_id` from the positions (its ring file was removed), durably:
    /// a forget entry is appended so a restart does not bring it back.
    pub fn forget_ring(&mut self, ring_id: u64) -> io::Result<()> {
        if self.positions.remove(&ring_id).is_none() {
            return Ok(());
        }
        self.buf.clear();
        format::encode_forget(&mut self.buf, ring_id, clock::unix_ns(), self.next_span_seq)
            .map_err(invalid)?;
        self.roll_if_full(self.buf.len() as u64)?;
        self.active.write(&self.buf)?;
        let mut st = self.shared.lock();
        st.bytes += self.buf.len() as u64;
        if let Some(meta) = st.segments.get_mut(&self.active.seq) {
            meta.len = self.active.len;
        }
        Ok(())
    }

    /// Makes everything appended so far survive a power loss: fdatasync of the
    /// segments written since the last sync, then of the directory (new and
    /// deleted segment names). Ring positions live in the segments, so this
    /// persists them too. A failure keeps the sealed segments not yet synced
    /// for the next call.
    pub fn sync(&mut self) -> io::Result<()> {
        let mut synced = 0;
        let sync_file = &mut self.sync_file;
        let result = self.unsynced.iter().try_for_each(|file| {
            sync_file(file)?;
            synced += 1;
            Ok::<(), io::Error>(())
        });
        self.unsynced.drain(..synced);
        result?;
        (self.sync_file)(&self.active.file)?;
        File::open(&self.shared.dir)?.sync_all()
    }
}
