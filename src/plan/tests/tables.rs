//! Label templates that read a table: one error names the table and every source label it lacks.

use super::*;

#[test]
fn a_table_missing_labels_names_every_missing_key_at_once() {
    let mut m = manifest("copy", "conflict: skip, anonymization: warn", "");
    m.transfers[0].map.subject = Some("{{ tables.ids[subject.label] }}".into());
    let mut ids = crate::template::Table::new();
    ids.insert("SUB001".into(), "P001".into());
    ids.insert("SUB005".into(), "P005".into());
    let tables: BTreeMap<String, crate::template::Table> = [("ids".to_string(), ids)].into();
    let invs = invs(vec![pilot(), main_project()]);
    let e = build(&PlanInput {
        manifest: &m,
        tables: &tables,
        manifest_path: "ferry.yaml",
        manifest_hash: "blake3:00",
        inventories: &invs,
        ferry_version: crate::VERSION,
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("template map.subject `{{ tables.ids[subject.label] }}` failed: table `ids` has no row for 4 subject labels: SUB002, SUB003, SUB004, SUB006; add them to its CSV"),
        "{e}"
    );
}
