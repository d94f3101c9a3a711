//! OTLP/HTTP exporter: POSTs `ExportTraceServiceRequest`s to a collector's
//! traces endpoint (`.../v1/traces`), as protobuf (the default) or JSON,
//! optionally gzip-compressed.
//!
//! # Request size
//!
//! No request body is larger than [`OtlpSettings::max_request_bytes`] before
//! compression (4 MiB by default, the limit of common receivers), and no
//! request holds more than [`OtlpSettings::max_request_spans`] spans
//! (`batch.max_spans`). An export call whose batches hold more is split into several requests of
//! consecutive spans, sent in order. If one of them fails with a retryable
//! error after earlier ones were accepted, the exporter remembers how many
//! spans of that call were delivered, keyed by the call's spool cursor: the
//! retry (same batches, same cursor) sends only the rest. A single span that
//! alone encodes to more than the limit is not sent and is counted as
//! rejected.
//!
//! # Responses (OTLP/HTTP specification)
//!
//! See the `response` module: 2xx is success, with `partial_success.rejected_spans`
//! counted as rejected; 429, 502, 503 and 504, and transport failures
//! (connection refused, timeout, ...) are retryable, with `Retry-After`
//! honoured; every other status is permanent.

mod response;
mod settings;

use std::io::Write;

use anyhow::{Context, bail};
use ureq::http::{HeaderName, HeaderValue, Uri};

use super::Chunk;
use crate::batch::SpanBatch;
use crate::batch::SpoolCursor;
use crate::export::{ExportError, ExportOutcome, Exporter};

pub use response::parse_retry_after;
pub use settings::{Compression, OtlpConfig, OtlpSettings, Protocol};

/// Spans of one export call already delivered by earlier requests.
struct Progress {
    /// The call's cursor: a retry of the same call carries the same one.
    cursor: SpoolCursor,
    /// Records (in batch order) delivered or given up.
    records_done: usize,
    /// What the delivered requests achieved.
    outcome: ExportOutcome,
}

/// Sends span batches to an OTLP/HTTP traces endpoint.
pub struct OtlpHttpExporter {
    agent: ureq::Agent,
    endpoint: Uri,
    protocol: Protocol,
    compression: Compression,
    headers: Vec<(HeaderName, HeaderValue)>,
    max_request_bytes: usize,
    max_request_spans: usize,
    /// Encoded request body, reused.
    body: Vec<u8>,
    /// Compressed request body, reused.
    gzipped: Vec<u8>,
    /// Set when a split export failed part-way, retryably.
    progress: Option<Progress>,
}

impl OtlpHttpExporter {
    /// An exporter with `settings`. Fails with a clear message when the
    /// endpoint is not an `http://` or `https://` URL with a host, a header is
    /// not a valid HTTP header, a limit is zero, or a TLS file cannot be used
    /// (the error names the file).
    pub fn new(settings: &OtlpSettings) -> anyhow::Result<OtlpHttpExporter> {
        let endpoint: Uri = settings
            .endpoint
            .parse()
            .with_context(|| format!("OTLP endpoint {:?} is not a URL", settings.endpoint))?;
        if !matches!(endpoint.scheme_str(), Some("http" | "https")) || endpoint.host().is_none() {
            bail!(
                "OTLP endpoint {:?} is not an http:// or https:// URL with a host",
                settings.endpoint
            );
        }
        let mut headers = Vec::with_capacity(settings.headers.len());
        for (k, v) in &settings.headers {
            let name = HeaderName::from_bytes(k.as_bytes()).with_context(|| {
                format!("OTLP header name {k:?} is not a valid HTTP header name")
            })?;
            let value = HeaderValue::from_str(v).with_context(|| {
                format!("OTLP header {k:?} has a value that is not valid in HTTP")
            })?;
            headers.push((name, value));
        }
        if settings.timeout.is_zero() {
            bail!("OTLP timeout must be longer than zero");
        }
        if settings.max_request_bytes == 0 {
            bail!("OTLP max_request_bytes must be at least 1");
        }
        if settings.max_request_spans == 0 {
            bail!("OTLP max_request_spans must be at least 1");
        }
        let tls = settings
            .tls
            .load()
            .map_err(|e| anyhow::anyhow!("OTLP {e}"))?;
        let agent = agent(settings.timeout, tls);
        Ok(OtlpHttpExporter {
            agent,
            endpoint,
            protocol: settings.protocol,
            compression: settings.compression,
            headers,
            max_request_bytes: settings.max_request_bytes,
            max_request_spans: settings.max_request_spans,
            body: Vec::new(),
            gzipped: Vec::new(),
            progress: None,
        })
    }

    /// Encodes `chunks` into `self.body`; returns the number of spans.
    fn encode(&mut self, chunks: &[Chunk<'_>]) -> u64 {
        self.body.clear();
        match self.protocol {
            Protocol::Protobuf => super::proto::encode_chunks(chunks, &mut self.body),
            Protocol::Json => super::json::encode_chunks(chunks, &mut self.body),
        }
    }

    /// Encodes the longest run of records from `start` (at most `len`) whose
    /// body fits the size limit. Returns how many records and spans it holds;
    /// zero records when even the first one alone is too big.
    fn encode_fitting(&mut self, all: &[Chunk<'_>], start: usize, len: usize) -> (usize, u64) {
        let max = self.max_request_bytes;
        let mut n = len;
        loop {
            let spans = self.encode(&slice(all, start, n));
            let size = self.body.len();
            if size <= max {
                return (n, spans);
            }
            if n == 1 {
                return (0, spans);
            }
            // Sizes grow about linearly with spans: aim a little under the limit.
            let guess = (n as u128 * max as u128 * 15 / 16 / size as u128) as usize;
            n = guess.clamp(1, n - 1);
        }
    }

    /// POSTs `self.body` holding `spans` spans.
    fn send(&mut self, spans: u64) -> Result<ExportOutcome, ExportError> {
        let body: &[u8] = match self.compression {
            Compression::None => &self.body,
            Compression::Gzip => {
                self.gzipped.clear();
                let mut gz =
                    flate2::write::GzEncoder::new(&mut self.gzipped, flate2::Compression::fast());
                // Writing into a Vec cannot fail.
                let _ = gz.write_all(&self.body).and_then(|_| gz.finish());
                &self.gzipped
            }
        };
        let mut request = self
            .agent
            .post(&self.endpoint)
            .header("Content-Type", self.protocol.content_type());
        if self.compression == Compression::Gzip {
            request = request.header("Content-Encoding", "gzip");
        }
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        match request.send(body) {
            Ok(response) => response::classify(response, spans),
            Err(e) => Err(response::transport_error(e)),
        }
    }
}

impl Exporter for OtlpHttpExporter {
    fn name(&self) -> &str {
        "otlp"
    }

    fn export(
        &mut self,
        batches: &[SpanBatch],
        cursor: SpoolCursor,
    ) -> Result<ExportOutcome, ExportError> {
        let mut progress = match self.progress.take() {
            Some(p) if p.cursor == cursor => p,
            _ => Progress {
                cursor,
                records_done: 0,
                outcome: ExportOutcome::default(),
            },
        };
        let all = super::chunks(batches);
        let total: usize = batches.iter().map(|b| b.records.len()).sum();
        // Records in the last piece cut to the size limit: the next piece
        // starts from there rather than from everything left.
        let mut piece_hint = total.min(self.max_request_spans);
        while progress.records_done < total {
            let start = progress.records_done;
            let want = (total - start).min(piece_hint);
            let (n, spans) = self.encode_fitting(&all, start, want);
            if n > 0 && n < want {
                piece_hint = n;
            }
            if n == 0 {
                log::warn!(
                    exporter = "otlp", bytes = self.body.len(), limit = self.max_request_bytes;
                    "a span alone is larger than a request may be; dropped"
                );
                progress.outcome.rejected += spans;
                progress.records_done += 1;
                continue;
            }
            if spans > 0 {
                match self.send(spans) {
                    Ok(o) => {
                        progress.outcome.accepted += o.accepted;
                        progress.outcome.rejected += o.rejected;
                    }
                    Err(ExportError::Permanent { reason })
                        if progress.outcome != ExportOutcome::default() =>
                    {
                        let delivered = progress.outcome.accepted;
                        return Err(ExportError::Permanent {
                            reason: format!(
                                "{reason} (after {delivered} spans of this export were accepted)"
                            ),
                        });
                    }
                    Err(e @ ExportError::Retryable { .. }) => {
                        self.progress = Some(progress);
                        return Err(e);
                    }
                    Err(e) => return Err(e),
                }
            }
            progress.records_done += n;
        }
        Ok(progress.outcome)
    }
}

/// The HTTP client of the OTLP exports (traces, and span metrics to the same
/// collector): each request bounded by `timeout`, with `tls` (from
/// [`super::TlsFiles::load`]).
pub fn agent(timeout: std::time::Duration, tls: ureq::tls::TlsConfig) -> ureq::Agent {
    ureq::Agent::config_builder()
        // Error statuses come back as responses, so their headers
        // (Retry-After) and body (the reason) can be read.
        .http_status_as_error(false)
        // A redirect is reported (permanent), not followed.
        .max_redirects(0)
        .timeout_global(Some(timeout))
        .user_agent(concat!("ringside/", env!("CARGO_PKG_VERSION")))
        .tls_config(tls)
        .build()
        .into()
}

/// Records `[start, start + len)` of `all` (counted across chunks) as chunks.
fn slice<'a>(all: &[Chunk<'a>], start: usize, len: usize) -> Vec<Chunk<'a>> {
    let mut out = Vec::new();
    let (mut skip, mut want) = (start, len);
    for c in all {
        if want == 0 {
            break;
        }
        if skip >= c.records.len() {
            skip -= c.records.len();
            continue;
        }
        let take = want.min(c.records.len() - skip);
        out.push(Chunk {
            resource: c.resource,
            records: &c.records[skip..skip + take],
        });
        want -= take;
        skip = 0;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_endpoints_and_headers_are_refused_with_the_reason() {
        for bad in [
            "localhost:4318/v1/traces",
            "ftp://h/v1/traces",
            "http://",
            "not a url",
        ] {
            let err = OtlpHttpExporter::new(&OtlpSettings::new(bad))
                .err()
                .expect(bad);
            assert!(err.to_string().contains("OTLP endpoint"), "{bad}: {err:#}");
        }
        let mut s = OtlpSettings::new("http://127.0.0.1:4318/v1/traces");
        s.headers.push(("bad name".into(), "x".into()));
        let err = OtlpHttpExporter::new(&s).err().expect("bad header name");
        assert!(err.to_string().contains("bad name"), "{err:#}");
        s.headers = vec![("authorization".into(), "a\nb".into())];
        let err = OtlpHttpExporter::new(&s).err().expect("bad header value");
        assert!(err.to_string().contains("authorization"), "{err:#}");
        s.headers.clear();
        assert!(OtlpHttpExporter::new(&s).is_ok());
    }
}
