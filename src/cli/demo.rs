//! `ferry demo`.

use super::Failure;

/// Arguments of `ferry demo`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `ferry demo`.
pub fn run(_args: Args) -> Result<(), Failure> {
    Err(super::not_yet("demo"))
}
