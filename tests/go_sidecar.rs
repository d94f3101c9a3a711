//! The Go package (go/ringside, cgo over the C library that
//! scripts/install-c-abi.sh installs): its own `go vet` and `go test` (unit
//! tests and the README's example), and its example daemon with the sidecar
//! draining: a gateway reads chunks from a server over HTTP on 127.0.0.1 with
//! the W3C context in the headers; every span arrives once with its name,
//! kind, parent (across the HTTP hop too), typed attributes, events and status.
//!
//! Needs Go (Debian's `golang-go`); its caches live under target/.

mod c_support;
mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use c_support::{prefix, root, text};
use common::{JsonSpan, TempDir, layout, read_jsonl, start_sidecar, wait_for};

/// `go` in go/ringside, finding the C library through pkg-config, with an
/// rpath to it, caches under target/ and no module downloads.
fn go(args: &[&str]) -> Command {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let lib = prefix().join("lib");
    let mut cmd = Command::new("go");
    cmd.args(args)
        .current_dir(root().join("go/ringside"))
        .env("PKG_CONFIG_PATH", lib.join("pkgconfig"))
        .env("CGO_ENABLED", "1")
        .env("CGO_LDFLAGS", format!("-Wl,-rpath,{}", lib.display()))
        .env("GOCACHE", target.join("go-cache"))
        .env("GOPATH", target.join("go-path"))
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=readonly")
        .env_remove("RINGSIDE_DIR");
    cmd
}

fn run_go(args: &[&str]) -> String {
    let out = go(args)
        .output()
        .expect("run go (Debian: apt-get install golang-go)");
    assert!(out.status.success(), "go {args:?} failed:\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn go_package_vets_and_passes_its_tests() {
    run_go(&["vet", "./..."]);
    let out = run_go(&["test", "-count=1", "./..."]);
    assert!(out.contains("ok"), "{out}");
}

#[test]
fn go_spans_reach_the_exporter_through_the_sidecar() {
    let tmp = TempDir::new("go-sidecar");
    let exe: PathBuf = tmp.join("storaged");
    run_go(&["build", "-o", exe.to_str().unwrap(), "./examples/storaged"]);
    let (rings, spool, out, log) = layout(&tmp);
    let mut sidecar = start_sidecar(&rings, &spool, &out, &log, &[]);

    let done = Command::new(&exe)
        .args(["-reads", "5"])
        .env("RINGSIDE_DIR", &rings)
        .env_remove("RINGSIDE_RING_SLOTS")
        .output()
        .expect("run the Go example");
    assert!(done.status.success(), "{}", text(&done));
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(stdout.contains("chunk 3: 500"), "{stdout}");
    assert!(stdout.contains("written 15 dropped 0 lost 0"), "{stdout}");

    let expected = 5 * 3;
    wait_for(
        "the Go spans in the JSONL file",
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
        assert_eq!(s.service, "go-chunk-server");
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
                    assert_eq!(s.status_message(), "input/output error");
                    assert_eq!(s.str("error.type"), Some("EIO"));
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
