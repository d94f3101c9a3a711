//! A gateway and a chunk server in one process, instrumented with `tracing`
//! only; the one ringside line is in `main`. The gateway reads chunks from the
//! server over HTTP on 127.0.0.1, passing the W3C context in the headers, so
//! each read is one trace across client and server; chunk 3 fails with EIO.
//!
//! Run beside the sidecar:
//!
//! ```text
//! ringside run --ring-dir /tmp/rings --spool-dir /tmp/spool --jsonl /tmp/spans.jsonl &
//! RINGSIDE_DIR=/tmp/rings cargo run -p ringside-tracing --example tracing_daemon
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tracing::field::Empty;
use tracing::{error, info, info_span, warn};
use tracing_subscriber::prelude::*;

#[allow(dead_code)] // the end-to-end test includes this file and has its own main
fn main() {
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("info"))
        .with(tracing_subscriber::fmt::layer())
        .with(ringside_tracing::layer("chunk-server"))
        .init();
    let statuses = run(5);
    println!("statuses: {statuses:?}");
}

/// Starts the chunk server on an ephemeral loopback port, has the gateway
/// read chunks `0..reads` from it, stops the server; returns the HTTP status
/// of each read.
pub fn run(reads: u32) -> Vec<u16> {
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1"));
    let addr = server.server_addr().to_ip().expect("an IP address");
    let serving = std::thread::spawn({
        let server = Arc::clone(&server);
        move || {
            for request in server.incoming_requests() {
                serve(request);
            }
        }
    });
    let statuses = (0..reads).map(|chunk| gateway_read(addr, chunk)).collect();
    server.unblock();
    serving.join().expect("server thread");
    statuses
}

/// The client side: one span per read, its context injected into the request.
fn gateway_read(addr: SocketAddr, chunk: u32) -> u16 {
    let span = info_span!(
        "gateway.read",
        otel.kind = "client",
        storage.chunk.index = chunk,
        http.response.status_code = Empty,
    );
    let _entered = span.enter();
    let mut headers = Vec::new();
    ringside_tracing::inject_current(|name, value| headers.push((name, value.to_string())));
    let mut request = ureq::get(format!("http://{addr}/chunk/{chunk}"));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let status = match request.call() {
        Ok(response) => response.status().as_u16(),
        Err(ureq::Error::StatusCode(code)) => code,
        Err(e) => {
            error!(error = %e, "request failed");
            0
        }
    };
    span.record("http.response.status_code", status);
    if status != 200 {
        warn!(status, "chunk not read");
    }
    status
}

/// The server side: the request's headers give its span a remote parent.
fn serve(request: tiny_http::Request) {
    let header = |name: &'static str| {
        request
            .headers()
            .iter()
            .find(|h| h.field.equiv(name))
            .map(|h| h.value.as_str())
    };
    let _remote = ringside_tracing::attach_remote(header("traceparent"), header("tracestate"));
    let chunk: Option<u32> = request
        .url()
        .rsplit('/')
        .next()
        .and_then(|c| c.parse().ok());
    let span = info_span!(
        "chunk.read",
        otel.kind = "server",
        storage.chunk.index = chunk,
        storage.size = Empty,
        storage.cached = false,
    );
    let entered = span.enter();
    let status = match chunk.map(read_chunk) {
        Some(Ok(size)) => {
            span.record("storage.size", size);
            info!(bytes = size, ratio = 0.75, "chunk served");
            200
        }
        Some(Err(e)) => {
            error!(error = %e, "chunk read failed");
            500
        }
        None => 404,
    };
    drop(entered);
    drop(_remote);
    let _ = request.respond(tiny_http::Response::empty(status));
}

/// errno of an I/O error, what a failing disk read gives.
const EIO: i32 = 5;

/// The disk: a span per read, from the function's arguments.
#[tracing::instrument(fields(storage.disk = "nvme0"))]
fn read_chunk(chunk: u32) -> io::Result<u64> {
    if chunk == 3 {
        return Err(io::Error::from_raw_os_error(EIO));
    }
    Ok(65536 + u64::from(chunk))
}
