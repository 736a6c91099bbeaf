//! `ferry status`.

use super::Failure;

/// Arguments of `ferry status`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `ferry status`.
pub fn run(_args: Args) -> Result<(), Failure> {
    Err(super::not_yet("status"))
}
