//! `ringside check-config`: loads the configuration the way `ringside run`
//! does (file, then `OTEL_*` variables, then flags), validates it and prints
//! the effective settings. Exit 0 when valid; 2 with the key and the reason
//! when not. Header values are not printed (they often hold credentials).

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Args;
use ringside_agent::sidecar::config::{
    Config, DEFAULT_PATH, ExporterConfig, IGNORED_KEY_REASON, JsonlConfig, OtlpConfig, SqliteConfig,
};

use super::config_args::ConfigArgs;

/// Arguments of `check-config`.
#[derive(Args, Debug)]
pub struct CheckConfigArgs {
    #[command(flatten)]
    config: ConfigArgs,
}

/// Validates and prints the effective configuration.
pub fn run(args: CheckConfigArgs) -> anyhow::Result<ExitCode> {
    let config = args.config.load()?;
    let source = match &args.config.config {
        Some(path) => path.display().to_string(),
        None if std::path::Path::new(DEFAULT_PATH).exists() => DEFAULT_PATH.to_string(),
        None => "built-in defaults (no file)".to_string(),
    };
    print!("configuration is valid ({source})\n{}", summary(&config));
    Ok(ExitCode::from(super::exit::OK))
}

/// One `key = value` line per setting, exporters one per line.
pub fn summary(c: &Config) -> String {
    let mut s = String::new();
    let mut line = |k: &str, v: &dyn std::fmt::Display| {
        let _ = writeln!(s, "{k} = {v}");
    };
    line("rings.dir", &c.rings.dir.display());
    if let Some(p) = c.rings.patience_ms {
        line(
            "rings.patience_ms",
            &format!("{p} (ignored: {IGNORED_KEY_REASON})"),
        );
    }
    line("rings.max_per_ring", &c.rings.max_per_ring);
    line("rings.idle_poll_ms", &c.rings.idle_poll_ms);
    line("rings.max_open", &c.rings.max_open);
    line(
        "rings.allowed_users",
        &format!("{:?}", c.rings.allowed_users),
    );
    line("spool.dir", &c.spool.dir.display());
    line("spool.max_bytes", &c.spool.max_bytes);
    line("spool.segment_bytes", &c.spool.segment_bytes);
    line("spool.sync_interval_ms", &c.spool.sync_interval_ms);
    let sm = &c.sampling;
    line("sampling.ratio", &sm.ratio);
    line("sampling.parent_based", &sm.parent_based);
    line("sampling.rate_limit", &sm.rate_limit);
    line("sampling.rate_burst", &sm.rate_burst);
    line("sampling.tail.enabled", &sm.tail.enabled);
    line("sampling.tail.keep_errors", &sm.tail.keep_errors);
    line("sampling.tail.slower_than_ms", &sm.tail.slower_than_ms);
    line("sampling.tail.window_ms", &sm.tail.window_ms);
    line("sampling.tail.max_traces", &sm.tail.max_traces);
    line("batch.max_spans", &c.batch.max_spans);
    line("batch.max_bytes", &c.batch.max_bytes);
    line("batch.timeout_ms", &c.batch.timeout_ms);
    line("retry.initial_backoff_ms", &c.retry.initial_backoff_ms);
    line("retry.max_backoff_ms", &c.retry.max_backoff_ms);
    line("retry.max_retry_after_ms", &c.retry.max_retry_after_ms);
    line("metrics.listen", &format!("{:?}", c.metrics.listen));
    for (k, v) in &c.resource.attributes {
        line(&format!("resource.attributes.{k}"), &format!("{v:?}"));
    }
    line("log.level", &c.log.level);
    if c.exporters.is_empty() {
        line("exporters", &"(none)");
    }
    for (i, e) in c.exporters.iter().enumerate() {
        let text = match e {
            ExporterConfig::Otlp(OtlpConfig {
                endpoint,
                protocol,
                compression,
                headers,
                timeout_ms,
                certificate,
                client_certificate,
                client_key,
            }) => {
                let names: Vec<&str> = headers.keys().map(String::as_str).collect();
                let mut text = format!(
                    "otlp {endpoint} protocol={protocol} compression={compression} timeout_ms={timeout_ms} headers=[{}]",
                    names.join(",")
                );
                for (k, path) in [
                    ("certificate", certificate),
                    ("client_certificate", client_certificate),
                    ("client_key", client_key),
                ] {
                    if let Some(p) = path {
                        let _ = write!(text, " {k}={}", p.display());
                    }
                }
                text
            }
            ExporterConfig::Jsonl(JsonlConfig {
                path,
                rotate_bytes,
                keep,
            }) => {
                format!(
                    "jsonl {} rotate_bytes={rotate_bytes} keep={keep}",
                    path.display()
                )
            }
            ExporterConfig::Sqlite(SqliteConfig { path, .. }) => {
                format!("sqlite {}", path.display())
            }
            ExporterConfig::Console(_) => "console".to_string(),
        };
        line(&format!("exporters[{i}]"), &text);
    }
    s
}
