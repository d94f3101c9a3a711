//! The Python package (python/, PyO3, installed into target/venv by
//! `maturin develop` in .ci/run): its unit tests, the README's example, and a
//! gateway and a chunk server over HTTP on 127.0.0.1 with the sidecar
//! draining; every span arrives once with its name, kind, parent (across the
//! HTTP hop too), typed attributes, events and error status.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::jsonl_sidecar::JsonlSidecar;
use common::{TempDir, chunk_server};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's python, with the package installed.
fn python() -> PathBuf {
    let py = root().join("target/venv/bin/python");
    assert!(
        py.exists(),
        "{} missing: run the Python steps of .ci/run (maturin develop into target/venv)",
        py.display()
    );
    py
}

fn run_python(args: &[&str], ring_dir: &Path) -> String {
    let out: Output = Command::new(python())
        .args(args)
        .current_dir(root())
        .env("RINGSIDE_DIR", ring_dir)
        .env_remove("RINGSIDE_RING_SLOTS")
        .output()
        .expect("run python");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "python {args:?} failed:\n{text}");
    text
}

#[test]
fn python_unit_tests_and_readme_example_pass() {
    let tmp = TempDir::new("python-unit");
    run_python(
        &["-m", "unittest", "discover", "-s", "python/tests"],
        tmp.path(),
    );
    let out = run_python(&["python/tests/readme_example.py"], tmp.path());
    assert!(out.contains("written 2 dropped 0 lost 0"), "{out}");
}

#[test]
fn python_spans_reach_the_exporter_through_the_sidecar() {
    let tmp = TempDir::new("python-sidecar");
    let sidecar = JsonlSidecar::start(&tmp);
    let stdout = run_python(&["python/tests/http_pair.py", "5"], &sidecar.rings);
    assert!(stdout.contains("chunk 3: 500"), "{stdout}");
    assert!(stdout.contains("written 15 dropped 0 lost 0"), "{stdout}");

    let spans = sidecar.collect("the Python spans", 5 * 3);

    chunk_server::check_chunk_server_spans(
        &spans,
        "py-chunk-server",
        chunk_server::ChunkError {
            message: "[Errno 5] input/output error",
            kind: "OSError",
            on_disk_span: true,
        },
    );
}
