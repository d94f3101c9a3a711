//! `ringside demo`: the traced mini file store (see `src/demo/`), and the
//! hidden `ringside demo-node` that runs one of its processes.

use std::process::ExitCode;

pub use crate::demo::node::NodeArgs as DemoNodeArgs;
pub use crate::demo::run::DemoArgs;

/// Runs the demo and prints its summary.
pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    crate::demo::run::run(args)?;
    Ok(ExitCode::SUCCESS)
}

/// Runs one process of the demo.
pub fn run_node(args: DemoNodeArgs) -> anyhow::Result<ExitCode> {
    crate::demo::node::run(args)?;
    Ok(ExitCode::SUCCESS)
}
