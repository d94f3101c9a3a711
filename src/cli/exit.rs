//! Exit codes shared by every subcommand.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (for queries: something was found) |
//! | 1 | nothing found (queries), or the job failed at run time |
//! | 2 | bad input: arguments, configuration, ids, files that cannot be read |

/// Success.
pub const OK: u8 = 0;
/// Nothing found, or a run-time failure.
pub const NOT_FOUND: u8 = 1;
/// Bad input.
pub const BAD_INPUT: u8 = 2;

/// An error that says which exit code it deserves. Errors without one exit 1.
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// The exit code for `e`: 2 if any error in its chain is [`BadInput`], else 1.
pub fn for_error(e: &anyhow::Error) -> u8 {
    if e.chain().any(|c| c.is::<BadInput>()) {
        BAD_INPUT
    } else {
        NOT_FOUND
    }
}
