//! Opening a spool that a crash or the disk left damaged: torn tails are cut,
//! damaged entries and foreign files are skipped and reported, never fatal.

mod spool_support;

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;

use ringside_agent::sidecar::spool::{Spool, SpoolLimits};
use spool_support::*;

const ROOMY: SpoolLimits = SpoolLimits {
    max_bytes: 1 << 30,
    segment_bytes: 1 << 20,
};

#[test]
fn torn_tail_is_cut_and_appends_continue() {
    let dir = test_dir("torn");
    let r = resource("svc", 5);
    {
        let mut spool = Spool::open(&dir, ROOMY).unwrap();
        for i in 0..3 {
            spool
                .append(&batch(&r, i * 4, 4), Some((5, i + 1)))
                .unwrap();
        }
    }
    let seg = segments(&dir).pop().unwrap();
    let len = fs::metadata(&seg).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 100)
        .unwrap();
    {
        let mut spool = Spool::open(&dir, ROOMY).unwrap();
        let report = spool.recovery_report().clone();
        assert!(
            report.truncated_bytes > 0 && report.truncated_bytes < len,
            "{report:?}"
        );
        assert_eq!(report.corrupt_entries, 0, "a torn tail is not damage");
        assert_eq!(
            spool.ring_positions()[&5],
            2,
            "the torn entry's position is not claimed"
        );
        spool.append(&batch(&r, 100, 2), Some((5, 9))).unwrap();
    }
    let spool = Spool::open(&dir, ROOMY).unwrap();
    assert_eq!(spool.recovery_report().truncated_bytes, 0);
    assert_eq!(spool.ring_positions()[&5], 9);
    let (got, _, _) = drain(&mut spool.reader("r").unwrap());
    assert_eq!(got, [0, 1, 2, 3, 4, 5, 6, 7, 100, 101]);
}

#[test]
fn flipped_bytes_skip_one_entry_and_following_entries_are_read() {
    let dir = test_dir("flipped");
    let r = resource("svc", 6);
    let after_first;
    {
        let mut spool = Spool::open(&dir, ROOMY).unwrap();
        after_first = spool.append(&batch(&r, 0, 3), Some((6, 1))).unwrap();
        spool.append(&batch(&r, 3, 3), Some((6, 2))).unwrap();
        spool.append(&batch(&r, 6, 3), Some((6, 3))).unwrap();
    }
    let seg = segments(&dir).pop().unwrap();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&seg)
        .unwrap();
    let mut byte = [0u8; 1];
    let at = after_first.offset + 200;
    file.read_exact_at(&mut byte, at).unwrap();
    file.write_all_at(&[byte[0] ^ 0x5a], at).unwrap();

    let mut spool = Spool::open(&dir, ROOMY).unwrap();
    assert_eq!(spool.recovery_report().corrupt_entries, 1);
    assert_eq!(spool.stats().corrupt_entries, 1);
    let (got, _, _) = drain(&mut spool.reader("r").unwrap());
    assert_eq!(got, [0, 1, 2, 6, 7, 8]);
    assert_eq!(
        spool.stats().corrupt_entries,
        1,
        "reading past the damage does not count it again"
    );
    spool.append(&batch(&r, 9, 1), None).unwrap();
}

#[test]
fn garbage_files_are_reported_not_fatal() {
    let dir = test_dir("garbage");
    let r = resource("svc", 8);
    {
        let mut spool = Spool::open(&dir, ROOMY).unwrap();
        spool.append(&batch(&r, 0, 2), Some((8, 2))).unwrap();
    }
    fs::write(dir.join("notes.txt"), "not a spool file").unwrap();
    // An old segment that is garbage from its first byte.
    fs::write(dir.join("00000000000000000000.seg"), vec![0xEE; 5000]).unwrap();
    // A cursor file that is not one.
    fs::write(dir.join("cursor.broken"), "\u{0}\u{1}").unwrap();
    let mut spool = Spool::open(&dir, ROOMY).unwrap();
    let report = spool.recovery_report().clone();
    assert_eq!(report.unknown_files, 1, "{report:?}");
    assert_eq!(report.corrupt_entries, 1, "{report:?}");
    assert_eq!(report.bad_cursor_files, 1, "{report:?}");
    let (got, _, _) = drain(&mut spool.reader("r").unwrap());
    assert_eq!(got, [0, 1]);
    let (got, _, _) = drain(&mut spool.reader("broken").unwrap());
    assert_eq!(got, [0, 1], "a broken cursor restarts at the oldest data");
    spool.append(&batch(&r, 2, 1), None).unwrap();
    assert!(
        dir.join("notes.txt").exists(),
        "foreign files are left alone"
    );
}

#[test]
fn a_spool_in_use_cannot_be_opened_twice() {
    let dir = test_dir("twice");
    let spool = Spool::open(&dir, ROOMY).unwrap();
    let err = Spool::open(&dir, ROOMY)
        .err()
        .expect("the second open fails");
    assert_eq!(err.kind(), std::io::ErrorKind::ResourceBusy, "{err}");
    drop(spool);
    Spool::open(&dir, ROOMY).expect("free again once the first is dropped");
}
