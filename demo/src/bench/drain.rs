//! The ring drain: reads and releases the rings while the bench runs, as the
//! sidecar would (so that they do not fill), and counts the spans. The
//! thread is named [`DRAIN_THREAD`] so its CPU time counts as the sidecar's.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use ringside::record::Record;
use ringside::ring::Consumer;

use super::cpu::DRAIN_THREAD;
use crate::traces::ring_files;

/// Reads and releases every ring in `dir` until `stop`, then once more;
/// the thread returns the number of spans read.
pub fn drain_rings(dir: PathBuf, stop: Arc<AtomicBool>) -> std::io::Result<JoinHandle<u64>> {
    std::thread::Builder::new()
        .name(DRAIN_THREAD.to_string())
        .spawn(move || {
            let mut rings: HashMap<PathBuf, Consumer> = HashMap::new();
            let mut batch: Vec<Record> = Vec::with_capacity(4096);
            let mut spans = 0u64;
            let mut last_round = false;
            loop {
                let stopping = stop.load(Ordering::Relaxed);
                for path in ring_files(&dir).unwrap_or_default() {
                    if !rings.contains_key(&path)
                        && let Ok(c) = Consumer::open(&path)
                    {
                        rings.insert(path, c);
                    }
                }
                for c in rings.values_mut() {
                    loop {
                        batch.clear();
                        let n = c.read(4096, &mut batch).records;
                        spans += n as u64;
                        let pos = c.read_position();
                        c.release(pos);
                        if n == 0 {
                            break;
                        }
                    }
                }
                if last_round {
                    return spans;
                }
                last_round = stopping;
                std::thread::sleep(Duration::from_millis(5));
            }
        })
}
