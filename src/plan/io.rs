//! The plan file: YAML with a fixed field order and no timestamps, so the same plan is the same bytes.

use super::{Plan, FORMAT};
use std::path::Path;

/// Why a plan file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    /// The text is not a plan of this format.
    #[error("{path}: {detail}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, with line and column where known.
        detail: String,
    },
}

/// The plan as YAML text, the bytes `ferry plan` writes.
pub fn to_yaml(plan: &Plan) -> String {
    let body = serde_yaml::to_string(plan).unwrap_or_default();
    format!(
        "# ferry plan — review it, commit it, then `ferry apply` it. Do not edit by hand.\n{body}"
    )
}

/// Reads a plan, refusing another format, a newer ferry, and hand-edited damage.
pub fn from_yaml(text: &str, path: &Path) -> Result<Plan, PlanFileError> {
    let invalid = |detail: String| PlanFileError::Invalid {
        path: path.display().to_string(),
        detail,
    };
    let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| {
        invalid(match e.location() {
            Some(l) => format!("{}:{}: not valid YAML: {e}", l.line(), l.column()),
            None => format!("not valid YAML: {e}"),
        })
    })?;
    let format = value.get("format").and_then(|f| f.as_str()).unwrap_or("");
    if format != FORMAT {
        return Err(invalid(format!(
            "not a plan of format `{FORMAT}` (its format is `{}`)",
            if format.is_empty() { "missing" } else { format }
        )));
    }
    if let Some(v) = value.get("ferry_version").and_then(|v| v.as_str()) {
        if newer(v, crate::VERSION) {
            return Err(invalid(format!(
                "written by ferry {v}, newer than this ferry {}; upgrade ferry",
                crate::VERSION
            )));
        }
    }
    serde_yaml::from_str(text).map_err(|e| {
        invalid(match e.location() {
            Some(l) => format!("{}:{}: {e}", l.line(), l.column()),
            None => e.to_string(),
        })
    })
}

fn parts(v: &str) -> Vec<u64> {
    v.split(['.', '-'])
        .take(3)
        .map(|p| p.parse().unwrap_or(0))
        .collect()
}

fn newer(a: &str, b: &str) -> bool {
    parts(a) > parts(b)
}

/// blake3 of the plan's bytes, `blake3:<hex>`.
pub fn fingerprint(plan: &Plan) -> String {
    format!("blake3:{}", blake3::hash(to_yaml(plan).as_bytes()).to_hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(newer("0.10.0", "0.9.1"));
        assert!(!newer("0.1.0", "0.1.0"));
    }

    #[test]
    fn other_formats_and_garbage_are_refused() {
        let p = Path::new("plan.yaml");
        let e = from_yaml("format: terraform/1\n", p).unwrap_err();
        assert!(e.to_string().contains("not a plan of format"), "{e}");
        let e = from_yaml("format: [\n", p).unwrap_err();
        assert!(e.to_string().contains("not valid YAML"), "{e}");
        let e = from_yaml("format: ferry-plan/1\nferry_version: 99.0.0\n", p).unwrap_err();
        assert!(e.to_string().contains("newer"), "{e}");
        let e = from_yaml("format: ferry-plan/1\nferry_version: 0.1.0\n", p).unwrap_err();
        assert!(e.to_string().contains("missing field"), "{e}");
    }
}
