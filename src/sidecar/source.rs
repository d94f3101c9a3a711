//! Source stage: find ring files, drain them, turn ticks into Unix time, and hand
//! batches to the next stage; release ring positions only once that stage says
//! the batch is safe.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::admission::{Admission, Refusal, Refused, is_fd_exhaustion};
use crate::batch::{Resource, SpanBatch};
use ringside::clock::TickConverter;
use ringside::record::{Record, RecordView};
use ringside::ring::{Consumer, OpenError, RingStats};

/// Most records taken from one ring per turn, so one busy ring cannot starve
/// the others and batches stay a bounded size.
pub const DEFAULT_MAX_PER_RING: usize = 8192;

/// Decides whether a ring file may be read (ownership, mode); called for each
/// newly found file before it is mapped.
pub type RingCheck = Box<dyn Fn(&Path, &std::fs::Metadata) -> Result<(), OpenError> + Send>;

/// One ring being drained.
struct Draining {
    /// Declared first, so it is dropped (unregistered) before the consumer
    /// unmaps the ring.
    guard: Option<super::sigbus::Guard>,
    consumer: Consumer,
    resource: Arc<Resource>,
    /// Records that failed validation (garbage in a published slot, or a slot
    /// whose stamp does not match its position).
    corrupt: u64,
    /// Records handed on.
    delivered: u64,
}

/// Per-ring figures for metrics.
#[derive(Clone, Debug)]
pub struct RingReport {
    /// The ring file.
    pub path: PathBuf,
    /// Service and process.
    pub resource: Arc<Resource>,
    /// Header counters.
    pub stats: RingStats,
    /// Records that failed validation and were skipped.
    pub corrupt: u64,
    /// Records handed on by this sidecar run.
    pub delivered: u64,
}

/// What one drain turn did.
#[derive(Clone, Debug, Default)]
pub struct DrainReport {
    /// Records handed on.
    pub records: usize,
    /// Records abandoned: begun by a writer killed before publishing them.
    pub abandoned: u64,
    /// Records skipped as corrupt.
    pub corrupt: u64,
    /// Rings of dead writers that were fully drained and removed.
    pub removed: Vec<RingReport>,
    /// The sink refused a batch (the spool could not write); its records stay
    /// in the ring and are read again next turn.
    pub sink_errors: Vec<String>,
    /// Drained rings of gone writers whose path now names another file (the
    /// ring was replaced): dropped without unlinking the new file, which the
    /// next scan opens.
    pub replaced: Vec<PathBuf>,
    /// Rings whose file shrank under the mapping (truncated by their writer or
    /// another process): dropped. Opened again, such a file fails validation
    /// and is reported as a bad ring.
    pub shrunk: Vec<RingReport>,
}

/// Finds and drains the rings of one directory.
pub struct Source {
    dir: PathBuf,
    rings: HashMap<PathBuf, Draining>,
    /// Files that could not be opened, with their modification time: tried again
    /// only when they change, and reported once.
    rejected: HashMap<PathBuf, (Option<SystemTime>, String)>,
    /// The bound on open rings, and how many waited under it at the last
    /// scan (a waiting ring is tried again at every scan).
    admission: Admission,
    /// What the last scan's bound changes want logged.
    admission_log: Vec<(log::Level, String)>,
    converter: TickConverter,
    host: String,
    attributes: Vec<(String, String)>,
    check: Option<RingCheck>,
    buf: Vec<Record>,
    last_scan: Option<Instant>,
}

impl Source {
    /// A source for `dir`; `attributes` are added to every ring's resource.
    pub fn new(dir: &Path, attributes: Vec<(String, String)>) -> Source {
        Source {
            dir: dir.to_path_buf(),
            rings: HashMap::new(),
            rejected: HashMap::new(),
            admission: Admission::new(usize::MAX),
            admission_log: Vec::new(),
            converter: TickConverter::new(),
            host: host_name(),
            attributes,
            check: None,
            buf: Vec::with_capacity(DEFAULT_MAX_PER_RING),
            last_scan: None,
        }
    }

    /// Adds a check run on each new ring file before it is opened.
    pub fn set_check(&mut self, check: RingCheck) {
        self.check = Some(check);
    }

    /// At most `max_open` rings open at once (`rings.max_open`); rings found
    /// beyond it wait and are opened as others go away.
    pub fn set_max_open(&mut self, max_open: usize) {
        self.admission.set_max_open(max_open);
    }

    /// Rings found but not open, by reason.
    pub fn refused(&self) -> Refused {
        self.admission.refused()
    }

    /// Log lines about the bound on open rings from the last scan (reached,
    /// or no longer holding rings back), each once.
    pub fn take_admission_log(&mut self) -> Vec<(log::Level, String)> {
        std::mem::take(&mut self.admission_log)
    }

    /// Replaces the extra resource attributes (configuration reload); applies to
    /// rings found from now on.
    pub fn set_attributes(&mut self, attributes: Vec<(String, String)>) {
        self.attributes = attributes;
    }

    /// The directory watched.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// When the directory was last scanned.
    pub fn last_scan(&self) -> Option<Instant> {
        self.last_scan
    }

    /// Looks for ring files not yet open. `resume` gives, for a ring id, the
    /// position up to which the next stage already holds its records (from
    /// before a restart); reading starts there. Returns one message per file
    /// that could not be opened (each reported once until the file changes).
    pub fn scan(&mut self, resume: impl Fn(u64) -> Option<u64>) -> Vec<String> {
        self.last_scan = Some(Instant::now());
        let mut problems = Vec::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) => {
                problems.push(format!(
                    "cannot read ring directory {}: {e}",
                    self.dir.display()
                ));
                return problems;
            }
        };
        let mut present = HashSet::new();
        // Set by the first open of this scan that ran out of descriptors: the
        // rings after it are refused without trying.
        let mut out_of_fds = false;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension() != Some(OsStr::new("ring")) || is_hidden(&path) {
                continue;
            }
            present.insert(path.clone());
            if self.rings.contains_key(&path) {
                continue;
            }
            // A known bad ring, unchanged, is not waiting for room: not
            // counted as refused.
            let modified = entry.metadata().ok().and_then(|m| m.modified().ok());
            if let Some((when, _)) = self.rejected.get(&path) {
                if *when == modified {
                    continue;
                }
            }
            if !self.admission.has_room(self.rings.len()) {
                self.admission.refuse(Refusal::MaxOpen);
                continue;
            }
            if out_of_fds {
                self.admission.refuse(Refusal::FdLimit);
                continue;
            }
            match self.open(&path, &resume) {
                Ok(ring) => {
                    self.rejected.remove(&path);
                    self.rings.insert(path, ring);
                }
                Err(e) if is_fd_exhaustion(&e) => {
                    out_of_fds = true;
                    self.admission.refuse(Refusal::FdLimit);
                }
                Err(e) => {
                    let msg = format!("skipping ring file {}: {e}", path.display());
                    problems.push(msg.clone());
                    self.rejected.insert(path, (modified, msg));
                }
            }
        }
        self.rejected.retain(|p, _| present.contains(p));
        self.admission_log.extend(self.admission.end_scan());
        problems
    }

    fn open(
        &self,
        path: &Path,
        resume: &impl Fn(u64) -> Option<u64>,
    ) -> Result<Draining, OpenError> {
        if let Some(check) = &self.check {
            let meta = std::fs::symlink_metadata(path)?;
            check(path, &meta)?;
        }
        let mut consumer = Consumer::open(path)?;
        if let Some(check) = &self.check {
            // Checked again on the opened file: it may have been swapped since.
            check(path, consumer.metadata())?;
        }
        let id = *consumer.identity();
        if let Some(pos) = resume(id.ring_id) {
            consumer.skip_to(pos);
        }
        let resource = Arc::new(Resource {
            service: id.service(),
            pid: id.pid,
            host: self.host.clone(),
            ring_id: id.ring_id,
            attributes: self.attributes.clone(),
        });
        let (start, len) = consumer.mapped_range();
        Ok(Draining {
            guard: super::sigbus::Guard::register(start, len),
            consumer,
            resource,
            corrupt: 0,
            delivered: 0,
        })
    }

    /// Drains every ring once: up to `max_per_ring` records each, converted and
    /// validated, passed to `sink` with the ring id and the ring position after
    /// them. `sink` may drop records from the batch (sampling); when it returns
    /// `Ok`, the positions are released to the writers. Rings whose writer is
    /// gone are removed once empty.
    pub fn drain(
        &mut self,
        max_per_ring: usize,
        mut sink: impl FnMut(&mut SpanBatch, u64, u64) -> std::io::Result<()>,
    ) -> DrainReport {
        self.converter.refresh();
        let mut report = DrainReport::default();
        let mut gone = Vec::new();
        let mut shrunk = Vec::new();
        for (path, ring) in self.rings.iter_mut() {
            self.buf.clear();
            let drained = ring.consumer.read(max_per_ring, &mut self.buf);
            ring.corrupt += drained.corrupt;
            report.corrupt += drained.corrupt;
            let end = ring.consumer.read_position();
            if end > ring.consumer.released() {
                let cal = ring.consumer.identity().clock;
                let converter = &self.converter;
                let before = self.buf.len();
                self.buf.retain_mut(|r| {
                    if RecordView::new(r).is_err() {
                        return false;
                    }
                    r.map_times(|t| converter.to_unix_ns(&cal, t));
                    true
                });
                let corrupt = (before - self.buf.len()) as u64;
                ring.corrupt += corrupt;
                report.corrupt += corrupt;
                let mut batch = SpanBatch {
                    resource: ring.resource.clone(),
                    records: std::mem::take(&mut self.buf),
                };
                let count = batch.records.len();
                match sink(&mut batch, ring.resource.ring_id, end) {
                    Ok(()) => {
                        ring.consumer.release(end);
                        ring.delivered += count as u64;
                        report.records += count;
                    }
                    Err(e) => {
                        ring.consumer.rewind();
                        report.sink_errors.push(format!("{}: {e}", path.display()));
                    }
                }
                self.buf = batch.records;
            }
            if ring.guard.as_ref().is_some_and(|g| g.faulted()) {
                shrunk.push(path.clone());
                continue;
            }
            if ring.consumer.is_drained()
                && ring.consumer.released() == ring.consumer.read_position()
                && !ring.consumer.writer_alive()
                // A writer may have published between our read and the liveness probe.
                && ring.consumer.is_drained()
            {
                // Records its writer was killed in the middle of: counted, once.
                report.abandoned += ring.consumer.count_abandoned();
                gone.push(path.clone());
            }
        }
        for path in shrunk {
            if let Some(ring) = self.rings.remove(&path) {
                report.shrunk.push(RingReport {
                    stats: RingStats::default(),
                    path,
                    resource: ring.resource,
                    corrupt: ring.corrupt,
                    delivered: ring.delivered,
                });
            }
        }
        for path in gone {
            if let Some(ring) = self.rings.remove(&path) {
                // Unlink by path only if the path still names the file that
                // was mapped (same device and inode): a ring replaced under
                // the same name (its writer renamed a new one over it) is
                // another writer's. Already gone is fine: another sidecar or
                // an operator removed it, and there is nothing to do or say.
                let opened = ring.consumer.metadata();
                match std::fs::symlink_metadata(&path) {
                    Ok(now) if now.dev() == opened.dev() && now.ino() == opened.ino() => {
                        let _ = std::fs::remove_file(&path);
                    }
                    Ok(_) => report.replaced.push(path.clone()),
                    // Gone (or not to be looked at): nothing to unlink or report.
                    Err(_) => {}
                }
                report.removed.push(RingReport {
                    stats: ring.consumer.stats(),
                    path,
                    resource: ring.resource,
                    corrupt: ring.corrupt,
                    delivered: ring.delivered,
                });
            }
        }
        report
    }

    /// True when no ring has records left to read.
    pub fn is_idle(&self) -> bool {
        self.rings.values().all(|r| r.consumer.is_drained())
    }

    /// Figures for every open ring.
    pub fn reports(&self) -> Vec<RingReport> {
        self.rings
            .iter()
            .map(|(path, r)| RingReport {
                path: path.clone(),
                resource: r.resource.clone(),
                stats: r.consumer.stats(),
                corrupt: r.corrupt,
                delivered: r.delivered,
            })
            .collect()
    }

    /// Number of open rings.
    pub fn ring_count(&self) -> usize {
        self.rings.len()
    }
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(OsStr::to_str)
        .is_some_and(|n| n.starts_with('.'))
}

/// This machine's host name (`host.name`).
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is writable for its whole length, which we pass.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringside::ring::Ring;

    fn drain_all(source: &mut Source) -> DrainReport {
        source.drain(DEFAULT_MAX_PER_RING, |_, _, _| Ok(()))
    }

    #[test]
    fn a_known_bad_ring_is_not_counted_as_waiting_for_room() {
        let dir = tempfile::tempdir().unwrap();
        let mut source = Source::new(dir.path(), Vec::new());
        source.set_max_open(1);
        std::fs::write(dir.path().join("bad.ring"), b"not a ring").unwrap();
        assert_eq!(source.scan(|_| None).len(), 1, "the bad ring is reported");
        let a = Ring::create(dir.path(), "a", 8).unwrap();
        source.scan(|_| None);
        assert_eq!(source.ring_count(), 1);
        // At the cap: the new ring waits, the bad one does not.
        let _b = Ring::create(dir.path(), "b", 8).unwrap();
        assert!(source.scan(|_| None).is_empty());
        assert_eq!(
            source.refused(),
            Refused {
                max_open: 1,
                fd_limit: 0
            }
        );
        // a's writer exits: its ring goes, b opens, nothing waits.
        drop(a);
        assert_eq!(drain_all(&mut source).removed.len(), 1);
        source.scan(|_| None);
        assert_eq!(source.ring_count(), 1);
        assert_eq!(source.refused(), Refused::default());
    }

    #[test]
    fn a_drained_ring_whose_file_is_gone_is_not_reported_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let mut source = Source::new(dir.path(), Vec::new());
        let ring = Ring::create(dir.path(), "gone", 8).unwrap();
        source.scan(|_| None);
        assert_eq!(source.ring_count(), 1);
        std::fs::remove_file(ring.path()).unwrap();
        drop(ring);
        let report = drain_all(&mut source);
        assert_eq!(report.removed.len(), 1);
        assert!(report.replaced.is_empty(), "{:?}", report.replaced);
    }
}
