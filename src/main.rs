//! The `ringside` command line: the sidecar, the demo, and the analysis tools.

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod demo;

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
