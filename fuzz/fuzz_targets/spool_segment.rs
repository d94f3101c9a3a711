//! A spool segment file with arbitrary content: opening the spool recovers
//! (cutting or skipping what is damaged) and reading it back never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringside_agent::sidecar::spool::{Spool, SpoolLimits};

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    if std::fs::write(dir.path().join("00000000000000000001.seg"), data).is_err() {
        return;
    }
    let limits = SpoolLimits {
        max_bytes: 1 << 30,
        segment_bytes: 1 << 20,
    };
    let Ok(spool) = Spool::open(dir.path(), limits) else {
        return;
    };
    if let Ok(mut reader) = spool.reader("fuzz") {
        let _ = reader.read(usize::MAX, usize::MAX);
    }
});
