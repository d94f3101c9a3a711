//! The `ringside` command line: the sidecar, the analysis tools, and (feature
//! `demo`, on by default) the demo and its load benchmark.

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ringside: error: {e:#}");
            ExitCode::from(cli::exit::for_error(&e))
        }
    }
}
