//! The gateway's HTTP front: `PUT/GET/DELETE /files/<path>` and the W3C Trace
//! Context test endpoint `POST /test`.
//!
//! `tiny_http` does the HTTP/1.1 work (keep-alive, `Expect: 100-continue` as
//! curl sends for large uploads, chunked bodies), which a hand-written parser
//! would have to redo; it is small and has no async runtime.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use ringside::trace::propagation::{self, ExtractError, TRACEPARENT, TRACESTATE};
use ringside::trace::storage::FileOp;
use ringside::trace::{SpanContext, SpanKind};
use tiny_http::{Method, Request, Response, Server};

use super::gateway::{Gateway, MAX_FILE};

/// Request handling threads.
const WORKERS: usize = 8;
/// Header naming the storage client (`storage.client.id`).
pub const CLIENT_HEADER: &str = "x-client-id";

/// Binds the HTTP server on `addr` (port 0 picks one), with `TCP_NODELAY`.
///
/// tiny_http writes a response's head and body separately; with Nagle's
/// algorithm on, the body then waits for the client's delayed ACK (40 ms on
/// Linux) on every reused connection. Linux copies `TCP_NODELAY` from the
/// listening socket to the sockets it accepts, so it is set there.
pub fn bind(addr: &str) -> anyhow::Result<Server> {
    let listener =
        std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    let on: libc::c_int = 1;
    // SAFETY: setsockopt(2) on a descriptor `listener` owns and keeps open for
    // the call, reading `size_of::<c_int>()` bytes from a live local.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&listener),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).context("cannot set TCP_NODELAY");
    }
    Server::from_listener(listener, None)
        .map_err(|e| anyhow::anyhow!("cannot serve on {addr}: {e}"))
}

/// Serves requests until `stop()` turns true (checked every 50 ms).
pub fn serve(server: Server, gateway: Arc<Gateway>, stop: fn() -> bool) {
    serve_until(server, gateway, Arc::new(stop))
}

/// [`serve`] with any stop condition.
pub fn serve_until(
    server: Server,
    gateway: Arc<Gateway>,
    stop: Arc<dyn Fn() -> bool + Send + Sync>,
) {
    let server = Arc::new(server);
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (server, gateway, stop) =
                (Arc::clone(&server), Arc::clone(&gateway), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop() {
                    if let Ok(Some(request)) = server.recv_timeout(Duration::from_millis(50)) {
                        handle(&gateway, request);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
}

/// The values of all header fields named `name`, joined by `,` as HTTP
/// combines repeated fields.
fn header(request: &Request, name: &'static str) -> Option<String> {
    let values: Vec<&str> = request
        .headers()
        .iter()
        .filter(|h| h.field.equiv(name))
        .map(|h| h.value.as_str())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// The incoming trace context: `(parent, invalid)`. A missing context is not
/// invalid; a present but broken one is counted and starts a new trace.
fn incoming_context(gateway: &Gateway, request: &Request) -> (Option<SpanContext>, bool) {
    let parent = header(request, TRACEPARENT);
    let state = header(request, TRACESTATE);
    let context = propagation::extract(parent.as_deref(), state.as_deref()).map(Some);
    let context = match context {
        Err(ExtractError::Missing) => Ok(None),
        other => other,
    };
    let (parent, invalid) = gateway.stats.parent(&context);
    (parent.cloned(), invalid)
}

fn respond(request: Request, status: u16, body: Vec<u8>) {
    let _ = request.respond(Response::from_data(body).with_status_code(status));
}

fn handle(gateway: &Gateway, mut request: Request) {
    let (parent, invalid) = incoming_context(gateway, &request);
    let url = request.url().to_string();
    let op = match (request.method(), url.strip_prefix("/files/")) {
        (Method::Post, _) if url == "/test" => {
            return w3c_test(gateway, request, parent.as_ref());
        }
        (Method::Put, Some(_)) => FileOp::Write,
        (Method::Get, Some(_)) => FileOp::Read,
        (Method::Delete, Some(_)) => FileOp::Delete,
        _ => return respond(request, 404, b"no such endpoint\n".to_vec()),
    };
    let path = &url["/files".len()..];
    if path.len() <= 1 || path.len() > 1024 {
        return respond(request, 400, b"bad file path\n".to_vec());
    }
    let client = header(&request, CLIENT_HEADER).unwrap_or_else(|| "anonymous".into());
    let mut body = Vec::new();
    if op == FileOp::Write {
        let limit = MAX_FILE as u64 + 1;
        if request
            .as_reader()
            .take(limit)
            .read_to_end(&mut body)
            .is_err()
        {
            return respond(request, 400, b"cannot read body\n".to_vec());
        }
        if body.len() > MAX_FILE {
            return respond(request, 413, b"file larger than 4 MiB\n".to_vec());
        }
    }
    match gateway.file_op(parent.as_ref(), invalid, op, path, &body, &client) {
        Ok((status, data)) => respond(request, status, data),
        Err(f) => respond(
            request,
            f.status,
            format!("{}: {}\n", f.error_type, f.message).into(),
        ),
    }
}

/// `POST /test` of the W3C trace-context test harness: the body is a JSON array
/// of `{"url": ..., "arguments": [...]}`; for each, in order, POST the JSON of
/// `arguments` to `url` with the context of a child span of this request, and
/// answer 200 once all calls are done.
fn w3c_test(gateway: &Gateway, mut request: Request, parent: Option<&SpanContext>) {
    let mut body = String::new();
    if request
        .as_reader()
        .take(1 << 20)
        .read_to_string(&mut body)
        .is_err()
    {
        return respond(request, 400, b"cannot read body\n".to_vec());
    }
    let span = gateway
        .tracing
        .plain("POST /test", SpanKind::Server, parent);
    let result = run_w3c_calls(gateway, &span.context(), &body);
    drop(span);
    match result {
        Ok(()) => respond(request, 200, Vec::new()),
        Err(e) => respond(request, 400, format!("{e:#}\n").into()),
    }
}

/// `POST /test` calls only addresses on this machine: the endpoint is for
/// the W3C test harness running beside the demo, not a way to make the demo
/// post to arbitrary hosts. The host must be a loopback IP literal or
/// `localhost`.
fn check_loopback(url: &str) -> anyhow::Result<()> {
    let uri: ureq::http::Uri = url
        .parse()
        .with_context(|| format!("{url:?} is not a URL"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        anyhow::bail!("{url:?} is not an http:// or https:// URL");
    }
    let host = uri.host().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        anyhow::bail!("POST /test calls loopback addresses only, not {host:?}");
    }
    Ok(())
}

fn run_w3c_calls(gateway: &Gateway, parent: &SpanContext, body: &str) -> anyhow::Result<()> {
    let cases: Vec<serde_json::Value> =
        serde_json::from_str(body).context("body is not a JSON array")?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    for case in &cases {
        let url = case["url"].as_str().context("an element has no url")?;
        check_loopback(url)?;
        let arguments = case.get("arguments").cloned().unwrap_or_default();
        let mut span = gateway
            .tracing
            .plain("POST", SpanKind::Client, Some(parent));
        let ctx = span.context();
        let mut headers: Vec<(&'static str, String)> = Vec::new();
        propagation::inject(&ctx, |name, value| headers.push((name, value.to_string())));
        let mut call = agent.post(url).header("content-type", "application/json");
        for (name, value) in &headers {
            call = call.header(*name, value);
        }
        match call.send(arguments.to_string()) {
            Ok(response) => span.set_http_status(response.status().as_u16()),
            Err(e) => span.fail("http", &e.to_string()),
        }
        span.end();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_loopback;

    #[test]
    fn test_calls_go_to_loopback_addresses_only() {
        for ok in [
            "http://127.0.0.1:7777/test",
            "http://127.8.9.10/x",
            "http://[::1]:80/test",
            "http://localhost:5000/",
            "https://LOCALHOST/",
        ] {
            assert!(check_loopback(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1/test",
            "http://example.com/",
            "http://localhost.example.com/",
            "http://127.0.0.1.nip.io/",
            "http://[::ffff:8.8.8.8]/",
            "ftp://127.0.0.1/",
            "file:///etc/passwd",
            "not a url",
            "http://0.0.0.0/",
        ] {
            assert!(check_loopback(bad).is_err(), "{bad}");
        }
    }
}
