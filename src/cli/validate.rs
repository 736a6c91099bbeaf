//! `ferry validate`: checks a manifest and prints every problem found, one per line.

use super::{Exit, Failure};
use std::path::PathBuf;

/// Arguments of `ferry validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The manifest to check.
    pub manifest: PathBuf,
}

/// Runs `ferry validate`.
pub fn run(args: Args) -> Result<(), Failure> {
    match crate::manifest::load(&args.manifest) {
        Ok(m) => {
            for w in &m.warnings {
                eprintln!("warning: {w}");
            }
            println!(
                "ok: {} — {} transfer(s), {} server(s), {} table(s)",
                args.manifest.display(),
                m.manifest.transfers.len(),
                m.manifest.servers.len(),
                m.tables.len()
            );
            Ok(())
        }
        Err(d) => {
            for line in &d.0 {
                eprintln!("{line}");
            }
            Err(Failure::msg(
                Exit::Usage,
                format!(
                    "{} in {}",
                    crate::plan::plural(d.0.len() as u64, "problem", "problems"),
                    args.manifest.display()
                ),
            ))
        }
    }
}
