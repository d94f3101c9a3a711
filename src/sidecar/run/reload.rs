//! SIGHUP: read the configuration again and apply what can change while
//! running. A configuration that does not load or validate is refused, with
//! the key and the reason in the log, and the running one stays.

use anyhow::Context;

use super::{Delivery, Sidecar, resource_attributes};
use crate::sidecar::config::{Config, ExporterConfig};

impl Sidecar {
    /// Applies a new configuration (SIGHUP). Exporters restart when their
    /// list, the batching or the retry settings changed, or they read TLS
    /// files (read again, so a rotated certificate takes effect); the ring directory, spool and metrics
    /// address keep their running values until a restart.
    pub(super) fn reload(&mut self) {
        let Some(reloader) = self.reloader.as_mut() else {
            log::warn!("SIGHUP ignored: no configuration source to reload");
            return;
        };
        self.supervisor.reloading();
        let loaded = reloader().and_then(|c| c.validate().map(|()| c).map_err(anyhow::Error::from));
        let mut new = match loaded {
            Ok(c) => c,
            Err(e) => {
                log::error!(error = format!("{e:#}").as_str(); "new configuration refused; the running one stays");
                self.supervisor.ready("reload refused");
                return;
            }
        };
        for key in keep_fixed(&self.config, &mut new) {
            log::warn!(key = key; "changing this key needs a restart; running value kept");
        }
        if exporters_changed(&self.config, &new) {
            if let Err(e) = self.restart_delivery(&new) {
                log::error!(error = format!("{e:#}").as_str(); "new exporters failed to start; the previous ones run again");
                if let Err(e) = self.restart_delivery(&self.config.clone()) {
                    log::error!(error = format!("{e:#}").as_str(); "previous exporters failed to start too");
                }
                self.supervisor.ready("reload failed");
                return;
            }
        }
        self.sampler.reconfigure(&new.sampling);
        self.source.set_max_open(super::max_open_rings(&new));
        match crate::sidecar::owners::ring_check(&new.rings.dir, &new.rings.allowed_users) {
            Ok(check) => self.source.set_check(check),
            Err(e) => log::warn!(error = e.as_str(); "rings.allowed_users not applied"),
        }
        self.source.set_attributes(resource_attributes(&new));
        crate::sidecar::logging::init(&new.log.level);
        crate::sidecar::config::warn_ignored_keys(&new);
        self.config = new;
        log::info!(exporters = self.config.exporters.len(); "configuration reloaded");
        self.supervisor.ready("configuration reloaded");
    }

    fn restart_delivery(&mut self, config: &Config) -> anyhow::Result<()> {
        let exporters = crate::sidecar::deliver::build_exporters(config)?;
        if let Some(old) = self.delivery.take() {
            old.shutdown();
        }
        let names = crate::sidecar::deliver::reader_names(&exporters);
        let delivery = Delivery::start(
            &self.spool,
            exporters,
            config.batch.clone(),
            config.retry.clone(),
        )
        .context("cannot start exporters")?;
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        self.spool
            .retain_readers(&names)
            .context("cannot drop cursors of removed exporters")?;
        self.status.set_exporters(delivery.handles());
        self.delivery = Some(delivery);
        Ok(())
    }
}

/// Keys that need a restart to change; a reload keeps their running values
/// and says so.
fn keep_fixed(running: &Config, new: &mut Config) -> Vec<&'static str> {
    let mut kept = Vec::new();
    if new.rings.dir != running.rings.dir {
        new.rings.dir = running.rings.dir.clone();
        kept.push("rings.dir");
    }
    if new.spool != running.spool {
        new.spool = running.spool.clone();
        kept.push("spool");
    }
    if new.metrics != running.metrics {
        new.metrics = running.metrics.clone();
        kept.push("metrics.listen");
    }
    kept
}

/// The exporters must be restarted: their list or the batching changed, or an
/// OTLP exporter uses TLS files, which are read again (a rotated client
/// certificate, a new CA bundle under the same name).
fn exporters_changed(running: &Config, new: &Config) -> bool {
    let reads_tls_files = new.exporters.iter().any(|e| {
        matches!(e, ExporterConfig::Otlp(o) if o.tls_files() != crate::export::otlp::TlsFiles::default())
    });
    new.exporters != running.exporters
        || new.batch != running.batch
        || new.retry != running.retry
        || reads_tls_files
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sidecar::config::OtlpConfig;

    fn with_otlp(otlp: OtlpConfig) -> Config {
        Config {
            exporters: vec![ExporterConfig::Otlp(otlp)],
            ..Config::default()
        }
    }

    #[test]
    fn exporters_reading_tls_files_restart_on_every_reload() {
        let plain = with_otlp(OtlpConfig {
            endpoint: "https://collector:4318/v1/traces".into(),
            ..OtlpConfig::default()
        });
        assert!(!exporters_changed(&plain, &plain.clone()));
        let tls = with_otlp(OtlpConfig {
            endpoint: "https://collector:4318/v1/traces".into(),
            client_certificate: Some("/etc/ringside/client.pem".into()),
            client_key: Some("/etc/ringside/client-key.pem".into()),
            ..OtlpConfig::default()
        });
        // Same configuration, but the files may hold a rotated certificate.
        assert!(exporters_changed(&tls, &tls.clone()));
    }
}
