//! Conflict policies, re-running after a transfer, collisions, access and subject creation.

use super::*;

/// MAIN after the clean part of the demo plan was applied: every created session exists with the
/// selected scans and the source's StudyInstanceUID.
fn main_after(plan: &Plan) -> Proj {
    let mut p = main_project();
    for a in plan.transfers[0]
        .actions
        .iter()
        .filter(|a| a.kind == ActionKind::Create)
    {
        let scans: Vec<(&str, &str, u64)> = a
            .scans
            .iter()
            .map(|s| (s.id.as_str(), s.scan_type.as_str(), s.files))
            .collect();
        p = p.session(
            &a.dest.subject,
            &a.dest.session,
            "2024-01-01",
            &source_uid(&a.source.session),
            &scans,
        );
    }
    p
}

/// The StudyInstanceUID of a PILOT session (plans hold only its digest).
fn source_uid(session: &str) -> String {
    let p = pilot();
    let uid = p
        .inv
        .sessions()
        .find(|(_, e)| e.label == session)
        .and_then(|(_, e)| e.uid.clone());
    uid.unwrap()
}

fn with_policy(policy: &str, main: Proj) -> Plan {
    plan_of(&manifest("copy", policy, ""), &invs(vec![pilot(), main])).unwrap()
}

#[test]
fn planning_again_after_a_transfer_has_nothing_to_do() {
    let first = demo_plan();
    for policy in [
        "conflict: fail",
        "conflict: skip",
        "conflict: merge",
        "conflict: rename",
    ] {
        let again = with_policy(policy, main_after(&first));
        for s in ["SUB001_MR1", "SUB005_MR1", "SUB006_MR1", "SUB006_MR2"] {
            let a = act(&again, s);
            assert_eq!(a.kind, ActionKind::Skip, "{policy} {s}: {}", a.reason);
            assert!(a.reason.contains("already transferred"), "{}", a.reason);
        }
        // Only SUB002 (MAIN_002_20240203 holds another study) may still be created, renamed.
        let created: Vec<&str> = again.transfers[0]
            .actions
            .iter()
            .filter(|a| a.kind == ActionKind::Create)
            .map(|a| a.dest.session.as_str())
            .collect();
        let expected: &[&str] = if policy == "conflict: rename" {
            &["MAIN_002_20240203_2"]
        } else {
            &[]
        };
        assert_eq!(created, expected, "{policy}");
        assert!(
            !again
                .steps
                .iter()
                .any(|s| s.action.as_deref().is_some_and(|a| a.contains("SUB001"))),
            "{policy}"
        );
    }
}

#[test]
fn an_existing_session_follows_the_conflict_policy() {
    let fail = with_policy("conflict: fail", main_project());
    let a = act(&fail, "SUB002_MR1");
    assert_eq!(a.kind, ActionKind::Blocked);
    assert!(a.reason.contains("conflict: fail"), "{}", a.reason);
    assert!(a.reason.contains("MAIN/MAIN_002_20240203"), "{}", a.reason);
    let item = fail
        .checklist
        .iter()
        .find(|c| c.item == "conflicts")
        .unwrap();
    assert_eq!(item.status, CheckStatus::Blocked);

    let skip = with_policy("conflict: skip", main_project());
    assert_eq!(act(&skip, "SUB002_MR1").kind, ActionKind::Skip);

    // Different StudyInstanceUID: merge refused.
    let merge = with_policy("conflict: merge", main_project());
    let a = act(&merge, "SUB002_MR1");
    assert_eq!(a.kind, ActionKind::Blocked);
    assert!(a.reason.contains("StudyInstanceUID"), "{}", a.reason);

    let rename = with_policy("conflict: rename", main_project());
    let a = act(&rename, "SUB002_MR1");
    assert_eq!(a.kind, ActionKind::Create);
    assert_eq!(a.dest.session, "MAIN_002_20240203_2");
    assert!(a.dest.subject_exists && !a.dest.session_exists);
    assert_eq!(
        a.dicom_set["StudyDescription"],
        "xnat://MAIN/MAIN_002/MAIN_002_20240203_2"
    );
}

#[test]
fn merge_adds_only_missing_scans_of_the_same_study() {
    let main = Proj::new("MAIN").session(
        "MAIN_002",
        "MAIN_002_20240203",
        "2024-02-03",
        "1.2.1.2.1",
        &[("1", "localizer", 10), ("2", "T1_MPRAGE", 10)],
    );
    let plan = with_policy("conflict: merge", main);
    let a = act(&plan, "SUB002_MR1");
    assert_eq!(a.kind, ActionKind::Merge, "{}", a.reason);
    let scans: Vec<&str> = a.scans.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(scans, ["3"]);
    assert_eq!(a.files, 10);
    assert!(a.dest.session_exists);
    assert_eq!(plan.summary.sessions_merged, 1);

    // Scan 2 there with another file count: merge never replaces files.
    let main = Proj::new("MAIN").session(
        "MAIN_002",
        "MAIN_002_20240203",
        "2024-02-03",
        "1.2.1.2.1",
        &[("2", "T1_MPRAGE", 7)],
    );
    let a = act(&with_policy("conflict: merge", main), "SUB002_MR1").clone();
    assert_eq!(a.kind, ActionKind::Blocked);
    assert!(a.reason.contains("never replaces"), "{}", a.reason);
}

#[test]
fn rename_picks_the_first_label_nobody_uses() {
    let main = main_project()
        .session(
            "X",
            "MAIN_002_20240203_2",
            "2024-02-03",
            "9.9",
            &[("1", "t", 1)],
        )
        .prearchived("X", "MAIN_002_20240203_3", "9.8");
    let mut m = manifest("copy", "conflict: rename", "");
    // A second transfer maps SUB001 onto MAIN_002_20240203_4.
    let mut t2 = m.transfers[0].clone();
    t2.name = "second".into();
    t2.select.subjects = vec!["SUB001".into()];
    t2.map.session = Some("MAIN_002_20240203_4".into());
    m.transfers.push(t2);
    let plan = plan_of(&m, &invs(vec![pilot(), main])).unwrap();
    let a = act(&plan, "SUB002_MR1");
    assert_eq!(a.dest.session, "MAIN_002_20240203_5", "{}", a.reason);
    let b = &plan.transfer("second").unwrap().actions[0];
    assert_eq!(
        (b.kind, b.dest.session.as_str()),
        (ActionKind::Create, "MAIN_002_20240203_4")
    );
}

#[test]
fn collisions_block_both_sessions_whatever_the_policy_and_across_transfers() {
    for policy in [
        "conflict: fail",
        "conflict: skip",
        "conflict: merge",
        "conflict: rename",
    ] {
        let plan = with_policy(&format!("{policy}, anonymization: off"), main_project());
        assert_eq!(
            act(&plan, "SUB004_MR1").kind,
            ActionKind::Blocked,
            "{policy}"
        );
        assert_eq!(
            act(&plan, "SUB004_MR2").kind,
            ActionKind::Blocked,
            "{policy}"
        );
    }
    let mut m = manifest("copy", "conflict: skip", "");
    let mut t2 = m.transfers[0].clone();
    t2.name = "again".into();
    t2.select.subjects = vec!["SUB001".into()];
    m.transfers.push(t2);
    let plan = plan_of(&m, &invs(vec![pilot(), main_project()])).unwrap();
    let a = act(&plan, "SUB001_MR1");
    assert_eq!(a.kind, ActionKind::Blocked);
    assert!(
        a.reason.contains("SUB001/SUB001_MR1 (transfer again)"),
        "{}",
        a.reason
    );
}

#[test]
fn access_and_subject_creation_rights_block() {
    let main = main_project().access("member", Some(false));
    let plan = with_policy("conflict: skip", main);
    let a = act(&plan, "SUB001_MR1");
    assert_eq!(a.kind, ActionKind::Blocked);
    assert!(a.reason.contains("cannot create subjects"), "{}", a.reason);
    let item = plan
        .checklist
        .iter()
        .find(|c| c.item == "project_settings")
        .unwrap();
    assert_eq!(item.status, CheckStatus::Blocked);

    // An existing subject needs no creation right.
    let main = main_project().access("member", Some(false));
    let mut m = manifest("copy", "conflict: rename, anonymization: off", "");
    m.transfers[0].select.subjects = vec!["SUB002".into()];
    let plan = plan_of(&m, &invs(vec![pilot(), main])).unwrap();
    assert_eq!(act(&plan, "SUB002_MR1").kind, ActionKind::Create);

    let main = main_project().access("collaborator", None);
    let plan = with_policy("conflict: skip", main);
    let a = act(&plan, "SUB001_MR1");
    assert_eq!(a.kind, ActionKind::Blocked);
    assert!(a.reason.contains("collaborator"), "{}", a.reason);
    let item = plan.checklist.iter().find(|c| c.item == "access").unwrap();
    assert_eq!(item.status, CheckStatus::Blocked);
}

#[test]
fn a_session_waiting_in_the_destination_prearchive_counts() {
    // Uploaded earlier and left for manual review: already transferred.
    let main = main_project().prearchived("MAIN_001", "MAIN_001_20240115", "1.2.1.1.1");
    let plan = with_policy("conflict: fail", main);
    let a = act(&plan, "SUB001_MR1");
    assert_eq!(a.kind, ActionKind::Skip, "{}", a.reason);
    // Another study under that label: a conflict.
    let main = main_project().prearchived("MAIN_001", "MAIN_001_20240115", "7.7");
    let plan = with_policy("conflict: fail", main);
    let a = act(&plan, "SUB001_MR1");
    assert_eq!(a.kind, ActionKind::Blocked);
    assert!(a.reason.contains("prearchive"), "{}", a.reason);
}
