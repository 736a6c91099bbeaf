//! `ferry validate` and `ferry schema`: every example validates, every broken manifest fails with its
//! exact diagnostics, the checked-in schema is current, and the reference documents every field.

use crate::support::{ferry, stderr, stdout};
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_example_manifest_validates() {
    let mut n = 0;
    for e in std::fs::read_dir(root().join("manifests")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yaml") {
            let rel = format!("manifests/{}", p.file_name().unwrap().to_string_lossy());
            let o = ferry(&["validate", &rel]);
            assert!(o.status.success(), "{rel}: {}", stderr(&o));
            assert!(stdout(&o).starts_with("ok: "), "{rel}");
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(
                text.starts_with("# yaml-language-server: $schema=../schemas/manifest.schema.json"),
                "{rel} lacks the schema comment"
            );
            n += 1;
        }
    }
    assert!(n >= 6, "only {n} examples");
}

#[test]
fn every_broken_manifest_fails_with_its_exact_diagnostics() {
    let dir = root().join("tests/manifests/broken");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "yaml") {
            continue;
        }
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        let rel = format!("tests/manifests/broken/{name}");
        let expected = std::fs::read_to_string(p.with_extension("expected"))
            .unwrap_or_else(|_| panic!("{name} has no .expected file"));
        let o = ferry(&["validate", &rel]);
        assert_eq!(o.status.code(), Some(2), "{name}");
        assert_eq!(stderr(&o), expected, "{name}");
        assert!(stderr(&o).contains(&rel), "{name} does not name its file");
        n += 1;
    }
    assert!(n >= 25, "only {n} broken manifests");
}

#[test]
fn a_missing_manifest_is_a_clear_error() {
    let o = ferry(&["validate", "no/such/manifest.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no/such/manifest.yaml: cannot read the manifest"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_checked_in_schema_is_current() {
    let o = ferry(&["schema"]);
    assert!(o.status.success());
    let checked_in = std::fs::read_to_string(root().join("schemas/manifest.schema.json")).unwrap();
    assert!(
        stdout(&o) == checked_in,
        "schemas/manifest.schema.json is stale: run `cargo run -- schema > schemas/manifest.schema.json`"
    );
}

/// Every property name in the schema appears in the manifest reference.
#[test]
fn the_manifest_reference_covers_every_field() {
    let schema: serde_json::Value = serde_json::from_str(&stdout(&ferry(&["schema"]))).unwrap();
    let doc = std::fs::read_to_string(root().join("docs/manifest.md")).unwrap();
    let mut names = std::collections::BTreeSet::new();
    fn walk(v: &serde_json::Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(serde_json::Value::Object(props)) = m.get("properties") {
                    out.extend(props.keys().cloned());
                }
                if let Some(serde_json::Value::String(c)) = m.get("const") {
                    out.insert(c.clone());
                }
                for x in m.values() {
                    walk(x, out);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(&schema, &mut names);
    assert!(names.len() > 30, "{names:?}");
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !doc.contains(&format!("`{n}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/manifest.md does not document {missing:?}"
    );
}
