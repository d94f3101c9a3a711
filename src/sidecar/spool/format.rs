//! Bytes on disk: the segment file header and the entries (see the table in
//! the [module documentation](super)). Encoding writes into a caller's buffer;
//! decoding never trusts a length it has not checked against the bytes at hand.

use std::collections::HashMap;

use crate::batch::{Resource, SpanBatch};
use ringside::record::{RECORD_SIZE, Record};

/// First seven bytes of every segment file.
pub(super) const FILE_MAGIC: [u8; 7] = *b"RSSPOOL";
/// The format version this build writes and reads (byte 7 of a segment file).
pub(super) const FORMAT_VERSION: u8 = 1;
/// Size of the segment file header: magic, version, sequence number.
pub(super) const FILE_HEADER_LEN: usize = 16;
/// First four bytes of every entry.
pub(super) const ENTRY_MAGIC: [u8; 4] = [0xA7, b'S', b'P', b'E'];
/// Size of the entry header.
pub(super) const ENTRY_HEADER_LEN: usize = 32;
/// Size of the fixed part of a batch entry's body.
const BATCH_FIXED_LEN: usize = 32;

/// Entry kind: snapshot of every ring position (first entry of a segment).
pub(super) const KIND_POSITIONS: u8 = 1;
/// Entry kind: a batch of records from one ring.
pub(super) const KIND_BATCH: u8 = 2;
/// Entry kind: a ring was forgotten (drained and removed).
pub(super) const KIND_FORGET: u8 = 3;
/// Flag of a batch entry: its ring id and end position are a ring position to
/// record (without it they are zero and mean nothing).
pub(super) const FLAG_RING_POSITION: u8 = 1;

/// The segment file header for segment `seq`.
pub(super) fn file_header(seq: u64) -> [u8; FILE_HEADER_LEN] {
    let mut h = [0u8; FILE_HEADER_LEN];
    h[..7].copy_from_slice(&FILE_MAGIC);
    h[7] = FORMAT_VERSION;
    h[8..].copy_from_slice(&seq.to_le_bytes());
    h
}

/// What a segment file header says.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum FileHeader {
    /// Ours, this version, the expected sequence number.
    Valid,
    /// Ours, but written by a format version this build does not read.
    OtherVersion(u8),
    /// Too short, wrong magic or wrong sequence number.
    Corrupt,
}

/// Checks the first bytes of a segment file against `seq`.
pub(super) fn check_file_header(bytes: &[u8], seq: u64) -> FileHeader {
    if bytes.len() < FILE_HEADER_LEN || bytes[..7] != FILE_MAGIC {
        return FileHeader::Corrupt;
    }
    if bytes[7] != FORMAT_VERSION {
        return FileHeader::OtherVersion(bytes[7]);
    }
    if bytes[8..16] != seq.to_le_bytes() {
        return FileHeader::Corrupt;
    }
    FileHeader::Valid
}

/// A checked entry, borrowed from the bytes it was parsed from.
#[derive(Debug)]
pub(super) struct Entry<'a> {
    /// `KIND_*`; unknown kinds are passed on for the caller to skip.
    pub kind: u8,
    /// `FLAG_*` bits.
    pub flags: u8,
    /// When it was written, Unix nanoseconds.
    pub unix_ns: u64,
    /// Spans appended to the spool before this entry.
    pub span_seq: u64,
    /// Whole entry length, header included.
    pub len: usize,
    /// The bytes after the header.
    pub body: &'a [u8],
}

/// The length an entry header at the start of `bytes` declares, if the magic is
/// there and the length could be an entry's. Not checksummed yet.
pub(super) fn declared_len(bytes: &[u8]) -> Option<usize> {
    if bytes.len() < 12 || bytes[..4] != ENTRY_MAGIC {
        return None;
    }
    let len = u32::from_le_bytes(bytes[8..12].try_into().ok()?) as usize;
    (len >= ENTRY_HEADER_LEN).then_some(len)
}

/// Parses and checksums the entry at the start of `bytes`; `None` when the
/// bytes are not a whole valid entry.
pub(super) fn parse(bytes: &[u8]) -> Option<Entry<'_>> {
    let len = declared_len(bytes)?;
    let whole = bytes.get(..len)?;
    let crc = u32::from_le_bytes(whole[4..8].try_into().ok()?);
    if crc32fast::hash(&whole[8..]) != crc {
        return None;
    }
    Some(Entry {
        kind: whole[12],
        flags: whole[13],
        unix_ns: u64::from_le_bytes(whole[16..24].try_into().ok()?),
        span_seq: u64::from_le_bytes(whole[24..32].try_into().ok()?),
        len,
        body: &whole[ENTRY_HEADER_LEN..],
    })
}

/// Starts an entry at the end of `buf`; returns where it starts. Finish it with
/// [`finish_entry`] once the body is written.
fn begin_entry(buf: &mut Vec<u8>) -> usize {
    let start = buf.len();
    buf.resize(start + ENTRY_HEADER_LEN, 0);
    start
}

/// Fills in the header of the entry that starts at `start` and runs to the end
/// of `buf`. Fails when the entry is longer than a `u32` can say.
fn finish_entry(
    buf: &mut [u8],
    start: usize,
    kind: u8,
    flags: u8,
    unix_ns: u64,
    span_seq: u64,
) -> Result<usize, String> {
    let entry = &mut buf[start..];
    let len = u32::try_from(entry.len())
        .map_err(|_| format!("a spool entry of {} bytes is too long", entry.len()))?;
    entry[..4].copy_from_slice(&ENTRY_MAGIC);
    entry[8..12].copy_from_slice(&len.to_le_bytes());
    entry[12] = kind;
    entry[13] = flags;
    entry[14..16].fill(0);
    entry[16..24].copy_from_slice(&unix_ns.to_le_bytes());
    entry[24..32].copy_from_slice(&span_seq.to_le_bytes());
    let crc = crc32fast::hash(&entry[8..]);
    entry[4..8].copy_from_slice(&crc.to_le_bytes());
    Ok(len as usize)
}

/// Appends a positions snapshot entry to `buf`; returns its length. Sorted by
/// ring id so equal maps give equal bytes.
pub(super) fn encode_positions(
    buf: &mut Vec<u8>,
    positions: &HashMap<u64, u64>,
    unix_ns: u64,
    span_seq: u64,
) -> Result<usize, String> {
    let start = begin_entry(buf);
    let mut sorted: Vec<(u64, u64)> = positions.iter().map(|(&r, &p)| (r, p)).collect();
    sorted.sort_unstable();
    buf.extend_from_slice(&(sorted.len() as u64).to_le_bytes());
    for (ring, pos) in sorted {
        buf.extend_from_slice(&ring.to_le_bytes());
        buf.extend_from_slice(&pos.to_le_bytes());
    }
    finish_entry(buf, start, KIND_POSITIONS, 0, unix_ns, span_seq)
}

/// Decodes a positions snapshot body.
pub(super) fn decode_positions(body: &[u8]) -> Option<HashMap<u64, u64>> {
    let mut r = Take(body);
    let count = r.u64()?;
    if count.checked_mul(16)? != r.0.len() as u64 {
        return None;
    }
    let mut map = HashMap::with_capacity(count as usize);
    for _ in 0..count {
        map.insert(r.u64()?, r.u64()?);
    }
    Some(map)
}

/// Appends a forget entry for `ring_id` to `buf`; returns its length.
pub(super) fn encode_forget(
    buf: &mut Vec<u8>,
    ring_id: u64,
    unix_ns: u64,
    span_seq: u64,
) -> Result<usize, String> {
    let start = begin_entry(buf);
    buf.extend_from_slice(&ring_id.to_le_bytes());
    finish_entry(buf, start, KIND_FORGET, 0, unix_ns, span_seq)
}

/// Decodes a forget body: the ring id.
pub(super) fn decode_forget(body: &[u8]) -> Option<u64> {
    let mut r = Take(body);
    let ring = r.u64()?;
    r.0.is_empty().then_some(ring)
}

/// Appends a batch entry to `buf`; returns its length. `ring` is the ring
/// position to record, if any. Fails, leaving `buf` as it was, when a
/// resource string or list is too long for the format.
pub(super) fn encode_batch(
    buf: &mut Vec<u8>,
    batch: &SpanBatch,
    ring: Option<(u64, u64)>,
    unix_ns: u64,
    span_seq: u64,
) -> Result<usize, String> {
    let res = &batch.resource;
    let too_long = |what: &str, len: usize| format!("{what} of {len} bytes is too long to spool");
    for (what, s) in [("service name", &res.service), ("host name", &res.host)] {
        if s.len() > u16::MAX as usize {
            return Err(too_long(what, s.len()));
        }
    }
    if res.attributes.len() > u16::MAX as usize {
        return Err(format!(
            "{} resource attributes are too many to spool",
            res.attributes.len()
        ));
    }
    for (k, v) in &res.attributes {
        if k.len() > u16::MAX as usize || v.len() > u16::MAX as usize {
            return Err(too_long("resource attribute", k.len() + v.len()));
        }
    }
    let count = u32::try_from(batch.records.len())
        .map_err(|_| format!("{} records are too many for one entry", batch.records.len()))?;

    let (ring_id, end_pos) = ring.unwrap_or((0, 0));
    let flags = if ring.is_some() {
        FLAG_RING_POSITION
    } else {
        0
    };
    let start = begin_entry(buf);
    buf.extend_from_slice(&ring_id.to_le_bytes());
    buf.extend_from_slice(&end_pos.to_le_bytes());
    buf.extend_from_slice(&res.ring_id.to_le_bytes());
    buf.extend_from_slice(&res.pid.to_le_bytes());
    buf.extend_from_slice(&count.to_le_bytes());
    put_str(buf, &res.service);
    put_str(buf, &res.host);
    buf.extend_from_slice(&(res.attributes.len() as u16).to_le_bytes());
    for (k, v) in &res.attributes {
        put_str(buf, k);
        put_str(buf, v);
    }
    buf.extend_from_slice(bytemuck::cast_slice::<Record, u8>(&batch.records));
    finish_entry(buf, start, KIND_BATCH, flags, unix_ns, span_seq)
        .inspect_err(|_| buf.truncate(start))
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u16).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// The fixed first part of a batch body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct BatchHead {
    /// The ring the position belongs to.
    pub ring_id: u64,
    /// Ring position just after the batch's records.
    pub end_pos: u64,
    /// Number of records.
    pub count: u32,
}

/// Decodes the fixed part of a batch body.
pub(super) fn batch_head(body: &[u8]) -> Option<BatchHead> {
    let mut r = Take(body.get(..BATCH_FIXED_LEN)?);
    let ring_id = r.u64()?;
    let end_pos = r.u64()?;
    r.u64()?;
    r.u32()?;
    let count = r.u32()?;
    Some(BatchHead {
        ring_id,
        end_pos,
        count,
    })
}

/// Decodes a whole batch body: its head, the resource and the raw record bytes
/// (`count` × [`RECORD_SIZE`], not yet validated).
pub(super) fn decode_batch(body: &[u8]) -> Option<(BatchHead, Resource, &[u8])> {
    let head = batch_head(body)?;
    let mut r = Take(body);
    r.bytes(16)?;
    let res_ring = r.u64()?;
    let pid = r.u32()?;
    r.u32()?;
    let service = r.str()?;
    let host = r.str()?;
    let attr_count = r.u16()?;
    let mut attributes = Vec::with_capacity(attr_count as usize);
    for _ in 0..attr_count {
        attributes.push((r.str()?, r.str()?));
    }
    let records = r.0;
    if records.len() != head.count as usize * RECORD_SIZE {
        return None;
    }
    let resource = Resource {
        service,
        pid,
        host,
        ring_id: res_ring,
        attributes,
    };
    Some((head, resource, records))
}

/// Little-endian reads off the front of a slice; `None` when it runs short.
struct Take<'a>(&'a [u8]);

impl<'a> Take<'a> {
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.bytes(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.bytes(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.bytes(8)?.try_into().ok()?))
    }
    fn str(&mut self) -> Option<String> {
        let len = self.u16()? as usize;
        String::from_utf8(self.bytes(len)?.to_vec()).ok()
    }
}
