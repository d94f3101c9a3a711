//! `ringside demo`: the traced mini file store (crate `ringside-demo` in `demo/`), and the
//! hidden `ringside demo-node` that runs one of its processes.

use std::process::ExitCode;

pub use ringside_demo::node::NodeArgs as DemoNodeArgs;
pub use ringside_demo::run::DemoArgs;

/// Runs the demo and prints its summary.
pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    ringside_demo::run::run(args)?;
    Ok(ExitCode::SUCCESS)
}

/// Runs one process of the demo.
pub fn run_node(args: DemoNodeArgs) -> anyhow::Result<ExitCode> {
    ringside_demo::node::run(args)?;
    Ok(ExitCode::SUCCESS)
}
