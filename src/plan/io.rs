//! The plan file: YAML bytes that are deterministic for the same plan (one leading comment, no
//! timestamps), read back with a check of the format tag and ferry version before the strict parse,
//! and a fingerprint of those bytes for the executor's journal.

use super::error::PlanError;
use super::model::{Plan, FORMAT};
use crate::manifest::yaml;
use std::path::Path;

const HEADER: &str =
    "# ferry plan: review it like a pull request, then run `ferry apply` on this file.\n";

const SEAL: &str = "# seal: ";

fn seal_of(text: &str) -> String {
    format!("blake3:{}", blake3::hash(text.as_bytes()).to_hex())
}

/// The plan as YAML text: a comment line, the plan, and a last comment line that seals the bytes
/// before it, so that `apply` can tell a plan edited by hand or cut short from the one that was
/// reviewed. The same plan always gives the same bytes.
pub fn to_yaml(plan: &Plan) -> String {
    // Serialising plain structs, enums and BTreeMaps with string keys cannot fail.
    let body = yaml::to_string(plan);
    let text = format!("{HEADER}{body}");
    let seal = seal_of(&text);
    format!("{text}{SEAL}{seal}\n")
}

/// The two fields read before the strict parse (the rest of the document is skipped, not built).
#[derive(serde::Deserialize)]
struct Head {
    format: Option<String>,
    ferry_version: Option<String>,
}

/// Checks the seal line against the bytes before it.
fn check_seal(text: &str, path: &Path) -> Result<(), PlanError> {
    let edited = |why: &str| PlanError::Edited {
        path: path.to_path_buf(),
        why: why.to_string(),
    };
    // A checkout that turned line ends into CRLF changed no content.
    let text = text.replace("\r\n", "\n");
    let trimmed = text.strip_suffix('\n').unwrap_or(&text);
    let Some(at) = trimmed.rfind(SEAL) else {
        return Err(edited(
            "the seal line that `ferry plan` writes last is missing",
        ));
    };
    let (body, seal) = (&trimmed[..at], &trimmed[at + SEAL.len()..]);
    if seal.contains('\n') || seal.trim() != seal_of(body) {
        return Err(edited(
            "the plan does not match its seal: it changed after `ferry plan` wrote it",
        ));
    }
    Ok(())
}

/// `blake3:<hex>` of [`to_yaml`]'s bytes.
pub fn fingerprint(plan: &Plan) -> String {
    format!("blake3:{}", blake3::hash(to_yaml(plan).as_bytes()).to_hex())
}

fn parse_version(v: &str) -> Option<Vec<u64>> {
    let core = v.split(['-', '+']).next()?;
    core.split('.').map(|p| p.parse().ok()).collect()
}

/// Whether version `a` is newer than `b` (numeric `MAJOR.MINOR.PATCH`; unparsable counts as newer).
fn newer(a: &str, b: &str) -> bool {
    match (parse_version(a), parse_version(b)) {
        (Some(a), Some(b)) => a > b,
        _ => a != b,
    }
}

fn parse_error(path: &Path, e: &yaml::Error, hint: &str) -> PlanError {
    PlanError::Parse {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: format!("{e}{hint}"),
    }
}

/// Reads a plan file's text. Refuses another format, a plan written by a newer ferry, and anything
/// that does not match the plan types (hand edits, truncation), naming line and column.
pub fn from_yaml(text: &str, path: &Path) -> Result<Plan, PlanError> {
    const EDITED: &str = " (was the plan edited or truncated? plan again with `ferry plan`)";
    let head = match yaml::from_str::<Head>(text) {
        Ok(head) => head,
        // Not a mapping of text fields: the document as a whole says what is wrong.
        Err(_) => {
            let value: yaml::Value =
                yaml::from_str(text).map_err(|e| parse_error(path, &e, EDITED))?;
            let field = |k: &str| value.get(k).and_then(|v| v.as_str()).map(str::to_string);
            Head {
                format: field("format"),
                ferry_version: field("ferry_version"),
            }
        }
    };
    match head.format {
        Some(f) if f == FORMAT => {}
        Some(found) => {
            return Err(PlanError::Format {
                path: path.to_path_buf(),
                found,
                expected: FORMAT.into(),
            })
        }
        None => {
            return Err(PlanError::Parse {
                path: path.to_path_buf(),
                line: None,
                column: None,
                message: format!("no `format` field: this is not a ferry plan{EDITED}"),
            })
        }
    }
    if let Some(found) = head.ferry_version {
        if newer(&found, crate::VERSION) {
            return Err(PlanError::NewerVersion {
                path: path.to_path_buf(),
                found,
                ours: crate::VERSION.into(),
            });
        }
    }
    let plan = yaml::from_str(text).map_err(|e| parse_error(path, &e, EDITED))?;
    check_seal(text, path)?;
    Ok(plan)
}
