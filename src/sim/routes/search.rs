//! XNAT's search service, `POST /data/search` with an `xdat:bundle` XML body, for the root elements
//! clients ask it about: `xnat:projectData`, `xnat:subjectData` and the imaging-session types. A bundle
//! names a root element, the fields to return (`xdat:search_field` with `element_name` and `field_ID`)
//! and criteria (`xdat:criteria` with `schema_field`, `comparison_type` and `value`, combined by the
//! `method` of `xdat:search_where`, `AND` unless it says `OR`).
//!
//! Rows are the objects the caller may read. Column names are the field IDs in lower case; in CSV, the
//! project's `name` is `name_csv` (what copyxnat 0.9.6 reads). `format=csv`, `json` (a ResultSet) or
//! `xml`.

use super::{fail, not_allowed, Answer, Ctx};
use crate::sim::auth::Access;
use crate::sim::render::{Meta, Table};
use crate::sim::util::wildcard_match;
use std::collections::BTreeMap;

/// One requested column.
#[derive(Debug, Clone, PartialEq)]
struct Field {
    element: String,
    id: String,
}

/// One criterion: field, comparison, value.
#[derive(Debug, Clone, PartialEq)]
struct Criterion {
    field: String,
    op: String,
    value: String,
}

/// A parsed bundle.
#[derive(Debug, Clone, PartialEq)]
struct Bundle {
    root: String,
    fields: Vec<Field>,
    criteria: Vec<Criterion>,
    any: bool,
}

/// Whether a node is an element with this local name (any namespace prefix).
fn is(n: &roxmltree::Node, name: &str) -> bool {
    n.is_element() && n.tag_name().name() == name
}

fn child_text(n: roxmltree::Node, name: &str) -> String {
    n.children()
        .find(|c| is(c, name))
        .and_then(|c| c.text())
        .unwrap_or("")
        .trim()
        .to_string()
}

fn parse(body: &[u8]) -> Result<Bundle, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the search document is not UTF-8")?;
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("invalid XML: {e}"))?;
    let top = doc.root_element();
    if top.tag_name().name() != "bundle" {
        return Err("the body is not an xdat:bundle".into());
    }
    let root = child_text(top, "root_element_name");
    if root.is_empty() {
        return Err("the bundle names no root_element_name".into());
    }
    let fields = top
        .children()
        .filter(|c| is(c, "search_field"))
        .map(|c| Field {
            element: child_text(c, "element_name"),
            id: child_text(c, "field_ID"),
        })
        .collect();
    let criteria = top
        .descendants()
        .filter(|c| is(c, "criteria"))
        .map(|c| Criterion {
            field: child_text(c, "schema_field"),
            op: child_text(c, "comparison_type"),
            value: child_text(c, "value"),
        })
        .collect();
    let any = top
        .descendants()
        .find(|c| is(c, "search_where"))
        .and_then(|w| w.attribute("method"))
        .is_some_and(|m| m.eq_ignore_ascii_case("OR"));
    Ok(Bundle {
        root,
        fields,
        criteria,
        any,
    })
}

/// The searchable fields of each object, by upper-case field ID.
type Row = BTreeMap<String, String>;

fn rows(ctx: &Ctx, root: &str) -> Option<Vec<Row>> {
    let store = ctx.read();
    let row = |pairs: &[(&str, &str)]| -> Row {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let out = match root {
        "xnat:projectData" => store
            .projects
            .values()
            .filter(|p| ctx.access(&store, &p.id) >= Access::Read)
            .map(|p| {
                row(&[
                    ("ID", &p.id),
                    ("NAME", &p.name),
                    ("SECONDARY_ID", &p.secondary_id),
                    ("DESCRIPTION", &p.description),
                ])
            })
            .collect(),
        "xnat:subjectData" => store
            .projects
            .keys()
            .filter(|p| ctx.access(&store, p) >= Access::Read)
            .flat_map(|p| store.subjects_in(p))
            .filter(|s| ctx.access(&store, &s.project) >= Access::Read)
            .map(|s| {
                let r = row(&[
                    ("ID", &s.id),
                    ("LABEL", &s.label),
                    ("PROJECT", &s.project),
                    ("INSERT_DATE", &s.insert_date),
                ]);
                (s.id.clone(), r)
            })
            // A subject shared into several readable projects is one row.
            .collect::<BTreeMap<_, _>>()
            .into_values()
            .collect(),
        t if t.ends_with("SessionData") => store
            .all_experiments()
            .filter(|e| e.xsi_type == t)
            .filter(|e| super::access::experiment_access(ctx, &store, e) >= Access::Read)
            .map(|e| {
                let subject = store.subject(&e.subject_id).map(|s| s.label.as_str());
                row(&[
                    ("ID", &e.id),
                    ("LABEL", &e.label),
                    ("PROJECT", &e.project),
                    ("DATE", &e.date),
                    ("SUBJECT_ID", &e.subject_id),
                    ("SUBJECT_LABEL", subject.unwrap_or("")),
                    ("UID", &e.uid),
                    ("INSERT_DATE", &e.insert_date),
                ])
            })
            .collect(),
        _ => return None,
    };
    Some(out)
}

fn matches(row: &Row, c: &Criterion) -> bool {
    let field = c.field.rsplit('/').next().unwrap_or(&c.field);
    let cell = row
        .get(&field.to_ascii_uppercase())
        .map(String::as_str)
        .unwrap_or("");
    match c.op.to_ascii_uppercase().as_str() {
        "LIKE" => wildcard_match(&c.value, cell),
        "=" => cell == c.value,
        "!=" => cell != c.value,
        // Other comparisons are not used by the clients we serve: they do not narrow.
        _ => true,
    }
}

/// `POST /data/search`.
pub fn search(ctx: &Ctx, rest: &[&str]) -> Answer {
    if !rest.is_empty() {
        return Err(fail(404, "The requested resource was not found."));
    }
    if ctx.method() != "POST" {
        return Err(not_allowed());
    }
    let bundle = parse(&ctx.req.body).map_err(|m| fail(400, &m))?;
    let all = rows(ctx, &bundle.root)
        .ok_or_else(|| fail(400, &format!("Unknown root element {}.", bundle.root)))?;
    let kept: Vec<Row> = all
        .into_iter()
        .filter(|r| {
            let mut each = bundle.criteria.iter().map(|c| matches(r, c));
            bundle.criteria.is_empty()
                || if bundle.any {
                    each.any(|x| x)
                } else {
                    each.all(|x| x)
                }
        })
        .collect();
    let format = ctx.format();
    let fields: Vec<&Field> = if bundle.fields.is_empty() {
        Vec::new()
    } else {
        bundle
            .fields
            .iter()
            .filter(|f| f.element.is_empty() || f.element == bundle.root)
            .collect()
    };
    let keys: Vec<String> = if fields.is_empty() {
        vec!["ID".into()]
    } else {
        fields.iter().map(|f| f.id.to_ascii_uppercase()).collect()
    };
    let columns = keys
        .iter()
        .map(|k| {
            let name = k.to_ascii_lowercase();
            if format == "csv" && bundle.root == "xnat:projectData" && name == "name" {
                "name_csv".to_string()
            } else {
                name
            }
        })
        .collect();
    let table = Table {
        columns,
        rows: kept
            .iter()
            .map(|r| {
                keys.iter()
                    .map(|k| r.get(k).cloned().unwrap_or_default())
                    .collect()
            })
            .collect(),
    };
    Ok(table.respond(
        &format,
        &Meta {
            total: true,
            ..Meta::default()
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUNDLE: &str = r#"<?xml version='1.0' encoding='UTF-8'?>
<xdat:bundle xmlns:xdat="http://nrg.wustl.edu/security" ID="@xnat:projectData" allow-diff-columns="0">
  <xdat:root_element_name>xnat:projectData</xdat:root_element_name>
  <xdat:search_field><xdat:element_name>xnat:projectData</xdat:element_name><xdat:field_ID>ID</xdat:field_ID><xdat:sequence>0</xdat:sequence></xdat:search_field>
  <xdat:search_field><xdat:element_name>xnat:projectData</xdat:element_name><xdat:field_ID>name</xdat:field_ID><xdat:sequence>1</xdat:sequence></xdat:search_field>
  <xdat:search_where method="AND">
    <xdat:criteria override_value_formatting="0"><xdat:schema_field>xnat:projectData/ID</xdat:schema_field><xdat:comparison_type>LIKE</xdat:comparison_type><xdat:value>%</xdat:value></xdat:criteria>
  </xdat:search_where>
</xdat:bundle>"#;

    #[test]
    fn bundles_parse_into_root_fields_and_criteria() {
        let b = parse(BUNDLE.as_bytes()).unwrap();
        assert_eq!(b.root, "xnat:projectData");
        assert_eq!(b.fields.len(), 2);
        assert_eq!(b.fields[1].id, "name");
        assert_eq!(b.criteria[0].op, "LIKE");
        assert!(!b.any);
        assert!(parse(b"<x/>").unwrap_err().contains("bundle"));
        assert!(parse(b"<unclosed").unwrap_err().contains("invalid XML"));
    }

    #[test]
    fn criteria_compare_by_field_id() {
        let row: Row = [("ID".to_string(), "PILOT".to_string())].into();
        let c = |op: &str, v: &str| Criterion {
            field: "xnat:projectData/ID".into(),
            op: op.into(),
            value: v.into(),
        };
        assert!(matches(&row, &c("LIKE", "%")));
        assert!(matches(&row, &c("LIKE", "PIL%")));
        assert!(matches(&row, &c("=", "PILOT")));
        assert!(!matches(&row, &c("=", "MAIN")));
    }
}
