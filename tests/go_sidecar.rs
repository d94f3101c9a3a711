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

use std::path::{Path, PathBuf};
use std::process::Command;

use c_support::{prefix, root, text};
use common::jsonl_sidecar::JsonlSidecar;
use common::{TempDir, chunk_server};

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
    let sidecar = JsonlSidecar::start(&tmp);

    let done = Command::new(&exe)
        .args(["-reads", "5"])
        .env("RINGSIDE_DIR", &sidecar.rings)
        .env_remove("RINGSIDE_RING_SLOTS")
        .output()
        .expect("run the Go example");
    assert!(done.status.success(), "{}", text(&done));
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(stdout.contains("chunk 3: 500"), "{stdout}");
    assert!(stdout.contains("written 15 dropped 0 lost 0"), "{stdout}");

    let spans = sidecar.collect("the Go spans", 5 * 3);

    chunk_server::check_chunk_server_spans(
        &spans,
        "go-chunk-server",
        chunk_server::ChunkError {
            message: "input/output error",
            kind: "EIO",
            on_disk_span: false,
        },
    );
}
