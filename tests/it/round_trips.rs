//! How many requests `ferry plan`, the drift check and `ferry apply` send, counted by the emulator
//! (`/sim/stats` `requests`): planning reads at most three per imaging session (the session's item,
//! its file listing, one DICOM header) plus a constant per project; the drift check reads four
//! project-level listings and the sessions the plan touches; `apply` sends a fixed number per session
//! and per subject. Counts, not timings.

use crate::plan::{demo_dir, run};
use crate::sim::get;
use crate::support::{stderr, stdout, Sim};
use std::path::Path;

/// Project-level requests of one inventory: the project, roles, subjects, sessions, prearchive, data
/// types, prearchive code and the three anonymization settings.
const PER_PROJECT: u64 = 10;
/// Requests of a connection that belong to no project (log in, log out).
const PER_SERVER: u64 = 2;
/// Project-level requests of the drift check: the project, its subjects, sessions and prearchive
/// (not the roles, data types or upload settings, which no watched object depends on).
const DRIFT_PER_PROJECT: u64 = 4;

fn requests(sim: &Sim) -> u64 {
    get(sim, "/sim/stats", "admin").json()["requests"]
        .as_u64()
        .expect("requests counter")
}

/// The projects a plan read (its `inventories`) and their imaging sessions.
fn planned(sim: &Sim, path: &Path) -> (u64, u64) {
    let text = std::fs::read_to_string(path).unwrap();
    let plan = ferry::plan::from_yaml(&text, path).unwrap();
    let projects: Vec<&String> = plan.inventories.iter().map(|i| &i.project).collect();
    let sessions = projects
        .iter()
        .map(|p| {
            get(
                sim,
                &format!("/data/projects/{p}/experiments?format=json"),
                "admin",
            )
            .rows()
            .iter()
            .filter(|r| r["xsiType"].as_str().unwrap_or("").ends_with("SessionData"))
            .count() as u64
        })
        .sum();
    (projects.len() as u64, sessions)
}

/// Plans the demo manifest against a world seeded with `seed`: requests sent while planning,
/// projects read, sessions in them.
fn plan_and_count(seed: &str) -> (u64, u64, u64) {
    let sim = Sim::start(&["--seed", seed]);
    let dir = demo_dir(&sim, |t| t);
    let before = requests(&sim);
    let o = run(dir.path(), &["plan", "demo.yaml", "--out", "plan.yaml"]);
    let sent = requests(&sim) - before;
    let path = dir.path().join("plan.yaml");
    assert!(path.exists(), "no plan: {}\n{}", stdout(&o), stderr(&o));
    let (projects, sessions) = planned(&sim, &path);
    (sent, projects, sessions)
}

#[test]
fn planning_reads_each_session_in_at_most_three_requests() {
    let (small, projects, sessions) = plan_and_count("demo");
    assert!(sessions > 0 && projects == 2, "{projects} {sessions}");
    assert!(
        small <= 3 * sessions + PER_PROJECT * projects + PER_SERVER,
        "{small} requests for {sessions} sessions in {projects} projects"
    );
    // Every session added costs at most three more requests, whatever the constants.
    let (big, projects_big, sessions_big) = plan_and_count("demo:subjects=30,files=1");
    assert_eq!(projects_big, projects);
    assert!(sessions_big >= sessions + 20, "{sessions_big}");
    assert!(
        big <= 3 * sessions_big + PER_PROJECT * projects + PER_SERVER,
        "{big} requests for {sessions_big} sessions"
    );
    assert!(
        big - small <= 3 * (sessions_big - sessions),
        "{} more requests for {} more sessions",
        big - small,
        sessions_big - sessions
    );
}

#[test]
fn the_session_file_listing_holds_scan_files_only_with_all() {
    let sim = Sim::start(&["--seed", "demo"]);
    let id = get(
        &sim,
        "/data/projects/PILOT/experiments?format=json&label=SUB001_MR1",
        "admin",
    )
    .rows()[0]["ID"]
        .as_str()
        .unwrap()
        .to_string();
    let labels = |all: &str| {
        let rows = get(
            &sim,
            &format!("/data/experiments/{id}/files?format=json{all}"),
            "admin",
        )
        .rows();
        let mut seen: Vec<String> = rows
            .iter()
            .map(|r| r["collection"].as_str().unwrap().to_string())
            .collect();
        seen.dedup();
        (rows.len(), seen)
    };
    // XNAT's FileList: the session's own resources, and with `all=true` every scan's too.
    let (own, own_labels) = labels("");
    assert_eq!(own_labels, vec!["NOTES"]);
    let (every, every_labels) = labels("&all=true");
    assert!(every > own, "{every} {own}");
    assert!(
        every_labels.contains(&"DICOM".to_string()),
        "{every_labels:?}"
    );
    let item = get(
        &sim,
        &format!("/data/experiments/{id}?format=json"),
        "admin",
    )
    .json();
    let scans = &item["items"][0]["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "scans/scan")
        .unwrap()["items"];
    let dicom_ids: Vec<&str> = scans
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["children"][0]["items"].as_array().unwrap())
        .map(|r| {
            r["data_fields"]["xnat_abstractresource_id"]
                .as_str()
                .unwrap()
        })
        .collect();
    let rows = get(
        &sim,
        &format!("/data/experiments/{id}/files?format=json&all=true"),
        "admin",
    )
    .rows();
    // Every scan file row names a resource the item lists under its scan.
    for r in rows.iter().filter(|r| r["collection"] == "DICOM") {
        assert!(dicom_ids.contains(&r["cat_ID"].as_str().unwrap()), "{r}");
    }
}

#[test]
fn the_drift_check_reads_in_detail_only_the_sessions_the_plan_touches() {
    let sim = Sim::start(&["--seed", "demo:subjects=30,files=1"]);
    // One subject selected: one source session, one destination label.
    let dir = demo_dir(&sim, |t| {
        t.replace(r#"subjects: ["SUB*"]"#, r#"subjects: ["SUB001"]"#)
    });
    let o = run(dir.path(), &["plan", "demo.yaml", "--out", "plan.yaml"]);
    let path = dir.path().join("plan.yaml");
    assert!(path.exists(), "no plan: {}\n{}", stdout(&o), stderr(&o));
    let (projects, sessions) = planned(&sim, &path);
    assert!(sessions > 30, "{sessions}");
    let before = requests(&sim);
    let o = run(dir.path(), &["check", "plan.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    let sent = requests(&sim) - before;
    // Two sessions in detail at most (the source session; the destination label does not exist).
    assert!(
        sent <= 3 * 2 + DRIFT_PER_PROJECT * projects + PER_SERVER,
        "{sent} requests to check a plan touching one session of {sessions}"
    );
}

/// A copy from one emulator into another, as the bench's figure 2 makes it.
fn two_site_manifest(src: &str, dst: &str) -> String {
    format!(
        r#"version: 1
servers:
  source: {{ url: "{src}", user_env: FERRY_USER, password_env: FERRY_PASS }}
  destination: {{ url: "{dst}", user_env: FERRY_USER, password_env: FERRY_PASS }}
transfers:
  - name: trips
    mode: copy
    from: {{ server: source, project: PILOT }}
    to: {{ server: destination, project: MAIN }}
    select: {{ scan_types: {{ exclude: ["localizer*"] }} }}
    map:
      subject: "B_{{{{ subject.label }}}}"
      session: "B_{{{{ session.label }}}}"
    dicom:
      set:
        PatientID: "{{{{ dest.subject }}}}"
    policy: {{ conflict: skip, destination: archive, anonymization: "off", verify: full }}
"#
    )
}

#[test]
fn apply_sends_a_fixed_number_of_requests_per_run_session_and_subject() {
    let src = Sim::start(&["--seed", "demo:subjects=3,files=2"]);
    let dst = Sim::start(&["--seed", "demo:subjects=1,files=1,size=8"]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("m.yaml"),
        two_site_manifest(&src.url, &dst.url),
    )
    .unwrap();
    let o = run(dir.path(), &["plan", "m.yaml", "--out", "plan.yaml"]);
    let path = dir.path().join("plan.yaml");
    assert!(path.exists(), "no plan: {}\n{}", stdout(&o), stderr(&o));
    let text = std::fs::read_to_string(&path).unwrap();
    let plan = ferry::plan::from_yaml(&text, &path).unwrap();
    let sessions = plan.transfers[0].actions.len() as u64;
    let subjects = plan
        .steps
        .iter()
        .filter(|s| s.kind == ferry::plan::StepKind::CreateSubject)
        .count() as u64;
    assert!(sessions >= 3 && subjects == 3, "{sessions} {subjects}");
    let (src0, dst0) = (requests(&src), requests(&dst));
    let o = run(
        dir.path(),
        &["apply", "plan.yaml", "--jobs", "4", "--per-server", "4"],
    );
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    let (src_sent, dst_sent) = (requests(&src) - src0, requests(&dst) - dst0);
    // Source, per run: log in and out, the drift check's four project-level listings. Per session:
    // the drift check's three (item, files, header), the download, and the session item read to
    // carry the curated fields; verification compares that read again when the carry set nothing
    // (nothing differs here). Per subject: its fields.
    let src_budget = PER_SERVER + DRIFT_PER_PROJECT + 5 * sessions + subjects;
    assert!(
        src_sent <= src_budget,
        "{src_sent} requests to the source for {sessions} sessions of {subjects} subjects (budget {src_budget})"
    );
    // Destination, per run: log in and out, the drift check's four listings (the labels the plan
    // writes to do not exist: no session is read in detail). Per subject: its creation. Per
    // session: the look before the import, the import, the item to carry the fields (which also
    // serves verification, with the accession ID, when the carry set nothing), and the file listing
    // of verification.
    let dst_budget = PER_SERVER + DRIFT_PER_PROJECT + 4 * sessions + subjects;
    assert!(
        dst_sent <= dst_budget,
        "{dst_sent} requests to the destination for {sessions} sessions of {subjects} subjects (budget {dst_budget})"
    );
}
