//! `ringside run` exporting to an OTLP/HTTP receiver on 127.0.0.1, as the
//! exporter fault tests start it: a configuration file naming the receiver,
//! metrics on an ephemeral port, and the OTLP exporter's samples read back.

use std::path::Path;

use super::{Proc, TempDir, scrape};

/// A port on 127.0.0.1 that was free a moment ago, for a receiver that starts
/// after the sidecar.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Writes `<tmp>/ringside.toml` with `settings` (TOML tables) and one OTLP
/// exporter to `endpoint` with a 2 s request timeout, then starts `ringside
/// run` with it on those paths, metrics on 127.0.0.1:0 and the extra environment
/// `env`. Returns the sidecar and its metrics address, once it serves.
pub fn start(
    tmp: &TempDir,
    (rings, spool, out, log): (&Path, &Path, &Path, &Path),
    settings: &str,
    endpoint: &str,
    env: &[(&str, &str)],
) -> (Proc, String) {
    let config = tmp.join("ringside.toml");
    std::fs::write(
        &config,
        format!(
            "{settings}[[exporters]]\nkind = \"otlp\"\nendpoint = \"{endpoint}\"\ntimeout_ms = 2000\n"
        ),
    )
    .unwrap();
    scrape::start_sidecar_with_metrics(
        (rings, spool, out, log),
        &["--config", config.to_str().unwrap()],
        env,
    )
}

/// The value of the OTLP exporter's sample (`exporter="otlp"`) whose name and
/// labels contain all of `parts`; panics, showing the page, when it has none.
pub fn otlp_metric(page: &str, parts: &[&str]) -> f64 {
    let mut all = vec!["exporter=\"otlp\""];
    all.extend_from_slice(parts);
    scrape::metric(page, &all).unwrap_or_else(|| panic!("no {parts:?} in\n{page}"))
}
