//! Extracting a zip a server sent, safely: no absolute paths, no `..`, no links, no entry larger than
//! it announces or than the limits allow.

use super::XnatError;
use std::path::{Component, Path, PathBuf};

/// Limits on what a zip may hold.
#[derive(Debug, Clone, Copy)]
pub struct ExtractLimits {
    /// Most entries.
    pub max_entries: usize,
    /// Largest single entry, bytes.
    pub max_entry_bytes: u64,
    /// Largest total, bytes.
    pub max_total_bytes: u64,
}

impl Default for ExtractLimits {
    fn default() -> Self {
        ExtractLimits {
            max_entries: 1_000_000,
            max_entry_bytes: 4 << 30,
            max_total_bytes: 1 << 40,
        }
    }
}

/// One extracted file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractedFile {
    /// Its path below the extraction folder.
    pub rel_path: PathBuf,
    /// Its size.
    pub size: u64,
}

fn refuse(zip: &Path, detail: String) -> XnatError {
    XnatError::Zip {
        server: "local".into(),
        what: zip.display().to_string(),
        detail,
    }
}

/// A relative path made only of normal components, or `None`.
fn safe_rel(name: &str) -> Option<PathBuf> {
    if name.contains('\\') || name.contains('\0') {
        return None;
    }
    let p = Path::new(name);
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// Extracts `zip` into `dir`.
pub fn safe_extract(
    zip: &Path,
    dir: &Path,
    limits: &ExtractLimits,
) -> Result<Vec<ExtractedFile>, XnatError> {
    let file = std::fs::File::open(zip).map_err(|source| XnatError::Io {
        action: "open",
        path: zip.display().to_string(),
        source,
    })?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| refuse(zip, format!("not a readable zip: {e}")))?;
    if archive.len() > limits.max_entries {
        return Err(refuse(
            zip,
            format!("{} entries (at most {})", archive.len(), limits.max_entries),
        ));
    }
    let mut out = Vec::new();
    let mut total = 0u64;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| refuse(zip, format!("entry {i}: {e}")))?;
        let name = entry.name().map(|n| n.to_string()).unwrap_or_default();
        if entry.is_symlink() {
            return Err(refuse(zip, format!("entry `{name}` is a link")));
        }
        let rel = safe_rel(&name)
            .ok_or_else(|| refuse(zip, format!("entry `{name}` escapes the folder")))?;
        if entry.is_dir() {
            continue;
        }
        let announced = entry.size();
        if announced > limits.max_entry_bytes {
            return Err(refuse(
                zip,
                format!("entry `{name}` announces {announced} bytes"),
            ));
        }
        total += announced;
        if total > limits.max_total_bytes {
            return Err(refuse(
                zip,
                "the entries add up to more than the limit".into(),
            ));
        }
        let target = dir.join(&rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|source| XnatError::Io {
                action: "create",
                path: parent.display().to_string(),
                source,
            })?;
        }
        let mut f = std::fs::File::create(&target).map_err(|source| XnatError::Io {
            action: "create",
            path: target.display().to_string(),
            source,
        })?;
        let written = std::io::copy(&mut std::io::Read::take(&mut entry, announced + 1), &mut f)
            .map_err(|e| refuse(zip, format!("entry `{name}`: {e}")))?;
        if written != announced {
            return Err(refuse(
                zip,
                format!("entry `{name}` holds {written} bytes, not the {announced} it announces"),
            ));
        }
        out.push(ExtractedFile {
            rel_path: rel,
            size: written,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_with(names: &[&str]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("z.zip");
        let mut w = zip::ZipWriter::new(std::fs::File::create(&p).unwrap());
        for n in names {
            w.start_file(*n, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(b"data").unwrap();
        }
        w.finish().unwrap();
        (dir, p)
    }

    #[test]
    fn extracts_plain_entries() {
        let (dir, p) = zip_with(&["a/b.dcm", "./c.dcm"]);
        let out = dir.path().join("out");
        let files = safe_extract(&p, &out, &ExtractLimits::default()).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(std::fs::read(out.join("a/b.dcm")).unwrap(), b"data");
    }

    #[test]
    fn refuses_escaping_entries() {
        for bad in ["../evil", "/etc/passwd", "a/../../x", "a\\..\\x"] {
            let (dir, p) = zip_with(&[bad]);
            let e =
                safe_extract(&p, &dir.path().join("out"), &ExtractLimits::default()).unwrap_err();
            assert!(e.to_string().contains("escapes"), "{bad}: {e}");
        }
    }

    #[test]
    fn refuses_oversized_entries_and_garbage() {
        let (dir, p) = zip_with(&["a"]);
        let limits = ExtractLimits {
            max_entry_bytes: 2,
            ..ExtractLimits::default()
        };
        assert!(safe_extract(&p, &dir.path().join("o"), &limits).is_err());
        std::fs::write(&p, b"PK\x03\x04 truncated").unwrap();
        assert!(safe_extract(&p, &dir.path().join("o"), &ExtractLimits::default()).is_err());
    }
}
