//! The OpenTelemetry Rust SDK instrumenting the mini file store, for the third
//! mode of `ringside bench`: spans go through a `BatchSpanProcessor` to the
//! OTLP/HTTP protobuf exporter of `opentelemetry-otlp`, which posts them to a
//! loopback receiver ([`Receiver`]) that decodes and counts them. The
//! exporter's HTTP client is ureq (which the sidecar uses already) behind
//! `opentelemetry-http`'s client trait.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use opentelemetry::trace::{
    Span as _, SpanKind as OtelKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracer, SdkTracerProvider};
use prost::Message as _;
use ringside::trace::storage::{self, DataOp, FileOp, MetadataOp, MetadataResult};
use ringside::trace::{SpanContext, SpanId, SpanKind, TraceFlags, TraceId, TraceState};

use super::http_names::{HTTP_METHOD, URL_PATH};

/// The SDK's tracer, its provider, and a count of spans started.
#[derive(Clone)]
pub struct OtelTracing {
    inner: Arc<Inner>,
}

struct Inner {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    started: AtomicU64,
}

/// A span of the SDK.
pub struct OtelSpan(opentelemetry_sdk::trace::Span);

/// ureq as the exporter's HTTP client.
#[derive(Debug)]
struct UreqClient(ureq::Agent);

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for UreqClient {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        let (parts, body) = request.into_parts();
        let request = http::Request::from_parts(parts, body.to_vec());
        let mut response = self.0.run(request)?;
        let status = response.status();
        let body = response.body_mut().read_to_vec()?;
        Ok(http::Response::builder()
            .status(status)
            .body(bytes::Bytes::from(body))?)
    }
}

impl OtelTracing {
    /// A provider for `service` exporting to `endpoint` (a full URL such as
    /// `http://127.0.0.1:4318/v1/traces`) through a `BatchSpanProcessor` with
    /// its default settings.
    pub fn new(service: &str, endpoint: &str) -> anyhow::Result<OtelTracing> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(endpoint)
            .with_http_client(UreqClient(agent))
            .build()
            .context("cannot build the OTLP exporter")?;
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name(service.to_string())
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(BatchSpanProcessor::builder(exporter).build())
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("ringside-bench");
        Ok(OtelTracing {
            inner: Arc::new(Inner {
                provider,
                tracer,
                started: AtomicU64::new(0),
            }),
        })
    }

    fn start(
        &self,
        name: &str,
        kind: SpanKind,
        parent: Option<&SpanContext>,
        attrs: Vec<KeyValue>,
    ) -> OtelSpan {
        self.inner.started.fetch_add(1, Ordering::Relaxed);
        let cx = match parent.filter(|p| p.is_valid()) {
            Some(p) => Context::new().with_remote_span_context(to_otel(p)),
            None => Context::new(),
        };
        let kind = match kind {
            SpanKind::Server => OtelKind::Server,
            SpanKind::Client => OtelKind::Client,
            SpanKind::Producer => OtelKind::Producer,
            SpanKind::Consumer => OtelKind::Consumer,
            SpanKind::Internal => OtelKind::Internal,
        };
        let span = self
            .inner
            .tracer
            .span_builder(name.to_string())
            .with_kind(kind)
            .with_attributes(attrs)
            .start_with_context(&self.inner.tracer, &cx);
        OtelSpan(span)
    }

    /// See [`storage::file_op`].
    pub fn file_op(
        &self,
        parent: Option<&SpanContext>,
        op: FileOp,
        path: &str,
        size: Option<u64>,
        client: &str,
    ) -> OtelSpan {
        let mut attrs = vec![
            KeyValue::new(storage::OPERATION, op.as_str()),
            KeyValue::new(storage::FILE_PATH, path.to_string()),
        ];
        if let Some(size) = size {
            attrs.push(KeyValue::new(storage::FILE_SIZE, size as i64));
        }
        attrs.push(KeyValue::new(storage::CLIENT_ID, client.to_string()));
        self.start(op.span_name(), SpanKind::Server, parent, attrs)
    }

    /// See [`storage::metadata_op`].
    pub fn metadata_op(&self, parent: Option<&SpanContext>, op: MetadataOp, key: &str) -> OtelSpan {
        let attrs = vec![KeyValue::new(storage::METADATA_KEY, key.to_string())];
        self.start(op.span_name(), SpanKind::Server, parent, attrs)
    }

    /// See [`storage::data_op`].
    pub fn data_op(
        &self,
        parent: Option<&SpanContext>,
        op: DataOp,
        chunk: &str,
        size: u64,
        node: u32,
        replica: u32,
    ) -> OtelSpan {
        let attrs = vec![
            KeyValue::new(storage::CHUNK_ID, chunk.to_string()),
            KeyValue::new(storage::CHUNK_SIZE, size as i64),
            KeyValue::new(storage::NODE_ID, i64::from(node)),
            KeyValue::new(storage::REPLICA_INDEX, i64::from(replica)),
        ];
        self.start(op.span_name(), SpanKind::Server, parent, attrs)
    }

    /// See [`storage::transfer`].
    pub fn transfer(&self, parent: Option<&SpanContext>, name: &str, peer: SocketAddr) -> OtelSpan {
        let method = name.rsplit('/').next().unwrap_or(name);
        let attrs = vec![
            KeyValue::new(storage::RPC_METHOD, method.to_string()),
            KeyValue::new(storage::NETWORK_PEER_ADDRESS, peer.ip().to_string()),
            KeyValue::new(storage::NETWORK_PEER_PORT, i64::from(peer.port())),
        ];
        self.start(name, SpanKind::Client, parent, attrs)
    }

    /// The root span of a client request.
    pub fn client_request(&self, method: &'static str, path: &str, server: SocketAddr) -> OtelSpan {
        let attrs = vec![
            KeyValue::new(HTTP_METHOD, method),
            KeyValue::new(URL_PATH, path.to_string()),
            KeyValue::new(storage::SERVER_PORT, i64::from(server.port())),
        ];
        self.start(method, SpanKind::Client, None, attrs)
    }

    /// A span with just a name and kind.
    pub fn plain(&self, name: &str, kind: SpanKind, parent: Option<&SpanContext>) -> OtelSpan {
        self.start(name, kind, parent, Vec::new())
    }

    /// Spans started so far.
    pub fn started(&self) -> u64 {
        self.inner.started.load(Ordering::Relaxed)
    }

    /// Exports what is queued and stops the exporter.
    pub fn shutdown(&self) {
        let _ = self.inner.provider.force_flush();
        let _ = self.inner.provider.shutdown();
    }
}

fn to_otel(ctx: &SpanContext) -> opentelemetry::trace::SpanContext {
    opentelemetry::trace::SpanContext::new(
        opentelemetry::trace::TraceId::from_bytes(ctx.trace_id.0),
        opentelemetry::trace::SpanId::from_bytes(ctx.span_id.0),
        opentelemetry::trace::TraceFlags::new(ctx.flags.0),
        true,
        opentelemetry::trace::TraceState::default(),
    )
}

impl OtelSpan {
    /// The span's context, as ringside propagates it.
    pub fn context(&self) -> SpanContext {
        let c = self.0.span_context();
        SpanContext {
            trace_id: TraceId(c.trace_id().to_bytes()),
            span_id: SpanId(c.span_id().to_bytes()),
            flags: TraceFlags(c.trace_flags().to_u8()),
            is_remote: false,
            trace_state: TraceState::default(),
        }
    }

    /// Sets an integer attribute.
    pub fn set_int(&mut self, key: &'static str, value: i64) {
        self.0.set_attribute(KeyValue::new(key, value));
    }

    /// Sets a boolean attribute.
    pub fn set_bool(&mut self, key: &'static str, value: bool) {
        self.0.set_attribute(KeyValue::new(key, value));
    }

    /// See [`storage::set_metadata_result`].
    pub fn set_metadata_result(&mut self, result: MetadataResult, version: Option<u64>) {
        self.0
            .set_attribute(KeyValue::new(storage::METADATA_RESULT, result.as_str()));
        if let Some(v) = version {
            self.set_int(storage::METADATA_VERSION, v as i64);
        }
    }

    /// Marks the span failed with `error.type` and the message.
    pub fn fail(&mut self, error_type: &str, message: &str) {
        self.0
            .set_attribute(KeyValue::new(storage::ERROR_TYPE, error_type.to_string()));
        self.0.set_status(Status::error(message.to_string()));
    }

    /// See [`storage::end_transfer`].
    pub fn end_transfer(mut self, sent: u64, received: u64, error: Option<(&str, &str)>) {
        self.set_int(storage::BYTES_SENT, sent as i64);
        self.set_int(storage::BYTES_RECEIVED, received as i64);
        if let Some((error_type, message)) = error {
            self.fail(error_type, message);
        }
        self.0.end();
    }

    /// Ends the span.
    pub fn end(mut self) {
        self.0.end();
    }
}

/// A loopback OTLP/HTTP receiver: decodes each protobuf export request and
/// counts its spans.
pub struct Receiver {
    /// The URL to export to.
    pub endpoint: String,
    spans: Arc<AtomicU64>,
    server: Arc<tiny_http::Server>,
}

impl Receiver {
    /// Starts the receiver on a free loopback port.
    pub fn start() -> anyhow::Result<Receiver> {
        let server = tiny_http::Server::http("127.0.0.1:0")
            .map_err(|e| anyhow::anyhow!("cannot start the OTLP receiver: {e}"))?;
        let addr = server.server_addr().to_ip().context("receiver not on IP")?;
        let server = Arc::new(server);
        let spans = Arc::new(AtomicU64::new(0));
        let (srv, count) = (Arc::clone(&server), Arc::clone(&spans));
        std::thread::spawn(move || {
            for mut request in srv.incoming_requests() {
                let mut body = Vec::new();
                let _ = request.as_reader().read_to_end(&mut body);
                use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
                let status = match ExportTraceServiceRequest::decode(body.as_slice()) {
                    Ok(req) => {
                        let n: usize = req
                            .resource_spans
                            .iter()
                            .flat_map(|r| &r.scope_spans)
                            .map(|s| s.spans.len())
                            .sum();
                        count.fetch_add(n as u64, Ordering::Relaxed);
                        200
                    }
                    Err(_) => 400,
                };
                let _ = request.respond(tiny_http::Response::empty(status));
            }
        });
        Ok(Receiver {
            endpoint: format!("http://{addr}/v1/traces"),
            spans,
            server,
        })
    }

    /// Spans received so far.
    pub fn spans(&self) -> u64 {
        self.spans.load(Ordering::Relaxed)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.unblock();
    }
}
