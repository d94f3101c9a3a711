//! A thread that keeps draining one ring, as the sidecar would (without the
//! spool), so that the write-path benches never fill it. Included with
//! `#[path = "support/ring_reader.rs"] mod ring_reader;` (from another crate's
//! benches, by a relative path to this file).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use ringside::ring::Consumer;

/// Drains the ring at `path` until `stop`; the thread returns the records
/// it read.
pub fn drain(path: PathBuf, stop: Arc<AtomicBool>) -> JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut c = Consumer::open(&path).unwrap();
        let mut buf = Vec::with_capacity(8192);
        let mut total = 0;
        while !stop.load(Ordering::Relaxed) {
            buf.clear();
            let d = c.read(8192, &mut buf);
            total += d.records as u64;
            c.release(c.read_position());
            if d.records == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        total
    })
}
