//! The streaming analysis gives the answers the loading one gave: every case
//! of `scripts/analysis-answers.sh` (stats, search, bottlenecks, trace,
//! critical-path, timeline and report, with filters and windows, from the
//! store and from JSONL) on generated inputs, compared by SHA-256 with the
//! answers of the build before the rewrite (`tests/answers/*.sha256`,
//! captured with `examples/gen_store.rs` and the same script).
//!
//! JSONL is also read with a small temporary-file size, so that grouping by
//! trace goes through many files.
//!
//! To see a difference: build the old binary, run the script with both on
//! the same files, `diff -r` the two directories.

use std::path::{Path, PathBuf};
use std::process::Command;

use ringside_agent::analyze::input::PART_BYTES_VAR;
use ringside_agent::batch::SpoolCursor;
use ringside_agent::export::Exporter;
use ringside_agent::export::jsonl::JsonlExporter;
use ringside_agent::store::{Store, generate};

const T0: u64 = 1_760_000_000_000_000_000;

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir(tag: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("ringside-answers-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

/// What `gen_store STORE TRACES JSONL T0` writes: 500 traces per
/// transaction, seeded by their index.
fn generate(store: &Path, jsonl: &Path, traces: usize) {
    let mut db = Store::open(store).unwrap();
    let mut file = JsonlExporter::new(jsonl, 0, 1);
    let mut done = 0;
    while done < traces {
        let n = 500.min(traces - done);
        let batches = generate::traces(done as u64, n, T0 + done as u64 * 1_000_000, 1_000_000);
        let bytes = (done + n) as u64 * 14 * 256;
        let cursor = SpoolCursor {
            segment: bytes >> 24,
            offset: bytes & ((1 << 24) - 1),
        };
        file.export(&batches, cursor).unwrap();
        db.write(&batches, cursor).unwrap();
        done += n;
    }
}

/// Runs the script into `dir/answers` with `env` set, and checks every
/// answer's hash.
fn answers_match(dir: &Path, store: &Path, jsonl: &Path, manifest: &str, env: &[(&str, &str)]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = dir.join("answers");
    let _ = std::fs::remove_dir_all(&out);
    let run = Command::new("sh")
        .envs(env.iter().copied())
        .arg(root.join("scripts/analysis-answers.sh"))
        .args([
            Path::new(env!("CARGO_BIN_EXE_ringside")),
            store,
            jsonl,
            &out,
        ])
        .status()
        .unwrap();
    assert!(run.success());
    let check = Command::new("sha256sum")
        .args(["-c", "--quiet"])
        .arg(root.join("tests/answers").join(manifest))
        .current_dir(&out)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "answers differ from the pre-rewrite build:\n{}",
        String::from_utf8_lossy(&check.stdout)
    );
}

#[test]
fn answers_on_a_100k_span_store_and_its_jsonl_are_unchanged() {
    let dir = tempdir("100k");
    let (store, jsonl) = (dir.0.join("g100k.db"), dir.0.join("g100k.jsonl"));
    generate(&store, &jsonl, 7_143);
    answers_match(&dir.0, &store, &jsonl, "g100k.sha256", &[]);
    // The 27 MB of JSONL grouped by trace through 28 temporary files, not 1.
    answers_match(
        &dir.0,
        &store,
        &jsonl,
        "g100k.sha256",
        &[(PART_BYTES_VAR, "1000000")],
    );
}

#[test]
fn answers_with_every_jsonl_span_twice_are_unchanged() {
    let dir = tempdir("120");
    let (store, jsonl) = (dir.0.join("g120.db"), dir.0.join("g120.jsonl"));
    generate(&store, &jsonl, 120);
    let once = std::fs::read(&jsonl).unwrap();
    let twice = dir.0.join("g120-twice.jsonl");
    std::fs::write(&twice, [once.clone(), once].concat()).unwrap();
    answers_match(&dir.0, &store, &twice, "g120-twice.sha256", &[]);
}
