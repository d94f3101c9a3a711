//! Helpers shared by the integration tests: temporary directories, the sidecar
//! as a child process (stopped by pid when the guard drops), child writer
//! processes (this test binary run again with a role), and reading JSONL output.
#![allow(dead_code)]

pub mod chunk_server;
pub mod jsonl_sidecar;
pub mod otlp_sidecar;
pub mod scrape;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "ringside-{tag}-{}-{}",
            std::process::id(),
            ringside::trace::SpanId::random()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (SIGKILL) and reaped on drop unless already waited for.
pub struct Proc {
    pub child: Option<Child>,
    pub name: String,
}

impl Proc {
    /// Spawns `cmd`; `name` is what failures call the process.
    pub fn spawn(cmd: &mut Command, name: &str) -> Proc {
        let child = cmd.spawn().unwrap_or_else(|e| panic!("start {name}: {e}"));
        Proc {
            child: Some(child),
            name: name.into(),
        }
    }
    pub fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }
    pub fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) on our own child's pid, which is not reaped yet.
        unsafe { libc::kill(self.pid(), sig) };
    }
    /// Sends `sig` and waits for exit; returns the exit status.
    pub fn stop_with(&mut self, sig: i32, timeout: Duration) -> std::process::ExitStatus {
        self.signal(sig);
        self.wait(timeout)
    }
    pub fn wait(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let child = self.child.as_mut().unwrap();
        let end = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            if Instant::now() > end {
                let _ = child.kill();
                let _ = child.wait();
                self.child = None;
                panic!("{} did not exit within {timeout:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    /// Takes the stderr pipe (if captured) and returns everything it held.
    pub fn stderr_text(&mut self) -> String {
        let mut s = String::new();
        if let Some(c) = self.child.as_mut() {
            if let Some(mut e) = c.stderr.take() {
                let _ = e.read_to_string(&mut s);
            }
        }
        s
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts `ringside run` on `ring_dir` with its spool in `spool_dir`, exporting
/// JSONL to `jsonl`, plus `extra` arguments. stderr goes to `log` (a file) so the
/// test can read it while the sidecar runs.
pub fn start_sidecar(
    ring_dir: &Path,
    spool_dir: &Path,
    jsonl: &Path,
    log: &Path,
    extra: &[&str],
) -> Proc {
    start_sidecar_env(ring_dir, spool_dir, jsonl, log, extra, &[])
}

/// [`start_sidecar`] with extra environment variables.
pub fn start_sidecar_env(
    ring_dir: &Path,
    spool_dir: &Path,
    jsonl: &Path,
    log: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Proc {
    Proc::spawn(
        &mut sidecar_command(ring_dir, spool_dir, jsonl, log, extra, env),
        "ringside run",
    )
}

/// The command [`start_sidecar_env`] spawns, for tests that change it further
/// (limits set before exec) before spawning it themselves.
pub fn sidecar_command(
    ring_dir: &Path,
    spool_dir: &Path,
    jsonl: &Path,
    log: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Command {
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringside"));
    cmd.arg("run")
        .arg("--ring-dir")
        .arg(ring_dir)
        .arg("--spool-dir")
        .arg(spool_dir)
        .arg("--jsonl")
        .arg(jsonl)
        .args(if extra.contains(&"--metrics-listen") {
            &[][..]
        } else {
            &["--metrics-listen", ""][..]
        })
        .args(extra)
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(log_file);
    cmd
}

/// Runs this test binary again, executing only test `test_name`, with `role`
/// in `RINGSIDE_TEST_ROLE` and the given environment.
pub fn spawn_role(test_name: &str, role: &str, env: &[(&str, String)]) -> Proc {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env("RINGSIDE_TEST_ROLE", role)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Proc::spawn(&mut cmd, &format!("child {role}"))
}

/// The role this process was started in, if any.
pub fn role() -> Option<String> {
    std::env::var("RINGSIDE_TEST_ROLE").ok()
}

/// Reads `KEY value...` lines a child printed on stdout.
pub fn child_lines(proc: &mut Proc) -> Vec<String> {
    let out = proc.child.as_mut().unwrap().stdout.take().unwrap();
    BufReader::new(out).lines().map_while(Result::ok).collect()
}

/// One exported span, flattened from OTLP/JSON.
#[derive(Debug, Clone)]
pub struct JsonSpan {
    pub service: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub name: String,
    pub kind: i64,
    pub start: u64,
    pub end: u64,
    pub status_code: i64,
    pub attrs: HashMap<String, serde_json::Value>,
    /// The span as exported (events, links, status message).
    pub raw: serde_json::Value,
}

impl JsonSpan {
    pub fn int(&self, key: &str) -> Option<i64> {
        let v = self.attrs.get(key)?;
        v.get("intValue")
            .and_then(|i| i.as_str().and_then(|s| s.parse().ok()).or(i.as_i64()))
    }
    pub fn str(&self, key: &str) -> Option<&str> {
        self.attrs.get(key)?.get("stringValue")?.as_str()
    }
    /// The span's events: name and attributes (OTLP/JSON values).
    pub fn events(&self) -> Vec<(String, HashMap<String, serde_json::Value>)> {
        self.raw["events"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                let attrs = e["attributes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|kv| {
                        (
                            kv["key"].as_str().unwrap_or("").to_string(),
                            kv["value"].clone(),
                        )
                    })
                    .collect();
                (e["name"].as_str().unwrap_or("").to_string(), attrs)
            })
            .collect()
    }
    /// The status message ("" when there is none).
    pub fn status_message(&self) -> &str {
        self.raw["status"]["message"].as_str().unwrap_or("")
    }
}

/// Every span in a JSONL file (and its rotated siblings are not read). Panics
/// on a line that is not valid JSON: our output must always be whole lines.
/// A last line without its newline is one the sidecar is still writing (a
/// reader of a file being appended to can see part of a write), so it is
/// left for the next read.
pub fn read_jsonl(path: &Path) -> Vec<JsonSpan> {
    let Ok(mut text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.truncate(text.rfind('\n').map_or(0, |end| end + 1));
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("line {} of {} is not JSON: {e}", n + 1, path.display()));
        for rs in v["resourceSpans"].as_array().unwrap() {
            let service = rs["resource"]["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["key"] == "service.name")
                .and_then(|a| a["value"]["stringValue"].as_str())
                .unwrap_or("")
                .to_string();
            for ss in rs["scopeSpans"].as_array().unwrap() {
                for s in ss["spans"].as_array().unwrap() {
                    let num = |v: &serde_json::Value| -> u64 {
                        v.as_str()
                            .and_then(|s| s.parse().ok())
                            .or(v.as_u64())
                            .unwrap_or(0)
                    };
                    out.push(JsonSpan {
                        service: service.clone(),
                        trace_id: s["traceId"].as_str().unwrap_or("").into(),
                        span_id: s["spanId"].as_str().unwrap_or("").into(),
                        parent_span_id: s["parentSpanId"].as_str().unwrap_or("").into(),
                        name: s["name"].as_str().unwrap_or("").into(),
                        kind: s["kind"].as_i64().unwrap_or(0),
                        start: num(&s["startTimeUnixNano"]),
                        end: num(&s["endTimeUnixNano"]),
                        status_code: s["status"]["code"].as_i64().unwrap_or(0),
                        attrs: s["attributes"]
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .map(|kv| {
                                        (
                                            kv["key"].as_str().unwrap().to_string(),
                                            kv["value"].clone(),
                                        )
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                        raw: s.clone(),
                    });
                }
            }
        }
    }
    out
}

/// Waits until `cond` holds, up to `timeout`; panics with `what` otherwise.
pub fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !cond() {
        if Instant::now() > end {
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Ring files currently in `dir`.
pub fn ring_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "ring"))
                .collect()
        })
        .unwrap_or_default()
}

/// A checksum of a test span's identity, carried as an attribute so the reader
/// can tell a torn record from a whole one.
pub fn checksum(writer: i64, thread: i64, seq: i64) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for v in [writer, thread, seq] {
        for b in v.to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    (h >> 1) as i64
}

/// Streams a child's stdout lines through a channel (for children that keep
/// running after they have something to say).
pub fn stdout_lines(proc: &mut Proc) -> std::sync::mpsc::Receiver<String> {
    let out = proc.child.as_mut().unwrap().stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for a line starting with `prefix` and returns the rest of it.
pub fn expect_line(
    rx: &std::sync::mpsc::Receiver<String>,
    prefix: &str,
    timeout: Duration,
) -> String {
    let end = Instant::now() + timeout;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.starts_with(prefix) => return line[prefix.len()..].trim().to_string(),
            Ok(_) => continue,
            Err(_) => panic!("no `{prefix}` line from child within {timeout:?}"),
        }
    }
}

/// Parses the `key=value` fields of the sidecar's "ring drained and removed"
/// log lines.
pub fn removed_rings(log: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter(|l| l.contains("ring drained and removed"))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
                .collect()
        })
        .collect()
}

/// The usual layout of a sidecar test under `tmp`: ring directory (created),
/// spool directory, JSONL output and sidecar log.
pub fn layout(tmp: &TempDir) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    let rings = tmp.join("rings");
    std::fs::create_dir_all(&rings).unwrap();
    (
        rings,
        tmp.join("spool"),
        tmp.join("out.jsonl"),
        tmp.join("sidecar.log"),
    )
}

/// Runs the `tracer_writer` role (through the test named `role_test` of the
/// calling test binary) to completion and returns its `(written, dropped)`.
pub fn run_tracer_writer(
    role_test: &str,
    rings: &Path,
    id: u32,
    threads: u32,
    per_thread: u64,
) -> (u64, u64) {
    let mut w = spawn_role(
        role_test,
        "tracer_writer",
        &[
            ("RINGSIDE_DIR", rings.display().to_string()),
            ("WRITER_ID", id.to_string()),
            ("THREADS", threads.to_string()),
            ("PER_THREAD", per_thread.to_string()),
        ],
    );
    let lines = child_lines(&mut w);
    assert!(
        w.wait(Duration::from_secs(120)).success(),
        "writer {id} failed"
    );
    writer_stats(&lines)
}

/// `(written, dropped)` from a writer's `STATS written dropped` line.
pub fn writer_stats(lines: &[String]) -> (u64, u64) {
    let stats = lines
        .iter()
        .find_map(|l| l.strip_prefix("STATS "))
        .expect("writer printed STATS");
    let mut nums = stats
        .split(' ')
        .map(|n| n.parse::<u64>().expect("STATS numbers"));
    (nums.next().unwrap(), nums.next().unwrap())
}
