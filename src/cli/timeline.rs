//! `ringside timeline <id> --out trace.svg`: one trace as a waterfall picture.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::common::{self, InputArgs};
use super::exit;
use ringside_agent::analyze::chart::{Palette, waterfall};
use ringside_agent::analyze::critical_path::CriticalPath;

/// Draw one trace as an SVG waterfall.
#[derive(Args, Debug)]
#[command(after_help = "\
One row per span in tree order (20 px each, so labels stay readable however
many spans), bars coloured by service, the critical path as a dark strip under
the bars, errors outlined in red.

Examples:
  ringside timeline 4bf92f3577b34da6a3ce929d0e0e4736 --out trace.svg
  ringside timeline 4bf92f3577b34da6a3ce929d0e0e4736 --jsonl spans.jsonl --out trace.svg

Exit status: 0 written, 1 no such trace, 2 bad input.")]
pub struct TimelineArgs {
    /// Trace id, 32 hex digits.
    pub trace_id: String,
    #[command(flatten)]
    input: InputArgs,
    /// Output SVG file.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Runs `ringside timeline`.
pub fn run(args: TimelineArgs) -> anyhow::Result<ExitCode> {
    let id = common::trace_id(&args.trace_id)?;
    let (trace, _) = super::trace::load_trace(&args.input, id)?;
    if trace.spans.is_empty() {
        eprintln!("ringside: trace {id} not found");
        return Ok(ExitCode::from(exit::NOT_FOUND));
    }
    let palette = Palette::new(trace.spans.iter().map(|s| s.service.clone()).collect());
    let svg = waterfall::svg(&trace, CriticalPath::of(&trace).as_ref(), &palette)?;
    common::write_file(&args.out, &svg)?;
    eprintln!("ringside: wrote {}", args.out.display());
    Ok(ExitCode::from(exit::OK))
}
