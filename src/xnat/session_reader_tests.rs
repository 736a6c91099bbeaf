//! Unit tests of [`super::assemble`]: a session read from its item and its file listing.

use super::super::items::parse_experiment;
use super::*;
use serde_json::{json, Value};

/// One file row.
fn row_of(row: Value) -> FileRow {
    serde_json::from_value(row).unwrap()
}

/// The rows of a file listing document.
fn rows_of(doc: Value) -> Vec<FileRow> {
    serde_json::from_value::<Listing<FileRow>>(doc)
        .unwrap()
        .rows()
}

fn row() -> SessionRow {
    SessionRow {
        id: "E1".into(),
        label: "S1_MR1".into(),
        subject: "S1".into(),
        xsi_type: "xnat:mrSessionData".into(),
        date: Some("2024-01-15".into()),
        uid: Some("1.2.3".into()),
    }
}

fn resource(id: u64, label: &str, format: &str) -> Value {
    json!({"meta": {"xsi:type": "xnat:resourceCatalog"},
           "data_fields": {"xnat_abstractresource_id": id, "label": label, "format": format,
                           "file_count": 1}})
}

/// An item owned by `owner`, shared into `COLLAB`, with two scans (DICOM in both, SNAPSHOTS in one)
/// and one session resource.
fn item_doc(owner: &str) -> Value {
    json!({"items": [{
    "meta": {"isHistory": false, "xsi:type": "xnat:mrSessionData"},
    "data_fields": {"ID": "E1", "project": owner, "label": "S1_MR1", "note": "n",
                    "visit_id": "V1", "time": "09:30:00"},
    "children": [
        {"field": "sharing/share", "items": [
            {"data_fields": {"project": "COLLAB", "label": "C_MR1"}}]},
        {"field": "scans/scan", "items": [
            {"meta": {"xsi:type": "xnat:mrScanData"},
             "data_fields": {"ID": "10", "type": "T1w", "UID": "1.2.3.10",
                             "series_description": "T1 MPRAGE", "quality": "usable",
                             "note": "fine"},
             "children": [{"field": "file", "items": [resource(101, "DICOM", "DICOM"),
                                                       resource(102, "SNAPSHOTS", "GIF")]}]},
            {"meta": {"xsi:type": "xnat:mrScanData"},
             "data_fields": {"ID": "2", "type": "localizer", "UID": ""},
             "children": [{"field": "file", "items": [resource(103, "DICOM", "DICOM")]}]}]},
        {"field": "resources/resource", "items": [resource(201, "NOTES", "TXT"),
                                                   resource(202, "EMPTY", "")]},
        {"field": "assessors/assessor", "items": [{}]}
    ]}]})
}

fn file(name: &str, uri: &str, cat: &str, collection: &str, size: u64, digest: &str) -> Value {
    json!({"Name": name, "Size": size.to_string(), "URI": uri, "collection": collection,
           "file_format": if collection == "DICOM" { "DICOM" } else { "" },
           "cat_ID": cat, "digest": digest})
}

fn files_doc() -> Value {
    let b = "/data/experiments/E1";
    json!({"ResultSet": {"Result": [
        file("b.dcm", &format!("{b}/scans/10/resources/101/files/b.dcm"), "101", "DICOM", 10, "d1"),
        file("a.dcm", &format!("{b}/scans/10/resources/101/files/a.dcm"), "101", "DICOM", 11, ""),
        file("z.dcm", &format!("{b}/scans/2/resources/103/files/z.dcm"), "103", "DICOM", 12, "d3"),
        file("s.gif", &format!("{b}/scans/10/resources/102/files/s.gif"), "102", "SNAPSHOTS", 5, ""),
        file("c.txt", &format!("{b}/resources/201/files/sub%20dir/c.txt"), "201", "NOTES", 3, "d4"),
        file("x.txt", &format!("{b}/assessors/A1/out/resources/301/files/x.txt"), "301", "QC", 1, ""),
    ]}})
}

fn item(owner: &str) -> ExperimentItem {
    parse_experiment(&item_doc(owner)).unwrap()
}

#[test]
fn scans_keep_their_curated_metadata_and_files() {
    let (s, first) = assemble("P", &row(), &item("P"), &rows_of(files_doc()));
    assert_eq!(s.id, "E1");
    assert_eq!(s.uid.as_deref(), Some("1.2.3"));
    let t1 = &s.scans["10"];
    assert_eq!(t1.scan_type, "T1w");
    assert_eq!(t1.series_description, "T1 MPRAGE");
    assert_eq!(
        t1.uid, None,
        "scan UIDs stay out of the inventory, as before"
    );
    assert_eq!(t1.xsi_type, "xnat:mrScanData");
    assert_eq!((t1.quality.as_str(), t1.note.as_str()), ("usable", "fine"));
    let dicom = &t1.resources["DICOM"];
    assert_eq!(dicom.format, "DICOM");
    assert_eq!(dicom.files.len(), 2);
    assert_eq!(dicom.files["b.dcm"].size, 10);
    assert_eq!(dicom.files["b.dcm"].digest.as_deref(), Some("d1"));
    assert_eq!(dicom.files["a.dcm"].digest, None);
    assert_eq!(t1.resources["SNAPSHOTS"].files.len(), 1);
    assert_eq!(s.file_count(), 4);
    assert_eq!(s.byte_count(), 38);
    // The lowest scan (numerically: 2 before 10) and its first file, by IDs.
    assert_eq!(
        first.as_deref(),
        Some("/data/experiments/E1/scans/2/resources/103/files/z.dcm")
    );
}

#[test]
fn session_resources_come_from_the_item_and_assessor_files_are_left_out() {
    let (s, _) = assemble("P", &row(), &item("P"), &rows_of(files_doc()));
    let notes = &s.resources["NOTES"];
    assert_eq!(notes.format, "TXT");
    assert_eq!(notes.files["sub dir/c.txt"].digest.as_deref(), Some("d4"));
    assert!(
        s.resources["EMPTY"].files.is_empty(),
        "empty resources stay listed"
    );
    assert!(!s.resources.contains_key("QC"));
    assert!(s.scans.values().all(|sc| !sc.resources.contains_key("QC")));
    assert_eq!(s.assessors, 1);
}

#[test]
fn ownership_and_shares_come_from_the_item() {
    let (owned, _) = assemble("P", &row(), &item("P"), &rows_of(files_doc()));
    assert_eq!(owned.shared_from, None);
    assert_eq!(owned.shares["COLLAB"], "C_MR1");
    assert_eq!(owned.meta.visit, "V1");
    assert_eq!(owned.meta.time, "09:30:00");
    // Read from the sharing project, the same item names the owner.
    let (shared, _) = assemble("COLLAB", &row(), &item("OWNER"), &rows_of(files_doc()));
    assert_eq!(shared.shared_from.as_deref(), Some("OWNER"));
    assert_eq!(
        shared.label, "S1_MR1",
        "the label is the listing's, not the owner's"
    );
}

#[test]
fn a_session_without_scans_has_no_first_dicom() {
    let doc = json!({"items": [{
        "meta": {"isHistory": false, "xsi:type": "xnat:mrSessionData"},
        "data_fields": {"ID": "E1", "project": "P", "label": "S1_MR1"},
        "children": [{"field": "scans/scan", "items": []}]}]});
    let empty = json!({"ResultSet": {"Result": []}});
    let (s, first) = assemble(
        "P",
        &row(),
        &parse_experiment(&doc).unwrap(),
        &rows_of(empty),
    );
    assert!(s.scans.is_empty());
    assert!(s.resources.is_empty());
    assert!(s.shares.is_empty());
    assert_eq!(first, None);
    assert_eq!(s.file_count(), 0);
}

#[test]
fn rows_without_a_known_resource_id_are_placed_by_their_uri() {
    // An item without resource IDs: scan files are placed by `/scans/{ID}/`, others by label.
    let doc = json!({"items": [{
        "meta": {"isHistory": false, "xsi:type": "xnat:mrSessionData"},
        "data_fields": {"ID": "E1", "project": "P", "label": "S1_MR1"},
        "children": [{"field": "scans/scan", "items": [
            {"meta": {"xsi:type": "xnat:mrScanData"}, "data_fields": {"ID": "3", "type": "BOLD"}}]}]}]});
    let files = json!({"ResultSet": {"Result": [
        file("f.dcm", "/data/experiments/E1/scans/3/resources/DICOM/files/f.dcm", "", "DICOM", 4, ""),
        file("g.dcm", "/data/experiments/E1/scans/9/resources/DICOM/files/g.dcm", "", "DICOM", 4, ""),
        file("n.txt", "/data/experiments/E1/resources/NOTES/files/n.txt", "", "NOTES", 2, ""),
    ]}});
    let (s, first) = assemble(
        "P",
        &row(),
        &parse_experiment(&doc).unwrap(),
        &rows_of(files),
    );
    assert_eq!(s.scans["3"].resources["DICOM"].files.len(), 1);
    assert!(
        !s.scans.contains_key("9"),
        "a scan the item does not list is not invented"
    );
    assert_eq!(s.resources["NOTES"].files["n.txt"].size, 2);
    assert_eq!(
        first.as_deref(),
        Some("/data/experiments/E1/scans/3/resources/DICOM/files/f.dcm")
    );
}

#[test]
fn unsafe_paths_inside_a_resource_fall_back_to_the_file_name() {
    let r = file(
        "c.txt",
        "/data/experiments/E1/resources/201/files/../c.txt",
        "201",
        "NOTES",
        1,
        "",
    );
    assert_eq!(path_in_resource(&row_of(r)), None);
    let r = file(
        "c.txt",
        "/data/experiments/E1/resources/201/files/a/c.txt",
        "201",
        "NOTES",
        1,
        "",
    );
    assert_eq!(path_in_resource(&row_of(r)).as_deref(), Some("a/c.txt"));
    assert!(scan_sort_key("2") < scan_sort_key("10"));
    assert!(scan_sort_key("10") < scan_sort_key("A"));
}
