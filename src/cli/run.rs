//! `ringside run`: the sidecar.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::config_args::ConfigArgs;

/// Arguments of `ringside run`.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  ringside run --config /etc/ringside/ringside.toml\n  \
    ringside run --ring-dir /tmp/rings --spool-dir /tmp/spool --jsonl /tmp/spans.jsonl"
)]
pub struct RunArgs {
    #[command(flatten)]
    config: ConfigArgs,
}

/// Runs the sidecar until SIGTERM or SIGINT.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let config = args.config.load()?;
    ringside_agent::sidecar::logging::init(&config.log.level);
    if config.exporters.is_empty() {
        log::warn!("no exporters configured: spans are kept in the spool until one is");
    }
    let source = args.config.clone();
    let reloader: ringside_agent::sidecar::run::Reloader = Box::new(move || source.load());
    ringside_agent::sidecar::run::run(config, Some(reloader)).context("sidecar failed")?;
    Ok(ExitCode::from(super::exit::OK))
}
