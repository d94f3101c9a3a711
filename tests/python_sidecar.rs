//! The Python package (python/, PyO3, installed into target/venv by
//! `maturin develop` in .ci/run): its unit tests, the README's example, and a
//! gateway and a chunk server over HTTP on 127.0.0.1 with the sidecar
//! draining; every span arrives once with its name, kind, parent (across the
//! HTTP hop too), typed attributes, events and error status.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{JsonSpan, TempDir, layout, read_jsonl, start_sidecar, wait_for};

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
    let (rings, spool, out, log) = layout(&tmp);
    let mut sidecar = start_sidecar(&rings, &spool, &out, &log, &[]);
    let stdout = run_python(&["python/tests/http_pair.py", "5"], &rings);
    assert!(stdout.contains("chunk 3: 500"), "{stdout}");
    assert!(stdout.contains("written 15 dropped 0 lost 0"), "{stdout}");

    let expected = 5 * 3;
    wait_for(
        "the Python spans in the JSONL file",
        Duration::from_secs(60),
        || read_jsonl(&out).len() >= expected,
    );
    let status = sidecar.stop_with(libc::SIGTERM, Duration::from_secs(30));
    assert!(status.success(), "sidecar exit: {status}");
    let spans = read_jsonl(&out);
    assert_eq!(spans.len(), expected, "each span exactly once: {spans:#?}");

    let by_id: HashMap<&str, &JsonSpan> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let parent = |s: &JsonSpan| by_id.get(s.parent_span_id.as_str()).copied();
    let mut names: HashMap<&str, usize> = HashMap::new();
    for s in &spans {
        *names.entry(s.name.as_str()).or_default() += 1;
        assert_eq!(s.service, "py-chunk-server");
        assert!(s.end >= s.start && s.start > 0, "{s:?}");
        let chunk = s.int("storage.chunk.index");
        match s.name.as_str() {
            "gateway.read" => {
                assert_eq!(s.kind, 3, "client");
                assert_eq!(s.parent_span_id, "", "a root span");
                let code = if chunk == Some(3) { 500 } else { 200 };
                assert_eq!(s.int("http.response.status_code"), Some(code));
                assert_eq!(s.status_code, 0);
                let ev = s.events();
                if code == 500 {
                    assert_eq!(ev.len(), 1);
                    assert_eq!(ev[0].0, "chunk not read");
                    assert_eq!(ev[0].1["status"]["intValue"], "500");
                } else {
                    assert!(ev.is_empty(), "{ev:?}");
                }
            }
            "chunk.read" => {
                assert_eq!(s.kind, 2, "server");
                let client = parent(s).expect("the gateway's span, through the headers");
                assert_eq!(client.name, "gateway.read");
                assert_eq!(client.trace_id, s.trace_id);
                assert_eq!(client.int("storage.chunk.index"), chunk);
                assert_eq!(s.attrs["storage.cached"]["boolValue"], false);
                let ev = s.events();
                assert_eq!(ev.len(), 1, "{ev:?}");
                if chunk == Some(3) {
                    assert_eq!(s.status_code, 2, "error");
                    assert_eq!(s.status_message(), "[Errno 5] input/output error");
                    assert_eq!(s.str("error.type"), Some("OSError"));
                    assert_eq!(ev[0].0, "chunk read failed");
                    assert_eq!(ev[0].1["error"]["stringValue"], "input/output error");
                } else {
                    assert_eq!(s.status_code, 0);
                    let size = 65536 + chunk.unwrap();
                    assert_eq!(s.int("storage.size"), Some(size));
                    assert_eq!(ev[0].0, "chunk served");
                    assert_eq!(ev[0].1["bytes"]["intValue"], size.to_string());
                    assert_eq!(ev[0].1["ratio"]["doubleValue"], 0.75);
                }
            }
            "disk.read" => {
                let request = parent(s).expect("the request's span");
                assert_eq!(request.name, "chunk.read");
                assert_eq!(request.int("storage.chunk.index"), s.int("chunk"));
                assert_eq!(s.str("storage.disk"), Some("nvme0"));
                assert_eq!(s.kind, 1, "internal");
                assert_eq!(s.status_code == 2, s.int("chunk") == Some(3));
            }
            other => panic!("unexpected span {other}"),
        }
    }
    assert_eq!(names["gateway.read"], 5);
    assert_eq!(names["chunk.read"], 5);
    assert_eq!(names["disk.read"], 5);
    let traces: HashSet<_> = spans.iter().map(|s| &s.trace_id).collect();
    assert_eq!(traces.len(), 5, "one trace per read");
}
