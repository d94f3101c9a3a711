//! The spans of the chunk-server example that the Go and Python packages both
//! ship (a gateway reading five chunks over HTTP from a chunk server, chunk 3
//! failing with EIO), checked the same way for either language; the `tracing`
//! crate's example daemon has the same three spans a read, checked by the same
//! per-span checks.

use std::collections::{HashMap, HashSet};

use super::JsonSpan;

/// How the failing read is reported by the language under test.
pub struct ChunkError<'a> {
    /// The failed chunk span's status message.
    pub message: &'a str,
    /// Its `error.type` attribute.
    pub kind: &'a str,
    /// Whether the disk span of the failed chunk carries error status too.
    pub on_disk_span: bool,
}

/// Checks five reads, three spans each: names, kinds, parents across the
/// propagated HTTP request, typed attributes, events and error status.
pub fn check_chunk_server_spans(spans: &[JsonSpan], service: &str, error: ChunkError<'_>) {
    let by_id: HashMap<&str, &JsonSpan> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let parent = |s: &JsonSpan| by_id.get(s.parent_span_id.as_str()).copied();
    let mut names: HashMap<&str, usize> = HashMap::new();
    for s in spans {
        *names.entry(s.name.as_str()).or_default() += 1;
        assert_eq!(s.service, service);
        assert!(s.end >= s.start && s.start > 0, "{s:?}");
        let failed = s.int("storage.chunk.index") == Some(3);
        match s.name.as_str() {
            "gateway.read" => {
                check_gateway_read(s);
                if !failed {
                    assert!(s.events().is_empty(), "{:?}", s.events());
                }
            }
            "chunk.read" => {
                check_chunk_read(s, parent(s), error.message);
                if failed {
                    assert_eq!(s.str("error.type"), Some(error.kind));
                    assert_eq!(
                        s.events()[0].1["error"]["stringValue"],
                        "input/output error"
                    );
                }
            }
            "disk.read" => {
                check_disk_read(s, parent(s));
                assert_eq!(s.kind, 1, "internal");
                if error.on_disk_span {
                    assert_eq!(s.status_code == 2, s.int("chunk") == Some(3));
                }
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

/// Checks a gateway's read: a client root span with the HTTP status the chunk
/// server answered (500 for chunk 3, else 200), status unset (a failed call is
/// not a failed span), and for chunk 3 one `chunk not read` event.
pub fn check_gateway_read(s: &JsonSpan) {
    assert_eq!(s.kind, 3, "client");
    assert_eq!(s.parent_span_id, "", "a root span");
    let code = if s.int("storage.chunk.index") == Some(3) {
        500
    } else {
        200
    };
    assert_eq!(s.int("http.response.status_code"), Some(code));
    assert_eq!(s.status_code, 0, "a failed call does not fail the span");
    if code == 500 {
        let ev = s.events();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].0, "chunk not read");
        assert_eq!(ev[0].1["status"]["intValue"], "500");
    }
}

/// Checks a chunk server's read: a server span whose `parent` is the
/// gateway's span (through the headers), with one event: chunk 3 failed with
/// status message `error_message`, the others were served with their size.
pub fn check_chunk_read(s: &JsonSpan, parent: Option<&JsonSpan>, error_message: &str) {
    let chunk = s.int("storage.chunk.index");
    assert_eq!(s.kind, 2, "server");
    let client = parent.expect("the gateway's span, through the headers");
    assert_eq!(client.name, "gateway.read");
    assert_eq!(client.trace_id, s.trace_id);
    assert_eq!(client.int("storage.chunk.index"), chunk);
    assert_eq!(s.attrs["storage.cached"]["boolValue"], false);
    let ev = s.events();
    assert_eq!(ev.len(), 1, "{ev:?}");
    if chunk == Some(3) {
        assert_eq!(s.status_code, 2, "error");
        assert_eq!(s.status_message(), error_message);
        assert_eq!(ev[0].0, "chunk read failed");
    } else {
        assert_eq!(s.status_code, 0);
        let size = 65536 + chunk.unwrap();
        assert_eq!(s.int("storage.size"), Some(size));
        assert_eq!(ev[0].0, "chunk served");
        assert_eq!(ev[0].1["bytes"]["intValue"], size.to_string());
        assert_eq!(ev[0].1["ratio"]["doubleValue"], 0.75);
    }
}

/// Checks the disk read under a chunk server's read: its `parent` is that
/// read, of the same chunk, on disk `nvme0`.
pub fn check_disk_read(s: &JsonSpan, parent: Option<&JsonSpan>) {
    let request = parent.expect("the request's span");
    assert_eq!(request.name, "chunk.read");
    assert_eq!(request.int("storage.chunk.index"), s.int("chunk"));
    assert_eq!(s.str("storage.disk"), Some("nvme0"));
}
