//! Interoperability with a real OTLP receiver: rotel (`pip install rotel`, its
//! `rotel-agent` binary) on 127.0.0.1, exporting nowhere and printing every
//! span it receives (`--debug-log traces --debug-log-verbosity detailed`).
//! The tests are `#[ignore]`d because they need the Python virtual
//! environment `target/venv` that `.ci/run` creates:
//!
//! ```text
//! python3 -m venv target/venv && target/venv/bin/pip install rotel
//! cargo test --test otlp_rotel -- --ignored
//! ```

mod otlp_support;

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use otlp_support::*;
use ringside::export::otlp::http::{Compression, Protocol};
use ringside::export::otlp::{OtlpHttpExporter, OtlpSettings};
use ringside::export::{ExportError, ExportOutcome, Exporter};
use ringside::sidecar::spans::SpanBatch;
use ringside::sidecar::spool::SpoolCursor;

/// The `rotel-agent` binary inside the virtual environment's rotel package.
fn rotel_agent() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/venv");
    assert!(
        venv.is_dir(),
        "{} is missing: run .ci/run, which creates it with \
         `python3 -m venv target/venv && target/venv/bin/pip install rotel`",
        venv.display()
    );
    let lib = venv.join("lib");
    let found = std::fs::read_dir(&lib)
        .into_iter()
        .flatten()
        .flatten()
        .map(|d| d.path().join("site-packages/rotel/rotel-agent"))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!(
            "no rotel/rotel-agent under {}/python3*/site-packages: run .ci/run \
             (or `target/venv/bin/pip install rotel`)",
            lib.display()
        )
    })
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    l.local_addr().expect("addr").port()
}

/// A running rotel-agent; dropping it kills the process by its pid.
struct Rotel {
    child: Child,
    endpoint: String,
    output: PathBuf,
    dir: PathBuf,
}

impl Rotel {
    fn start(test: &str) -> Rotel {
        let agent = rotel_agent();
        let dir =
            std::env::temp_dir().join(format!("ringside-rotel-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let output = dir.join("stdout.txt");
        let (http, grpc) = (free_port(), free_port());
        let child = Command::new(&agent)
            .arg("start")
            .args(["--exporter", "blackhole", "--disable-batching"])
            .args(["--debug-log", "traces", "--debug-log-verbosity", "detailed"])
            .args(["--otlp-http-endpoint", &format!("127.0.0.1:{http}")])
            .args(["--otlp-grpc-endpoint", &format!("127.0.0.1:{grpc}")])
            .arg("--pid-file")
            .arg(dir.join("rotel.pid"))
            .arg("--log-file")
            .arg(dir.join("rotel.log"))
            .stdin(Stdio::null())
            .stdout(File::create(&output).expect("output file"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", agent.display()));
        let mut rotel = Rotel {
            child,
            endpoint: format!("http://127.0.0.1:{http}/v1/traces"),
            output,
            dir,
        };
        rotel.wait_for(
            |_| TcpStream::connect(("127.0.0.1", http)).is_ok(),
            "listening",
        );
        rotel
    }

    /// Polls `ready` until it holds; panics with rotel's output if rotel
    /// exits or 20 s pass.
    fn wait_for(&mut self, mut ready: impl FnMut(&Rotel) -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ready(self) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "rotel-agent exited ({status}); its output:\n{}",
                    self.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "rotel-agent not {what} after 20 s; its output:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }

    /// Waits until rotel has printed `spans` spans in all, and returns its output.
    fn printed(&mut self, spans: usize) -> String {
        self.wait_for(
            |r| r.output().matches("Span #").count() >= spans,
            "printing",
        );
        self.output()
    }
}

impl Drop for Rotel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn span_count(batches: &[SpanBatch]) -> u64 {
    batches.iter().map(|b| b.records.len() as u64).sum()
}

fn export_to_rotel(test: &str, protocol: Protocol, compression: Compression) -> String {
    let mut rotel = Rotel::start(test);
    let mut s = OtlpSettings::new(&rotel.endpoint);
    s.protocol = protocol;
    s.compression = compression;
    let batches = sample_batches();
    let mut exporter = OtlpHttpExporter::new(&s).expect("valid settings");
    let outcome = exporter
        .export(&batches, SpoolCursor::default())
        .expect("rotel accepts the spans");
    assert_eq!(
        outcome,
        ExportOutcome {
            accepted: span_count(&batches),
            rejected: 0
        }
    );
    rotel.printed(batches.iter().map(|b| b.records.len()).sum())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// rotel printed every sample span with its fields.
fn assert_printed_samples(out: &str) {
    let mut want: Vec<String> = [
        "-> service.name: Str(data-node)",
        "-> host.name: Str(node-7)",
        "-> process.pid: Int(4242)",
        "-> deployment.environment: Str(test)",
        "-> service.name: Str(meta-server)",
        concat!("InstrumentationScope ringside ", env!("CARGO_PKG_VERSION")),
        // The full span: every field and entry kind.
        "    Parent ID      : 7777777777777777\n    ID             : 010101010101015c\n    \
         Name           : storage.data.write\n    Kind           : SPAN_KIND_SERVER\n    \
         TraceState     : vendor=abc",
        "    Status code    : STATUS_CODE_ERROR\n    Status message : disk full",
        "-> path: Str(/vol/a/\"quoted\"\n)",
        "-> size: Int(-4096)",
        "-> ratio: Double(0.25)",
        "-> sync: Bool(true)",
        "SpanEvent #0\n     -> Name: retry",
        "-> attempt: Int(2)",
        "SpanLink #0\n     -> Trace ID: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n     -> ID: cccccccccccccccc",
        "-> rel: Str(follows)",
        "Kind           : SPAN_KIND_CLIENT",
        "Status code    : STATUS_CODE_OK",
        "-> ringside.truncated: Slice(Str(name), Str(trace_state), Str(path))",
    ]
    .map(String::from)
    .to_vec();
    let full = full_span();
    want.push(format!(
        "Start time: {}\nEnd time: {}",
        full.start, full.end
    ));
    for batch in sample_batches() {
        for v in batch.views() {
            want.push(format!("    Trace ID       : {}", hex(&v.trace_id())));
            want.push(format!(
                "    ID             : {}\n    Name           : {}\n",
                hex(&v.span_id()),
                v.name()
            ));
        }
    }
    for w in &want {
        assert!(
            out.contains(w.as_str()),
            "rotel did not print {w:?}; its output:\n{out}"
        );
    }
}

#[test]
#[ignore = "needs rotel in target/venv (.ci/run)"]
fn rotel_receives_protobuf() {
    assert_printed_samples(&export_to_rotel(
        "proto",
        Protocol::Protobuf,
        Compression::None,
    ));
}

#[test]
#[ignore = "needs rotel in target/venv (.ci/run)"]
fn rotel_receives_gzip_protobuf() {
    assert_printed_samples(&export_to_rotel(
        "proto-gzip",
        Protocol::Protobuf,
        Compression::Gzip,
    ));
}

#[test]
#[ignore = "needs rotel in target/venv (.ci/run)"]
fn rotel_receives_json() {
    assert_printed_samples(&export_to_rotel("json", Protocol::Json, Compression::None));
}

#[test]
#[ignore = "needs rotel in target/venv (.ci/run)"]
fn rotel_receives_gzip_json() {
    assert_printed_samples(&export_to_rotel(
        "json-gzip",
        Protocol::Json,
        Compression::Gzip,
    ));
}

#[test]
#[ignore = "needs rotel in target/venv (.ci/run)"]
fn rotel_refuses_a_malformed_payload_with_400_which_is_permanent() {
    let rotel = Rotel::start("malformed");
    let mut s = OtlpSettings::new(&rotel.endpoint);
    // Claims gzip, sends plain protobuf: the receiver cannot decode it.
    s.headers = vec![("Content-Encoding".into(), "gzip".into())];
    let mut exporter = OtlpHttpExporter::new(&s).expect("valid settings");
    match exporter.export(&sample_batches(), SpoolCursor::default()) {
        Err(ExportError::Permanent { reason }) => {
            assert!(reason.starts_with("HTTP 400"), "{reason}")
        }
        other => panic!("expected a permanent 400, got {other:?}"),
    }
    assert_eq!(
        rotel.output().matches("Span #").count(),
        0,
        "nothing was printed"
    );
}
