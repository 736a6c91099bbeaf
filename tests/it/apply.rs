//! `ferry apply` against the emulator's demo world: the relabelled copy lands with rewritten headers and
//! identical pixel data, a second run does nothing, a killed run resumes without duplicates, a move
//! deletes sources only after verification, and PHI under `require` is never uploaded.

use crate::support::{ferry_bin, stderr, stdout, Sim};
use ferry::manifest::model::{Anonymization, Server};
use ferry::xnat::{Client, ClientOptions, InventoryOptions, NoProgress, ResourceRef};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

const USER_ENV: &str = "FERRY_IT_USER";
const PASS_ENV: &str = "FERRY_IT_PASS";

/// The demo transfer, with a policy and mode to vary.
pub fn manifest(url: &str, mode: &str, policy: &str) -> String {
    format!(
        r#"version: 1
servers:
  local:
    url: {url}
    user_env: {USER_ENV}
    password_env: {PASS_ENV}
transfers:
  - name: pilot-into-main
    mode: {mode}
    from: {{ server: local, project: PILOT }}
    to: {{ server: local, project: MAIN }}
    select:
      scan_types: {{ exclude: ["localizer*"] }}
    map:
      subject: "MAIN_{{{{ subject.label | replace('SUB', '') }}}}"
      session: "{{{{ dest.subject }}}}_{{{{ session.date | replace('-', '') }}}}"
    dicom:
      deidentify: {{ profile: basic, retain: [longitudinal_dates, patient_characteristics, descriptors], uids: keep }}
      set:
        PatientID: "{{{{ dest.subject }}}}"
        PatientName: "{{{{ dest.subject }}}}"
        StudyDescription: "xnat://{{{{ dest.project }}}}/{{{{ dest.subject }}}}/{{{{ dest.session }}}}"
        PatientComments: "Project: {{{{ dest.project }}}} Subject: {{{{ dest.subject }}}} Session: {{{{ dest.session }}}}"
    policy: {{ {policy} }}
"#
    )
}

/// Runs ferry in `dir` with the demo admin's credentials.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(ferry_bin())
        .args(args)
        .current_dir(dir)
        .env(USER_ENV, "admin")
        .env(PASS_ENV, "admin")
        .env_remove("NETRC")
        .output()
        .expect("run ferry")
}

/// A work folder with the manifest written into it.
pub struct Work {
    pub dir: tempfile::TempDir,
}

pub fn work(sim: &Sim, mode: &str, policy: &str) -> Work {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ferry.yaml"),
        manifest(&sim.url, mode, policy),
    )
    .unwrap();
    Work { dir }
}

impl Work {
    pub fn plan(&self) -> Output {
        run(
            self.dir.path(),
            &["plan", "ferry.yaml", "--out", "plan.yaml"],
        )
    }
    pub fn apply(&self, extra: &[&str]) -> Output {
        let mut args = vec!["apply", "plan.yaml"];
        args.extend_from_slice(extra);
        run(self.dir.path(), &args)
    }
}

pub fn client(sim: &Sim) -> Client {
    let server = Server {
        url: sim.url.clone(),
        user_env: Some(USER_ENV.into()),
        password_env: Some(PASS_ENV.into()),
        token_env: None,
        allow_http: false,
    };
    std::env::set_var(USER_ENV, "admin");
    std::env::set_var(PASS_ENV, "admin");
    Client::connect("local", &server, ClientOptions::default()).expect("connect")
}

/// Every DICOM file of a session, read back through the server: SOPInstanceUID -> (scan key, header
/// keywords, pixel hash).
pub fn files_of(
    c: &Client,
    project: &str,
    subject: &str,
    session: &str,
    scans: &[String],
) -> BTreeMap<String, (String, BTreeMap<String, String>, String)> {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("s.zip");
    c.download_session(
        project,
        subject,
        session,
        scans,
        ferry::xnat::Landing::disk(&zip),
        &mut |_| {},
    )
    .expect("download");
    let mut out = BTreeMap::new();
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
    for i in 0..archive.len() {
        let mut e = archive.by_index(i).unwrap();
        if e.is_dir() {
            continue;
        }
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut bytes).unwrap();
        let Ok(h) = ferry::dicom::read_header_bytes(&bytes) else {
            continue;
        };
        let pixel = ferry::dicom::pixel_hash(&bytes)
            .unwrap()
            .unwrap_or_default();
        let plain =
            ferry::exec::gate::FileRules::plain(&BTreeMap::new(), ferry::exec::zipfacts::Gate::Off);
        let key = ferry::exec::zipfacts::scan_key(&h, &plain);
        let sop = h.sop_instance_uid.clone().unwrap();
        assert!(
            out.insert(sop, (key, h.keywords, pixel)).is_none(),
            "a SOPInstanceUID appears twice in {session}"
        );
    }
    out
}

const CREATED: [(&str, &str, &str, &str); 4] = [
    ("SUB001", "SUB001_MR1", "MAIN_001", "MAIN_001_20240115"),
    ("SUB005", "SUB005_MR1", "MAIN_005", "MAIN_005_20240312"),
    ("SUB006", "SUB006_MR1", "MAIN_006", "MAIN_006_20240402"),
    ("SUB006", "SUB006_MR2", "MAIN_006", "MAIN_006_20240618"),
];

/// Checks MAIN holds exactly the relabelled copies: same files by SOPInstanceUID (no localizer, no
/// duplicates), identical pixel data, rewritten PatientID and routing string. The emulator runs
/// XNAT's default site-wide script on imports (PatientID := session label, StudyDescription :=
/// project), so these headers read back as the manifest set them only because ferry uploads with
/// `prevent_anon=true`: what is stored is what ferry verified.
pub fn assert_copied(sim: &Sim) {
    let c = client(sim);
    let main = c
        .inventory("MAIN", &InventoryOptions { headers: false }, &NoProgress)
        .unwrap();
    for (src_subj, src_sess, dst_subj, dst_sess) in CREATED {
        let session = &main.subjects[dst_subj].sessions[dst_sess];
        let scans: Vec<String> = session.scans.keys().cloned().collect();
        assert!(!scans.contains(&"1".to_string()), "localizer was copied");
        let src = files_of(&c, "PILOT", src_subj, src_sess, &scans);
        let dst = files_of(&c, "MAIN", dst_subj, dst_sess, &scans);
        assert_eq!(
            src.keys().collect::<Vec<_>>(),
            dst.keys().collect::<Vec<_>>(),
            "{dst_sess}: files differ"
        );
        for (sop, (scan, kw, pixel)) in &dst {
            let (src_scan, _, src_pixel) = &src[sop];
            assert_eq!(scan, src_scan);
            assert_eq!(pixel, src_pixel, "{dst_sess}: pixel data changed");
            assert_eq!(kw.get("PatientID").map(String::as_str), Some(dst_subj));
            assert_eq!(
                kw.get("StudyDescription").cloned(),
                Some(format!("xnat://MAIN/{dst_subj}/{dst_sess}"))
            );
        }
    }
    assert!(
        !main.subjects.contains_key("MAIN_003"),
        "PHI session copied"
    );
    assert!(!main.subjects.contains_key("MAIN_004"), "collision copied");
}

#[test]
fn the_demo_transfer_lands_verified_and_a_rerun_does_nothing() {
    let sim = Sim::start(&["--seed", "demo"]);
    let w = work(&sim, "copy", "conflict: skip, destination: prearchive");
    let p = w.plan();
    assert_eq!(p.status.code(), Some(3), "{}", stderr(&p));
    // A blocked plan is refused as a whole unless asked.
    let refused = w.apply(&[]);
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("blocked"), "{}", stderr(&refused));
    let a = w.apply(&["--skip-blocked"]);
    assert!(a.status.success(), "{}\n{}", stdout(&a), stderr(&a));
    assert!(stdout(&a).contains("verified"), "{}", stdout(&a));
    assert_copied(&sim);
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(w.dir.path().join("plan.yaml.verification.json")).unwrap(),
    )
    .unwrap();
    let sessions = report["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 4);
    assert!(sessions.iter().all(|s| s["status"] == "verified"));

    // The same plan again: every step is already done.
    let again = w.apply(&["--skip-blocked"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stdout(&again).contains(" 0 done"), "{}", stdout(&again));

    let status = run(w.dir.path(), &["status", "plan.yaml"]);
    assert!(status.status.success(), "{}", stderr(&status));
    assert!(stdout(&status).contains("4 done"), "{}", stdout(&status));

    // Planning again: nothing left to do for the transferred sessions.
    let replan = run(w.dir.path(), &["plan", "ferry.yaml", "--out", "plan2.yaml"]);
    let text = stdout(&replan);
    assert!(!text.contains("+ create"), "{text}");
    assert!(text.contains("already transferred"), "{text}");
}

#[test]
fn plans_are_byte_identical_and_fail_conflicts_exit_3() {
    let sim = Sim::start(&["--seed", "demo"]);
    let w = work(&sim, "copy", "conflict: fail");
    let a = w.plan();
    assert_eq!(a.status.code(), Some(3), "{}", stderr(&a));
    assert!(
        stdout(&a).contains("MAIN/MAIN_002_20240203 exists (conflict: fail)"),
        "{}",
        stdout(&a)
    );
    let first = std::fs::read(w.dir.path().join("plan.yaml")).unwrap();
    w.plan();
    let second = std::fs::read(w.dir.path().join("plan.yaml")).unwrap();
    assert_eq!(first, second, "planning twice changed the plan");
    let dot = run(
        w.dir.path(),
        &["plan", "ferry.yaml", "--out", "p2.yaml", "--graph", "dot"],
    );
    assert!(
        stdout(&dot).starts_with("digraph ferry {"),
        "{}",
        stdout(&dot)
    );
}

#[test]
fn a_move_deletes_each_source_only_after_its_verification() {
    let sim = Sim::start(&["--seed", "demo"]);
    let w = work(&sim, "move", "conflict: skip, destination: archive");
    assert_eq!(w.plan().status.code(), Some(3));
    let a = w.apply(&["--skip-blocked"]);
    assert!(a.status.success(), "{}\n{}", stdout(&a), stderr(&a));
    assert!(stdout(&a).contains("source deleted"), "{}", stdout(&a));
    // The journal: every delete comes after its session's verify, and records the verification.
    let journal = std::fs::read_to_string(w.dir.path().join("plan.yaml.journal")).unwrap();
    let lines: Vec<serde_json::Value> = journal
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let done_at = |step: &str| {
        lines
            .iter()
            .position(|l| l["event"] == "done" && l["step"] == step)
            .unwrap_or_else(|| panic!("{step} not done"))
    };
    let mut deletes = 0;
    for l in &lines {
        let step = l["step"].as_str().unwrap_or_default();
        if l["event"] == "done" && step.ends_with("/delete_source") {
            let verify = step.replace("/delete_source", "/verify");
            assert!(done_at(&verify) < done_at(step));
            assert_eq!(l["detail"]["verified_by"], verify.as_str());
            assert!(l["detail"]["verification"]["problems"]
                .as_array()
                .unwrap()
                .is_empty());
            deletes += 1;
        }
    }
    assert_eq!(deletes, 4);
    let c = client(&sim);
    let pilot = c
        .inventory("PILOT", &InventoryOptions { headers: false }, &NoProgress)
        .unwrap();
    // Only what was carried is gone: each source session keeps its excluded localizer (scan 1),
    // and SUB001_MR1 its unselected NOTES resource, so the sessions themselves stay.
    for (subj, sess, _, _) in CREATED {
        let left = &pilot.subjects[subj].sessions[sess];
        assert_eq!(
            left.scans.keys().collect::<Vec<_>>(),
            vec!["1"],
            "{sess}: only the localizer stays"
        );
        assert_eq!(left.scans["1"].scan_type, "localizer");
    }
    assert!(pilot.subjects["SUB001"].sessions["SUB001_MR1"]
        .resources
        .contains_key("NOTES"));
    // Blocked and skipped sessions are never deleted.
    for (subj, sess) in [
        ("SUB002", "SUB002_MR1"),
        ("SUB003", "SUB003_MR1"),
        ("SUB004", "SUB004_MR1"),
    ] {
        assert!(
            pilot.subjects[subj].sessions.contains_key(sess),
            "{sess} deleted"
        );
    }
}

#[test]
fn a_file_with_phi_under_require_is_never_uploaded() {
    let sim = Sim::start(&["--seed", "demo"]);
    // Plan under `warn` (SUB003 becomes a create), then require at apply time by changing the plan's
    // policy and sealing it again as `ferry plan` would: the executor checks every file itself and
    // must stop SUB003 before uploading.
    let w = work(&sim, "copy", "conflict: skip, anonymization: warn");
    assert_eq!(w.plan().status.code(), Some(3));
    let path = w.dir.path().join("plan.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut plan = ferry::plan::from_yaml(&text, &path).unwrap();
    assert_eq!(plan.transfers[0].policy.anonymization, Anonymization::Warn);
    plan.transfers[0].policy.anonymization = Anonymization::Require;
    std::fs::write(&path, ferry::plan::to_yaml(&plan)).unwrap();
    let a = w.apply(&["--skip-blocked"]);
    assert_eq!(a.status.code(), Some(1), "{}\n{}", stdout(&a), stderr(&a));
    let err = stderr(&a);
    assert!(err.contains("identifying DICOM data"), "{err}");
    assert!(err.contains("BurnedInAnnotation"), "{err}");
    assert!(err.contains("private group 0029"), "{err}");
    for v in ["19780412", "H-ALT-55013", "Whitfield"] {
        assert!(!err.contains(v), "a PHI value leaked: {err}");
    }
    let c = client(&sim);
    let main = c
        .inventory("MAIN", &InventoryOptions { headers: false }, &NoProgress)
        .unwrap();
    assert!(
        !main.subjects.contains_key("MAIN_003"),
        "an empty subject was left behind"
    );
    assert!(
        main.prearchive.values().all(|p| p.subject != "MAIN_003"),
        "uploaded to the prearchive"
    );
    // The other sessions went through.
    assert!(main.subjects["MAIN_001"]
        .sessions
        .contains_key("MAIN_001_20240115"));
}

#[test]
fn apply_refuses_drifted_servers_and_allow_drift_shows_the_new_plan() {
    let sim = Sim::start(&["--seed", "demo"]);
    let w = work(&sim, "copy", "conflict: skip");
    assert_eq!(w.plan().status.code(), Some(3));
    // Someone adds a session to MAIN under a label the plan means to create.
    let c = client(&sim);
    c.create_subject("MAIN", "MAIN_005").unwrap();
    let a = w.apply(&["--skip-blocked"]);
    assert_eq!(a.status.code(), Some(3), "{}", stderr(&a));
    assert!(
        stderr(&a).contains("changed since it was made; nothing was changed"),
        "{}",
        stderr(&a)
    );
    // The changed object is named, with what changed.
    assert!(
        stderr(&a).contains("local/MAIN: subject MAIN_005: appeared"),
        "{}",
        stderr(&a)
    );
    // Downloads and rewrites may have run beside the drift check; nothing that changes a server
    // started.
    let journal = w.dir.path().join("plan.yaml.journal");
    let j = std::fs::read_to_string(&journal).unwrap_or_default();
    for line in j.lines().filter(|l| l.contains("\"started\"")) {
        assert!(
            line.contains("/download\"") || line.contains("/rewrite\""),
            "{line}"
        );
    }
    // A second run is refused the same way: downloads the first run made do not count as started
    // sessions, which a resumed run leaves to their steps.
    let again = w.apply(&["--skip-blocked"]);
    assert_eq!(again.status.code(), Some(3), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("local/MAIN: subject MAIN_005: appeared"),
        "{}",
        stderr(&again)
    );
    let b = w.apply(&["--skip-blocked", "--allow-drift"]);
    assert_eq!(b.status.code(), Some(3), "{}", stderr(&b));
    assert!(stdout(&b).contains("planned again"), "{}", stdout(&b));
    // The new plan is shown against the reviewed one: the subject is no longer created.
    assert!(
        stdout(&b).contains("the new plan against the reviewed one:"),
        "{}",
        stdout(&b)
    );
    assert!(
        stdout(&b).contains("- step pilot-into-main/MAIN_005/create_subject"),
        "{}",
        stdout(&b)
    );
    assert!(stderr(&b).contains("plan.replanned.yaml"), "{}", stderr(&b));
    let fresh = std::fs::read_to_string(w.dir.path().join("plan.replanned.yaml")).unwrap();
    assert!(fresh.contains("format: ferry-plan/1"));
    // The subject now exists, so the new plan does not create it.
    assert!(
        !fresh.contains("pilot-into-main/MAIN_005/create_subject"),
        "{fresh}"
    );
    // Nothing was applied.
    let main = c
        .inventory("MAIN", &InventoryOptions { headers: false }, &NoProgress)
        .unwrap();
    assert!(main.subjects["MAIN_005"].sessions.is_empty());
}

#[test]
fn a_share_is_visible_in_the_destination_after_apply() {
    let sim = Sim::start(&["--seed", "demo"]);
    let dir = tempfile::tempdir().unwrap();
    let share = format!(
        "version: 1\nservers:\n  local: {{ url: \"{}\", user_env: {USER_ENV}, password_env: {PASS_ENV} }}\ntransfers:\n  - name: share-pilot\n    mode: share\n    from: {{ server: local, project: PILOT }}\n    to: {{ server: local, project: MAIN }}\n    select: {{ subjects: [\"SUB001\"] }}\n    policy: {{ anonymization: warn }}\n    map:\n      subject: \"MAIN_{{{{ subject.label | replace('SUB', '') }}}}\"\n      session: \"{{{{ dest.subject }}}}_{{{{ session.date | replace('-', '') }}}}\"\n",
        sim.url
    );
    std::fs::write(dir.path().join("ferry.yaml"), share).unwrap();
    let w = Work { dir };
    let p = w.plan();
    assert!(
        matches!(p.status.code(), Some(0) | Some(3)),
        "{}",
        stderr(&p)
    );
    assert!(stdout(&p).contains("share"), "{}", stdout(&p));
    let a = w.apply(&["--skip-blocked"]);
    assert!(a.status.success(), "{}\n{}", stdout(&a), stderr(&a));
    let c = client(&sim);
    let shared = c.session("MAIN", "MAIN_001", "MAIN_001_20240115").unwrap();
    assert!(
        shared.is_some(),
        "the shared session is not visible in MAIN"
    );
    // A share copies no file: the source keeps its session.
    assert!(c
        .session("PILOT", "SUB001", "SUB001_MR1")
        .unwrap()
        .is_some());
}

/// The demo transfer with `select.resources: [NOTES]`.
fn work_with_notes(sim: &Sim, policy: &str) -> Work {
    let w = work(sim, "copy", policy);
    let path = w.dir.path().join("ferry.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let with = text.replace("    select:\n", "    select:\n      resources: [NOTES]\n");
    assert_ne!(text, with);
    std::fs::write(&path, with).unwrap();
    w
}

#[test]
fn selected_session_resources_are_copied_file_by_file_and_verified() {
    for policy in [
        "conflict: skip, destination: prearchive",
        "conflict: skip, destination: archive",
    ] {
        let sim = Sim::start(&["--seed", "demo"]);
        let w = work_with_notes(&sim, policy);
        let p = w.plan();
        assert_eq!(p.status.code(), Some(3), "{}", stderr(&p));
        assert!(stdout(&p).contains("resources NOTES"), "{}", stdout(&p));
        let a = w.apply(&["--skip-blocked"]);
        assert!(
            a.status.success(),
            "{policy}: {}\n{}",
            stdout(&a),
            stderr(&a)
        );
        assert_copied(&sim);
        let c = client(&sim);
        let mut copied = 0;
        for (src_subj, src_sess, dst_subj, dst_sess) in CREATED {
            let notes = |project, subject, session| ResourceRef {
                project,
                subject,
                session,
                label: "NOTES",
            };
            let src = c
                .resource_files(notes("PILOT", src_subj, src_sess))
                .unwrap();
            let dst = c.resource_files(notes("MAIN", dst_subj, dst_sess)).unwrap();
            assert_eq!(
                src, dst,
                "{policy}: NOTES of {dst_sess} differ from the source"
            );
            copied += dst.len();
        }
        assert!(copied > 0, "the demo world has no NOTES to copy");
        // Verification covered the resource files.
        let report: serde_json::Value = serde_json::from_slice(
            &std::fs::read(w.dir.path().join("plan.yaml.verification.json")).unwrap(),
        )
        .unwrap();
        assert!(report["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "verified"));
        // Planning again: the copies with their resources are already there.
        let replan = run(w.dir.path(), &["plan", "ferry.yaml", "--out", "plan2.yaml"]);
        assert!(!stdout(&replan).contains("+ create"), "{}", stdout(&replan));
        assert!(!stdout(&replan).contains("~ merge"), "{}", stdout(&replan));
    }
}

#[test]
fn resources_are_skipped_with_a_reason_when_sessions_stay_in_the_prearchive() {
    let sim = Sim::start(&["--seed", "demo"]);
    let w = work_with_notes(
        &sim,
        "conflict: skip, destination: prearchive, archive: manual",
    );
    let p = w.plan();
    let text = stdout(&p);
    assert!(text.contains("resource NOTES of SUB001_MR1"), "{text}");
    assert!(text.contains("archive: manual"), "{text}");
    assert!(!text.contains("resources NOTES"), "{text}");
}

#[test]
fn resource_files_are_never_overwritten_and_differences_fail_verification() {
    use ferry::exec::resources::{attach, check, Place, StagedFile};
    let sim = Sim::start(&["--seed", "demo"]);
    let base = "/data/projects/MAIN/subjects/MAIN_002/experiments/MAIN_002_20240203";
    let put = crate::sim::send(
        &sim,
        "PUT",
        &format!("{base}/resources/NOTES/files/notes/a.txt?inbody=true"),
        Some(("admin", "admin")),
        &[("Content-Type", "application/octet-stream")],
        b"theirs".to_vec(),
    );
    assert_eq!(put.status, 200, "{}", put.text());
    let c = client(&sim);
    let dest = Place {
        project: "MAIN",
        subject: "MAIN_002",
        session: "MAIN_002_20240203",
    };
    let dir = tempfile::tempdir().unwrap();
    let ours = StagedFile {
        label: "NOTES".into(),
        path: "notes/a.txt".into(),
        size: 4,
        md5: "0".repeat(32),
        blake3: "0".repeat(64),
    };
    let err = attach(
        &c,
        dest,
        std::slice::from_ref(&ours),
        dir.path(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.message.contains("never overwrites"), "{}", err.message);
    let absent = StagedFile {
        path: "notes/b.txt".into(),
        ..ours.clone()
    };
    let problems: Vec<String> = check(&c, dest, &[ours, absent], dir.path())
        .unwrap()
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(
        problems,
        [
            "resource file `NOTES/notes/a.txt`: 6 bytes, expected 4",
            "resource file `NOTES/notes/b.txt`: missing"
        ]
    );
    // The file that was there is untouched.
    let after = crate::sim::get(
        &sim,
        &format!("{base}/resources/NOTES/files/notes/a.txt"),
        "admin",
    );
    assert_eq!(after.body, b"theirs");
}

#[test]
fn a_data_type_the_destination_does_not_serve_is_skipped_with_why() {
    let sim = Sim::start(&["--seed", "demo"]);
    let off = crate::sim::send(
        &sim,
        "PUT",
        "/sim/datatypes/xnat:mrSessionData?enabled=false",
        Some(("admin", "admin")),
        &[],
        vec![],
    );
    assert_eq!(off.status, 200, "{}", off.text());
    let w = work(&sim, "copy", "conflict: skip");
    let p = w.plan();
    let text = stdout(&p);
    assert!(p.status.success(), "{text}\n{}", stderr(&p));
    assert!(!text.contains("+ create"), "{text}");
    assert!(
        text.contains(
            "data type xnat:mrSessionData is not served by the destination server `local`"
        ),
        "{text}"
    );
}

#[test]
fn a_plan_edited_by_hand_is_refused_and_nothing_changes() {
    let sim = Sim::start(&["--seed", "demo"]);
    let w = work(&sim, "copy", "conflict: skip");
    w.plan();
    let path = w.dir.path().join("plan.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replace("MAIN_001_20240115", "MAIN_001_20240116");
    assert_ne!(edited, text);
    std::fs::write(&path, edited).unwrap();
    let a = w.apply(&["--skip-blocked"]);
    assert_eq!(a.status.code(), Some(2), "{}", stderr(&a));
    assert!(
        stderr(&a).contains("plan.yaml: the plan does not match its seal"),
        "{}",
        stderr(&a)
    );
    let main = client(&sim)
        .inventory("MAIN", &InventoryOptions { headers: false }, &NoProgress)
        .unwrap();
    assert!(
        !main.subjects.contains_key("MAIN_001"),
        "apply changed MAIN"
    );
    // Cut short: refused too.
    std::fs::write(&path, &text[..text.len() / 3]).unwrap();
    let a = w.apply(&[]);
    assert_eq!(a.status.code(), Some(2), "{}", stderr(&a));
    assert!(stderr(&a).contains("plan.yaml"), "{}", stderr(&a));
}

#[test]
fn changes_the_plan_does_not_touch_are_not_drift() {
    let sim = Sim::start(&["--seed", "demo"]);
    let w = work(&sim, "copy", "conflict: skip");
    assert_eq!(w.plan().status.code(), Some(3));
    // A scanner feeds MAIN and PILOT while the plan waits for review: new subjects and sessions
    // elsewhere in both projects.
    let c = client(&sim);
    c.create_subject("MAIN", "WALK_IN_1").unwrap();
    c.create_subject("PILOT", "SUB099").unwrap();
    let a = w.apply(&["--skip-blocked"]);
    assert!(a.status.success(), "{}\n{}", stdout(&a), stderr(&a));
    assert_copied(&sim);
}

#[test]
fn a_change_to_a_source_session_the_plan_copies_is_named() {
    let sim = Sim::start(&["--seed", "demo"]);
    let w = work(&sim, "copy", "conflict: skip");
    assert_eq!(w.plan().status.code(), Some(3));
    let c = client(&sim);
    c.delete_session("PILOT", "SUB005", "SUB005_MR1").unwrap();
    let a = w.apply(&["--skip-blocked"]);
    assert_eq!(a.status.code(), Some(3), "{}", stderr(&a));
    let err = stderr(&a);
    assert!(
        err.contains("local/PILOT: session SUB005/SUB005_MR1: gone"),
        "{err}"
    );
    // Its scans are named too, and nothing was applied.
    assert!(
        err.contains("local/PILOT: session SUB005/SUB005_MR1 scan"),
        "{err}"
    );
    let main = c
        .inventory("MAIN", &InventoryOptions { headers: false }, &NoProgress)
        .unwrap();
    assert!(!main.subjects.contains_key("MAIN_001"));
}

#[test]
fn a_resumed_run_checks_drift_for_the_sessions_that_have_not_started() {
    let sim = Sim::start(&["--seed", "demo"]);
    let w = work(&sim, "copy", "conflict: skip");
    assert_eq!(w.plan().status.code(), Some(3));
    // An earlier run started one session and stopped.
    let plan = std::fs::read(w.dir.path().join("plan.yaml")).unwrap();
    let hash = ferry::exec::apply::plan_hash(&plan);
    std::fs::write(
        w.dir.path().join("plan.yaml.journal"),
        format!(
            "{{\"event\":\"plan\",\"plan_hash\":\"{hash}\"}}\n{{\"event\":\"started\",\"step\":\"pilot-into-main/MAIN_001/MAIN_001_20240115/download\"}}\n"
        ),
    )
    .unwrap();
    // A session that has not started changes since the plan.
    let c = client(&sim);
    c.delete_session("PILOT", "SUB006", "SUB006_MR2").unwrap();
    let a = w.apply(&["--skip-blocked"]);
    assert_eq!(a.status.code(), Some(3), "{}", stderr(&a));
    assert!(
        stderr(&a).contains("local/PILOT: session SUB006/SUB006_MR2: gone"),
        "{}",
        stderr(&a)
    );
}

/// A session whose download (or rewrite) an earlier run made is still checked for drift: neither
/// changed anything on a server, so nothing else guards it.
#[test]
fn a_resumed_run_checks_drift_for_sessions_only_downloaded_before() {
    let sim = Sim::start(&["--seed", "demo"]);
    let w = work(&sim, "copy", "conflict: skip");
    assert_eq!(w.plan().status.code(), Some(3));
    let path = w.dir.path().join("plan.yaml");
    let (plan, hash) = ferry::exec::apply::read_plan(&path).unwrap();
    let a = plan
        .transfers
        .iter()
        .flat_map(|t| &t.actions)
        .find(|a| a.source.session == "SUB006_MR2")
        .expect("the plan copies SUB006_MR2");
    let step = |kind: &str| {
        format!(
            "pilot-into-main/{}/{}/{kind}",
            a.dest.subject, a.dest.session
        )
    };
    // An earlier run downloaded and rewrote it, then stopped.
    let lines = [
        format!("{{\"event\":\"plan\",\"plan_hash\":\"{hash}\"}}"),
        format!(
            "{{\"event\":\"started\",\"step\":\"{}\"}}",
            step("download")
        ),
        format!("{{\"event\":\"done\",\"step\":\"{}\"}}", step("download")),
        format!("{{\"event\":\"started\",\"step\":\"{}\"}}", step("rewrite")),
    ];
    std::fs::write(
        w.dir.path().join("plan.yaml.journal"),
        lines.join("\n") + "\n",
    )
    .unwrap();
    client(&sim)
        .delete_session("PILOT", "SUB006", "SUB006_MR2")
        .unwrap();
    let out = w.apply(&["--skip-blocked"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("local/PILOT: session SUB006/SUB006_MR2: gone"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn files_the_destination_lists_with_the_uploaded_md5_are_verified_without_reading_back() {
    let sim = Sim::start(&["--seed", "demo"]);
    let w = work(
        &sim,
        "copy",
        "conflict: skip, destination: archive, verify: full",
    );
    let p = w.plan();
    assert!(matches!(p.status.code(), Some(0 | 3)), "{}", stderr(&p));
    let a = w.apply(&["--skip-blocked"]);
    assert!(a.status.success(), "{}\n{}", stdout(&a), stderr(&a));
    assert!(
        stdout(&a).contains("by digest, 0 read back"),
        "{}",
        stdout(&a)
    );
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(w.dir.path().join("plan.yaml.verification.json")).unwrap(),
    )
    .unwrap();
    let verified: Vec<_> = report["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "verified")
        .collect();
    assert!(!verified.is_empty());
    for s in verified {
        // Every DICOM file was vouched for by the server's digest; none was read back.
        assert!(s["by_digest"].as_u64().unwrap() > 0, "{s}");
        assert_eq!(s["read_back"], 0, "{s}");
    }
    assert_copied(&sim);
}

#[test]
fn the_journal_and_the_report_are_a_record_of_the_transfer() {
    let sim = Sim::start(&["--seed", "demo"]);
    let w = work(&sim, "copy", "conflict: skip");
    assert_eq!(w.plan().status.code(), Some(3));
    let a = w.apply(&["--skip-blocked"]);
    assert!(a.status.success(), "{}", stderr(&a));
    let journal = std::fs::read_to_string(w.dir.path().join("plan.yaml.journal")).unwrap();
    let lines: Vec<serde_json::Value> = journal
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Every record carries its UTC time.
    for l in &lines {
        let at = l["at"].as_str().unwrap_or_default();
        assert!(
            at.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(at).is_ok(),
            "{l}"
        );
    }
    // The run: who, where, which ferry, which servers.
    let run = lines.iter().find(|l| l["event"] == "run").unwrap();
    assert!(!run["user"].as_str().unwrap().is_empty());
    assert!(!run["host"].as_str().unwrap().is_empty());
    assert_eq!(run["ferry_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(run["servers"]["local"], sim.url.as_str());
    // Each verified session names its source and destination accession IDs.
    let verified: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["event"] == "done" && l["step"].as_str().unwrap().ends_with("/verify"))
        .collect();
    assert_eq!(verified.len(), 4);
    for v in &verified {
        let acc = &v["detail"]["accession"];
        for k in ["source_subject", "source_session", "dest_session"] {
            assert!(!acc[k].as_str().unwrap_or_default().is_empty(), "{k}: {v}");
        }
        assert_ne!(acc["source_session"], acc["dest_session"]);
    }
    // The report carries the same.
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(w.dir.path().join("plan.yaml.verification.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["run"]["user"], run["user"]);
    assert_eq!(report["run"]["host"], run["host"]);
    assert_eq!(report["run"]["servers"]["local"], sim.url.as_str());
    assert!(
        report["run"]["started"].as_str().unwrap() <= report["run"]["finished"].as_str().unwrap()
    );
    for s in report["sessions"].as_array().unwrap() {
        assert!(
            s["source_session_id"]
                .as_str()
                .unwrap()
                .starts_with("XNAT_E"),
            "{s}"
        );
        assert!(
            s["dest_session_id"].as_str().unwrap().starts_with("XNAT_E"),
            "{s}"
        );
    }
}

#[test]
fn a_second_apply_on_the_same_plan_exits_3_while_the_first_runs() {
    let sim = Sim::start(&["--seed", "demo"]);
    let w = work(&sim, "copy", "conflict: skip");
    assert_eq!(w.plan().status.code(), Some(3));
    // Stand in for a first run: hold the plan's lock.
    let held = ferry::exec::journal::lock(&w.dir.path().join("plan.yaml")).unwrap();
    let second = w.apply(&["--skip-blocked"]);
    assert_eq!(second.status.code(), Some(3), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("another `ferry apply` is running"),
        "{}",
        stderr(&second)
    );
    assert!(!w.dir.path().join("plan.yaml.journal").exists());
    drop(held);
    let a = w.apply(&["--skip-blocked"]);
    assert!(a.status.success(), "{}", stderr(&a));
}

#[test]
fn archive_manual_reports_staged_and_a_conflicted_entry_fails_verification() {
    let sim = Sim::start(&["--seed", "demo"]);
    let w = work(
        &sim,
        "copy",
        "conflict: skip, destination: prearchive, archive: manual",
    );
    assert_eq!(w.plan().status.code(), Some(3));
    let a = w.apply(&["--skip-blocked"]);
    assert!(a.status.success(), "{}", stderr(&a));
    assert!(stdout(&a).contains("  staged "), "{}", stdout(&a));
    assert!(!stdout(&a).contains("verified"), "{}", stdout(&a));
    let report_path = w.dir.path().join("plan.yaml.verification.json");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    let sessions = report["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 4);
    for s in sessions {
        assert_eq!(s["status"], "staged", "{s}");
        assert!(s["files"].as_u64().unwrap() > 0, "{s}");
    }
    // The partner tries to archive one into a label that holds another study: CONFLICT.
    let journal_path = w.dir.path().join("plan.yaml.journal");
    let journal = std::fs::read_to_string(&journal_path).unwrap();
    let upload: serde_json::Value = journal
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|l| l["event"] == "done" && l["step"].as_str().unwrap().ends_with("/upload"))
        .unwrap();
    let uri = upload["detail"]["uri"].as_str().unwrap().to_string();
    let session = upload["step"].as_str().unwrap().trim_end_matches("upload");
    let refused = crate::sim::send(
        &sim,
        "POST",
        &format!("/data/services/archive?src={uri}&project=MAIN&subject=MAIN_002&session=MAIN_002_20240203"),
        Some(("admin", "admin")),
        &[],
        vec![],
    );
    assert_eq!(refused.status, 409, "{}", refused.text());
    // Verify that session again.
    let kept: Vec<&str> = journal
        .lines()
        .filter(|l| !l.contains(&format!("{session}verify")))
        .collect();
    std::fs::write(&journal_path, kept.join("\n") + "\n").unwrap();
    let b = w.apply(&["--skip-blocked"]);
    assert_eq!(b.status.code(), Some(4), "{}", stderr(&b));
    assert!(stderr(&b).contains("state CONFLICT"), "{}", stderr(&b));
}
