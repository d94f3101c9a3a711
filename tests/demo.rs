//! `ringside demo` end to end: real processes on loopback, spans read back from
//! their rings. Every client request has exactly one trace, which crosses the
//! client, the gateway, the metadata node and the data nodes with correct
//! parent/child links and kinds.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use ringside::record::SpanKind;

use ringside_demo::traces;

use traces::{RingReader, SpanRow};

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringside-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Processes whose environment or command line mentions `dir`.
fn processes_using(dir: &Path) -> Vec<String> {
    let needle = dir.display().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if pid.parse::<u32>().is_err() {
            continue;
        }
        for file in ["environ", "cmdline"] {
            let bytes = std::fs::read(entry.path().join(file)).unwrap_or_default();
            if String::from_utf8_lossy(&bytes).contains(&needle) {
                found.push(pid.clone());
                break;
            }
        }
    }
    found
}

struct Request {
    trace_id: String,
    method: String,
    status: u16,
}

fn requests(dir: &Path) -> Vec<Request> {
    std::fs::read_to_string(dir.join("requests.tsv"))
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Request {
                trace_id: f[0].to_string(),
                method: f[1].to_string(),
                status: f[3].parse().unwrap(),
            }
        })
        .collect()
}

fn count(spans: &[&SpanRow], name: &str, kind: SpanKind) -> usize {
    spans
        .iter()
        .filter(|s| s.name == name && s.kind == kind)
        .count()
}

#[test]
fn demo_traces_each_request_once_across_all_processes() {
    let dir = fresh_dir("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_ringside"))
        .args(["demo", "--duration", "3", "--clients", "3", "--no-sidecar"])
        .args(["--slow-ms", "2", "--error-rate", "0.25", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("slowest trace"), "{stdout}");
    assert!(stdout.contains("requests: "), "{stdout}");
    assert_eq!(
        processes_using(&dir),
        Vec::<String>::new(),
        "stray processes"
    );

    let mut reader = RingReader::new(&dir.join("rings"));
    reader.poll().unwrap();
    let spans = reader.spans;
    let services: HashSet<&str> = spans.iter().map(|s| s.service.as_str()).collect();
    for s in [
        "client", "gateway", "metadata", "data-1", "data-2", "data-3",
    ] {
        assert!(services.contains(s), "no spans from {s}: {services:?}");
    }
    let by_trace = traces::by_trace(&spans);
    let reqs = requests(&dir);
    assert!(reqs.len() >= 10, "only {} requests", reqs.len());
    assert_eq!(
        by_trace.len(),
        reqs.len(),
        "one trace per request, no other traces"
    );

    let (mut writes, mut failed) = (0, 0);
    for req in &reqs {
        let trace = &by_trace[req.trace_id.as_str()];
        let ids: HashMap<&str, &SpanRow> = trace.iter().map(|s| (s.span_id.as_str(), *s)).collect();
        let roots: Vec<_> = trace.iter().filter(|s| s.parent.is_none()).collect();
        assert_eq!(roots.len(), 1, "trace {} has one root", req.trace_id);
        assert_eq!(
            (roots[0].service.as_str(), roots[0].kind),
            ("client", SpanKind::Client)
        );
        assert_eq!(roots[0].name, req.method);
        for s in trace.iter().filter(|s| s.parent.is_some()) {
            let parent = ids[s.parent.as_deref().unwrap()];
            if s.kind == SpanKind::Server {
                // A server span's parent is the client span of its caller, in
                // another process.
                assert_eq!(
                    parent.kind,
                    SpanKind::Client,
                    "{} under {}",
                    s.name,
                    parent.name
                );
                assert_ne!(parent.service, s.service);
            } else {
                assert_eq!(s.service, "gateway");
                assert_eq!(parent.name.split('.').next(), Some("storage"));
            }
        }
        assert_eq!(
            count(
                trace,
                &format!(
                    "storage.file.{}",
                    match req.method.as_str() {
                        "PUT" => "write",
                        "GET" => "read",
                        _ => "delete",
                    }
                ),
                SpanKind::Server
            ),
            1
        );
        if req.method == "PUT" && req.status == 201 {
            writes += 1;
            // Two replicas: two data write spans, each under its transfer span.
            assert_eq!(count(trace, "storage.data.write", SpanKind::Server), 2);
            assert_eq!(count(trace, "data/Write", SpanKind::Client), 2);
            assert_eq!(
                count(trace, "storage.metadata.allocate", SpanKind::Server),
                1
            );
            assert_eq!(count(trace, "storage.metadata.commit", SpanKind::Server), 1);
        }
        if req.status >= 500 {
            failed += 1;
            let file = trace
                .iter()
                .find(|s| s.name.starts_with("storage.file."))
                .unwrap();
            assert!(file.failed && file.attr("error.type").is_some(), "{file:?}");
            let data_error = trace
                .iter()
                .any(|s| s.service == "data-3" && s.failed && s.attr("error.type") == Some("EIO"));
            assert!(
                data_error,
                "the failed request has the faulty node's error span"
            );
        }
    }
    assert!(
        writes > 0 && failed > 0,
        "{writes} writes, {failed} failures"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn demo_with_its_sidecar_exports_one_trace_per_request() {
    let dir = fresh_dir("demo-sidecar");
    let out = Command::new(env!("CARGO_BIN_EXE_ringside"))
        .args(["demo", "--duration", "2", "--clients", "2", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("via the sidecar"), "{stdout}");
    assert_eq!(
        processes_using(&dir),
        Vec::<String>::new(),
        "stray processes"
    );
    let spans = traces::read_jsonl(&dir.join("spans.jsonl")).unwrap();
    let services: HashSet<&str> = spans.iter().map(|s| s.service.as_str()).collect();
    for s in [
        "client", "gateway", "metadata", "data-1", "data-2", "data-3",
    ] {
        assert!(services.contains(s), "no spans from {s}: {services:?}");
    }
    let by_trace = traces::by_trace(&spans);
    let reqs = requests(&dir);
    assert_eq!(by_trace.len(), reqs.len());
    for req in &reqs {
        let trace = &by_trace[req.trace_id.as_str()];
        let ids: HashSet<&str> = trace.iter().map(|s| s.span_id.as_str()).collect();
        assert_eq!(trace.iter().filter(|s| s.parent.is_none()).count(), 1);
        assert!(
            trace
                .iter()
                .filter_map(|s| s.parent.as_deref())
                .all(|p| ids.contains(p))
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts a long demo, waits until its clients run, sends `signal` to it, and
/// checks that every process it started is gone soon after.
fn stop_demo_with(signal: i32, name: &str) {
    let dir = fresh_dir(name);
    let mut demo = Command::new(env!("CARGO_BIN_EXE_ringside"))
        .args(["demo", "--duration", "60", "--dir"])
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(demo.stdout.take().unwrap()));
    loop {
        let line = lines.next().expect("demo output").unwrap();
        if line.starts_with("running ") {
            break;
        }
    }
    assert!(
        processes_using(&dir).len() >= 6,
        "{:?}",
        processes_using(&dir)
    );
    // SAFETY: kill(2) on our own child, not yet reaped.
    unsafe {
        libc::kill(demo.id() as i32, signal);
    }
    let status = demo.wait().unwrap();
    if signal == libc::SIGTERM {
        assert!(status.success(), "{status}");
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        assert!(rest.iter().any(|l| l.starts_with("requests: ")), "{rest:?}");
    }
    let mut left = processes_using(&dir);
    for _ in 0..100 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        left = processes_using(&dir);
    }
    assert_eq!(left, Vec::<String>::new(), "processes left after the demo");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigterm_stops_the_demo_and_all_its_processes_with_a_summary() {
    stop_demo_with(libc::SIGTERM, "sigterm");
}

#[test]
fn killed_demo_leaves_no_process_behind() {
    stop_demo_with(libc::SIGKILL, "sigkill");
}

#[test]
fn demo_refuses_bad_options_with_a_clear_error() {
    for args in [
        &["--error-rate", "2"][..],
        &["--clients", "0"],
        &["--duration", "-1"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_ringside"))
            .arg("demo")
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            stderr.contains("ringside: error:") || stderr.contains("error:"),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
