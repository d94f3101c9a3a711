//! JSONL file exporter: one OTLP/JSON `ExportTraceServiceRequest` per line, the
//! layout of the OpenTelemetry Collector's file exporter, with size-based
//! rotation and retention by count.
//!
//! Exactly once, even across a SIGKILL or a power loss: after each append the
//! exporter syncs the file and stores its spool cursor together with the
//! file's length (`<file>.cursor`, replaced durably). On start it cuts the
//! file back to that length (dropping a line that was written but not
//! recorded) and resumes from that cursor. A write that fails part-way (disk
//! full) is cut back at once, so the file never holds a torn line before a
//! complete one.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{ExportError, ExportOutcome, Exporter};
use crate::batch::SpanBatch;
use crate::batch::SpoolCursor;

/// The `[[exporters]]` entry of kind `jsonl`.
#[derive(Clone, Debug, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JsonlConfig {
    /// The file.
    pub path: PathBuf,
    /// Rotate when the file reaches this size in bytes, 0 = never.
    #[serde(default = "default_rotate_bytes")]
    pub rotate_bytes: u64,
    /// Rotated files kept.
    #[serde(default = "default_keep")]
    pub keep: usize,
}

fn default_rotate_bytes() -> u64 {
    256 << 20
}
fn default_keep() -> usize {
    4
}

/// Writes OTLP/JSON lines to a file.
pub struct JsonlExporter {
    path: PathBuf,
    rotate_bytes: u64,
    keep: usize,
    file: Option<File>,
    len: u64,
    buf: Vec<u8>,
}

impl JsonlExporter {
    /// An exporter appending to `path`, rotating at `rotate_bytes` (0 = never)
    /// and keeping `keep` rotated files (`path.1` is the newest).
    pub fn new(path: &Path, rotate_bytes: u64, keep: usize) -> JsonlExporter {
        JsonlExporter {
            path: path.to_path_buf(),
            rotate_bytes,
            keep: keep.max(1),
            file: None,
            len: 0,
            buf: Vec::with_capacity(1 << 20),
        }
    }

    fn cursor_path(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".cursor");
        PathBuf::from(p)
    }

    fn open(&mut self) -> io::Result<&mut File> {
        if self.file.is_none() {
            if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            self.len = f.metadata()?.len();
            self.file = Some(f);
        }
        Ok(self.file.as_mut().expect("opened above"))
    }

    /// Stores `cursor` and the file length, durably.
    fn save_state(&self, cursor: SpoolCursor) -> io::Result<()> {
        let path = self.cursor_path();
        let tmp = path.with_extension("cursor.tmp");
        let text = format!("{} {} {}\n", cursor.segment, cursor.offset, self.len);
        crate::durable::replace_file(&path, &tmp, text.as_bytes())
    }

    fn load_state(&self) -> io::Result<Option<(SpoolCursor, u64)>> {
        let text = match std::fs::read_to_string(self.cursor_path()) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let nums: Vec<u64> = text
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        match nums[..] {
            [segment, offset, len] => Ok(Some((SpoolCursor { segment, offset }, len))),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} is not `segment offset length`",
                    self.cursor_path().display()
                ),
            )),
        }
    }

    /// Renames `path` → `path.1` → ... → `path.<keep>`, dropping the oldest.
    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        let numbered = |n: usize| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        let _ = std::fs::remove_file(numbered(self.keep));
        for n in (1..self.keep).rev() {
            let from = numbered(n);
            if from.exists() {
                std::fs::rename(&from, numbered(n + 1))?;
            }
        }
        std::fs::rename(&self.path, numbered(1))?;
        self.len = 0;
        Ok(())
    }

    fn append(&mut self, batches: &[SpanBatch], cursor: SpoolCursor) -> io::Result<()> {
        self.buf.clear();
        super::otlp::encode_json(batches, &mut self.buf);
        self.buf.push(b'\n');
        if self.rotate_bytes > 0
            && self.len > 0
            && self.len + self.buf.len() as u64 > self.rotate_bytes
        {
            self.rotate()?;
            // The new, empty file is the state now: a crash before the next
            // line is written must not cut the rotated file.
            self.open()?;
            self.save_state_len_only()?;
        }
        let buf = std::mem::take(&mut self.buf);
        let len = self.len;
        let file = self.open()?;
        let written = file.write_all(&buf).and_then(|()| file.sync_data());
        if let Err(e) = written {
            // Cut a partial line back off (disk full): the retry appends the
            // whole line after the last complete one. If even that fails, the
            // next start cuts to the recorded length.
            if let Err(cut) = file.set_len(len) {
                log::error!(path = self.path.display().to_string().as_str(), error = cut.to_string().as_str(); "cannot cut a partial JSONL line back");
                self.file = None;
            }
            self.buf = buf;
            return Err(e);
        }
        self.buf = buf;
        self.len = len + self.buf.len() as u64;
        if let Err(e) = self.save_state(cursor) {
            // Unless the new state did reach the disk, the line is not
            // recorded and the retry writes it again: cut it now.
            let recorded =
                matches!(self.load_state(), Ok(Some((c, l))) if c == cursor && l == self.len);
            if !recorded {
                self.len = len;
                if let Some(f) = &self.file {
                    let _ = f.set_len(len);
                }
            }
            return Err(e);
        }
        Ok(())
    }

    /// After a rotation: keeps the cursor, records the new file's length.
    fn save_state_len_only(&self) -> io::Result<()> {
        match self.load_state()? {
            Some((cursor, _)) => self.save_state(cursor),
            None => Ok(()),
        }
    }
}

impl Exporter for JsonlExporter {
    fn name(&self) -> &str {
        "jsonl"
    }

    fn recover(&mut self) -> anyhow::Result<Option<SpoolCursor>> {
        let Some((cursor, len)) = self.load_state()? else {
            return Ok(None);
        };
        let f = self.open()?;
        let actual = f.metadata()?.len();
        if actual > len {
            // Written after the last recorded state: those spools entries will be
            // exported again, so the lines go.
            f.set_len(len)?;
            log::info!(path = self.path.display().to_string().as_str(), bytes = actual - len; "cut unrecorded tail of JSONL file");
        }
        self.len = len.min(actual);
        Ok(Some(cursor))
    }

    fn export(
        &mut self,
        batches: &[SpanBatch],
        cursor: SpoolCursor,
    ) -> Result<ExportOutcome, ExportError> {
        let spans: u64 = batches.iter().map(|b| b.len() as u64).sum();
        self.append(batches, cursor)
            .map_err(|e| ExportError::Retryable {
                reason: format!("cannot write {}: {e}", self.path.display()),
                retry_after: None,
            })?;
        Ok(ExportOutcome {
            accepted: spans,
            rejected: 0,
        })
    }
}
