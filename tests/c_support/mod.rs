//! Building and running the C and C++ examples against the libraries cargo
//! built for this test run, and reading back the spans they wrote.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use ringside::record::{RecordView, SpanKind, StatusCode, Value};
use ringside::ring::Consumer;

/// How an example links the library.
#[derive(Clone, Copy, Debug)]
pub enum Link {
    /// `libringside.so`, found at run time through an rpath.
    Shared,
    /// `libringside.a`, linked in.
    Static,
}

/// The install prefix made by `scripts/install-c-abi.sh` from the writer
/// crate's `libringside.a` and `libringside.so`, which cargo builds next to
/// this test binary (every crate type of a dependency is built): the same
/// files, from the same crate with the same features, that a C user installs.
/// Made afresh once per run of a test binary (and named after it, so that runs
/// replace rather than pile up).
pub fn prefix() -> &'static Path {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let built = exe.parent().unwrap().to_path_buf();
        let name = exe.file_stem().unwrap().to_string_lossy().into_owned();
        let prefix = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("c-abi-prefix-{name}"));
        let _ = std::fs::remove_dir_all(&prefix);
        let out = Command::new(root().join("scripts/install-c-abi.sh"))
            .arg(&prefix)
            .arg(&built)
            .output()
            .expect("run scripts/install-c-abi.sh");
        assert!(out.status.success(), "install failed: {}", text(&out));
        prefix
    })
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `pkg-config` with the installed `ringside.pc`.
pub fn pkg_config(args: &[&str]) -> Vec<String> {
    let out = Command::new("pkg-config")
        .args(args)
        .arg("ringside")
        .env("PKG_CONFIG_PATH", prefix().join("lib/pkgconfig"))
        .output()
        .expect("pkg-config is installed");
    assert!(out.status.success(), "pkg-config {args:?}: {}", text(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Compiles `source` (C with `cc`, C++ with `c++`, by extension) with
/// warnings as errors, linked the `link` way through `ringside.pc`, into a
/// fresh temp dir; returns the executable.
pub fn compile(source: &str, link: Link) -> PathBuf {
    let src = root().join(source);
    let cpp = source.ends_with(".cpp");
    let stem = src.file_stem().unwrap().to_str().unwrap();
    let exe = prefix().join(format!("{stem}-{link:?}"));
    let mut cmd = Command::new(if cpp { "c++" } else { "cc" });
    cmd.arg(if cpp { "-std=c++17" } else { "-std=c11" })
        .args(["-Wall", "-Wextra", "-Werror", "-pedantic", "-g", "-O1"])
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .args(pkg_config(&["--cflags"]));
    match link {
        Link::Shared => {
            let libdir = prefix().join("lib");
            cmd.args(pkg_config(&["--libs"]))
                .arg(format!("-Wl,-rpath,{}", libdir.display()));
        }
        Link::Static => {
            let libdir = pkg_config(&["--variable=libdir"]).concat();
            cmd.arg(format!("{libdir}/libringside.a")).args(
                pkg_config(&["--static", "--libs-only-l"])
                    .into_iter()
                    .filter(|l| l != "-lringside"),
            );
        }
    }
    cmd.arg("-lpthread");
    let out = cmd.output().expect("run the compiler");
    assert!(out.status.success(), "{cmd:?} failed:\n{}", text(&out));
    exe
}

/// A fresh ring directory for one run.
pub fn ring_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("c-abi-rings-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `exe` with `RINGSIDE_DIR=ring_dir` to completion (the command waits,
/// so nothing is left running).
pub fn run(mut cmd: Command, ring_dir: &Path) -> Output {
    cmd.env("RINGSIDE_DIR", ring_dir)
        .env_remove("RINGSIDE_RING_SLOTS")
        .output()
        .expect("run the example")
}

/// stdout and stderr of `out`, for messages.
pub fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A span as read back from a ring, owned.
#[derive(Debug, Clone)]
pub struct SpanOut {
    pub name: String,
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent: Option<[u8; 8]>,
    pub parent_is_remote: bool,
    pub kind: SpanKind,
    pub status: StatusCode,
    pub status_message: Option<String>,
    pub trace_state: Option<String>,
    pub attrs: Vec<(String, String)>,
    pub events: Vec<String>,
    pub dropped: (u32, u32, u32),
    pub start: u64,
    pub end: u64,
}

impl SpanOut {
    /// The value of attribute `key`, printed (`Str` without quotes).
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Every span in every ring file in `dir`, decoded.
pub fn read_spans(dir: &Path) -> Vec<SpanOut> {
    let mut spans = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "ring") {
            continue;
        }
        let mut consumer = Consumer::open(&path).expect("a valid ring file");
        let mut records = Vec::new();
        loop {
            let drained = consumer.read(4096, &mut records);
            if drained.records == 0 && !drained.waiting {
                break;
            }
        }
        for rec in &records {
            let v = RecordView::new(rec).expect("records decode");
            spans.push(SpanOut {
                name: v.name().to_string(),
                trace_id: v.trace_id(),
                span_id: v.span_id(),
                parent: v.parent_span_id(),
                parent_is_remote: v.parent_is_remote(),
                kind: v.kind(),
                status: v.status(),
                status_message: v.status_message().map(str::to_string),
                trace_state: v.trace_state().map(str::to_string),
                attrs: v
                    .attrs()
                    .map(|a| (a.key.to_string(), value_text(a.value)))
                    .collect(),
                events: v
                    .entries()
                    .filter_map(|e| match e {
                        ringside::record::EntryView::Event { name, .. } => Some(name.to_string()),
                        _ => None,
                    })
                    .collect(),
                dropped: v.dropped(),
                start: v.start(),
                end: v.end(),
            });
        }
    }
    spans
}

fn value_text(v: Value<'_>) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        Value::I64(i) => i.to_string(),
        Value::F64(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
