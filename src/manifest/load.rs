//! Loading a manifest file and its tables, with diagnostics that name file, line, column and field.

use super::Manifest;
use crate::template::Table;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// A manifest read from disk, with its tables loaded and its bytes hashed.
#[derive(Debug, Clone)]
pub struct LoadedManifest {
    /// Where it was read from.
    pub path: PathBuf,
    /// The parsed manifest.
    pub manifest: Manifest,
    /// Its tables, by name.
    pub tables: BTreeMap<String, Table>,
    /// `blake3:<hex>` of the manifest file's bytes.
    pub hash: String,
}

/// One problem found in a manifest, located as precisely as the input allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file the problem is in (the manifest, or one of its tables).
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// The field path, e.g. `transfers[0].policy.conflict`; empty for the whole file.
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in a manifest; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Reads, parses and validates a manifest and its tables.
pub fn load(path: &Path) -> Result<LoadedManifest, Diagnostics> {
    let whole = |message: String| {
        Diagnostics(vec![Diagnostic {
            file: path.to_path_buf(),
            line: None,
            column: None,
            path: String::new(),
            message,
        }])
    };
    let bytes = std::fs::read(path).map_err(|e| whole(format!("cannot read the manifest: {e}")))?;
    let manifest: Manifest = serde_yaml::from_slice(&bytes).map_err(|e| {
        let loc = e.location();
        Diagnostics(vec![Diagnostic {
            file: path.to_path_buf(),
            line: loc.as_ref().map(|l| l.line()),
            column: loc.as_ref().map(|l| l.column()),
            path: String::new(),
            message: e.to_string(),
        }])
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut tables = BTreeMap::new();
    for (name, rel) in &manifest.tables {
        let file = base.join(rel);
        let mut table = Table::new();
        let mut rdr = csv::Reader::from_path(&file).map_err(|e| {
            whole(format!(
                "tables.{name}: cannot read `{}`: {e}",
                file.display()
            ))
        })?;
        for row in rdr.records() {
            let row = row.map_err(|e| whole(format!("tables.{name}: {e}")))?;
            table.insert(row[0].to_string(), row[1].to_string());
        }
        tables.insert(name.clone(), table);
    }
    Ok(LoadedManifest {
        path: path.to_path_buf(),
        manifest,
        tables,
        hash: format!("blake3:{}", blake3::hash(&bytes).to_hex()),
    })
}
