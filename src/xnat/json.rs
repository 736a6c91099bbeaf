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

/// A value as text, read as a typed field reads it ([`Text`]).
pub(super) fn s(v: &Value, key: &str) -> String {
    <Text as serde::Deserialize>::deserialize(&v[key])
        .map(|t| t.0)
        .unwrap_or_default()
}

/// A JSON value as text: strings as they are, numbers written out, anything else empty (arrays and
/// objects in its place are skipped, not refused). Typed documents and [`s`] on a tree both read
/// values this way.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Text(pub String);

impl Text {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text, `None` when empty (as [`opt`] reads it).
    pub fn nonempty(&self) -> Option<String> {
        Some(self.0.clone()).filter(|v| !v.is_empty())
    }
}

impl<'de> serde::Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> serde::de::Visitor<'de> for TextVisitor {
    type Value = Text;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E>(self, v: &str) -> Result<Text, E> {
        Ok(Text(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Text, E> {
        Ok(Text(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Text, E> {
        Ok(Text(v.to_string()))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Text, E> {
        Ok(Text(v.to_string()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Text, E> {
        let n = serde_json::Number::from_f64(v);
        Ok(Text(n.map(|n| n.to_string()).unwrap_or_default()))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Text, E> {
        Ok(Text::default())
    }

    fn visit_unit<E>(self) -> Result<Text, E> {
        Ok(Text::default())
    }

    fn visit_none<E>(self) -> Result<Text, E> {
        Ok(Text::default())
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Text, D::Error> {
        d.deserialize_any(TextVisitor)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Text, A::Error> {
        while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Text::default())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Text, A::Error> {
        while a
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {}
        Ok(Text::default())
    }
}

/// A value as text, `None` when empty or absent.
pub(super) fn opt(v: &Value, key: &str) -> Option<String> {
    Some(s(v, key)).filter(|x| !x.is_empty())
}

/// An XNAT ResultSet read straight into rows of the type `T` (`{"ResultSet": {"Result": [...]}}`);
/// no rows where the document has none.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Listing<T> {
    #[serde(default, rename = "ResultSet")]
    set: Option<ResultSet<T>>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct ResultSet<T> {
    #[serde(default, rename = "Result")]
    result: Option<Vec<T>>,
}

impl<T> Listing<T> {
    /// The rows.
    pub fn rows(self) -> Vec<T> {
        self.set.and_then(|s| s.result).unwrap_or_default()
    }
}

/// A row of a file listing (`/files?format=json`), with the columns ferry reads.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct FileRow {
    #[serde(default, rename = "URI")]
    pub uri: Text,
    #[serde(default, rename = "Name")]
    pub name: Text,
    #[serde(default, rename = "Size")]
    pub size: Text,
    #[serde(default)]
    pub digest: Text,
    #[serde(default, rename = "cat_ID")]
    pub cat_id: Text,
    #[serde(default)]
    pub collection: Text,
    #[serde(default)]
    pub file_format: Text,
}

/// A file row of a listing (`Size`, `digest`), under the name given.
pub(super) fn file_entry(r: &FileRow, name: String) -> FileEntry {
    FileEntry {
        name,
        size: r.size.as_str().parse().unwrap_or(0),
        digest: r.digest.nonempty(),
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

    /// A typed field reads every kind of JSON value as [`s`] reads it from a tree.
    #[test]
    fn typed_text_reads_values_as_the_tree_does() {
        let v = serde_json::json!({"a": "x", "n": 12, "m": -3, "f": 1.5, "g": 2.0, "e": "",
            "z": null, "b": true, "l": [1, [2]], "o": {"k": {"j": 1}}});
        let expected = [
            ("a", "x"),
            ("n", "12"),
            ("m", "-3"),
            ("f", "1.5"),
            ("g", "2.0"),
            ("e", ""),
            ("z", ""),
            ("b", ""),
            ("l", ""),
            ("o", ""),
            ("missing", ""),
        ];
        for (key, want) in expected {
            let t: Text = match v.get(key) {
                Some(x) => serde_json::from_str(&x.to_string()).unwrap(),
                None => Text::default(),
            };
            assert_eq!(t.as_str(), want, "{key} from text");
            assert_eq!(s(&v, key), want, "{key} from the tree");
        }
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
