//! Moving data safely, end to end against `ferry sim` (docs/guide.md, "Moving data safely"): a move
//! deletes only what it carried and verified, never data other projects see without the manifest
//! saying so, never data the source only shares; empty subjects are listed or removed; a relocation
//! keeps accession IDs and moves no bytes.

use crate::apply::{client, run};
use crate::sharing::{put, shared_world};
use crate::sim::get;
use crate::support::{stderr, stdout, Sim};
use ferry::xnat::InventoryOptions;
use std::path::Path;

fn manifest(url: &str, mode: &str, select: &str, policy: &str, dicom: bool) -> String {
    let set = if dicom {
        r#"    dicom:
      deidentify: { profile: basic, retain: [longitudinal_dates, patient_characteristics, descriptors], uids: keep }
      set:
        PatientID: "{{ dest.subject }}"
        PatientName: "{{ dest.subject }}"
        PatientComments: "Project: {{ dest.project }} Subject: {{ dest.subject }} Session: {{ dest.session }}"
"#
    } else {
        ""
    };
    format!(
        r#"version: 1
servers:
  local:
    url: {url}
    user_env: FERRY_IT_USER
    password_env: FERRY_IT_PASS
transfers:
  - name: t
    mode: {mode}
    from: {{ server: local, project: PILOT }}
    to: {{ server: local, project: DEST }}
    select: {{ {select} }}
    map:
      subject: "D_{{{{ subject.label }}}}"
{set}    policy: {{ {policy} }}
"#
    )
}

fn write(dir: &Path, text: &str) {
    std::fs::write(dir.join("ferry.yaml"), text).unwrap();
}

fn plan(dir: &Path) -> (Option<i32>, String) {
    // Each plan of a test gets its own file (and journal): a fresh plan, a fresh run.
    let _ = std::fs::remove_file(dir.join("plan.yaml.journal"));
    let o = run(dir, &["plan", "ferry.yaml", "--out", "plan.yaml"]);
    (o.status.code(), format!("{}{}", stdout(&o), stderr(&o)))
}

fn apply(dir: &Path, extra: &[&str]) -> String {
    let mut args = vec!["apply", "plan.yaml"];
    args.extend_from_slice(extra);
    let o = run(dir, &args);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    stdout(&o)
}

fn sessions(sim: &Sim, project: &str) -> Vec<String> {
    let mut v: Vec<String> = get(
        sim,
        &format!("/data/projects/{project}/experiments?format=json"),
        "admin",
    )
    .rows()
    .iter()
    .map(|r| r["label"].as_str().unwrap().to_string())
    .collect();
    v.sort();
    v
}

#[test]
fn a_move_never_deletes_what_other_projects_see_or_what_the_source_only_shares() {
    let sim = shared_world();
    assert_eq!(put(&sim, "/data/projects/DEST").status, 200);
    let dir = tempfile::tempdir().unwrap();
    let select = r#"subjects: ["SUB001", "SUB002", "SUB900"]"#;
    write(
        dir.path(),
        &manifest(&sim.url, "move", select, "destination: archive", true),
    );
    let (code, text) = plan(dir.path());
    assert_eq!(code, Some(3), "{text}");
    // Shared into COLLAB: blocked, COLLAB named. Owned by MAIN, shared into PILOT: skipped, owner named.
    assert!(text.contains("! blocked SUB001/SUB001_MR1"), "{text}");
    assert!(
        text.contains("shared into COLLAB: deleting it from PILOT"),
        "{text}"
    );
    assert!(text.contains("shared into PILOT from MAIN"), "{text}");
    assert!(
        text.contains(
            "- delete source session PILOT/SUB002_MR1 (scans 1, 2, 3; nothing else is in it)"
        ),
        "{text}"
    );
    assert!(
        text.contains("Source subjects left empty and kept: PILOT/SUB002"),
        "{text}"
    );
    apply(dir.path(), &["--skip-blocked"]);
    assert!(!sessions(&sim, "PILOT").contains(&"SUB002_MR1".to_string()));
    assert!(sessions(&sim, "PILOT").contains(&"SUB001_MR1".to_string()));
    assert!(sessions(&sim, "COLLAB").contains(&"C001_MR1".to_string()));
    assert!(sessions(&sim, "MAIN").contains(&"MAIN_002_20240203".to_string()));
    // The emptied subject stays (remove_empty_subjects is false).
    assert_eq!(
        get(
            &sim,
            "/data/projects/PILOT/subjects/SUB002?format=json",
            "admin"
        )
        .status,
        200
    );

    // copy_only: copied, the source and its share left as they are.
    write(
        dir.path(),
        &manifest(
            &sim.url,
            "move",
            select,
            "destination: archive, shared_elsewhere: copy_only",
            true,
        ),
    );
    let (code, text) = plan(dir.path());
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("= keep source PILOT/SUB001_MR1  (shared into COLLAB (policy.shared_elsewhere: copy_only))"), "{text}");
    apply(dir.path(), &[]);
    assert!(sessions(&sim, "DEST").contains(&"SUB001_MR1".to_string()));
    assert!(sessions(&sim, "PILOT").contains(&"SUB001_MR1".to_string()));
    assert!(sessions(&sim, "COLLAB").contains(&"C001_MR1".to_string()));

    // select.shared: include: the shared-in session is copied, and still never deleted.
    let select = r#"subjects: ["SUB900"], shared: include"#;
    write(
        dir.path(),
        &manifest(&sim.url, "move", select, "destination: archive", true),
    );
    let (code, text) = plan(dir.path());
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("= keep source PILOT/SUB900_MR1  (shared into PILOT from MAIN: a move never deletes data PILOT only shares)"), "{text}");
    apply(dir.path(), &[]);
    assert!(sessions(&sim, "DEST").contains(&"SUB900_MR1".to_string()));
    assert!(sessions(&sim, "PILOT").contains(&"SUB900_MR1".to_string()));
    assert!(sessions(&sim, "MAIN").contains(&"MAIN_002_20240203".to_string()));
}

#[test]
fn a_move_removes_empty_subjects_only_when_asked() {
    let sim = Sim::start(&["--seed", "demo"]);
    assert_eq!(put(&sim, "/data/projects/DEST").status, 200);
    let dir = tempfile::tempdir().unwrap();
    let policy = "destination: archive, remove_empty_subjects: true";
    write(
        dir.path(),
        &manifest(&sim.url, "move", r#"subjects: ["SUB002"]"#, policy, true),
    );
    let (code, text) = plan(dir.path());
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(
            "- remove source subject PILOT/SUB002  (left empty; policy.remove_empty_subjects)"
        ),
        "{text}"
    );
    apply(dir.path(), &[]);
    assert_eq!(
        get(
            &sim,
            "/data/projects/PILOT/subjects/SUB002?format=json",
            "admin"
        )
        .status,
        404
    );
    assert_eq!(
        get(
            &sim,
            "/data/projects/PILOT/subjects/SUB001?format=json",
            "admin"
        )
        .status,
        200
    );
    assert!(sessions(&sim, "DEST").contains(&"SUB002_MR1".to_string()));
}

#[test]
fn a_relocation_keeps_the_accession_id_and_moves_no_bytes() {
    let sim = Sim::start(&["--seed", "demo"]);
    assert_eq!(put(&sim, "/data/projects/DEST").status, 200);
    let c = client(&sim);
    let before = c
        .inventory(
            "PILOT",
            &InventoryOptions { headers: false },
            &ferry::xnat::NoProgress,
        )
        .unwrap();
    let old = before.subjects["SUB002"].sessions["SUB002_MR1"].clone();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &manifest(
            &sim.url,
            "relocate",
            r#"subjects: ["SUB002"]"#,
            "anonymization: warn",
            false,
        ),
    );
    let stats = |sim: &Sim| get(sim, "/sim/stats", "admin").json();
    let n = |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap();
    let s0 = stats(&sim);
    let (code, text) = plan(dir.path());
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("> relocate SUB002/SUB002_MR1 -> D_SUB002/SUB002_MR1  (3 scans, 30 files; XNAT moves it, no bytes are copied"), "{text}");
    assert!(
        text.contains("+ share   subject SUB002 as D_SUB002"),
        "{text}"
    );
    let s1 = stats(&sim);
    let out = apply(dir.path(), &[]);
    assert!(out.contains("30 files"), "{out}");
    let s2 = stats(&sim);
    // Planning reads the first DICOM file of each session (for templates and PHI findings), and
    // apply's drift check reads it again for the sessions the plan touches only: never more than
    // planning read.
    let (planned, applied) = (
        n(&s1, "file_bytes_served") - n(&s0, "file_bytes_served"),
        n(&s2, "file_bytes_served") - n(&s1, "file_bytes_served"),
    );
    assert!(
        0 < applied && applied <= planned,
        "apply served {applied} file bytes, planning {planned}: beyond its drift check"
    );
    assert!(
        n(&s2, "file_bytes_served") - n(&s1, "file_bytes_served") < old.byte_count() / 2,
        "far less than the session's own bytes"
    );
    assert_eq!(
        s2["bytes_received"], s1["bytes_received"],
        "no body was uploaded"
    );
    let dest = c
        .inventory(
            "DEST",
            &InventoryOptions { headers: false },
            &ferry::xnat::NoProgress,
        )
        .unwrap();
    let moved = &dest.subjects["D_SUB002"].sessions["SUB002_MR1"];
    assert_eq!(moved.id, old.id, "the accession ID is kept");
    assert_eq!(moved.shared_from, None, "primary in DEST");
    assert_eq!(moved.file_count(), old.file_count());
    assert_eq!(moved.byte_count(), old.byte_count());
    assert!(!sessions(&sim, "PILOT").contains(&"SUB002_MR1".to_string()));
    // Run again: nothing to do.
    let (code, text) = plan(dir.path());
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("0 skipped") || !text.contains("> relocate"),
        "{text}"
    );
}

#[test]
fn shared_elsewhere_delete_names_who_loses_it_and_a_shared_subject_is_kept() {
    let sim = shared_world();
    assert_eq!(put(&sim, "/data/projects/DEST").status, 200);
    let dir = tempfile::tempdir().unwrap();
    let policy = "destination: archive, shared_elsewhere: delete, remove_empty_subjects: true";
    let select = r#"subjects: ["SUB001"], resources: ["NOTES"]"#;
    write(
        dir.path(),
        &manifest(&sim.url, "move", select, policy, true),
    );
    let (code, text) = plan(dir.path());
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("- delete source session PILOT/SUB001_MR1 (scans 1, 2, 3, 4, resource NOTES; nothing else is in it); also gone from COLLAB (policy.shared_elsewhere: delete)"), "{text}");
    assert!(
        text.contains("- remove source subject PILOT/SUB001"),
        "{text}"
    );
    apply(dir.path(), &[]);
    assert!(!sessions(&sim, "COLLAB").contains(&"C001_MR1".to_string()));
    assert!(!sessions(&sim, "PILOT").contains(&"SUB001_MR1".to_string()));
    // The subject is shared into COLLAB: the fresh read before removing it says so, and it stays.
    assert_eq!(
        get(
            &sim,
            "/data/projects/PILOT/subjects/SUB001?format=json",
            "admin"
        )
        .status,
        200
    );
    let journal = std::fs::read_to_string(dir.path().join("plan.yaml.journal")).unwrap();
    assert!(journal.contains("shared into COLLAB"), "{journal}");
}

#[test]
fn a_scan_with_other_resources_keeps_them_and_a_new_share_is_drift() {
    let sim = Sim::start(&["--seed", "demo"]);
    assert_eq!(put(&sim, "/data/projects/DEST").status, 200);
    assert_eq!(put(&sim, "/data/projects/COLLAB").status, 200);
    let snap = crate::sim::send(
        &sim,
        "PUT",
        "/data/projects/PILOT/subjects/SUB002/experiments/SUB002_MR1/scans/2/resources/SNAPSHOTS/files/a.png?inbody=true",
        Some(("admin", "admin")),
        &[("Content-Type", "application/octet-stream")],
        b"png".to_vec(),
    );
    assert_eq!(snap.status, 200, "{}", snap.text());
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &manifest(
            &sim.url,
            "move",
            r#"subjects: ["SUB002", "SUB005"]"#,
            "destination: archive",
            true,
        ),
    );
    let (code, text) = plan(dir.path());
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("- delete source scans 1, 3, the DICOM files of scan 2 of PILOT/SUB002_MR1; stays: resource SNAPSHOTS of scan 2"), "{text}");
    // Shared since the plan: apply sees drift and touches nothing.
    let r = put(&sim, "/data/projects/PILOT/subjects/SUB005/experiments/SUB005_MR1/projects/COLLAB?label=C5&format=json");
    assert_eq!(r.status, 200);
    let o = run(dir.path(), &["apply", "plan.yaml"]);
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    assert!(sessions(&sim, "DEST").is_empty());
    // Planned again (SUB005 now blocked as shared), the rest runs.
    let (code, text) = plan(dir.path());
    assert_eq!(code, Some(3), "{text}");
    apply(dir.path(), &["--skip-blocked"]);
    let scans = get(
        &sim,
        "/data/projects/PILOT/subjects/SUB002/experiments/SUB002_MR1/scans?format=json",
        "admin",
    )
    .rows();
    assert_eq!(scans.len(), 1, "{scans:?}");
    assert_eq!(scans[0]["ID"], "2");
    let res = get(
        &sim,
        "/data/projects/PILOT/subjects/SUB002/experiments/SUB002_MR1/scans/2/resources?format=json",
        "admin",
    )
    .rows();
    let labels: Vec<&str> = res.iter().map(|r| r["label"].as_str().unwrap()).collect();
    assert_eq!(labels, vec!["SNAPSHOTS"]);
    assert!(sessions(&sim, "PILOT").contains(&"SUB005_MR1".to_string()));
}

#[test]
fn fields_curated_in_xnat_arrive_as_edited() {
    let sim = Sim::start(&["--seed", "demo"]);
    assert_eq!(put(&sim, "/data/projects/DEST").status, 200);
    let base = "/data/projects/PILOT/subjects/SUB002/experiments/SUB002_MR1";
    for path in [
        format!("{base}/scans/2?xsiType=xnat:mrScanData&xnat:mrScanData/type=T1w_edited&xnat:mrScanData/quality=questionable&xnat:mrScanData/note=motion%20at%20the%20end"),
        format!("{base}?xsiType=xnat:mrSessionData&xnat:mrSessionData/note=rescan%20planned&xnat:mrSessionData/visit_id=V2"),
        "/data/projects/PILOT/subjects/SUB002?gender=female&handedness=left&group=control&dob=1978-04-12".to_string(),
    ] {
        let r = put(&sim, &path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    }
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &manifest(&sim.url, "copy", r#"subjects: ["SUB002"]"#, "", true),
    );
    let (code, text) = plan(dir.path());
    assert_eq!(code, Some(0), "{text}");
    apply(dir.path(), &[]);
    let item = get(
        &sim,
        "/data/projects/DEST/subjects/D_SUB002/experiments/SUB002_MR1?format=json",
        "admin",
    )
    .json();
    let f = &item["items"][0]["data_fields"];
    assert_eq!(
        (f["note"].as_str(), f["visit_id"].as_str()),
        (Some("rescan planned"), Some("V2"))
    );
    let scans = get(
        &sim,
        "/data/projects/DEST/subjects/D_SUB002/experiments/SUB002_MR1/scans?format=json",
        "admin",
    )
    .rows();
    let scan2 = scans.iter().find(|s| s["ID"] == "2").unwrap();
    assert_eq!(scan2["type"], "T1w_edited");
    assert_eq!(scan2["quality"], "questionable");
    assert_eq!(scan2["note"], "motion at the end");
    let scan3 = scans.iter().find(|s| s["ID"] == "3").unwrap();
    assert_eq!(scan3["quality"], "usable");
    // The subject ferry created gets the source subject's group and demographics, never its birth date.
    let subject = get(
        &sim,
        "/data/projects/DEST/subjects/D_SUB002?format=json",
        "admin",
    )
    .json();
    let f = &subject["items"][0]["data_fields"];
    assert_eq!(f["demographics/gender"], "female");
    assert_eq!(f["demographics/handedness"], "left");
    assert_eq!(f["group"], "control");
    assert!(f.get("demographics/dob").is_none(), "{f}");
    // The verification compared them: the journal's verify detail has no problem.
    let journal = std::fs::read_to_string(dir.path().join("plan.yaml.journal")).unwrap();
    assert!(journal.contains("\"fields_carried\":5"), "{journal}");
}

#[test]
fn verification_fails_when_a_curated_field_did_not_arrive() {
    let sim = Sim::start(&["--seed", "demo"]);
    assert_eq!(put(&sim, "/data/projects/DEST").status, 200);
    let src = "/data/projects/PILOT/subjects/SUB002/experiments/SUB002_MR1/scans/2";
    assert_eq!(
        put(
            &sim,
            &format!("{src}?xsiType=xnat:mrScanData&xnat:mrScanData/quality=questionable")
        )
        .status,
        200
    );
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &manifest(&sim.url, "copy", r#"subjects: ["SUB002"]"#, "", true),
    );
    assert_eq!(plan(dir.path()).0, Some(0));
    apply(dir.path(), &[]);
    // Someone resets the quality in the destination; verification, run again, must see it.
    let dest = "/data/projects/DEST/subjects/D_SUB002/experiments/SUB002_MR1/scans/2";
    assert_eq!(
        put(
            &sim,
            &format!("{dest}?xsiType=xnat:mrScanData&xnat:mrScanData/quality=usable")
        )
        .status,
        200
    );
    let journal = dir.path().join("plan.yaml.journal");
    let kept: Vec<String> = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .filter(|l| !l.contains("/verify\""))
        .map(str::to_string)
        .collect();
    std::fs::write(&journal, kept.join("\n") + "\n").unwrap();
    let o = run(dir.path(), &["apply", "plan.yaml"]);
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(4), "{text}");
    assert!(
        text.contains("scan 2: the XNAT field `quality` differs from the source"),
        "{text}"
    );
}
