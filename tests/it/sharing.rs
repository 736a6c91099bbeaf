//! `ferry sim` does what XNAT does with shared data (docs/xnat-compat.md, "Sharing, deleting and
//! moving"): listings that hide or show ownership as XNAT's do, the item's `sharing/share`, deletes
//! through the owner or a sharing project, and the change of primary project (`primary=true`).

use crate::sim::{get, send, Reply};
use crate::support::Sim;

const ADMIN: Option<(&str, &str)> = Some(("admin", "admin"));

pub fn put(sim: &Sim, path: &str) -> Reply {
    send(sim, "PUT", path, ADMIN, &[], vec![])
}

/// The demo world with a project COLLAB, PILOT's SUB001 and SUB001_MR1 shared into it, and MAIN's
/// subject MAIN_002 with its session shared into PILOT.
pub fn shared_world() -> Sim {
    let sim = Sim::start(&["--seed", "demo"]);
    assert_eq!(put(&sim, "/data/projects/COLLAB").status, 200);
    for path in [
        "/data/projects/PILOT/subjects/SUB001/projects/COLLAB?label=C001",
        "/data/projects/PILOT/subjects/SUB001/experiments/SUB001_MR1/projects/COLLAB?label=C001_MR1&format=json",
        "/data/projects/MAIN/subjects/MAIN_002/projects/PILOT?label=SUB900",
        "/data/projects/MAIN/subjects/MAIN_002/experiments/MAIN_002_20240203/projects/PILOT?label=SUB900_MR1&format=json",
    ] {
        let r = put(&sim, path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    }
    sim
}

fn rows(sim: &Sim, path: &str) -> Vec<serde_json::Value> {
    get(sim, path, "admin").rows()
}

fn row<'r>(rows: &'r [serde_json::Value], key: &str, value: &str) -> &'r serde_json::Value {
    rows.iter()
        .find(|r| r[key] == value)
        .unwrap_or_else(|| panic!("no row with {key}={value}: {rows:?}"))
}

#[test]
fn listings_show_ownership_as_xnat_does_and_the_item_tells_the_truth() {
    let sim = shared_world();
    // ProjectSubjectList: the label in PILOT, the owning project kept.
    let subjects = rows(&sim, "/data/projects/PILOT/subjects?format=json");
    let shared = row(&subjects, "label", "SUB900");
    assert_eq!(shared["project"], "MAIN");
    assert_eq!(row(&subjects, "label", "SUB001")["project"], "PILOT");
    // ProjSubExptList: the shared row is rewritten to PILOT and its label there.
    let exps = rows(&sim, "/data/projects/PILOT/experiments?format=json");
    let shared = row(&exps, "label", "SUB900_MR1");
    assert_eq!(shared["project"], "PILOT");
    // The item: primary project and every share.
    let id = shared["ID"].as_str().unwrap();
    let item = get(
        &sim,
        &format!("/data/experiments/{id}?format=json"),
        "admin",
    )
    .json();
    assert_eq!(item["items"][0]["data_fields"]["project"], "MAIN");
    assert_eq!(
        item["items"][0]["data_fields"]["label"],
        "MAIN_002_20240203"
    );
    let shares: Vec<&serde_json::Value> = item["items"][0]["children"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["field"] == "sharing/share")
        .flat_map(|c| c["items"].as_array().unwrap())
        .collect();
    assert_eq!(shares.len(), 1);
    assert_eq!(shares[0]["data_fields"]["project"], "PILOT");
    assert_eq!(shares[0]["data_fields"]["label"], "SUB900_MR1");
}

#[test]
fn a_delete_through_a_sharing_project_removes_only_the_share() {
    let sim = shared_world();
    let via_collab = send(
        &sim,
        "DELETE",
        "/data/projects/COLLAB/subjects/C001/experiments/C001_MR1?removeFiles=true",
        ADMIN,
        &[],
        vec![],
    );
    assert_eq!(via_collab.status, 200, "{}", via_collab.text());
    assert_eq!(
        get(&sim, "/data/projects/COLLAB/experiments/C001_MR1", "admin").status,
        404
    );
    assert_eq!(
        get(
            &sim,
            "/data/projects/PILOT/experiments/SUB001_MR1?format=json",
            "admin"
        )
        .status,
        200
    );
    assert!(sim.root.join("archive/PILOT/arc001/SUB001_MR1").exists());
    // Through the owner it goes from every project.
    put(
        &sim,
        "/data/projects/PILOT/subjects/SUB001/experiments/SUB001_MR1/projects/COLLAB?label=C001_MR1&format=json",
    );
    let via_owner = send(
        &sim,
        "DELETE",
        "/data/projects/PILOT/subjects/SUB001/experiments/SUB001_MR1?removeFiles=true",
        ADMIN,
        &[],
        vec![],
    );
    assert_eq!(via_owner.status, 200);
    assert_eq!(
        get(&sim, "/data/projects/COLLAB/experiments/C001_MR1", "admin").status,
        404
    );
    assert!(!sim.root.join("archive/PILOT/arc001/SUB001_MR1").exists());
}

fn file_bytes_served(sim: &Sim) -> u64 {
    get(sim, "/sim/stats", "admin").json()["file_bytes_served"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_change_of_primary_project_moves_the_files_and_keeps_ids_scans_and_shares() {
    let sim = shared_world();
    let before = get(
        &sim,
        "/data/projects/PILOT/subjects/SUB001/experiments/SUB001_MR1?format=json",
        "admin",
    )
    .json();
    let id = before["items"][0]["data_fields"]["ID"]
        .as_str()
        .unwrap()
        .to_string();
    let base = "/data/projects/PILOT/subjects/SUB001/experiments/SUB001_MR1/projects";
    // Onto its own project, and onto a label another experiment holds: 409.
    let same = put(&sim, &format!("{base}/PILOT?primary=true"));
    assert_eq!(same.status, 409);
    assert!(same.text().contains("Already assigned to project:PILOT"));
    let taken = put(
        &sim,
        &format!("{base}/MAIN?primary=true&label=MAIN_002_20240203"),
    );
    assert_eq!(taken.status, 409);
    assert!(taken.text().contains("Specified label is already in use."));
    // Members may not: it takes delete rights on the session.
    let member = send(
        &sim,
        "PUT",
        &format!("{base}/MAIN?primary=true&label=M1"),
        Some(("writer", "writer")),
        &[],
        vec![],
    );
    assert!(
        member.status == 403 || member.status == 404,
        "{}",
        member.status
    );

    let served = file_bytes_served(&sim);
    let moved = put(
        &sim,
        &format!("{base}/MAIN?primary=true&label=MAIN_001_MR1"),
    );
    assert_eq!(moved.status, 200, "{}", moved.text());
    assert_eq!(file_bytes_served(&sim), served, "no file bytes travel");
    assert!(!sim.root.join("archive/PILOT/arc001/SUB001_MR1").exists());
    assert!(sim
        .root
        .join("archive/MAIN/arc001/MAIN_001_MR1/SCANS/2")
        .exists());
    let after = get(
        &sim,
        &format!("/data/experiments/{id}?format=json"),
        "admin",
    )
    .json();
    let f = &after["items"][0]["data_fields"];
    assert_eq!(
        (f["project"].as_str(), f["label"].as_str()),
        (Some("MAIN"), Some("MAIN_001_MR1"))
    );
    assert_eq!(
        f["subject_ID"],
        before["items"][0]["data_fields"]["subject_ID"]
    );
    // Scans, files and the share into COLLAB stay.
    let scans = get(
        &sim,
        &format!("/data/experiments/{id}/scans?format=json"),
        "admin",
    )
    .rows();
    assert_eq!(scans.len(), 4);
    let files = get(
        &sim,
        &format!("/data/experiments/{id}/scans/2/resources/DICOM/files?format=json"),
        "admin",
    )
    .rows();
    assert_eq!(files.len(), 10);
    let file = get(&sim, files[0]["URI"].as_str().unwrap(), "admin");
    assert_eq!(file.status, 200);
    assert!(
        get(
            &sim,
            "/data/projects/COLLAB/experiments/C001_MR1?format=json",
            "admin"
        )
        .status
            == 200
    );
    assert_eq!(
        get(&sim, "/data/projects/PILOT/experiments/SUB001_MR1", "admin").status,
        404
    );
}

#[test]
fn relocating_onto_an_existing_share_drops_that_share() {
    let sim = shared_world();
    let moved = put(
        &sim,
        "/data/projects/PILOT/subjects/SUB001/experiments/SUB001_MR1/projects/COLLAB?primary=true&label=C001_MR1",
    );
    assert_eq!(moved.status, 200, "{}", moved.text());
    let item = get(
        &sim,
        "/data/projects/COLLAB/experiments/C001_MR1?format=json",
        "admin",
    )
    .json();
    assert_eq!(item["items"][0]["data_fields"]["project"], "COLLAB");
    let children = item["items"][0]["children"].as_array().unwrap();
    assert!(
        children.iter().all(|c| c["field"] != "sharing/share"),
        "{children:?}"
    );
}
