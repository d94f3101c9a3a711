//! Subcommands. Each lives in its own file with its clap `Args` struct and a
//! `run` function returning the process exit code; the demo's subcommands take
//! their arguments from the demo crate, which owns them.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[cfg(feature = "demo")]
pub mod bench;
pub mod bottlenecks;
mod check_config;
mod clock;
pub mod common;
mod config_args;
pub mod critical_path;
#[cfg(feature = "demo")]
pub mod demo;
pub mod exit;
pub mod report;
mod run;
pub mod search;
pub mod stats;
pub mod timeline;
mod top;
pub mod trace;

/// Near-zero-cost span tracing for storage daemons.
#[derive(Parser, Debug)]
#[command(name = "ringside", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    #[cfg(feature = "demo")]
    /// Measure request latency of the mini file store with and without tracing.
    Bench(bench::BenchArgs),
    /// Measure the span clock: cost per read and drift against CLOCK_REALTIME
    Clock(clock::ClockArgs),
    #[cfg(feature = "demo")]
    /// Run a traced mini file store on loopback and show where time goes.
    Demo(demo::DemoArgs),
    #[cfg(feature = "demo")]
    /// One process of the demo (started by `ringside demo`).
    #[command(hide = true)]
    DemoNode(demo::DemoNodeArgs),
    /// Run the sidecar: drain rings, spool, export
    Run(run::RunArgs),
    /// Validate the sidecar configuration (file, OTEL_* variables, flags) and print the result
    CheckConfig(check_config::CheckConfigArgs),
    /// Show one trace as a tree with its critical path.
    Trace(trace::TraceArgs),
    /// Find traces by service, name, status, duration, attributes, time.
    Search(search::SearchArgs),
    /// Latency percentiles and error rates per service and operation.
    Stats(stats::StatsArgs),
    /// The chain of spans that set one trace's latency.
    CriticalPath(critical_path::CriticalPathArgs),
    /// Rank operations by critical-path time, tail latency and errors.
    Bottlenecks(bottlenecks::BottlenecksArgs),
    /// Write a self-contained HTML report with charts.
    Report(report::ReportArgs),
    /// Draw one trace as an SVG waterfall.
    Timeline(timeline::TimelineArgs),
    /// Live rates, errors and latency percentiles per operation on this node.
    Top(top::TopArgs),
}

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        #[cfg(feature = "demo")]
        Command::Bench(args) => bench::run(args),
        Command::Clock(args) => clock::run(args),
        #[cfg(feature = "demo")]
        Command::Demo(args) => demo::run(args),
        #[cfg(feature = "demo")]
        Command::DemoNode(args) => demo::run_node(args),
        Command::Run(args) => run::run(args),
        Command::CheckConfig(args) => check_config::run(args),
        Command::Trace(a) => trace::run(a),
        Command::Search(a) => search::run(a),
        Command::Stats(a) => stats::run(a),
        Command::CriticalPath(a) => critical_path::run(a),
        Command::Bottlenecks(a) => bottlenecks::run(a),
        Command::Report(a) => report::run(a),
        Command::Timeline(a) => timeline::run(a),
        Command::Top(a) => top::run(a),
    }
}
