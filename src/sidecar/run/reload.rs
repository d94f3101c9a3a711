//! SIGHUP: read the configuration again and apply what can change while
//! running. A configuration that does not load or validate is refused, with
//! the key and the reason in the log, and the running one stays.

use crate::sidecar::config::Config;

/// Keys that need a restart to change; a reload keeps their running values
/// and says so.
pub(super) fn keep_fixed(running: &Config, new: &mut Config) -> Vec<&'static str> {
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

/// The exporters must be restarted: their list or the batching changed.
pub(super) fn exporters_changed(running: &Config, new: &Config) -> bool {
    new.exporters != running.exporters || new.batch != running.batch
}
