//! Subcommands. Each lives in its own file with its clap `Args` struct and a
//! `run` function returning the process exit code.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod check_config;
mod clock;
mod config_args;
pub mod exit;
mod run;

/// Near-zero-cost span tracing for storage daemons.
#[derive(Parser, Debug)]
#[command(name = "ringside", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Measure the span clock: cost per read and drift against CLOCK_REALTIME
    Clock(clock::ClockArgs),
    /// Run the sidecar: drain rings, spool, export
    Run(run::RunArgs),
    /// Validate the sidecar configuration (file, OTEL_* variables, flags) and print the result
    CheckConfig(check_config::CheckConfigArgs),
}

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Clock(args) => clock::run(args),
        Command::Run(args) => run::run(args),
        Command::CheckConfig(args) => check_config::run(args),
    }
}
