//! Reading a segment file: entries one after the other through a buffer that
//! is refilled with positioned reads, and resynchronisation after a damaged
//! entry. Used both by recovery and by readers.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::format::{self, ENTRY_HEADER_LEN, ENTRY_MAGIC, Entry};

/// Bytes read ahead at a time.
const CHUNK: usize = 256 * 1024;

/// File name suffix of a segment.
const SEGMENT_SUFFIX: &str = ".seg";

/// The path of segment `seq` in `dir`: 20 decimal digits so that names sort
/// in sequence order.
pub(super) fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}{SEGMENT_SUFFIX}"))
}

/// The sequence number in a segment file name, if it is one.
pub(super) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// What lies at an offset of a segment.
pub(super) enum Found<'a> {
    /// A whole entry whose checksum matches.
    Entry(Entry<'a>),
    /// Anything else: a torn or damaged entry, or bytes that are not an entry.
    Damaged,
}

/// An open segment file and a window of its bytes.
pub(super) struct SegmentFile {
    /// Sequence number of the segment.
    pub seq: u64,
    file: File,
    /// Bytes of the file starting at offset `buf_at`. Segments only grow by
    /// appends, and readers only look below the committed length, so bytes
    /// once read stay true.
    buf: Vec<u8>,
    buf_at: u64,
}

impl SegmentFile {
    /// Opens segment `seq`; `None` when the file does not exist (deleted).
    pub fn open(dir: &Path, seq: u64) -> io::Result<Option<SegmentFile>> {
        match File::open(segment_path(dir, seq)) {
            Ok(file) => Ok(Some(SegmentFile::from_file(seq, file))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Wraps an open file.
    pub fn from_file(seq: u64, file: File) -> SegmentFile {
        SegmentFile {
            seq,
            file,
            buf: Vec::new(),
            buf_at: 0,
        }
    }

    /// The file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Bytes from `at`, at least `want` of them unless `end` (or the end of the
    /// file) comes first. The slice may run on past `want` but never past `end`.
    pub fn bytes(&mut self, at: u64, want: usize, end: u64) -> io::Result<&[u8]> {
        if at >= end {
            return Ok(&[]);
        }
        let have_end = self.buf_at + self.buf.len() as u64;
        let want_end = (at + want as u64).min(end);
        if at < self.buf_at || want_end > have_end {
            let len = end.saturating_sub(at).min(want.max(CHUNK) as u64) as usize;
            self.buf.resize(len, 0);
            let mut filled = 0;
            while filled < len {
                match self
                    .file
                    .read_at(&mut self.buf[filled..], at + filled as u64)
                {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            self.buf.truncate(filled);
            self.buf_at = at;
        }
        let from = (at - self.buf_at) as usize;
        let to = self.buf.len().min((end - self.buf_at) as usize);
        Ok(&self.buf[from.min(to)..to])
    }

    /// The entry at `at`, if a valid one lies wholly below `end`.
    pub fn entry_at(&mut self, at: u64, end: u64) -> io::Result<Found<'_>> {
        let declared = format::declared_len(self.bytes(at, ENTRY_HEADER_LEN, end)?);
        let Some(len) = declared.filter(|&len| len as u64 <= end.saturating_sub(at)) else {
            return Ok(Found::Damaged);
        };
        let bytes = self.bytes(at, len, end)?;
        Ok(match format::parse(bytes) {
            Some(entry) => Found::Entry(entry),
            None => Found::Damaged,
        })
    }

    /// The offset of the first valid entry after `from` and below `end`, if
    /// any. Called after a damaged entry at `from`: its length field cannot be
    /// trusted, so the search goes byte by byte (for the entry magic, then the
    /// checksum), which finds the entry that really followed the damage.
    pub fn next_valid(&mut self, from: u64, end: u64) -> io::Result<Option<u64>> {
        let mut at = from + 1;
        while at + ENTRY_HEADER_LEN as u64 <= end {
            let window = self.bytes(at, CHUNK, end)?;
            if window.len() < ENTRY_HEADER_LEN {
                break; // the file ends before `end`: no room for an entry
            }
            let found = window
                .windows(ENTRY_MAGIC.len())
                .position(|w| w == ENTRY_MAGIC);
            let Some(i) = found else {
                // Keep the last bytes: a magic may straddle the window's end.
                at += (window.len().saturating_sub(ENTRY_MAGIC.len() - 1)).max(1) as u64;
                continue;
            };
            let candidate = at + i as u64;
            if let Found::Entry(_) = self.entry_at(candidate, end)? {
                return Ok(Some(candidate));
            }
            at = candidate + 1;
        }
        Ok(None)
    }
}
