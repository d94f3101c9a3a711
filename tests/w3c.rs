//! The gateway's trace-context behaviour over real sockets, with
//! `ringside demo --w3c-endpoint`: the W3C test harness contract of `POST
//! /test` (this test plays the harness: a loopback server records the
//! callbacks), and a `traceparent` from an outside client parenting the
//! gateway's server span, or, malformed, starting a new trace that is counted.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ringside_demo::traces;

const PARENT_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT_SPAN: &str = "b7ad6b7169203331";

struct Endpoint {
    child: Child,
    addr: SocketAddr,
    rings: PathBuf,
}

impl Endpoint {
    fn start(name: &str) -> Endpoint {
        let rings =
            std::env::temp_dir().join(format!("ringside-test-w3c-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&rings);
        std::fs::create_dir_all(&rings).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_ringside"))
            .args(["demo", "--w3c-endpoint", &format!("127.0.0.1:{port}")])
            .env("RINGSIDE_DIR", &rings)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening ")
            .expect(&line)
            .parse()
            .unwrap();
        Endpoint { child, addr, rings }
    }

    /// SIGTERM, then the exit status and stderr.
    fn stop(mut self) -> (std::process::ExitStatus, String, Vec<traces::SpanRow>) {
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let status = self.child.wait().unwrap();
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let mut reader = traces::RingReader::new(&self.rings);
        reader.poll().unwrap();
        let _ = std::fs::remove_dir_all(&self.rings);
        (status, stderr, reader.spans)
    }
}

/// Headers of each POST the harness receives, in order.
fn harness() -> (SocketAddr, mpsc::Receiver<Vec<(String, String)>>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let addr = server.server_addr().to_ip().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for mut req in server.incoming_requests() {
            let mut body = String::new();
            let _ = req.as_reader().read_to_string(&mut body);
            let mut headers: Vec<(String, String)> = req
                .headers()
                .iter()
                .map(|h| {
                    (
                        h.field.as_str().as_str().to_ascii_lowercase(),
                        h.value.to_string(),
                    )
                })
                .collect();
            headers.push(("body".into(), body));
            let _ = tx.send(headers);
            let _ = req.respond(tiny_http::Response::empty(200));
        }
    });
    (addr, rx)
}

fn get<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn post_test(endpoint: SocketAddr, body: &str, headers: &[(&str, &str)]) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent.post(format!("http://{endpoint}/test"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send(body).unwrap().status().as_u16()
}

#[test]
fn test_endpoint_calls_each_url_in_order_as_a_child_of_the_request() {
    let endpoint = Endpoint::start("contract");
    let (harness, calls) = harness();
    let body = format!(
        r#"[{{"url": "http://{harness}/first", "arguments": [1, "a"]}},
            {{"url": "http://{harness}/second", "arguments": []}}]"#
    );
    let traceparent = format!("00-{PARENT_TRACE}-{PARENT_SPAN}-01");
    let status = post_test(
        endpoint.addr,
        &body,
        &[("traceparent", &traceparent), ("tracestate", "foo=1,bar=2")],
    );
    assert_eq!(status, 200);
    // Both calls happened before the answer, in order.
    let first = calls.try_recv().expect("first call before the answer");
    let second = calls.try_recv().expect("second call before the answer");
    assert_eq!(get(&first, "body"), Some(r#"[1,"a"]"#));
    assert_eq!(get(&second, "body"), Some("[]"));
    let mut children = Vec::new();
    for call in [&first, &second] {
        let tp = get(call, "traceparent").expect("traceparent sent");
        let parts: Vec<&str> = tp.split('-').collect();
        assert_eq!(parts.len(), 4, "{tp}");
        assert_eq!(parts[0], "00");
        assert_eq!(parts[1], PARENT_TRACE);
        assert_ne!(parts[2], PARENT_SPAN);
        assert!(parts[2].len() == 16 && parts[2] != "0000000000000000");
        assert_eq!(parts[3], "01");
        assert_eq!(get(call, "tracestate"), Some("foo=1,bar=2"));
        children.push(parts[2].to_string());
    }
    assert_ne!(children[0], children[1]);

    // A malformed traceparent: a new trace, no tracestate passed on, and the
    // request still succeeds.
    let body = format!(r#"[{{"url": "http://{harness}/third", "arguments": []}}]"#);
    let bad = format!("00-{PARENT_TRACE}-{PARENT_SPAN}-1");
    assert_eq!(
        post_test(
            endpoint.addr,
            &body,
            &[("traceparent", &bad), ("tracestate", "foo=1")]
        ),
        200
    );
    let third = calls.try_recv().unwrap();
    let tp = get(&third, "traceparent").unwrap();
    assert!(tp.starts_with("00-") && !tp.contains(PARENT_TRACE), "{tp}");
    assert_eq!(get(&third, "tracestate"), None);

    // A body that is not the harness's JSON is refused, not a crash.
    assert_eq!(post_test(endpoint.addr, "{not json", &[]), 400);

    let (status, stderr, spans) = endpoint.stop();
    assert!(status.success(), "exit {status}: {stderr}");
    assert!(
        stderr.contains("1 with an invalid trace context"),
        "{stderr}"
    );
    let server = spans
        .iter()
        .find(|s| s.name == "POST /test" && s.trace_id == PARENT_TRACE)
        .expect("server span of the first request");
    assert_eq!(server.parent.as_deref(), Some(PARENT_SPAN));
    let calls: Vec<_> = spans
        .iter()
        .filter(|s| s.parent.as_deref() == Some(&server.span_id))
        .collect();
    let call_ids: Vec<&str> = calls.iter().map(|s| s.span_id.as_str()).collect();
    assert_eq!(calls.len(), 2);
    assert!(children.iter().all(|c| call_ids.contains(&c.as_str())));
}

#[test]
fn outside_traceparent_parents_the_file_span_and_a_malformed_one_starts_a_trace() {
    let endpoint = Endpoint::start("outside");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let url = format!("http://{}/files/a/b.txt", endpoint.addr);
    let good = format!("00-{PARENT_TRACE}-{PARENT_SPAN}-01");
    // This gateway has no storage nodes behind it: the request fails (503),
    // but its span is still a child of the caller.
    let status = agent
        .get(&url)
        .header("traceparent", &good)
        .call()
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 503);
    let zero = format!("00-{PARENT_TRACE}-0000000000000000-01");
    agent.get(&url).header("traceparent", &zero).call().unwrap();
    let (status, stderr, spans) = endpoint.stop();
    assert!(status.success());
    assert!(
        stderr.contains("served 2 requests, 1 with an invalid"),
        "{stderr}"
    );
    let files: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "storage.file.read")
        .collect();
    assert_eq!(files.len(), 2);
    let child = files
        .iter()
        .find(|s| s.trace_id == PARENT_TRACE)
        .expect("child of the caller");
    assert_eq!(child.parent.as_deref(), Some(PARENT_SPAN));
    assert_eq!(child.attr("file.path"), Some("/a/b.txt"));
    assert!(child.failed && child.attr("error.type") == Some("unavailable"));
    let fresh = files
        .iter()
        .find(|s| s.trace_id != PARENT_TRACE)
        .expect("a new trace");
    assert_eq!(fresh.parent, None);
    assert_eq!(fresh.attr("storage.context.invalid"), Some("true"));
}
