//! `ferry schema`: the JSON Schemas of the manifest and of the plan, as checked in at
//! `schemas/manifest.schema.json` and `schemas/plan.schema.json`. Both are generated from the types
//! ferry reads and writes, so they cannot fall behind them.

use super::Failure;

/// Arguments of `ferry schema`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the schema of the plan (`ferry show --format json`) instead of the manifest's.
    #[arg(long)]
    pub plan: bool,
}

fn pretty(schema: &schemars::Schema) -> String {
    let mut text = serde_json::to_string_pretty(schema).unwrap_or_default();
    text.push('\n');
    text
}

/// The JSON Schema of manifest version 1, pretty-printed with a final newline.
pub fn schema_text() -> String {
    let mut schema = schemars::schema_for!(crate::manifest::model::Manifest);
    schema.insert(
        "$id".into(),
        "https://github.com/xnat-ferry/xnat-ferry/schemas/manifest.schema.json".into(),
    );
    schema.insert("title".into(), "ferry manifest, version 1".into());
    pretty(&schema)
}

/// The JSON Schema of a plan as `ferry show --format json` prints it (the plan file's content),
/// pretty-printed with a final newline. Its version is the plan's `format` tag.
pub fn plan_schema_text() -> String {
    let mut schema = schemars::schema_for!(crate::plan::Plan);
    schema.insert(
        "$id".into(),
        "https://github.com/xnat-ferry/xnat-ferry/schemas/plan.schema.json".into(),
    );
    schema.insert(
        "title".into(),
        format!("ferry plan, format {}", crate::plan::FORMAT).into(),
    );
    pretty(&schema)
}

/// Runs `ferry schema`.
pub fn run(args: Args) -> Result<(), Failure> {
    if args.plan {
        print!("{}", plan_schema_text());
    } else {
        print!("{}", schema_text());
    }
    Ok(())
}
