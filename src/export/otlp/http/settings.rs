//! What an [`super::OtlpHttpExporter`] is built from, by hand or from the
//! configuration's `[[exporters]]` entry of kind `otlp`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;

use serde::Deserialize;

use crate::export::otlp::tls::TlsFiles;

/// The `[[exporters]]` entry of kind `otlp`, as written in the configuration.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    /// Full URL of the traces endpoint (`.../v1/traces`).
    pub endpoint: String,
    /// `protobuf` or `json`.
    #[serde(default = "default_protocol")]
    pub protocol: String,
    /// `none` or `gzip`.
    #[serde(default = "default_compression")]
    pub compression: String,
    /// Extra HTTP headers (authentication).
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// Request timeout in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// PEM bundle of the CAs trusted to sign the collector's certificate
    /// (`OTEL_EXPORTER_OTLP_CERTIFICATE`); unset: the built-in public roots.
    #[serde(default)]
    pub certificate: Option<PathBuf>,
    /// PEM client certificate chain for mutual TLS
    /// (`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`).
    #[serde(default)]
    pub client_certificate: Option<PathBuf>,
    /// PEM private key of `client_certificate`
    /// (`OTEL_EXPORTER_OTLP_CLIENT_KEY`).
    #[serde(default)]
    pub client_key: Option<PathBuf>,
}

impl OtlpConfig {
    /// The entry's TLS files.
    pub fn tls_files(&self) -> TlsFiles {
        TlsFiles {
            certificate: self.certificate.clone(),
            client_certificate: self.client_certificate.clone(),
            client_key: self.client_key.clone(),
        }
    }
}

impl Default for OtlpConfig {
    /// No endpoint yet (`OTEL_EXPORTER_OTLP_ENDPOINT` fills it); every other
    /// setting at its default.
    fn default() -> Self {
        OtlpConfig {
            endpoint: String::new(),
            protocol: default_protocol(),
            compression: default_compression(),
            headers: Default::default(),
            timeout_ms: default_timeout_ms(),
            certificate: None,
            client_certificate: None,
            client_key: None,
        }
    }
}

fn default_protocol() -> String {
    "protobuf".into()
}
fn default_compression() -> String {
    "none".into()
}
fn default_timeout_ms() -> u64 {
    10_000
}

/// Wire format of a request body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Binary protobuf, `application/x-protobuf`.
    Protobuf,
    /// OTLP/JSON, `application/json`.
    Json,
}

impl Protocol {
    pub(super) fn content_type(self) -> &'static str {
        match self {
            Protocol::Protobuf => "application/x-protobuf",
            Protocol::Json => "application/json",
        }
    }
}

/// Compression of a request body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Sent as is.
    None,
    /// gzip, with `Content-Encoding: gzip`.
    Gzip,
}

/// Everything an [`OtlpHttpExporter`](super::OtlpHttpExporter) needs.
#[derive(Clone, Debug, PartialEq)]
pub struct OtlpSettings {
    /// Full URL of the traces endpoint, `http://` or `https://`.
    pub endpoint: String,
    /// Body format.
    pub protocol: Protocol,
    /// Body compression.
    pub compression: Compression,
    /// Extra request headers (authentication), sent on every request.
    pub headers: Vec<(String, String)>,
    /// Time limit of one request, from connecting to reading the response.
    pub timeout: Duration,
    /// Largest request body before compression; bigger exports are split.
    pub max_request_bytes: usize,
    /// Most spans in one request; bigger exports are split.
    pub max_request_spans: usize,
    /// CA bundle and client certificate for `https://`; none by default.
    pub tls: TlsFiles,
}

impl OtlpSettings {
    /// Default of [`OtlpSettings::max_request_bytes`]: 4 MiB.
    pub const DEFAULT_MAX_REQUEST_BYTES: usize = 4 << 20;
    /// Default of [`OtlpSettings::max_request_spans`]: 8192.
    pub const DEFAULT_MAX_REQUEST_SPANS: usize = 8192;
    /// Default of [`OtlpSettings::timeout`]: 10 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// Settings for `endpoint` with the defaults: protobuf, no compression, no
    /// extra headers, 10 s timeout, requests of at most 4 MiB and 8192 spans.
    pub fn new(endpoint: impl Into<String>) -> OtlpSettings {
        OtlpSettings {
            endpoint: endpoint.into(),
            protocol: Protocol::Protobuf,
            compression: Compression::None,
            headers: Vec::new(),
            timeout: Self::DEFAULT_TIMEOUT,
            max_request_bytes: Self::DEFAULT_MAX_REQUEST_BYTES,
            max_request_spans: Self::DEFAULT_MAX_REQUEST_SPANS,
            tls: TlsFiles::default(),
        }
    }

    /// Settings from an `[[exporters]]` entry of kind `otlp`, with requests of
    /// at most `max_request_bytes` and `max_request_spans` (the
    /// configuration's `batch.max_bytes` and `batch.max_spans`).
    pub fn from_config(
        config: &OtlpConfig,
        max_request_bytes: usize,
        max_request_spans: usize,
    ) -> anyhow::Result<OtlpSettings> {
        let OtlpConfig {
            endpoint,
            protocol,
            compression,
            headers,
            timeout_ms,
            ..
        } = config;
        let protocol = match protocol.as_str() {
            "protobuf" => Protocol::Protobuf,
            "json" => Protocol::Json,
            other => bail!("protocol {other:?} is not protobuf or json"),
        };
        let compression = match compression.as_str() {
            "none" => Compression::None,
            "gzip" => Compression::Gzip,
            other => bail!("compression {other:?} is not none or gzip"),
        };
        Ok(OtlpSettings {
            endpoint: endpoint.clone(),
            protocol,
            compression,
            headers: headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            timeout: Duration::from_millis(*timeout_ms),
            max_request_bytes,
            max_request_spans,
            tls: config.tls_files(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_the_otlp_config_entry() {
        let e = OtlpConfig {
            endpoint: "https://collector:4318/v1/traces".into(),
            protocol: "json".into(),
            compression: "gzip".into(),
            headers: [("authorization".to_string(), "Bearer t".to_string())].into(),
            timeout_ms: 2500,
            client_key: Some("/etc/k.pem".into()),
            ..OtlpConfig::default()
        };
        let s = OtlpSettings::from_config(&e, 1 << 20, 100).expect("valid entry");
        assert_eq!(s.protocol, Protocol::Json);
        assert_eq!(s.compression, Compression::Gzip);
        assert_eq!(s.headers, vec![("authorization".into(), "Bearer t".into())]);
        assert_eq!(s.timeout, Duration::from_millis(2500));
        assert_eq!(s.max_request_bytes, 1 << 20);
        assert_eq!(s.max_request_spans, 100);
        assert_eq!(s.tls.client_key, Some("/etc/k.pem".into()));
        let bad = OtlpConfig {
            protocol: "grpc".into(),
            ..OtlpConfig::default()
        };
        assert!(OtlpSettings::from_config(&bad, 1, 1).is_err());
    }
}
