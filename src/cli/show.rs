//! `ferry show PLAN`: a plan file rendered without contacting any server, as the terminal diff, as
//! Markdown for a merge-request comment, or as JSON (the plan's content, described by
//! `schemas/plan.schema.json`). The plan's seal is checked first: what is shown is what was reviewed.

use super::plan::Color;
use super::{Exit, Failure as F};
use crate::exec::apply::read_plan;
use crate::plan::Plan;
use std::io::IsTerminal;
use std::path::Path;
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
pub fn run(args: Args) -> Result<(), F> {
    let (plan, _) = load_plan(&args.plan, "show")?;
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

/// Whether a file that is not a plan looks like a manifest (`version:` and `transfers:` at the top).
fn is_manifest(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let top = |key: &str| text.lines().any(|l| l.starts_with(key));
    !top("format:") && top("version:") && top("transfers:")
}

/// Reads a plan for `show`, `check`, `status` and `apply`, with its hash. A manifest given where a
/// plan belongs is named as such, with the command that makes a plan from it.
pub fn load_plan(path: &Path, command: &str) -> Result<(Plan, String), F> {
    read_plan(path).map_err(|e| {
        if is_manifest(path) {
            let p = path.display();
            F::msg(
                Exit::Usage,
                format!("`{p}` is a manifest, not a plan"),
            )
            .with_hint(format!(
                "make a plan from it with `ferry plan {p} --out plan.yaml`, review it, then `ferry {command} plan.yaml`"
            ))
        } else {
            super::apply::failure(e)
        }
    })
}
