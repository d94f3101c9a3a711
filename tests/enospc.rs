//! A full disk under the spool and the JSONL exporter (a small tmpfs mounted
//! by the test, so it runs as root — CI does — and says why it skips
//! otherwise): a write that fails part-way is cut back, the same data written
//! again once there is room lands exactly once, no entry or line is torn,
//! and a restart finds nothing to repair.

mod common;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::TempDir;
use ringside::record::{Record, SpanKind};
use ringside_agent::batch::{Resource, SpanBatch, SpoolCursor};
use ringside_agent::export::Exporter;
use ringside_agent::export::jsonl::JsonlExporter;
use ringside_agent::sidecar::spool::{Spool, SpoolLimits};

/// The two tests take turns: each forks `mount` and `umount`, and a fork
/// while the other test holds a file (the filler, the spool's lock) keeps that
/// file open in the child until it execs, which would keep a removed filler's
/// space in use or the spool's lock held for a moment.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct SmallDisk {
    dir: PathBuf,
    _tmp: TempDir,
}

impl SmallDisk {
    /// `None` (with the reason printed) when the test cannot mount.
    fn mount(tag: &str, size: &str) -> Option<SmallDisk> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: mounting a small tmpfs needs root (CI runs as root)");
            return None;
        }
        let tmp = TempDir::new(tag);
        let dir = tmp.join("disk");
        std::fs::create_dir_all(&dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status();
        match status {
            Ok(s) if s.success() => Some(SmallDisk { dir, _tmp: tmp }),
            other => {
                eprintln!("skipped: cannot mount a tmpfs ({other:?})");
                None
            }
        }
    }

    /// Fills the disk, then gives back `free` bytes (rounded to pages).
    fn fill_leaving(&self, free: u64) -> PathBuf {
        let path = self.dir.join("filler");
        let mut f = File::create(&path).unwrap();
        let chunk = vec![0xAAu8; 64 << 10];
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
        let len = f.metadata().unwrap().len();
        f.set_len(len.saturating_sub(free)).unwrap();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

fn batch(first: u64, n: u64) -> SpanBatch {
    let records = (first..first + n)
        .map(|i| {
            let mut r = Record::new("disk.write");
            r.trace_id = [7; 16];
            r.span_id = i.to_be_bytes();
            r.kind = SpanKind::Internal as u8;
            r.start = 1_000_000_000;
            r.end = r.start + 1000;
            r
        })
        .collect();
    SpanBatch {
        resource: Arc::new(Resource {
            service: "data-node".into(),
            ..Resource::default()
        }),
        records,
    }
}

fn is_enospc(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOSPC)
}

#[test]
fn spool_append_on_a_full_disk_is_cut_back_and_retried_exactly_once() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(disk) = SmallDisk::mount("enospc-spool", "8m") else {
        return;
    };
    let dir = disk.dir.join("spool");
    let limits = SpoolLimits {
        max_bytes: 64 << 20,
        segment_bytes: 1 << 20,
    };
    let mut spool = Spool::open(&dir, limits).unwrap();
    let filler = disk.fill_leaving(100 << 10);
    // 100 records are about 25 KB: a few fit, then one fails part-way.
    let (mut next, mut failed) = (1u64, None);
    for _ in 0..20 {
        match spool.append(&batch(next, 100), None) {
            Ok(_) => next += 100,
            Err(e) => {
                assert!(is_enospc(&e), "{e}");
                failed = Some(next);
                break;
            }
        }
    }
    let failed = failed.expect("the disk filled up");
    assert!(failed > 1, "some appends fit before the disk was full");
    // Still full: fails again, cleanly.
    assert!(spool.append(&batch(failed, 100), None).is_err());
    std::fs::remove_file(&filler).unwrap();
    spool.append(&batch(failed, 100), None).unwrap();
    spool.append(&batch(failed + 100, 100), None).unwrap();
    let total = failed + 199;

    let mut reader = spool.reader("check").unwrap();
    let read = reader.read(usize::MAX, usize::MAX).unwrap();
    let ids: Vec<u64> = read
        .batches
        .iter()
        .flat_map(|b| b.records.iter().map(|r| u64::from_be_bytes(r.span_id)))
        .collect();
    assert_eq!(
        ids,
        (1..=total).collect::<Vec<_>>(),
        "each span once, in order"
    );
    assert_eq!(spool.stats().corrupt_entries, 0);
    drop(reader);
    drop(spool);
    let reopened = Spool::open(&dir, limits).unwrap();
    let report = reopened.recovery_report();
    assert_eq!(
        (report.corrupt_entries, report.truncated_bytes),
        (0, 0),
        "{report:?}"
    );
}

/// Span ids (hex) of every line; panics on a line that is not whole JSON.
fn jsonl_span_ids(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "the file ends with a whole line"
    );
    let mut ids = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {i} is torn: {e}"));
        for rs in v["resourceSpans"].as_array().unwrap() {
            for ss in rs["scopeSpans"].as_array().unwrap() {
                for s in ss["spans"].as_array().unwrap() {
                    ids.push(s["spanId"].as_str().unwrap().to_string());
                }
            }
        }
    }
    ids
}

#[test]
fn jsonl_write_on_a_full_disk_leaves_no_torn_line_and_no_duplicate() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(disk) = SmallDisk::mount("enospc-jsonl", "2m") else {
        return;
    };
    let path = disk.dir.join("spans.jsonl");
    let mut exporter = JsonlExporter::new(&path, 0, 4);
    assert_eq!(exporter.recover().unwrap(), None);
    let filler = disk.fill_leaving(200 << 10);
    let cursor = |n: u64| SpoolCursor {
        segment: 1,
        offset: n,
    };
    let (mut next, mut failed) = (1u64, None);
    for _ in 0..40 {
        match exporter.export(&[batch(next, 50)], cursor(next)) {
            Ok(_) => next += 50,
            Err(e) => {
                assert!(e.to_string().contains("No space left"), "{e}");
                failed = Some(next);
                break;
            }
        }
    }
    let size = std::fs::metadata(&path).unwrap().len();
    let failed = failed.unwrap_or_else(|| panic!("the disk filled up ({size} bytes written)"));
    assert!(failed > 1, "some lines fit before the disk was full");
    assert_eq!(
        jsonl_span_ids(&path).len() as u64,
        failed - 1,
        "no partial line left"
    );
    // The retry of the same batch, still without room, then with room.
    assert!(
        exporter
            .export(&[batch(failed, 50)], cursor(failed))
            .is_err()
    );
    std::fs::remove_file(&filler).unwrap();
    exporter
        .export(&[batch(failed, 50)], cursor(failed))
        .unwrap();
    exporter
        .export(&[batch(failed + 50, 50)], cursor(failed + 50))
        .unwrap();
    let total = failed + 99;
    let expected: Vec<String> = (1..=total).map(|i| format!("{i:016x}")).collect();
    assert_eq!(jsonl_span_ids(&path), expected, "each span once, in order");

    // A restart finds the file and its recorded state in agreement.
    let len = std::fs::metadata(&path).unwrap().len();
    let mut again = JsonlExporter::new(&path, 0, 4);
    assert_eq!(again.recover().unwrap(), Some(cursor(failed + 50)));
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        len,
        "nothing to cut"
    );
    // The file is still writable after the disk had been full.
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.flush().unwrap();
}
