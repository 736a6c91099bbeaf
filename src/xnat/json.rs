//! Reading XNAT's JSON answers: the rows of a ResultSet, values as text whatever their JSON type,
//! file rows, and the scan ID inside a file URI.

use super::XnatError;
use crate::model::inventory::FileEntry;
use serde_json::Value;

/// The rows of an XNAT ResultSet.
pub(super) fn rows(v: &Value) -> Vec<&Value> {
    v["ResultSet"]["Result"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// A value as text: strings as they are, numbers written out, anything else empty.
pub(super) fn s(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// A value as text, `None` when empty or absent.
pub(super) fn opt(v: &Value, key: &str) -> Option<String> {
    Some(s(v, key)).filter(|x| !x.is_empty())
}

/// A file row of a listing (`Size`, `digest`), under the name given.
pub(super) fn file_entry(r: &Value, name: String) -> FileEntry {
    FileEntry {
        name,
        size: s(r, "Size").parse().unwrap_or(0),
        digest: opt(r, "digest"),
    }
}

/// The scan ID in a file URI: `…/scans/{ID}/resources/…`.
pub(super) fn scan_of(uri: &str) -> Option<String> {
    let rest = uri.split("/scans/").nth(1)?;
    Some(rest.split('/').next()?.to_string())
}

/// The result of a reader thread; a thread that panicked becomes an error, never a panic here.
pub(super) fn joined<T>(
    h: std::thread::ScopedJoinHandle<'_, Result<T, XnatError>>,
    err: impl FnOnce() -> XnatError,
) -> Result<T, XnatError> {
    h.join().unwrap_or_else(|_| Err(err()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_ids_come_from_file_uris() {
        assert_eq!(
            scan_of("/data/experiments/E1/scans/12/resources/DICOM/files/a.dcm").as_deref(),
            Some("12")
        );
        assert_eq!(
            scan_of("/data/experiments/E1/resources/NOTES/files/a"),
            None
        );
    }

    #[test]
    fn values_read_as_text() {
        let v = serde_json::json!({"a": "x", "n": 12, "e": "", "z": null});
        assert_eq!(s(&v, "a"), "x");
        assert_eq!(s(&v, "n"), "12");
        assert_eq!(opt(&v, "e"), None);
        assert_eq!(opt(&v, "z"), None);
        assert_eq!(opt(&v, "missing"), None);
    }
}
