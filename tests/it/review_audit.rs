//! After the fact: `ferry audit` matches after a verified apply and names the session when one
//! destination file is deleted, finds duplicate copies, and with `--deep` a header field changed
//! behind ferry's back; `ferry check` stays current after an unrelated change to the destination and
//! names the session after a change to one the plan touches.

use crate::apply::{client, manifest, run};
use crate::sim::send;
use crate::support::{stderr, stdout, Sim};
use serde_json::Value;
use std::path::Path;

/// The demo transfer without the sessions the demo blocks on purpose, planned and applied.
fn applied(sim: &Sim) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let text = manifest(&sim.url, "copy", "conflict: skip").replace(
        "    select:\n",
        "    select:\n      subjects: [\"SUB001\", \"SUB005\", \"SUB006\"]\n",
    );
    std::fs::write(dir.path().join("ferry.yaml"), text).unwrap();
    let p = run(dir.path(), &["plan", "ferry.yaml", "--out", "plan.yaml"]);
    assert_eq!(p.status.code(), Some(0), "{}", stderr(&p));
    let a = run(dir.path(), &["apply", "plan.yaml"]);
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    dir
}

const SESSION: &str = "/data/projects/MAIN/subjects/MAIN_001/experiments/MAIN_001_20240115";

/// The names of the DICOM files of scan 2 of MAIN_001_20240115.
fn scan_files(sim: &Sim) -> Vec<String> {
    let r = send(
        sim,
        "GET",
        &format!("{SESSION}/scans/2/resources/DICOM/files?format=json"),
        Some(("admin", "admin")),
        &[],
        Vec::new(),
    );
    assert_eq!(r.status, 200);
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    v["ResultSet"]["Result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["Name"].as_str().unwrap().to_string())
        .collect()
}

fn audit(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["audit", "ferry.yaml"];
    args.extend_from_slice(extra);
    run(dir, &args)
}

#[test]
fn audit_matches_after_apply_and_names_the_session_missing_a_file() {
    let sim = Sim::start(&["--seed", "demo"]);
    let dir = applied(&sim);
    let st = run(dir.path(), &["status", "plan.yaml", "--json"]);
    let st: Value = serde_json::from_str(&stdout(&st)).unwrap();
    assert_eq!(st["totals"]["done"], 4, "{st}");
    assert_eq!(st["journal"], true);

    // The audit reads the servers only: without the plan, its journal and its report it agrees.
    for f in [
        "plan.yaml",
        "plan.yaml.journal",
        "plan.yaml.verification.json",
    ] {
        std::fs::remove_file(dir.path().join(f)).unwrap();
    }
    let a = audit(dir.path(), &[]);
    assert_eq!(a.status.code(), Some(0), "{}{}", stdout(&a), stderr(&a));
    assert!(
        stdout(&a)
            .contains("Audit: 4 sessions compared: 4 match, 0 missing, 0 different; 0 extra."),
        "{}",
        stdout(&a)
    );
    let deep = audit(dir.path(), &["--deep"]);
    assert_eq!(
        deep.status.code(),
        Some(0),
        "{}{}",
        stdout(&deep),
        stderr(&deep)
    );
    assert!(stdout(&deep).contains("Audit (deep): 4 sessions compared: 4 match"));

    let files = scan_files(&sim);
    assert_eq!(files.len(), 10);
    let r = send(
        &sim,
        "DELETE",
        &format!("{SESSION}/scans/2/resources/DICOM/files/{}", files[0]),
        Some(("admin", "admin")),
        &[],
        Vec::new(),
    );
    assert_eq!(r.status, 200);
    let a = audit(dir.path(), &[]);
    assert_eq!(a.status.code(), Some(4), "{}{}", stdout(&a), stderr(&a));
    let out = stdout(&a);
    assert!(
        out.contains("  DIFFERENT SUB001/SUB001_MR1 -> MAIN_001/MAIN_001_20240115\n            ! scan `2`: 9 DICOM files, the source has 10\n"),
        "{out}"
    );
    assert!(out.contains("3 match, 0 missing, 1 different"), "{out}");
    assert!(
        stderr(&a)
            .contains("error: the destination does not match: 0 missing, 1 different, 0 extra"),
        "{}",
        stderr(&a)
    );
    let j = audit(dir.path(), &["--json"]);
    assert_eq!(j.status.code(), Some(4));
    let j: Value = serde_json::from_str(&stdout(&j)).unwrap();
    let s = &j["transfers"][0]["sessions"][0];
    assert_eq!(s["source"], "SUB001/SUB001_MR1");
    assert_eq!(s["outcome"], "different");
    assert_eq!(j["totals"]["different"], 1);
}

#[test]
fn audit_finds_missing_sessions_and_duplicate_copies() {
    let sim = Sim::start(&["--seed", "demo"]);
    let dir = applied(&sim);
    // The same sessions copied a second time under other labels, as a second tool run might.
    let twice = std::fs::read_to_string(dir.path().join("ferry.yaml"))
        .unwrap()
        .replace(
            "_{{ session.date | replace('-', '') }}",
            "_COPY{{ session.date | replace('-', '') }}",
        )
        .replace(
            "subjects: [\"SUB001\", \"SUB005\", \"SUB006\"]",
            "subjects: [\"SUB005\"]",
        );
    std::fs::write(dir.path().join("twice.yaml"), twice).unwrap();
    let p = run(
        dir.path(),
        &["plan", "twice.yaml", "--out", "twice-plan.yaml"],
    );
    assert_eq!(p.status.code(), Some(0), "{}", stderr(&p));
    let a = run(dir.path(), &["apply", "twice-plan.yaml"]);
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    let o = audit(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("  EXTRA     MAIN_005/MAIN_005_COPY20240312  (holds the study of source session SUB005/SUB005_MR1, whose counterpart is MAIN_005/MAIN_005_20240312)"),
        "{}",
        stdout(&o)
    );
    // Sessions nobody copied are missing, with the reason the plan blocks them.
    let all = std::fs::read_to_string(dir.path().join("ferry.yaml"))
        .unwrap()
        .replace("      subjects: [\"SUB001\", \"SUB005\", \"SUB006\"]\n", "");
    std::fs::write(dir.path().join("all.yaml"), all).unwrap();
    let o = run(dir.path(), &["audit", "all.yaml"]);
    assert_eq!(o.status.code(), Some(4));
    let out = stdout(&o);
    assert!(
        out.contains("  MISSING   SUB003/SUB003_MR1 -> MAIN_003/MAIN_003_20240220\n            ! no session `MAIN_003_20240220` in MAIN\n            note: the plan blocks it: identifying data under anonymization: require"),
        "{out}"
    );
    assert!(
        out.contains("4 match, 3 missing, 1 different; 1 extra."),
        "{out}"
    );
    for v in ["Doe^Jane", "H7730011", "19780412", "Whitfield^Gregory"] {
        assert!(!out.contains(v), "PHI value {v} in the audit");
    }
}

#[test]
fn sessions_left_in_the_prearchive_by_policy_match_without_comparing_scans() {
    let sim = Sim::start(&["--seed", "demo"]);
    let dir = tempfile::tempdir().unwrap();
    let text = manifest(
        &sim.url,
        "copy",
        "conflict: skip, destination: prearchive, archive: manual",
    )
    .replace(
        "    select:\n",
        "    select:\n      subjects: [\"SUB001\"]\n",
    );
    std::fs::write(dir.path().join("ferry.yaml"), text).unwrap();
    let p = run(dir.path(), &["plan", "ferry.yaml", "--out", "plan.yaml"]);
    assert_eq!(p.status.code(), Some(0), "{}", stderr(&p));
    let a = run(dir.path(), &["apply", "plan.yaml"]);
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    let o = audit(dir.path(), &["--verbose"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("  match     SUB001/SUB001_MR1 -> MAIN_001/MAIN_001_20240115\n            note: waiting in the destination prearchive (READY) as the policy leaves it; scans not compared\n"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn audit_deep_finds_a_header_field_changed_behind_ferrys_back() {
    let sim = Sim::start(&["--seed", "demo"]);
    let dir = applied(&sim);
    let name = scan_files(&sim).remove(0);
    let url = format!("{SESSION}/scans/2/resources/DICOM/files/{name}");
    let auth = Some(("admin", "admin"));
    let got = send(&sim, "GET", &url, auth, &[], Vec::new());
    assert_eq!(got.status, 200);
    let set = [("PatientID".to_string(), "SOMEONE_ELSE".to_string())].into();
    let changed = ferry::dicom::rewrite(&got.body, &set).unwrap();
    assert_eq!(
        send(&sim, "DELETE", &url, auth, &[], Vec::new()).status,
        200
    );
    let put = send(&sim, "PUT", &url, auth, &[], changed);
    assert!(put.status < 300, "{}", put.status);
    // Counts are the same, and sizes are not compared where the manifest rewrites headers.
    let shallow = audit(dir.path(), &[]);
    assert_eq!(shallow.status.code(), Some(0), "{}", stdout(&shallow));
    let deep = audit(dir.path(), &["--deep"]);
    assert_eq!(deep.status.code(), Some(4), "{}", stderr(&deep));
    let out = stdout(&deep);
    assert!(
        out.contains("  DIFFERENT SUB001/SUB001_MR1 -> MAIN_001/MAIN_001_20240115\n            ! scan `2`: 1 file where `PatientID` is not what the manifest sets\n"),
        "{out}"
    );
    assert!(!out.contains("SOMEONE_ELSE"), "{out}");
}

#[test]
fn check_passes_after_an_unrelated_change_and_names_a_touched_session() {
    let sim = Sim::start(&["--seed", "demo"]);
    let w = crate::apply::work(&sim, "copy", "conflict: skip");
    assert_eq!(w.plan().status.code(), Some(3));
    let check = |args: &[&str]| {
        let mut all = vec!["check", "plan.yaml"];
        all.extend_from_slice(args);
        run(w.dir.path(), &all)
    };
    let o = check(&[]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("plan.yaml: current"), "{}", stdout(&o));

    // An unrelated change to the destination: a new subject no action maps onto.
    let c = client(&sim);
    c.create_subject("MAIN", "SOMEONE_NEW").unwrap();
    let o = check(&[]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));

    // A change to a session the plan touches: a file of SUB001_MR1 deleted in the source.
    let src =
        "/data/projects/PILOT/subjects/SUB001/experiments/SUB001_MR1/scans/2/resources/DICOM/files";
    let r = send(
        &sim,
        "GET",
        &format!("{src}?format=json"),
        Some(("admin", "admin")),
        &[],
        Vec::new(),
    );
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    let name = v["ResultSet"]["Result"][0]["Name"]
        .as_str()
        .unwrap()
        .to_string();
    let d = send(
        &sim,
        "DELETE",
        &format!("{src}/{name}"),
        Some(("admin", "admin")),
        &[],
        Vec::new(),
    );
    assert_eq!(d.status, 200);
    let o = check(&[]);
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("  local/PILOT: session SUB001/SUB001_MR1"),
        "{}",
        stdout(&o)
    );
    // Only the session the file belonged to, not the new destination subject.
    assert!(!stdout(&o).contains("SOMEONE_NEW"), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("error: the plan is stale"),
        "{}",
        stderr(&o)
    );
    let j = check(&["--json"]);
    assert_eq!(j.status.code(), Some(3));
    let j: Value = serde_json::from_str(&stdout(&j)).unwrap();
    assert_eq!(j["current"], false);
    assert!(
        j["changes"][0]["object"]
            .as_str()
            .unwrap()
            .contains("SUB001_MR1"),
        "{j}"
    );
    // Nothing was written: the plan has no journal.
    assert!(!w.dir.path().join("plan.yaml.journal").exists());
}
