//! Reading a running sidecar's `/metrics` page: its address from the
//! sidecar's log, the page over plain HTTP on 127.0.0.1, and one sample's value.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

/// The metrics address the sidecar logged (`metrics endpoint up listen=...`),
/// once it has; started with `--metrics-listen 127.0.0.1:0`.
pub fn metrics_addr(log: &Path) -> String {
    let mut addr = String::new();
    crate::common::wait_for("metrics endpoint up", Duration::from_secs(30), || {
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

/// The `/metrics` page.
pub fn page(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// The value of the sample line whose name and labels contain all of `parts`.
pub fn metric(page: &str, parts: &[&str]) -> Option<f64> {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| parts.iter().all(|p| l.contains(p)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
