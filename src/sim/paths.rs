//! Path safety of the emulator's file store: which names may become a folder or file name, and a check
//! that a path stays inside the state folder before anything is created, changed, deleted or read there.
//!
//! Two layers, on purpose: every label or ID that becomes a path is validated where it enters (URL
//! segments, query and form fields, DICOM values), and every path the store touches is checked again
//! here, so a name that slipped past the first layer still cannot leave `--root`.

use std::io;
use std::path::{Component, Path, PathBuf};

/// Whether a decoded URL segment could walk the file tree: `.`, `..`, or a segment that carries a
/// slash, a backslash or a NUL once decoded (`%2F`, `%5C`, `%00`).
pub fn dangerous_segment(s: &str) -> bool {
    s == "." || s == ".." || s.contains(['/', '\\', '\0'])
}

/// Turns a DICOM value into a folder name XNAT would accept (`^[A-Za-z0-9_-]+$`): other characters
/// become `_`, leading and trailing `_` are trimmed; `None` when nothing is left.
pub fn folder_name(value: &str) -> Option<String> {
    let cleaned: String = value
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = cleaned.trim_matches('_');
    (!cleaned.is_empty() && cleaned.len() <= 255).then(|| cleaned.to_string())
}

fn escape(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("{} is outside the state folder", path.display()),
    )
}

/// Checks that `path` lies inside `root`: lexically (only plain components after the root) and on
/// disk (the deepest existing ancestor, with links resolved, is inside the root with links resolved).
pub fn check_inside(root: &Path, path: &Path) -> io::Result<()> {
    let rel = path.strip_prefix(root).map_err(|_| escape(path))?;
    if rel.as_os_str().is_empty()
        || rel
            .components()
            .any(|c| !matches!(c, Component::Normal(n) if !n.is_empty()))
    {
        return Err(escape(path));
    }
    let real_root = root.canonicalize()?;
    let mut probe: PathBuf = path.to_path_buf();
    loop {
        match probe.symlink_metadata() {
            Ok(_) => {
                let real = probe.canonicalize()?;
                return if real.starts_with(&real_root) {
                    Ok(())
                } else {
                    Err(escape(path))
                };
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !probe.pop() || !probe.starts_with(root) {
                    return Err(escape(path));
                }
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_that_walk_are_refused() {
        for s in ["..", ".", "../x", "a/b", "..\\x", "a\0"] {
            assert!(dangerous_segment(s), "{s:?}");
        }
        for s in ["...", "a..b", "MAIN", "x.dcm"] {
            assert!(!dangerous_segment(s), "{s:?}");
        }
    }

    #[test]
    fn dicom_values_become_safe_folder_names() {
        assert_eq!(folder_name("3").as_deref(), Some("3"));
        assert_eq!(folder_name("../../etc").as_deref(), Some("etc"));
        assert_eq!(folder_name(" 12 ").as_deref(), Some("12"));
        assert_eq!(folder_name("..").as_deref(), None);
        assert_eq!(folder_name("").as_deref(), None);
    }

    #[test]
    fn paths_outside_the_root_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("a")).unwrap();
        assert!(check_inside(&root, &root.join("a/b/c.dcm")).is_ok());
        assert!(check_inside(&root, &root.join("a/../../x")).is_err());
        assert!(check_inside(&root, &root.join("../x")).is_err());
        assert!(check_inside(&root, Path::new("/etc/passwd")).is_err());
        assert!(check_inside(&root, &dir.path().join("x")).is_err());
        assert!(check_inside(&root, &root).is_err());
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path(), root.join("link")).unwrap();
            assert!(check_inside(&root, &root.join("link/x")).is_err());
        }
    }
}
