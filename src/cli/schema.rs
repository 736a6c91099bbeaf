//! `ferry schema`.

use super::Failure;

/// Arguments of `ferry schema`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `ferry schema`.
pub fn run(_args: Args) -> Result<(), Failure> {
    Err(super::not_yet("schema"))
}
