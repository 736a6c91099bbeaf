//! `ferry sim`.

use super::Failure;

/// Arguments of `ferry sim`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `ferry sim`.
pub fn run(_args: Args) -> Result<(), Failure> {
    Err(super::not_yet("sim"))
}
