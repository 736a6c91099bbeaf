//! `ferry plan` against the emulator's demo world: the documented outcome (creates, SUB002 skipped,
//! SUB003 blocked for PHI, SUB004's two sessions blocked naming each other) with exit 3, byte-identical
//! plans for unchanged servers, `conflict: fail`, the DOT export, and no PHI value in any plan.

use crate::support::{ferry_bin, stderr, stdout, Sim};
use ferry::manifest::model::Server;
use ferry::plan::{self, ActionKind, Plan};
use ferry::xnat::{Client, ClientOptions, InventoryOptions, NoProgress};
use std::path::Path;
use std::process::{Command, Output};

const DEMO: &str = include_str!("../../manifests/demo.yaml");

/// A folder with the demo manifest pointed at `sim`, with `edit` applied to its text.
pub fn demo_dir(sim: &Sim, edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let text = edit(DEMO.replace("http://127.0.0.1:8080", &sim.url));
    std::fs::write(dir.path().join("demo.yaml"), text).unwrap();
    dir
}

/// Runs ferry in `dir` as the demo admin.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(ferry_bin())
        .args(args)
        .current_dir(dir)
        .env("FERRY_USER", "admin")
        .env("FERRY_PASS", "admin")
        .env_remove("NETRC")
        .output()
        .expect("run ferry")
}

fn plan_file(dir: &Path, name: &str) -> (String, Plan) {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let plan = plan::from_yaml(&text, &path).unwrap();
    (text, plan)
}

#[test]
fn the_demo_world_plans_as_documented_and_exits_3() {
    let sim = Sim::start(&["--seed", "demo"]);
    let dir = demo_dir(&sim, |t| t);
    let o = run(
        dir.path(),
        &[
            "plan",
            "demo.yaml",
            "--out",
            "plan.yaml",
            "--color",
            "never",
        ],
    );
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(3), "{out}\n{}", stderr(&o));
    assert!(stderr(&o).contains("blocked"), "{}", stderr(&o));
    assert!(!out.contains('\x1b'), "{out}");
    for line in [
        "+ create  SUB001/SUB001_MR1 -> MAIN_001/MAIN_001_20240115  (3 scans, 30 files,",
        "+ create  SUB005/SUB005_MR1 -> MAIN_005/MAIN_005_20240312",
        "+ create  SUB006/SUB006_MR1 -> MAIN_006/MAIN_006_20240402",
        "+ create  SUB006/SUB006_MR2 -> MAIN_006/MAIN_006_20240618",
        "= skip    SUB002/SUB002_MR1 -> MAIN_002/MAIN_002_20240203",
        "! blocked SUB003/SUB003_MR1",
        "collision: SUB004/SUB004_MR1 and SUB004/SUB004_MR2 both map onto MAIN/MAIN_004_20240301",
        "deidentify basic (PS3.15 Annex E 2024b; retain longitudinal_dates, patient_characteristics, descriptors; UIDs remapped)",
    ] {
        assert!(out.contains(line), "missing `{line}` in\n{out}");
    }
    // The plan is written even though it is blocked, so it can be reviewed.
    let (text, plan) = plan_file(dir.path(), "plan.yaml");
    // It shows the profile and its options; StudyInstanceUIDs only as keyed digests.
    let rules = &plan.transfers[0].dicom;
    assert_eq!(rules.annex_e_edition, "2024b");
    assert!(rules.deidentify.is_some(), "{text}");
    for a in &plan.transfers[0].actions {
        let uid = a.source.uid.as_deref().unwrap_or_default();
        assert!(uid.starts_with("k:") && uid.len() == 34, "{uid}");
    }
    assert!(
        !text.contains(ferry::sim::seed::UID_ROOT),
        "a UID in the plan"
    );
    let kinds: Vec<(String, ActionKind)> = plan.transfers[0]
        .actions
        .iter()
        .map(|a| (a.source.session.clone(), a.kind))
        .collect();
    let expect = [
        ("SUB001_MR1", ActionKind::Create),
        ("SUB002_MR1", ActionKind::Skip),
        ("SUB003_MR1", ActionKind::Blocked),
        ("SUB004_MR1", ActionKind::Blocked),
        ("SUB004_MR2", ActionKind::Blocked),
        ("SUB005_MR1", ActionKind::Create),
        ("SUB006_MR1", ActionKind::Create),
        ("SUB006_MR2", ActionKind::Create),
    ];
    let expect: Vec<(String, ActionKind)> =
        expect.iter().map(|(s, k)| (s.to_string(), *k)).collect();
    assert_eq!(kinds, expect);
    let phi = plan.action("pilot-into-main/SUB003/SUB003_MR1").unwrap().1;
    // The demo's Basic Profile removes the birth date, the referring physician and the other
    // patient IDs nested in a sequence; it cannot judge burned-in pixels or private data.
    assert!(phi.reason.contains("BurnedInAnnotation"), "{}", phi.reason);
    assert!(phi.reason.contains("private group 0029"), "{}", phi.reason);
    assert!(!phi.reason.contains("PatientBirthDate"), "{}", phi.reason);
    let s = &plan.summary;
    assert_eq!(
        (s.subjects_created, s.sessions_created, s.sessions_blocked),
        (3, 4, 3)
    );
    assert_eq!(s.files, 120);
    assert_eq!(plan.inventories.len(), 2);
    assert!(plan.manifest.hash.starts_with("blake3:"));
}

#[test]
fn planning_twice_against_unchanged_servers_gives_identical_bytes() {
    let sim = Sim::start(&["--seed", "demo"]);
    let dir = demo_dir(&sim, |t| t);
    let a = run(dir.path(), &["plan", "demo.yaml", "--out", "a.yaml"]);
    let b = run(dir.path(), &["plan", "demo.yaml", "--out", "b.yaml"]);
    assert_eq!(a.status.code(), Some(3), "{}", stderr(&a));
    assert_eq!(b.status.code(), Some(3), "{}", stderr(&b));
    let (ta, pa) = plan_file(dir.path(), "a.yaml");
    let (tb, _) = plan_file(dir.path(), "b.yaml");
    assert_eq!(ta, tb);
    assert_eq!(
        stdout(&a).replace("a.yaml", "b.yaml"),
        stdout(&b).replace("a.yaml", "b.yaml")
    );
    assert_eq!(
        plan::to_yaml(&pa),
        ta,
        "the file is exactly to_yaml of the plan"
    );
    assert!(!dir.path().join("a.yaml.tmp").exists());
}

#[test]
fn an_existing_session_blocks_under_fail_and_is_skipped_under_skip() {
    let sim = Sim::start(&["--seed", "demo"]);
    let only_sub002 = |t: String| t.replace("subjects: [\"SUB*\"]", "subjects: [\"SUB002\"]");
    let skip = demo_dir(&sim, only_sub002);
    let o = run(skip.path(), &["plan", "demo.yaml", "--out", "plan.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("= skip    SUB002/SUB002_MR1"),
        "{}",
        stdout(&o)
    );

    let fail = demo_dir(&sim, |t| {
        only_sub002(t).replace("conflict: skip ", "conflict: fail ")
    });
    let o = run(fail.path(), &["plan", "demo.yaml", "--out", "plan.yaml"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(3), "{out}\n{}", stderr(&o));
    assert!(out.contains("! blocked SUB002/SUB002_MR1"), "{out}");
    assert!(out.contains("conflict: fail"), "{out}");
    assert!(fail.path().join("plan.yaml").exists());
}

#[test]
fn the_graph_exports_as_dot() {
    let sim = Sim::start(&["--seed", "demo"]);
    let dir = demo_dir(&sim, |t| t);
    let o = run(
        dir.path(),
        &["plan", "demo.yaml", "--out", "plan.yaml", "--graph", "dot"],
    );
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(out.starts_with("digraph"), "{out}");
    assert!(
        out.contains("\"pilot-into-main/MAIN_001/create_subject\" -> \"pilot-into-main/MAIN_001/MAIN_001_20240115/upload\""),
        "{out}"
    );
}

#[test]
fn a_bad_manifest_is_a_usage_error() {
    let sim = Sim::start(&["--seed", "demo"]);
    let dir = demo_dir(&sim, |t| t.replace("mode: copy", "mode: teleport"));
    let o = run(dir.path(), &["plan", "demo.yaml", "--out", "plan.yaml"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("demo.yaml"), "{}", stderr(&o));
    assert!(!dir.path().join("plan.yaml").exists());
}

/// Every identifying value the demo seeds into PILOT's headers, read back through the server.
pub fn seeded_phi(sim: &Sim) -> Vec<String> {
    let server = Server {
        url: sim.url.clone(),
        user_env: Some("FERRY_IT_PLAN_USER".into()),
        password_env: Some("FERRY_IT_PLAN_PASS".into()),
        token_env: None,
        allow_http: false,
    };
    std::env::set_var("FERRY_IT_PLAN_USER", "admin");
    std::env::set_var("FERRY_IT_PLAN_PASS", "admin");
    let c = Client::connect("local", &server, ClientOptions::default()).expect("connect");
    let inv = c
        .inventory("PILOT", &InventoryOptions { headers: true }, &NoProgress)
        .expect("inventory");
    let mut values = Vec::new();
    for (_, s) in inv.sessions() {
        if let Some(uid) = &s.uid {
            values.push(uid.clone());
        }
        // The emulator names each file by its SOPInstanceUID; every one of them counts.
        for scan in s.scans.values() {
            values.extend(scan.uid.iter().cloned());
            for r in scan.resources.values() {
                values.extend(
                    r.files
                        .keys()
                        .filter_map(|n| n.strip_suffix(".dcm"))
                        .map(str::to_string),
                );
            }
        }
        for e in &s.elements {
            let wanted = [
                "PatientName",
                "PatientID",
                "PatientBirthDate",
                "ReferringPhysicianName",
                "StudyInstanceUID",
                "SeriesInstanceUID",
                "SOPInstanceUID",
                "OtherPatientIDsSequence/PatientID",
                "OtherPatientIDsSequence/IssuerOfPatientID",
                "(0029,1010)",
            ];
            if !wanted.contains(&e.path.as_str()) || e.value.trim().is_empty() {
                continue;
            }
            values.push(e.value.clone());
            // Person names also by component (`Family^Given`).
            values.extend(
                e.value
                    .split(['^', ' '])
                    .filter(|p| p.len() > 3)
                    .map(str::to_string),
            );
        }
    }
    values.sort();
    values.dedup();
    values
}

#[test]
fn a_plan_of_the_demo_world_carries_no_phi_value() {
    let sim = Sim::start(&["--seed", "demo"]);
    let values = seeded_phi(&sim);
    assert!(values.iter().any(|v| v == "19780412"), "{values:?}");
    assert!(values.iter().any(|v| v == "H-ALT-55013"), "{values:?}");
    assert!(values.iter().any(|v| v.starts_with("1.2.")), "{values:?}");
    assert!(values.len() >= 4 * 6, "{values:?}");
    for mode in ["copy", "move", "share"] {
        let dir = demo_dir(&sim, |t| {
            let t = t
                .replace("mode: copy", &format!("mode: {mode}"))
                .replace("anonymization: require", "anonymization: warn");
            match (mode, t.find("    dicom:\n"), t.find("    policy:")) {
                // A share rewrites no header: the manifest may not ask for it.
                ("share", Some(a), Some(b)) => format!("{}{}", &t[..a], &t[b..]),
                _ => t,
            }
        });
        let o = run(dir.path(), &["plan", "demo.yaml", "--out", "plan.yaml"]);
        assert!(
            dir.path().join("plan.yaml").exists(),
            "{mode}: {}",
            stderr(&o)
        );
        let (text, _) = plan_file(dir.path(), "plan.yaml");
        let shown = format!("{text}{}{}", stdout(&o), stderr(&o));
        for v in &values {
            assert!(
                !shown.contains(v.as_str()),
                "{mode}: PHI value `{v}` in the plan or its diff"
            );
        }
    }
}
