//! The C and C++ examples, compiled with the system `cc`/`c++` and
//! `-Wall -Wextra -Werror` against the installed static and shared library
//! (through `ringside.pc`), run with a private ring directory; their spans are
//! read back from the ring files and checked span by span. One run is under
//! valgrind.

mod c_support;

use std::collections::HashMap;
use std::process::Command;

use c_support::{Link, SpanOut, compile, hex, read_spans, ring_dir, run, text};
use ringside::record::{SpanKind, StatusCode};

const INCOMING_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const INCOMING_PARENT: &str = "00f067aa0ba902b7";

/// Spans of `storage_daemon <requests> <threads> <traceparent>`: four per
/// request, three for the failing every-10th request.
fn daemon_span_count(requests: usize, threads: usize) -> usize {
    let failing = requests / 10;
    threads * ((requests - failing) * 4 + failing * 3)
}

/// Checks the read-path tree of the C example.
fn check_daemon_spans(spans: &[SpanOut], requests: usize, threads: usize) {
    assert_eq!(spans.len(), daemon_span_count(requests, threads));
    let by_id: HashMap<[u8; 8], &SpanOut> = spans.iter().map(|s| (s.span_id, s)).collect();
    assert_eq!(by_id.len(), spans.len(), "span ids are unique");
    let parent_of = |s: &SpanOut| by_id[&s.parent.expect("a child span has a parent")];
    let mut failed_reads = 0;
    for s in spans {
        assert_eq!(
            hex(&s.trace_id),
            INCOMING_TRACE,
            "{} joined the caller's trace",
            s.name
        );
        assert_eq!(s.dropped, (0, 0, 0), "{s:?} fitted in its record");
        assert!(s.end >= s.start, "{s:?}");
        match s.name.as_str() {
            "storage.file.read" => {
                assert_eq!(s.kind, SpanKind::Server);
                assert_eq!(s.parent.map(|p| hex(&p)).as_deref(), Some(INCOMING_PARENT));
                assert!(s.parent_is_remote);
                assert_eq!(s.trace_state.as_deref(), Some("vendor=abc"));
                assert_eq!(s.attr("storage.operation"), Some("read"));
                assert_eq!(s.attr("storage.client.id"), Some("tenant-7"));
                assert_eq!(s.attr("file.size"), Some("65536"));
                assert!(s.attr("file.path").unwrap().starts_with("/vol1/t"));
                let failed = s.status == StatusCode::Error;
                assert!(failed || s.status == StatusCode::Ok, "{s:?}");
                if failed {
                    assert_eq!(s.status_message.as_deref(), Some("read failed"));
                }
            }
            "storage.metadata.lookup" => {
                let root = parent_of(s);
                assert_eq!(root.name, "storage.file.read");
                assert_eq!(s.attr("storage.metadata.key"), root.attr("file.path"));
                assert_eq!(s.attr("storage.metadata.result"), Some("hit"));
                assert!(s.attr("storage.metadata.version").is_some());
                assert!(matches!(s.attr("cached"), Some("true" | "false")));
            }
            "storage.data.read" => {
                assert_eq!(parent_of(s).name, "storage.file.read");
                assert_eq!(s.attr("storage.node.id"), Some("3"));
                assert_eq!(s.attr("storage.replica.index"), Some("0"));
                assert_eq!(s.attr("storage.chunk.size"), Some("65536"));
                assert!(s.attr("storage.chunk.id").unwrap().starts_with("c-"));
                if s.status == StatusCode::Error {
                    failed_reads += 1;
                    assert_eq!(s.attr("error.type"), Some("EIO"));
                    assert_eq!(s.status_message.as_deref(), Some("checksum mismatch"));
                    assert_eq!(parent_of(s).status, StatusCode::Error);
                } else {
                    assert_eq!(s.events, ["checksum.ok"]);
                }
            }
            "client/ReadReply" => {
                assert_eq!(s.kind, SpanKind::Client);
                assert_eq!(parent_of(s).name, "storage.data.read");
                assert_eq!(s.attr("rpc.method"), Some("ReadReply"));
                assert_eq!(s.attr("network.peer.address"), Some("192.0.2.12"));
                assert_eq!(s.attr("network.peer.port"), Some("7070"));
                assert_eq!(s.attr("storage.bytes_sent"), Some("65600"));
                assert_eq!(s.attr("storage.bytes_received"), Some("0"));
            }
            other => panic!("unexpected span {other}"),
        }
    }
    assert_eq!(failed_reads, threads * (requests / 10));
}

fn run_daemon(link: Link, name: &str) {
    let exe = compile("examples/c/storage_daemon.c", link);
    let dir = ring_dir(name);
    let (requests, threads) = (30, 3);
    let mut cmd = Command::new(&exe);
    cmd.args([
        requests.to_string(),
        threads.to_string(),
        format!("00-{INCOMING_TRACE}-{INCOMING_PARENT}-01"),
    ]);
    let out = run(cmd, &dir);
    assert!(out.status.success(), "{}", text(&out));
    let expected = daemon_span_count(requests, threads);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("written={expected} dropped=0")),
        "{}",
        text(&out)
    );
    check_daemon_spans(&read_spans(&dir), requests, threads);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn c_example_against_the_shared_library_writes_its_read_path() {
    run_daemon(Link::Shared, "c-shared");
}

#[test]
fn c_example_against_the_static_library_writes_its_read_path() {
    run_daemon(Link::Static, "c-static");
}

fn run_gateway(link: Link, name: &str) {
    let exe = compile("examples/cpp/storage_gateway.cpp", link);
    let dir = ring_dir(name);
    let mut cmd = Command::new(&exe);
    cmd.arg("10");
    let out = run(cmd, &dir);
    assert!(out.status.success(), "{}", text(&out));
    let spans = read_spans(&dir);
    assert_eq!(
        spans.len(),
        31,
        "three spans per request and one moved span"
    );
    let by_id: HashMap<[u8; 8], &SpanOut> = spans.iter().map(|s| (s.span_id, s)).collect();
    let count = |name: &str| spans.iter().filter(|s| s.name == name).count();
    assert_eq!(count("storage.file.write"), 10);
    assert_eq!(count("storage.metadata.commit"), 10);
    assert_eq!(count("data.write"), 10);
    assert_eq!(count("moved"), 1, "a moved span is written once");
    for s in spans.iter().filter(|s| s.name != "moved") {
        assert_eq!(hex(&s.trace_id), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(s.trace_state.as_deref(), Some("gw=1"));
        if s.name != "storage.file.write" {
            assert_eq!(by_id[&s.parent.unwrap()].name, "storage.file.write");
        }
        if s.name == "storage.metadata.commit" {
            assert_eq!(s.kind, SpanKind::Server);
            assert_eq!(s.attr("storage.metadata.result"), Some("hit"));
            assert!(s.attr("storage.metadata.version").is_some());
        }
    }
    // Requests 4 and 9 threw out of data.write: the spans still ended, with
    // the error recorded, and the root saw the exception.
    let failed: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "data.write" && s.status == StatusCode::Error)
        .collect();
    assert_eq!(failed.len(), 2);
    for s in failed {
        assert_eq!(s.kind, SpanKind::Client);
        assert_eq!(s.attr("error.type"), Some("ECONNREFUSED"));
        let root = by_id[&s.parent.unwrap()];
        assert_eq!(root.status, StatusCode::Error);
        assert_eq!(root.attr("error.type"), Some("write_failed"));
    }
    let acked = spans.iter().filter(|s| s.events == ["chunk.acked"]).count();
    assert_eq!(acked, 8);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cpp_example_against_the_shared_library_ends_spans_by_raii() {
    run_gateway(Link::Shared, "cpp-shared");
}

#[test]
fn cpp_example_against_the_static_library_ends_spans_by_raii() {
    run_gateway(Link::Static, "cpp-static");
}

#[test]
fn c_example_runs_clean_under_valgrind() {
    let exe = compile("examples/c/storage_daemon.c", Link::Shared);
    let dir = ring_dir("valgrind");
    let (requests, threads) = (20, 2);
    let mut cmd = Command::new("valgrind");
    cmd.args([
        "--error-exitcode=1",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite",
        "--track-origins=yes",
    ])
    .arg(&exe)
    .args([
        requests.to_string(),
        threads.to_string(),
        format!("00-{INCOMING_TRACE}-{INCOMING_PARENT}-01"),
    ]);
    let out = run(cmd, &dir);
    assert!(
        out.status.success(),
        "valgrind found errors:\n{}",
        text(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ERROR SUMMARY: 0 errors"),
        "valgrind ran and reported: {stderr}"
    );
    check_daemon_spans(&read_spans(&dir), requests, threads);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cpp_example_runs_clean_under_valgrind() {
    let exe = compile("examples/cpp/storage_gateway.cpp", Link::Shared);
    let dir = ring_dir("valgrind-cpp");
    let mut cmd = Command::new("valgrind");
    cmd.args([
        "--error-exitcode=1",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite",
    ])
    .arg(&exe)
    .arg("10");
    let out = run(cmd, &dir);
    assert!(
        out.status.success(),
        "valgrind found errors:\n{}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ERROR SUMMARY: 0 errors"),
        "{}",
        text(&out)
    );
    assert_eq!(read_spans(&dir).len(), 31);
    std::fs::remove_dir_all(&dir).unwrap();
}
