//! `ferry validate`.

use super::Failure;

/// Arguments of `ferry validate`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `ferry validate`.
pub fn run(_args: Args) -> Result<(), Failure> {
    Err(super::not_yet("validate"))
}
