//! `ferry plan`.

use super::Failure;

/// Arguments of `ferry plan`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `ferry plan`.
pub fn run(_args: Args) -> Result<(), Failure> {
    Err(super::not_yet("plan"))
}
