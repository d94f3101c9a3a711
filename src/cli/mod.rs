//! Subcommands. Each lives in its own file with its clap `Args` struct and a
//! `run` function returning the process exit code.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod config_args;
pub mod exit;

/// Near-zero-cost span tracing for storage daemons.
#[derive(Parser, Debug)]
#[command(name = "ringside", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {}

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {}
}
