//! rotel (`pip install rotel`, its `rotel-agent` binary) as a child process on
//! 127.0.0.1 for the interop tests and the CPU comparison: found in the
//! virtual environment `target/venv` that `.ci/run` creates, killed by its pid
//! when dropped. Also a parser of the spans it prints with
//! `--debug-log traces --debug-log-verbosity detailed`.

#![allow(dead_code)]

use std::collections::HashMap;
use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `rotel-agent` binary inside the virtual environment's rotel package.
pub fn rotel_agent() -> PathBuf {
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

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    l.local_addr().expect("addr").port()
}

/// Arguments that make rotel print every span it receives and send them nowhere.
pub const PRINT_SPANS: &[&str] = &[
    "--exporter",
    "blackhole",
    "--disable-batching",
    "--debug-log",
    "traces",
    "--debug-log-verbosity",
    "detailed",
];

/// A running rotel-agent; dropping it kills the process by its pid.
pub struct Rotel {
    pub child: Child,
    /// `http://127.0.0.1:<port>/v1/traces`
    pub endpoint: String,
    output: PathBuf,
    dir: PathBuf,
}

impl Rotel {
    /// rotel printing every span it receives.
    pub fn start(test: &str) -> Rotel {
        Rotel::start_with(test, PRINT_SPANS)
    }

    /// rotel with `args` (exporter choice and such) besides its listen
    /// addresses, pid and log files.
    pub fn start_with(test: &str, args: &[&str]) -> Rotel {
        let agent = rotel_agent();
        let dir =
            std::env::temp_dir().join(format!("ringside-rotel-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let output = dir.join("stdout.txt");
        let (http, grpc) = (free_port(), free_port());
        let child = Command::new(&agent)
            .arg("start")
            .args(args)
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
            Duration::from_secs(20),
        );
        rotel
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Polls `ready` until it holds; panics with rotel's output if rotel
    /// exits or `timeout` passes.
    pub fn wait_for(
        &mut self,
        mut ready: impl FnMut(&Rotel) -> bool,
        what: &str,
        timeout: Duration,
    ) {
        let deadline = Instant::now() + timeout;
        while !ready(self) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "rotel-agent exited ({status}); its output:\n{}",
                    self.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "rotel-agent not {what} after {timeout:?}; its output:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything rotel printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }

    /// Waits until rotel has printed `spans` spans in all, and returns its output.
    pub fn printed(&mut self, spans: usize) -> String {
        self.wait_for(
            |r| r.output().matches("Span #").count() >= spans,
            "printing",
            Duration::from_secs(60),
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

/// One span as rotel printed it (detailed verbosity).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PrintedSpan {
    /// `service.name` of the resource the span came under.
    pub service: String,
    pub trace_id: String,
    /// Empty for a root span.
    pub parent_id: String,
    pub span_id: String,
    pub name: String,
    /// As printed, e.g. `SPAN_KIND_SERVER`.
    pub kind: String,
    pub start: u64,
    pub end: u64,
    /// As printed, e.g. `STATUS_CODE_ERROR`; empty when rotel printed none (unset).
    pub status: String,
    pub status_message: String,
    /// Span attributes as printed: key → `Str(x)`, `Int(5)`, `Double(0.5)`, `Bool(true)`.
    pub attrs: HashMap<String, String>,
}

/// Every span in rotel's output, in order.
pub fn parse_printed(out: &str) -> Vec<PrintedSpan> {
    let mut spans = Vec::new();
    let mut service = String::new();
    let mut current: Option<PrintedSpan> = None;
    // Which list the `-> key: value` lines belong to.
    let mut in_span_attrs = false;
    for line in out.lines() {
        let field = |prefix: &str| line.trim_start().strip_prefix(prefix).map(str::trim);
        if line.starts_with("ResourceSpans #") {
            spans.extend(current.take());
            in_span_attrs = false;
            service.clear();
        } else if line.starts_with("Span #") {
            spans.extend(current.take());
            in_span_attrs = false;
            current = Some(PrintedSpan {
                service: service.clone(),
                ..PrintedSpan::default()
            });
        } else if line.starts_with("Attributes:") {
            in_span_attrs = current.is_some();
        } else if line.starts_with("SpanEvent #") || line.starts_with("SpanLink #") {
            in_span_attrs = false;
        } else if let Some(kv) = line.strip_prefix("     -> ") {
            let Some((k, v)) = kv.split_once(": ") else {
                continue;
            };
            match current.as_mut() {
                None if k == "service.name" => {
                    service = v.trim_start_matches("Str(").trim_end_matches(')').into()
                }
                Some(s) if in_span_attrs => {
                    s.attrs.insert(k.to_string(), v.to_string());
                }
                _ => {}
            }
        } else if let Some(s) = current.as_mut() {
            if let Some(v) = field("Trace ID       :") {
                s.trace_id = v.into();
            } else if let Some(v) = field("Parent ID      :") {
                s.parent_id = v.into();
            } else if let Some(v) = field("ID             :") {
                s.span_id = v.into();
            } else if let Some(v) = field("Name           :") {
                s.name = v.into();
            } else if let Some(v) = field("Kind           :") {
                s.kind = v.into();
            } else if let Some(v) = field("Status code    :") {
                s.status = v.into();
            } else if let Some(v) = field("Status message :") {
                s.status_message = v.into();
            } else if let Some(v) = line.strip_prefix("Start time: ") {
                s.start = v.trim().parse().unwrap_or(0);
            } else if let Some(v) = line.strip_prefix("End time: ") {
                s.end = v.trim().parse().unwrap_or(0);
            }
        }
    }
    spans.extend(current);
    spans
}
