//! Reading a running sidecar's `/metrics` page: its address from the
//! sidecar's log, a page over plain HTTP on 127.0.0.1, and one sample's value.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use super::{Proc, start_sidecar_env};

/// Starts `ringside run` as [`start_sidecar_env`] does, with `extra`
/// arguments, the environment `env` and metrics on 127.0.0.1:0; returns the
/// sidecar and its metrics address, once it serves.
pub fn start_sidecar_with_metrics(
    (rings, spool, out, log): (&Path, &Path, &Path, &Path),
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Proc, String) {
    let mut args = extra.to_vec();
    args.extend(["--metrics-listen", "127.0.0.1:0"]);
    let sidecar = start_sidecar_env(rings, spool, out, log, &args, env);
    (sidecar, metrics_addr(log))
}

/// The metrics address the sidecar logged (`metrics endpoint up listen=...`),
/// once it has; started with `--metrics-listen 127.0.0.1:0`.
pub fn metrics_addr(log: &Path) -> String {
    let mut addr = String::new();
    super::wait_for("metrics endpoint up", Duration::from_secs(30), || {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        // The last start's address (the log is appended to across restarts).
        let line = text.lines().rfind(|l| l.contains("metrics endpoint up"));
        if let Some(a) = line.and_then(|l| l.split("listen=").nth(1)) {
            addr = a
                .split_whitespace()
                .next()
                .unwrap()
                .trim_matches('"')
                .to_string();
        }
        !addr.is_empty()
    });
    addr
}

/// One answer of the metrics endpoint.
pub struct Response {
    /// HTTP status code (0 if the status line did not parse).
    pub status: u16,
    /// The `Content-Type` header ("" when absent).
    pub content_type: String,
    /// The body.
    pub body: String,
}

/// `GET path` on `addr`, with an `Accept` header when `accept` is given.
pub fn get(addr: &str, path: &str, accept: Option<&str>) -> Response {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let accept = accept
        .map(|a| format!("Accept: {a}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{accept}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Response {
        status: head
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
        content_type: head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Type: "))
            .unwrap_or("")
            .to_string(),
        body: body.to_string(),
    }
}

/// The `/metrics` page.
pub fn page(addr: &str) -> String {
    get(addr, "/metrics", None).body
}

/// The value of the sample line whose name and labels contain all of `parts`.
pub fn metric(page: &str, parts: &[&str]) -> Option<f64> {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| parts.iter().all(|p| l.contains(p)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
