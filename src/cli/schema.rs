//! `ferry schema`: the manifest's JSON Schema, as checked in at `schemas/manifest.schema.json`.

use super::Failure;

/// Arguments of `ferry schema`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// The JSON Schema of manifest version 1, pretty-printed with a final newline.
pub fn schema_text() -> String {
    let mut schema = schemars::schema_for!(crate::manifest::model::Manifest);
    schema.insert(
        "$id".into(),
        "https://github.com/xnat-ferry/xnat-ferry/schemas/manifest.schema.json".into(),
    );
    schema.insert("title".into(), "ferry manifest, version 1".into());
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// Runs `ferry schema`.
pub fn run(_args: Args) -> Result<(), Failure> {
    print!("{}", schema_text());
    Ok(())
}
