//! The sidecar's configuration: a TOML file (default
//! `/etc/ringside/ringside.toml`; the shipped `systemd/ringside.toml` documents
//! every key), then the standard `OTEL_*` variables, then command-line flags.
//! Every fault names the key and the reason.

pub mod env;

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use crate::export::console::ConsoleConfig;
pub use crate::export::jsonl::JsonlConfig;
pub use crate::export::otlp::OtlpConfig;
pub use crate::export::sqlite::SqliteConfig;

/// Longest retry delay the configuration accepts: one day, in milliseconds.
const MAX_RETRY_MS: u64 = 24 * 3600 * 1000;

/// Where the configuration file is looked for when none is given.
pub const DEFAULT_PATH: &str = "/etc/ringside/ringside.toml";

/// The whole configuration.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Ring discovery and draining.
    pub rings: RingsConfig,
    /// The disk queue between draining and export.
    pub spool: SpoolConfig,
    /// Metrics from every span, before sampling, and `ringside top`.
    pub span_metrics: SpanMetricsConfig,
    /// Which spans are kept.
    pub sampling: SamplingConfig,
    /// How spans are grouped into export requests.
    pub batch: BatchConfig,
    /// How failed exports are retried.
    pub retry: RetryConfig,
    /// Destinations; several may run at once.
    pub exporters: Vec<ExporterConfig>,
    /// Self-metrics endpoint.
    pub metrics: MetricsConfig,
    /// Extra resource attributes added to every ring's spans.
    pub resource: ResourceConfig,
    /// Logging.
    pub log: LogConfig,
}

/// `[rings]`
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RingsConfig {
    /// Directory of ring files.
    pub dir: PathBuf,
    /// No effect since ring layout 2 (a reader never waits on a writer).
    /// Accepted so that existing files still load; [`warn_ignored_keys`]
    /// logs a warning when it is set.
    pub patience_ms: Option<u64>,
    /// Most records taken from one ring per loop turn.
    pub max_per_ring: usize,
    /// Longest sleep of the poll loop when idle, in milliseconds.
    pub idle_poll_ms: u64,
    /// Accept rings owned by these users (names or numeric ids) in addition to
    /// members of the ring directory's group and the sidecar's own user.
    pub allowed_users: Vec<String>,
    /// Most rings open at once (each holds a file descriptor); rings found
    /// beyond it wait and open as others go away.
    pub max_open: usize,
}

/// `[spool]`
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    /// Spool directory.
    pub dir: PathBuf,
    /// Cap on the spool's size in bytes; the oldest data is dropped (and
    /// counted) beyond it.
    pub max_bytes: u64,
    /// Size of one segment file in bytes.
    pub segment_bytes: u64,
    /// Milliseconds between fsyncs of the spool.
    pub sync_interval_ms: u64,
}

/// `[sampling]`
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SamplingConfig {
    /// Fraction of traces kept by the consistent head sampler, 0.0..=1.0.
    pub ratio: f64,
    /// Follow the sampled flag of a remote parent.
    pub parent_based: bool,
    /// Spans per second per service, 0 for no limit.
    pub rate_limit: f64,
    /// Burst size of the rate limit, in spans.
    pub rate_burst: f64,
    /// Node-local tail rules.
    pub tail: TailConfig,
}

/// `[sampling.tail]`
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TailConfig {
    /// Turn the tail rules on.
    pub enabled: bool,
    /// Keep every trace with an error span.
    pub keep_errors: bool,
    /// Keep every trace with a span at least this slow (milliseconds), 0 = off.
    pub slower_than_ms: u64,
    /// How long a trace is held for its decision, in milliseconds.
    pub window_ms: u64,
    /// Most traces held at once; beyond it the oldest are decided early.
    pub max_traces: usize,
}

/// `[batch]`
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Most spans in one export request.
    pub max_spans: usize,
    /// Most encoded bytes in one export request.
    pub max_bytes: usize,
    /// Longest wait for a batch to fill, in milliseconds.
    pub timeout_ms: u64,
}

/// `[retry]`: how an exporter retries a batch after a retryable failure.
/// There is no give-up time: a batch is retried as long as the spool holds
/// it, so the spool's size cap (`spool.max_bytes`) is what bounds what an
/// outage can lose, and that loss is counted.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// First backoff delay in milliseconds; it doubles up to `max_backoff_ms`
    /// (each delay randomly 80–120 % of its nominal value).
    pub initial_backoff_ms: u64,
    /// Longest backoff delay in milliseconds.
    pub max_backoff_ms: u64,
    /// Longest wait a destination's `Retry-After` may ask for, in
    /// milliseconds; a longer one is cut to this.
    pub max_retry_after_ms: u64,
}

/// One `[[exporters]]` entry: its `kind`, and the settings of that kind,
/// which each exporter defines beside its code.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ExporterConfig {
    /// OTLP over HTTP.
    Otlp(OtlpConfig),
    /// OTLP-JSON lines in a local file.
    Jsonl(JsonlConfig),
    /// The local SQLite trace store.
    Sqlite(SqliteConfig),
    /// One line per span on standard output.
    Console(ConsoleConfig),
}

impl ExporterConfig {
    /// The exporter's name in logs, metrics and cursor files.
    pub fn name(&self) -> &'static str {
        match self {
            ExporterConfig::Otlp(_) => "otlp",
            ExporterConfig::Jsonl(_) => "jsonl",
            ExporterConfig::Sqlite(_) => "sqlite",
            ExporterConfig::Console(_) => "console",
        }
    }
}

/// `[metrics]`
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address of the `/metrics` and `/healthz` endpoint; empty to turn it off.
    pub listen: String,
}

/// `[span_metrics]`
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SpanMetricsConfig {
    /// Compute span metrics (and serve `ringside top`).
    pub enabled: bool,
    /// Most series at once; spans of further series go to the overflow series.
    pub max_series: usize,
    /// Seconds after which a series that saw no span is dropped.
    pub stale_after_s: u64,
    /// Upper bounds of the Prometheus/OTLP histogram buckets, in seconds.
    pub buckets: Vec<f64>,
    /// Extra dimensions: span attribute keys (or resource attribute keys,
    /// `host.name`) whose value becomes a label, e.g. `storage.node`.
    pub dimensions: Vec<String>,
    /// Seconds between OTLP metrics exports (cumulative) to the first OTLP
    /// exporter's collector (its `…/v1/traces` endpoint becomes
    /// `…/v1/metrics`); 0 turns the export off.
    pub export_interval_s: u64,
}

impl Default for SpanMetricsConfig {
    fn default() -> Self {
        SpanMetricsConfig {
            enabled: true,
            max_series: 2000,
            stale_after_s: 300,
            buckets: vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0, 2.5, 5.0, 10.0,
            ],
            dimensions: Vec::new(),
            export_interval_s: 0,
        }
    }
}

/// Most extra dimensions in `[span_metrics]`.
pub const MAX_DIMENSIONS: usize = 8;
/// Most histogram bucket bounds in `[span_metrics]`.
pub const MAX_BUCKETS: usize = 64;

impl SpanMetricsConfig {
    /// Checks ranges; the error names the key under `span_metrics.`.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.max_series == 0 || self.max_series > 1_000_000 {
            return Err(("max_series", "must be between 1 and 1000000".into()));
        }
        if self.stale_after_s == 0 {
            return Err(("stale_after_s", "must be at least 1".into()));
        }
        if self.buckets.len() > MAX_BUCKETS {
            return Err(("buckets", format!("at most {MAX_BUCKETS} bounds")));
        }
        if self.buckets.iter().any(|b| !b.is_finite() || *b <= 0.0)
            || self.buckets.windows(2).any(|w| w[0] >= w[1])
        {
            return Err((
                "buckets",
                "must be positive, finite and ascending (seconds)".into(),
            ));
        }
        if self.dimensions.len() > MAX_DIMENSIONS {
            return Err(("dimensions", format!("at most {MAX_DIMENSIONS}")));
        }
        Ok(())
    }
}

/// `[resource]`
#[derive(Clone, Debug, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceConfig {
    /// Attributes added to every ring's resource.
    pub attributes: std::collections::BTreeMap<String, String>,
}

/// `[log]`
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `error`, `warn`, `info` or `debug` (`RUST_LOG` overrides).
    pub level: String,
}

impl Default for RingsConfig {
    fn default() -> Self {
        RingsConfig {
            dir: ringside::ring::default_dir(),
            patience_ms: None,
            max_per_ring: 8192,
            idle_poll_ms: 20,
            allowed_users: Vec::new(),
            max_open: 4096,
        }
    }
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            dir: PathBuf::from("/var/lib/ringside/spool"),
            max_bytes: 1 << 30,
            segment_bytes: 16 << 20,
            sync_interval_ms: 1000,
        }
    }
}

impl Default for SamplingConfig {
    fn default() -> Self {
        SamplingConfig {
            ratio: 1.0,
            parent_based: true,
            rate_limit: 0.0,
            rate_burst: 0.0,
            tail: TailConfig::default(),
        }
    }
}

impl Default for TailConfig {
    fn default() -> Self {
        TailConfig {
            enabled: false,
            keep_errors: true,
            slower_than_ms: 0,
            window_ms: 5000,
            max_traces: 100_000,
        }
    }
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_spans: 8192,
            max_bytes: 4 << 20,
            timeout_ms: 200,
        }
    }
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            initial_backoff_ms: 1000,
            max_backoff_ms: 30_000,
            max_retry_after_ms: 300_000,
        }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: "127.0.0.1:9464".into(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
        }
    }
}

/// Why an ignored key (see [`Config::ignored_keys`]) has no effect.
pub const IGNORED_KEY_REASON: &str =
    "no effect since ring layout 2 (a reader never waits on a writer); remove it";

/// Logs a warning for each of [`Config::ignored_keys`], once per process
/// (not again on every reload).
pub fn warn_ignored_keys(config: &Config) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    let keys = config.ignored_keys();
    if keys.is_empty() {
        return;
    }
    WARNED.call_once(|| {
        for key in keys {
            log::warn!(key = key, reason = IGNORED_KEY_REASON; "configuration key ignored");
        }
    });
}

/// A configuration fault: the key (dotted path) and what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    /// Dotted key, e.g. `sampling.ratio` or `exporters[1].endpoint`.
    pub key: String,
    /// The reason.
    pub reason: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

impl std::error::Error for ConfigError {}

fn fault(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        reason: reason.into(),
    }
}

impl Config {
    /// Parses TOML text and validates it.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let key = e.span().map(|s| key_at(text, s.start)).unwrap_or_default();
            if !key.is_empty() {
                return fault(key, e.message());
            }
            // An `[[exporters]]` entry is read through its `kind` tag, which
            // loses TOML's position: find the entry by reading each alone.
            exporter_fault(text).unwrap_or_else(|| fault("(file)", e.message()))
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| fault(path.display().to_string(), e.to_string()))?;
        Config::from_toml(&text)
    }

    /// Keys that are set but no longer have an effect: still accepted so
    /// that existing files load, reported by [`warn_ignored_keys`] and
    /// `ringside check-config`.
    pub fn ignored_keys(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if self.rings.patience_ms.is_some() {
            keys.push("rings.patience_ms");
        }
        keys
    }

    /// Checks every value's range and coherence.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.rings.dir.as_os_str().is_empty() {
            return Err(fault("rings.dir", "must not be empty"));
        }
        if self.rings.max_per_ring == 0 {
            return Err(fault("rings.max_per_ring", "must be at least 1"));
        }
        if !(1..=1_000_000).contains(&self.rings.max_open) {
            return Err(fault("rings.max_open", "must be between 1 and 1000000"));
        }
        if !(1..=1000).contains(&self.rings.idle_poll_ms) {
            return Err(fault("rings.idle_poll_ms", "must be between 1 and 1000"));
        }
        if self.spool.segment_bytes < 64 << 10 {
            return Err(fault("spool.segment_bytes", "must be at least 65536"));
        }
        let drain_bytes = self.rings.max_per_ring as u64 * ringside::record::RECORD_SIZE as u64;
        if drain_bytes > self.spool.segment_bytes / 2 {
            // One drain of one ring is one spool entry; entries larger than a
            // segment would make the size cap unenforceable.
            return Err(fault(
                "rings.max_per_ring",
                "one drain (max_per_ring × 248 bytes) must fit in half a spool segment (spool.segment_bytes)",
            ));
        }
        if self.spool.max_bytes < 2 * self.spool.segment_bytes {
            return Err(fault(
                "spool.max_bytes",
                "must hold at least two segments (2 × spool.segment_bytes)",
            ));
        }
        let s = &self.sampling;
        if !(0.0..=1.0).contains(&s.ratio) || s.ratio.is_nan() {
            return Err(fault(
                "sampling.ratio",
                format!("{} is not between 0.0 and 1.0", s.ratio),
            ));
        }
        if s.rate_limit < 0.0 || s.rate_limit.is_nan() {
            return Err(fault(
                "sampling.rate_limit",
                "must be 0 (off) or a positive number of spans per second",
            ));
        }
        if s.rate_burst < 0.0 || s.rate_burst.is_nan() {
            return Err(fault("sampling.rate_burst", "must not be negative"));
        }
        if s.tail.enabled && s.tail.max_traces == 0 {
            return Err(fault("sampling.tail.max_traces", "must be at least 1"));
        }
        if s.tail.enabled && s.tail.window_ms == 0 {
            return Err(fault("sampling.tail.window_ms", "must be at least 1"));
        }
        if let Err((key, reason)) = self.span_metrics.validate() {
            return Err(fault(format!("span_metrics.{key}"), reason));
        }
        if self.batch.max_spans == 0 {
            return Err(fault("batch.max_spans", "must be at least 1"));
        }
        if self.batch.max_bytes < 4096 {
            return Err(fault("batch.max_bytes", "must be at least 4096"));
        }
        let r = &self.retry;
        if r.initial_backoff_ms == 0 {
            return Err(fault("retry.initial_backoff_ms", "must be at least 1"));
        }
        if r.max_backoff_ms < r.initial_backoff_ms {
            return Err(fault(
                "retry.max_backoff_ms",
                "must be at least retry.initial_backoff_ms",
            ));
        }
        for (key, ms) in [
            ("retry.max_backoff_ms", r.max_backoff_ms),
            ("retry.max_retry_after_ms", r.max_retry_after_ms),
        ] {
            if ms > MAX_RETRY_MS {
                return Err(fault(
                    key,
                    format!("must be at most {MAX_RETRY_MS} (one day)"),
                ));
            }
        }
        for (i, e) in self.exporters.iter().enumerate() {
            validate_exporter(i, e)?;
        }
        if !self.metrics.listen.is_empty()
            && self.metrics.listen.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(fault(
                "metrics.listen",
                format!(
                    "{:?} is not an address like 127.0.0.1:9464",
                    self.metrics.listen
                ),
            ));
        }
        if !matches!(self.log.level.as_str(), "error" | "warn" | "info" | "debug") {
            return Err(fault(
                "log.level",
                format!(
                    "{:?} is not one of error, warn, info, debug",
                    self.log.level
                ),
            ));
        }
        Ok(())
    }
}

fn validate_exporter(i: usize, e: &ExporterConfig) -> Result<(), ConfigError> {
    let key = |k: &str| format!("exporters[{i}].{k}");
    match e {
        ExporterConfig::Otlp(
            o @ OtlpConfig {
                endpoint,
                protocol,
                compression,
                timeout_ms,
                ..
            },
        ) => {
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                return Err(fault(
                    key("endpoint"),
                    format!("{endpoint:?} is not an http:// or https:// URL"),
                ));
            }
            if !matches!(protocol.as_str(), "protobuf" | "json") {
                return Err(fault(
                    key("protocol"),
                    format!("{protocol:?} is not protobuf or json"),
                ));
            }
            if !matches!(compression.as_str(), "none" | "gzip") {
                return Err(fault(
                    key("compression"),
                    format!("{compression:?} is not none or gzip"),
                ));
            }
            if *timeout_ms == 0 {
                return Err(fault(key("timeout_ms"), "must be at least 1"));
            }
            // The TLS files are read and checked now, so a bad one stops the
            // start (and `check-config`) rather than every export.
            if let Err(e) = o.tls_files().load() {
                return Err(fault(key(e.key), e.reason));
            }
        }
        ExporterConfig::Jsonl(JsonlConfig { path, keep, .. }) => {
            if path.as_os_str().is_empty() {
                return Err(fault(key("path"), "must not be empty"));
            }
            if *keep == 0 {
                return Err(fault(key("keep"), "must be at least 1"));
            }
        }
        ExporterConfig::Sqlite(SqliteConfig { path, .. }) => {
            if path.as_os_str().is_empty() {
                return Err(fault(key("path"), "must not be empty"));
            }
        }
        ExporterConfig::Console(_) => {}
    }
    Ok(())
}

/// The first `[[exporters]]` entry of `text` that does not parse on its own,
/// named `exporters[i]`, with the reason.
fn exporter_fault(text: &str) -> Option<ConfigError> {
    let table: toml::Table = toml::from_str(text).ok()?;
    let entries = table.get("exporters")?.as_array()?;
    entries.iter().enumerate().find_map(|(i, entry)| {
        let err = ExporterConfig::deserialize(entry.clone()).err()?;
        Some(fault(format!("exporters[{i}]"), err.message()))
    })
}

/// The dotted key of the TOML line holding byte `at`: the enclosing `[table]`
/// and the `key =` of that line.
fn key_at(text: &str, at: usize) -> String {
    let before = &text[..at.min(text.len())];
    let mut table = String::new();
    let mut array_index: std::collections::HashMap<String, usize> = Default::default();
    for line in before.lines() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix("[[").and_then(|r| r.strip_suffix("]]")) {
            let n = array_index
                .entry(name.trim().to_string())
                .or_insert(usize::MAX);
            *n = n.wrapping_add(1);
            table = format!("{}[{}]", name.trim(), n);
        } else if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            table = name.trim().to_string();
        }
    }
    let line = before.rsplit('\n').next().unwrap_or("");
    let full_line = text[before.len() - line.len()..]
        .lines()
        .next()
        .unwrap_or("");
    let key = full_line.split('=').next().unwrap_or("").trim();
    let key = if full_line.contains('=') && !key.starts_with('[') {
        key
    } else {
        ""
    };
    match (table.is_empty(), key.is_empty()) {
        (true, _) => key.to_string(),
        (false, true) => table,
        (false, false) => format!("{table}.{key}"),
    }
}

#[cfg(test)]
mod tests;
