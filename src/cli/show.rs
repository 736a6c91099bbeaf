//! `ferry show PLAN`: a plan file rendered without contacting any server, as the terminal diff, as
//! Markdown for a merge-request comment, or as JSON (the plan's content, described by
//! `schemas/plan.schema.json`). The plan's seal is checked first: what is shown is what was reviewed.

use super::plan::Color;
use super::Failure;
use crate::exec::apply::read_plan;
use std::io::IsTerminal;
use std::path::PathBuf;

/// Output formats of `ferry show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The dry-run diff, as `ferry plan` prints it.
    Text,
    /// Markdown, for a merge-request comment.
    Markdown,
    /// JSON, as described by `schemas/plan.schema.json` (`ferry schema --plan`).
    Json,
}

/// Arguments of `ferry show`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The plan, written by `ferry plan`.
    pub plan: PathBuf,
    /// How to render it.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Colour the text diff.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
}

/// Runs `ferry show`.
pub fn run(args: Args) -> Result<(), Failure> {
    let (plan, _) = read_plan(&args.plan).map_err(super::apply::failure)?;
    match args.format {
        Format::Text => {
            let color = match args.color {
                Color::Always => true,
                Color::Never => false,
                Color::Auto => std::io::stdout().is_terminal(),
            };
            print!("{}", crate::plan::render_diff(&plan, color));
        }
        Format::Markdown => print!("{}", crate::plan::render_markdown(&plan)),
        Format::Json => println!("{}", super::json(&plan)),
    }
    Ok(())
}
