//! `ferry apply`.

use super::Failure;

/// Arguments of `ferry apply`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `ferry apply`.
pub fn run(_args: Args) -> Result<(), Failure> {
    Err(super::not_yet("apply"))
}
