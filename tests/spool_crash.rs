//! A process killed with SIGKILL in the middle of appends leaves a spool that
//! opens cleanly with every entry whose append had returned.
//!
//! The test runs itself as the child: with `RINGSIDE_SPOOL_CRASH_DIR` set, the
//! same test function appends in a loop and prints the id of every batch whose
//! append returned, until the parent kills it.

mod spool_support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use ringside_agent::sidecar::spool::{Spool, SpoolLimits};
use spool_support::*;

const CHILD_ENV: &str = "RINGSIDE_SPOOL_CRASH_DIR";
const LIMITS: SpoolLimits = SpoolLimits {
    max_bytes: 1 << 30,
    segment_bytes: 64 << 10,
};
/// Spans per batch; batch `i` holds ids `i * PER_BATCH ..`.
const PER_BATCH: u64 = 7;

fn child(dir: &str) -> ! {
    let mut spool = Spool::open(dir.as_ref(), LIMITS).expect("child opens the spool");
    let r = resource("crash", 42);
    let mut out = std::io::stdout().lock();
    for i in 0.. {
        spool
            .append(&batch(&r, i * PER_BATCH, PER_BATCH), Some((42, i + 1)))
            .expect("append");
        writeln!(out, "appended {i}")
            .and_then(|_| out.flush())
            .expect("stdout");
    }
    unreachable!("the parent kills the child")
}

#[test]
fn sigkill_during_appends_keeps_every_returned_append() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(&dir);
    }
    let dir = test_dir("crash");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "sigkill_during_appends_keeps_every_returned_append",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &*dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut returned = None;
    // Let it append a few hundred batches (several segments), then kill it
    // wherever it is.
    while returned.is_none_or(|n| n < 2000) {
        let line = lines.next().expect("the child keeps appending").unwrap();
        if let Some(n) = line.strip_prefix("appended ") {
            returned = Some(n.parse::<u64>().unwrap());
        }
    }
    child.kill().unwrap(); // SIGKILL, by this child's pid
    for line in lines {
        // Appends that returned before the kill and were printed since.
        if let Some(n) = line.unwrap().strip_prefix("appended ") {
            returned = Some(n.parse().unwrap());
        }
    }
    child.wait().unwrap();
    let returned = returned.unwrap();

    let spool = Spool::open(&dir, LIMITS).unwrap();
    let report = spool.recovery_report().clone();
    eprintln!("after the kill: {report:?}, {returned} appends returned");
    assert_eq!(report.corrupt_entries, 0, "{report:?}");
    let (got, lost, _) = drain(&mut spool.reader("after").unwrap());
    assert_eq!(lost, 0);
    let batches = got.len() as u64 / PER_BATCH;
    assert!(
        batches > returned,
        "batch {returned} returned but only {batches} are in the spool"
    );
    assert_eq!(
        got,
        (0..batches * PER_BATCH).collect::<Vec<_>>(),
        "whole batches, in order, once each"
    );
    assert_eq!(spool.ring_positions()[&42], batches);
}
