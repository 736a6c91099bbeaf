//! The one door to the YAML library. Manifests and plan files are read and written only through
//! this module, so that the library can be swapped in one place: `serde_yaml` is archived upstream,
//! and its maintained forks keep the same API (see docs/development.md, "The YAML library").
//! It must never hold manifest or plan logic: parsing, printing and error positions only.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A parsed YAML document and mapping, for code that looks at a few fields before a strict parse.
pub use serde_yaml::{Mapping, Value};

/// Why YAML text could not be read: the library's message and, where known, its position.
#[derive(Debug)]
pub struct Error(serde_yaml::Error);

impl Error {
    /// The 1-based line of the problem, where known.
    pub fn line(&self) -> Option<usize> {
        self.0.location().map(|l| l.line())
    }

    /// The 1-based column of the problem, where known.
    pub fn column(&self) -> Option<usize> {
        self.0.location().map(|l| l.column())
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Error {}

/// Parses YAML text into `T`.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    serde_yaml::from_str(text).map_err(Error)
}

/// Prints a value as YAML. Plain structs, enums and maps with string keys cannot fail; a value
/// that could (a map with non-string keys) prints as an empty string, which no reader accepts.
pub fn to_string<T: Serialize>(value: &T) -> String {
    serde_yaml::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_positions_and_values_round_trip() {
        let e = from_str::<Value>("a: [1, 2\nb: 3").unwrap_err();
        assert!(e.line().is_some() && e.column().is_some(), "{e}");
        let v: Value = from_str("a: 1\nb: [x]\n").unwrap();
        assert_eq!(from_str::<Value>(&to_string(&v)).unwrap(), v);
    }

    #[test]
    fn no_other_source_file_names_the_library() {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    out.push(p);
                }
            }
        }
        let mut files = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        let named: Vec<_> = files
            .iter()
            .filter(|p| !p.ends_with("manifest/yaml.rs"))
            .filter(|p| {
                std::fs::read_to_string(p)
                    .unwrap()
                    .contains(concat!("serde", "_yaml::"))
            })
            .collect();
        assert!(
            named.is_empty(),
            "use crate::manifest::yaml instead in {named:?}"
        );
    }
}
