//! `ringside run` exporting JSONL from a fresh ring directory, for the tests
//! whose writer is another language's package or library: start it, let the
//! writer run, then collect what it exported.

use std::path::PathBuf;
use std::time::Duration;

use super::{JsonSpan, Proc, TempDir, layout, read_jsonl, start_sidecar, wait_for};

/// A running sidecar and where it reads and writes.
pub struct JsonlSidecar {
    /// The ring directory the writers under test use.
    pub rings: PathBuf,
    out: PathBuf,
    proc: Proc,
}

impl JsonlSidecar {
    /// Starts the sidecar on the usual layout under `tmp` ([`layout`]).
    pub fn start(tmp: &TempDir) -> JsonlSidecar {
        let (rings, spool, out, log) = layout(tmp);
        let proc = start_sidecar(&rings, &spool, &out, &log, &[]);
        JsonlSidecar { rings, out, proc }
    }

    /// Waits (up to a minute) for `expected` spans of `what` in the JSONL
    /// file, stops the sidecar with SIGTERM (it must exit 0) and returns the
    /// spans, checking that each arrived exactly once.
    pub fn collect(mut self, what: &str, expected: usize) -> Vec<JsonSpan> {
        wait_for(
            &format!("{what} in the JSONL file"),
            Duration::from_secs(60),
            || read_jsonl(&self.out).len() >= expected,
        );
        let status = self.proc.stop_with(libc::SIGTERM, Duration::from_secs(30));
        assert!(status.success(), "sidecar exit: {status}");
        let spans = read_jsonl(&self.out);
        assert_eq!(spans.len(), expected, "each span exactly once: {spans:#?}");
        spans
    }
}
