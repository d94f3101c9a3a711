//! The C example with the sidecar draining: `ringside run` exports to JSONL
//! while the C writer (shared library) traces its read path; every span
//! arrives once, with the service, names, kinds, statuses, the caller's trace
//! and the parent links the program made.

mod c_support;
mod common;

use std::collections::HashMap;
use std::process::Command;

use c_support::{Link, compile, run, text};
use common::TempDir;
use common::jsonl_sidecar::JsonlSidecar;

#[test]
fn c_writer_spans_reach_the_exporter_through_the_sidecar() {
    let exe = compile("examples/c/storage_daemon.c", Link::Shared);
    let tmp = TempDir::new("c-sidecar");
    let sidecar = JsonlSidecar::start(&tmp);

    let (requests, threads) = (10, 2);
    let mut cmd = Command::new(&exe);
    cmd.args([
        requests.to_string(),
        threads.to_string(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string(),
    ]);
    let done = run(cmd, &sidecar.rings);
    assert!(done.status.success(), "{}", text(&done));

    // Four spans per request, three for each failing (10th) one.
    let expected = threads * (requests * 4 - requests / 10);
    let spans = sidecar.collect("the C writer's spans", expected);

    let by_id: HashMap<&str, _> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let mut names: HashMap<&str, usize> = HashMap::new();
    for s in &spans {
        *names.entry(s.name.as_str()).or_default() += 1;
        assert_eq!(s.service, "storage-daemon");
        assert_eq!(s.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(s.end >= s.start && s.start > 0, "{s:?}");
        let parent = by_id
            .get(s.parent_span_id.as_str())
            .map(|p| p.name.as_str());
        match s.name.as_str() {
            "storage.file.read" => {
                assert_eq!(s.kind, 2, "server");
                assert_eq!(s.parent_span_id, "00f067aa0ba902b7");
                assert_eq!(s.str("storage.client.id"), Some("tenant-7"));
                assert_eq!(s.int("file.size"), Some(65536));
            }
            "storage.metadata.lookup" => assert_eq!(parent, Some("storage.file.read")),
            "storage.data.read" => {
                assert_eq!(parent, Some("storage.file.read"));
                if s.status_code == 2 {
                    assert_eq!(s.str("error.type"), Some("EIO"));
                }
            }
            "client/ReadReply" => {
                assert_eq!(s.kind, 3, "client");
                assert_eq!(parent, Some("storage.data.read"));
                assert_eq!(s.int("network.peer.port"), Some(7070));
            }
            other => panic!("unexpected span {other}"),
        }
    }
    let failing = threads * (requests / 10);
    assert_eq!(names["storage.file.read"], threads * requests);
    assert_eq!(names["storage.metadata.lookup"], threads * requests);
    assert_eq!(names["storage.data.read"], threads * requests);
    assert_eq!(names["client/ReadReply"], threads * requests - failing);
}
