//! The execution graph: step IDs, dependencies, order, and what each mode and policy adds.

use super::*;
use std::collections::BTreeSet;

fn kinds_of(plan: &Plan, action: &str) -> Vec<StepKind> {
    plan.steps
        .iter()
        .filter(|s| s.action.as_deref() == Some(action))
        .map(|s| s.kind)
        .collect()
}

fn step<'p>(plan: &'p Plan, id: &str) -> &'p Step {
    plan.steps
        .iter()
        .find(|s| s.id == id)
        .unwrap_or_else(|| panic!("no step {id}"))
}

/// Every dependency names an earlier step, and IDs are unique.
fn assert_topological(plan: &Plan) {
    let mut seen = BTreeSet::new();
    for s in &plan.steps {
        for a in &s.after {
            assert!(
                seen.contains(a),
                "{} needs {a}, which comes later or not at all",
                s.id
            );
        }
        assert!(seen.insert(s.id.clone()), "duplicate step {}", s.id);
    }
}

#[test]
fn copy_into_the_prearchive_chains_every_step_after_its_subject() {
    let plan = demo_plan();
    assert_topological(&plan);
    let creates: Vec<&str> = plan
        .steps
        .iter()
        .filter(|s| s.kind == StepKind::CreateSubject)
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(
        creates,
        [
            "pilot-into-main/MAIN_001/create_subject",
            "pilot-into-main/MAIN_005/create_subject",
            "pilot-into-main/MAIN_006/create_subject"
        ]
    );
    assert_eq!(
        kinds_of(&plan, "pilot-into-main/SUB006/SUB006_MR2"),
        [
            StepKind::Download,
            StepKind::Rewrite,
            StepKind::Upload,
            StepKind::Archive,
            StepKind::Verify
        ]
    );
    let up = step(&plan, "pilot-into-main/MAIN_006/MAIN_006_20240618/upload");
    assert_eq!(
        up.after,
        [
            "pilot-into-main/MAIN_006/MAIN_006_20240618/rewrite",
            "pilot-into-main/MAIN_006/create_subject"
        ]
    );
    // A subject is created once its first session was prepared (no empty subject on a PHI stop).
    let cs = step(&plan, "pilot-into-main/MAIN_006/create_subject");
    assert_eq!(
        cs.after,
        ["pilot-into-main/MAIN_006/MAIN_006_20240402/rewrite"]
    );
    let dl = step(&plan, "pilot-into-main/MAIN_006/MAIN_006_20240618/download");
    assert!(dl.after.is_empty());
    // Skipped and blocked actions have no steps.
    assert!(kinds_of(&plan, "pilot-into-main/SUB002/SUB002_MR1").is_empty());
    assert!(kinds_of(&plan, "pilot-into-main/SUB003/SUB003_MR1").is_empty());
    assert_eq!(plan.steps.len(), 3 + 4 * 5);
}

#[test]
fn archive_steps_follow_the_policy_and_move_deletes_after_verify() {
    let m = manifest("copy", "conflict: skip, destination: archive", "");
    let plan = plan_of(&m, &invs(vec![pilot(), main_project()])).unwrap();
    assert!(!plan.steps.iter().any(|s| s.kind == StepKind::Archive));

    let m = manifest("copy", "conflict: skip, archive: manual", "");
    let plan = plan_of(&m, &invs(vec![pilot(), main_project()])).unwrap();
    assert!(!plan.steps.iter().any(|s| s.kind == StepKind::Archive));
    let item = plan
        .checklist
        .iter()
        .find(|c| c.item == "project_settings")
        .unwrap();
    assert_eq!(item.status, CheckStatus::Warn, "{}", item.detail);

    let m = manifest("move", "conflict: skip", "");
    let plan = plan_of(&m, &invs(vec![pilot(), main_project()])).unwrap();
    assert_topological(&plan);
    let del = step(
        &plan,
        "pilot-into-main/MAIN_001/MAIN_001_20240115/delete_source",
    );
    assert_eq!(
        del.after,
        ["pilot-into-main/MAIN_001/MAIN_001_20240115/verify"]
    );
    assert_eq!(plan.summary.deletions, 4);
}

#[test]
fn share_mode_plans_shares_without_rewrites() {
    let m = manifest("share", "conflict: skip, anonymization: off", "");
    let plan = plan_of(&m, &invs(vec![pilot(), main_project()])).unwrap();
    assert_topological(&plan);
    let a = act(&plan, "SUB001_MR1");
    assert_eq!(a.kind, ActionKind::Share);
    assert!(a.dicom_set.is_empty());
    assert_eq!(a.scans.len(), 4, "shares carry whole sessions");
    assert_eq!((a.files, a.bytes), (0, 0));
    let subj = step(&plan, "pilot-into-main/MAIN_001/share_subject");
    assert_eq!(subj.source_subject.as_deref(), Some("SUB001"));
    assert_eq!(
        kinds_of(&plan, &a.id),
        [StepKind::ShareSession, StepKind::Verify]
    );
    let share = step(
        &plan,
        "pilot-into-main/MAIN_001/MAIN_001_20240115/share_session",
    );
    assert_eq!(share.after, ["pilot-into-main/MAIN_001/share_subject"]);
    // SUB001, SUB003 (anonymization: off), SUB005, SUB006 x2; SUB002's label is taken.
    assert_eq!(plan.summary.shares, 5);
    assert_eq!(plan.summary.bytes, 0);
    // MAIN_002 exists and is another subject: sharing SUB002 under that label is refused.
    let m = manifest("share", "conflict: rename, anonymization: off", "");
    let plan = plan_of(&m, &invs(vec![pilot(), main_project()])).unwrap();
    let b = act(&plan, "SUB002_MR1");
    assert_eq!(b.kind, ActionKind::Blocked);
    assert!(b.reason.contains("another subject"), "{}", b.reason);
}

#[test]
fn relocate_mode_blocks_identifying_data_under_require() {
    // A relocation hands the source files to the destination project as they are: under `require`
    // its findings block it as they block a share (docs/plan.md, Gates).
    let m = manifest("relocate", "conflict: skip, anonymization: require", "");
    let plan = plan_of(&m, &invs(vec![pilot(), main_project()])).unwrap();
    let a = act(&plan, "SUB001_MR1");
    assert_eq!(a.kind, ActionKind::Blocked);
    assert!(
        a.reason.contains("a relocation rewrites nothing"),
        "{}",
        a.reason
    );
    assert!(a.reason.contains("PatientName"), "{}", a.reason);
    let warn = manifest("relocate", "conflict: skip, anonymization: warn", "");
    let plan = plan_of(&warn, &invs(vec![pilot(), main_project()])).unwrap();
    let a = act(&plan, "SUB001_MR1");
    assert_eq!(a.kind, ActionKind::Relocate, "{}", a.reason);
    assert!(a.phi.iter().any(|f| f.keyword == "PatientName"));
}

#[test]
fn share_mode_blocks_identifying_data_under_require() {
    // Shares rewrite nothing: what the source files carry is what the destination project shows, so
    // under `require` a share of a session with identifying data is blocked (docs/guide.md).
    let m = manifest("share", "conflict: skip, anonymization: require", "");
    let plan = plan_of(&m, &invs(vec![pilot(), main_project()])).unwrap();
    let a = act(&plan, "SUB001_MR1");
    assert_eq!(a.kind, ActionKind::Blocked);
    assert!(
        a.reason.contains("a share rewrites nothing"),
        "{}",
        a.reason
    );
    assert!(a.reason.contains("PatientName"), "{}", a.reason);
    assert!(
        a.phi.iter().any(|f| f.keyword == "PatientName"),
        "{:?}",
        a.phi
    );
    assert!(plan
        .steps
        .iter()
        .all(|s| s.action.as_deref() != Some(a.id.as_str())));
    let warn = manifest("share", "conflict: skip, anonymization: warn", "");
    let plan = plan_of(&warn, &invs(vec![pilot(), main_project()])).unwrap();
    assert_eq!(act(&plan, "SUB001_MR1").kind, ActionKind::Share);
}

/// Run through the executor's queue: when the second session of a new subject is stopped at its
/// rewrite (the PHI gate), the subject is still created and the first session uploaded; when the
/// first is stopped, neither the subject nor the second session's upload runs, so no empty subject
/// is left either way.
#[test]
fn a_stopped_rewrite_leaves_no_empty_subject_and_stops_no_sibling_needlessly() {
    use crate::exec::queue::DependencyQueue;
    let plan = demo_plan();
    let id = |s: &str| format!("pilot-into-main/MAIN_006/{s}");
    let (first, second) = ("MAIN_006_20240402", "MAIN_006_20240618");
    let run = |fail: &str| {
        let mut q =
            DependencyQueue::new(plan.steps.iter().map(|s| (s.id.clone(), s.after.clone())))
                .unwrap();
        let mut done = Vec::new();
        while let Some(k) = q.next_ready() {
            let ok = k != id(&format!("{fail}/rewrite"));
            q.finish(&k, ok);
            if ok {
                done.push(k);
            }
        }
        done
    };
    let done = run(second);
    assert!(done.contains(&id("create_subject")), "{done:?}");
    assert!(done.contains(&id(&format!("{first}/upload"))), "{done:?}");
    assert!(!done.contains(&id(&format!("{second}/upload"))), "{done:?}");
    let done = run(first);
    assert!(!done.contains(&id("create_subject")), "{done:?}");
    assert!(
        !done
            .iter()
            .any(|k| k.ends_with("/upload") && k.contains("MAIN_006/")),
        "{done:?}"
    );
}
