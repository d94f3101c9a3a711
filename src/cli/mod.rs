//! Subcommands. Each lives in its own file with its clap `Args` struct and a
//! `run` function returning the process exit code.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod bench;
pub mod demo;
pub mod exit;

/// Near-zero-cost span tracing for storage daemons.
#[derive(Parser, Debug)]
#[command(name = "ringside", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Measure request latency of the mini file store with and without tracing.
    Bench(bench::BenchArgs),
    /// Run a traced mini file store on loopback and show where time goes.
    Demo(demo::DemoArgs),
    /// One process of the demo (started by `ringside demo`).
    #[command(hide = true)]
    DemoNode(demo::DemoNodeArgs),
}

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Bench(args) => bench::run(args),
        Command::Demo(args) => demo::run(args),
        Command::DemoNode(args) => demo::run_node(args),
    }
}
