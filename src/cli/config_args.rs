//! Where the sidecar's configuration comes from: the file, then the standard
//! `OTEL_*` variables, then these flags. Shared by `run` and `check-config`.

use std::path::PathBuf;

use clap::Args;

use super::exit::BadInput;
use ringside_agent::sidecar::config::{
    Config, DEFAULT_PATH, ExporterConfig, JsonlConfig, OtlpConfig, SqliteConfig,
};

/// Options shared by `run` and `check-config`: where the configuration comes
/// from and the flags that override it.
#[derive(Args, Debug, Clone, Default)]
pub struct ConfigArgs {
    /// Configuration file [default: /etc/ringside/ringside.toml if it exists]
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Ring directory (rings.dir)
    #[arg(long, value_name = "DIR")]
    pub ring_dir: Option<PathBuf>,
    /// Spool directory (spool.dir)
    #[arg(long, value_name = "DIR")]
    pub spool_dir: Option<PathBuf>,
    /// Add a JSONL exporter writing to FILE
    #[arg(long, value_name = "FILE")]
    pub jsonl: Option<PathBuf>,
    /// Add an OTLP/HTTP exporter sending to URL (…/v1/traces)
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// Add a SQLite store exporter writing to FILE
    #[arg(long, value_name = "FILE")]
    pub store: Option<PathBuf>,
    /// Add the console exporter (one line per span on stdout)
    #[arg(long)]
    pub console: bool,
    /// Metrics listen address (metrics.listen); empty turns the endpoint off
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// Head sampling ratio 0.0..=1.0 (sampling.ratio)
    #[arg(long, value_name = "RATIO")]
    pub sample_ratio: Option<f64>,
    /// No effect since ring layout 2 (rings.patience_ms); accepted, with a
    /// warning, so that existing command lines still work
    #[arg(long, value_name = "MS", hide = true)]
    pub patience_ms: Option<u64>,
}

impl ConfigArgs {
    /// File, then environment, then flags; validated.
    pub fn load(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::load(path).map_err(|e| BadInput(e.to_string()))?,
            None if std::path::Path::new(DEFAULT_PATH).exists() => {
                Config::load(std::path::Path::new(DEFAULT_PATH))
                    .map_err(|e| BadInput(e.to_string()))?
            }
            None => Config::default(),
        };
        ringside_agent::sidecar::config::env::apply_env(&mut config, |k| std::env::var(k).ok())
            .map_err(|e| BadInput(e.to_string()))?;
        if let Some(d) = &self.ring_dir {
            config.rings.dir = d.clone();
        }
        if let Some(d) = &self.spool_dir {
            config.spool.dir = d.clone();
        }
        if let Some(p) = &self.jsonl {
            config.exporters.push(ExporterConfig::Jsonl(JsonlConfig {
                path: p.clone(),
                rotate_bytes: 0,
                keep: 1,
            }));
        }
        if let Some(url) = &self.otlp_endpoint {
            config.exporters.push(ExporterConfig::Otlp(OtlpConfig {
                endpoint: url.clone(),
                ..OtlpConfig::default()
            }));
        }
        if let Some(p) = &self.store {
            config
                .exporters
                .push(ExporterConfig::Sqlite(SqliteConfig::at(p.clone())));
        }
        if self.console {
            config
                .exporters
                .push(ExporterConfig::Console(Default::default()));
        }
        if let Some(l) = &self.metrics_listen {
            config.metrics.listen = l.clone();
        }
        if let Some(r) = self.sample_ratio {
            config.sampling.ratio = r;
        }
        if let Some(p) = self.patience_ms {
            config.rings.patience_ms = Some(p);
        }
        config.validate().map_err(|e| BadInput(e.to_string()))?;
        Ok(config)
    }
}
