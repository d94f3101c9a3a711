//! A scripted OTLP/HTTP receiver on 127.0.0.1 for the exporter tests: it
//! records every request and answers each with the reply a closure picks by
//! request number. Every reply closes its connection, so each request comes
//! on a new one and the server never waits on an idle keep-alive socket.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Instant;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

/// What the receiver answers.
#[derive(Clone, Debug, Default)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Never answer: hold the connection until the client gives up.
    pub hang: bool,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            ..Reply::default()
        }
    }

    pub fn ok() -> Reply {
        Reply::status(200)
    }

    pub fn hang() -> Reply {
        Reply {
            hang: true,
            ..Reply::default()
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// 200 with an OTLP partial success (protobuf) rejecting `spans` spans.
    pub fn partial_success(spans: i64, message: &str) -> Reply {
        use opentelemetry_proto::tonic::collector::trace::v1::{
            ExportTracePartialSuccess, ExportTraceServiceResponse,
        };
        let response = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: spans,
                error_message: message.into(),
            }),
        };
        Reply::ok().body("application/x-protobuf", response.encode_to_vec())
    }

    pub fn body(mut self, content_type: &str, body: Vec<u8>) -> Reply {
        self.body = body;
        self.header("Content-Type", content_type)
    }
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Names lowercased.
    pub headers: Vec<(String, String)>,
    /// As sent (compressed if it was).
    pub body: Vec<u8>,
    /// When the whole request had arrived.
    pub received: Instant,
    /// The status it was answered with; 0 if it was not answered (hang).
    pub answered: u16,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body after undoing `Content-Encoding: gzip`.
    pub fn plain_body(&self) -> Vec<u8> {
        match self.header("content-encoding") {
            Some("gzip") => {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&self.body[..])
                    .read_to_end(&mut out)
                    .expect("body is valid gzip");
                out
            }
            None => self.body.clone(),
            Some(other) => panic!("unexpected content-encoding {other}"),
        }
    }

    /// The body decoded by its content type.
    pub fn export_request(&self) -> ExportTraceServiceRequest {
        let body = self.plain_body();
        match self.header("content-type") {
            Some("application/x-protobuf") => {
                ExportTraceServiceRequest::decode(&body[..]).expect("valid protobuf")
            }
            Some("application/json") => serde_json::from_slice(&body).expect("valid OTLP/JSON"),
            other => panic!("unexpected content-type {other:?}"),
        }
    }

    /// Span ids in the request, in order.
    pub fn span_ids(&self) -> Vec<Vec<u8>> {
        self.export_request()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| s.span_id.clone())
            .collect()
    }
}

/// The receiver; its thread serves until the test process ends.
pub struct FakeReceiver {
    /// `http://127.0.0.1:<port>/v1/traces`
    pub endpoint: String,
    requests: mpsc::Receiver<Request>,
}

impl FakeReceiver {
    /// Starts serving on a free port; request `i` (from 0) gets `reply(i)`.
    pub fn start(reply: impl FnMut(usize) -> Reply + Send + 'static) -> FakeReceiver {
        FakeReceiver::start_on(0, reply)
    }

    /// Starts serving on 127.0.0.1:`port` (0: any free port).
    pub fn start_on(
        port: u16,
        mut reply: impl FnMut(usize) -> Reply + Send + 'static,
    ) -> FakeReceiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind loopback");
        let endpoint = format!("http://{}/v1/traces", listener.local_addr().expect("addr"));
        let (tx, requests) = mpsc::channel();
        std::thread::spawn(move || {
            for (i, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { return };
                let Some(mut request) = read_request(&stream) else {
                    continue;
                };
                let reply = reply(i);
                request.answered = if reply.hang { 0 } else { reply.status };
                if tx.send(request).is_err() {
                    return;
                }
                answer(stream, reply);
            }
        });
        FakeReceiver { endpoint, requests }
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.try_iter().collect()
    }
}

/// Reads one request from `stream` (plain TCP, or TLS in tests/otlp_tls.rs).
pub fn read_request(stream: impl Read) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body,
        received: Instant::now(),
        answered: 0,
    })
}

/// Sends `reply` on `stream` (or holds it open, for [`Reply::hang`]).
pub fn answer(mut stream: impl Read + Write, reply: Reply) {
    if reply.hang {
        // Wait for the client to give up and close.
        let mut sink = [0u8; 512];
        while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
        return;
    }
    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&reply.body);
}
