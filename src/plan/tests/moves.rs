//! Moves and relocations in the planner: what is deleted and what stays, shared sessions, data the
//! source only shares, empty subjects, and the relocation graph.

use super::lead::{inv, manifest, plan_of, policy, session, source};
use super::*;
use crate::manifest::model::*;
use crate::model::inventory::{FileEntry, Resource};

fn move_plan(p: Policy, src: Inventory) -> Plan {
    plan_of(&manifest(Mode::Move, p), src, inv("M", vec![])).unwrap()
}

fn with(
    mut src: Inventory,
    subject: &str,
    f: impl FnOnce(&mut crate::model::inventory::Session),
) -> Inventory {
    let s = src.subjects.get_mut(subject).unwrap();
    f(s.sessions.values_mut().next().unwrap());
    src
}

fn action<'p>(p: &'p Plan, source_session: &str) -> &'p Action {
    p.transfers[0]
        .actions
        .iter()
        .find(|a| a.source.session == source_session)
        .unwrap()
}

fn delete_steps(p: &Plan) -> Vec<&str> {
    p.steps
        .iter()
        .filter(|s| s.kind == StepKind::DeleteSource)
        .filter_map(|s| s.action.as_deref())
        .collect()
}

#[test]
fn a_move_deletes_only_the_carried_scans_and_names_what_stays() {
    let src = with(source(), "A", |s| {
        s.resources.insert(
            "NOTES".into(),
            Resource {
                label: "NOTES".into(),
                format: "TXT".into(),
                ..Resource::default()
            },
        );
        s.assessors = 2;
    });
    let p = move_plan(policy(Conflict::Fail), src);
    let d = action(&p, "A_1").delete.clone().unwrap();
    assert_eq!(d.scans, vec!["2"]);
    assert!(
        !d.session,
        "the session keeps its localizer, NOTES and assessors"
    );
    assert_eq!(
        d.stays,
        vec!["scan 1 (localizer)", "resource NOTES", "2 assessors"]
    );
    let b = action(&p, "B_1").delete.clone().unwrap();
    assert!(b.session && b.stays.is_empty());
    assert!(p.transfers[0]
        .skipped
        .iter()
        .any(|s| s.object == "2 assessors of A_1" && s.reason.contains("not transferred")));
}

#[test]
fn a_scan_with_other_resources_loses_only_its_dicom_files() {
    let src = with(source(), "B", |s| {
        let mut snap = Resource {
            label: "SNAPSHOTS".into(),
            format: "PNG".into(),
            ..Resource::default()
        };
        snap.files.insert(
            "a.png".into(),
            FileEntry {
                name: "a.png".into(),
                size: 1,
                digest: None,
            },
        );
        s.scans
            .get_mut("3")
            .unwrap()
            .resources
            .insert("SNAPSHOTS".into(), snap);
    });
    let p = move_plan(policy(Conflict::Fail), src);
    let d = action(&p, "B_1").delete.clone().unwrap();
    assert_eq!(
        (d.scans.clone(), d.dicom_of.clone()),
        (vec!["2".to_string()], vec!["3".to_string()])
    );
    assert!(!d.session);
    assert_eq!(d.stays, vec!["resource SNAPSHOTS of scan 3"]);
    assert!(render_diff(&p, false).contains(
        "- delete source scan 2, the DICOM files of scan 3 of P/B_1; stays: resource SNAPSHOTS of scan 3"
    ));
}

#[test]
fn a_session_shared_elsewhere_is_blocked_unless_the_manifest_says_what_to_do() {
    let shared = || {
        with(source(), "B", |s| {
            s.shares.insert("COLLAB".into(), "C_B_1".into());
        })
    };
    let p = move_plan(policy(Conflict::Fail), shared());
    let b = action(&p, "B_1");
    assert_eq!(b.kind, ActionKind::Blocked);
    assert!(b.reason.contains("shared into COLLAB"), "{}", b.reason);
    assert!(b.reason.contains("policy.shared_elsewhere"), "{}", b.reason);
    assert!(b.delete.is_none());

    let copy_only = Policy {
        shared_elsewhere: Some(SharedElsewhere::CopyOnly),
        ..policy(Conflict::Fail)
    };
    let p = move_plan(copy_only, shared());
    let b = action(&p, "B_1");
    assert_eq!(b.kind, ActionKind::Create);
    assert!(b.delete.is_none());
    assert!(!delete_steps(&p).contains(&b.id.as_str()));
    assert!(render_diff(&p, false).contains(
        "= keep source P/B_1  (shared into COLLAB (policy.shared_elsewhere: copy_only))"
    ));

    let delete = Policy {
        shared_elsewhere: Some(SharedElsewhere::Delete),
        ..policy(Conflict::Fail)
    };
    let p = move_plan(delete, shared());
    let b = action(&p, "B_1");
    assert_eq!(b.delete.as_ref().unwrap().also_from, vec!["COLLAB"]);
    assert!(
        render_diff(&p, false).contains("also gone from COLLAB (policy.shared_elsewhere: delete)")
    );
}

#[test]
fn data_the_source_only_shares_is_skipped_with_its_owner_and_never_deleted() {
    let src = || {
        with(source(), "B", |s| {
            s.shared_from = Some("OWNER".into());
        })
    };
    let p = move_plan(policy(Conflict::Fail), src());
    assert!(p.transfers[0]
        .actions
        .iter()
        .all(|a| a.source.session != "B_1"));
    let skip = p.transfers[0]
        .skipped
        .iter()
        .find(|s| s.object == "session B_1")
        .unwrap();
    assert!(
        skip.reason.starts_with("shared into P from OWNER"),
        "{}",
        skip.reason
    );

    let mut m = manifest(Mode::Move, policy(Conflict::Fail));
    m.transfers[0].select.shared = Some(Shared::Include);
    let p = plan_of(&m, src(), inv("M", vec![])).unwrap();
    let b = action(&p, "B_1");
    assert_eq!(b.kind, ActionKind::Create);
    assert!(b.delete.is_none());
    assert!(b
        .source_kept
        .as_deref()
        .unwrap()
        .contains("never deletes data P only shares"));
    assert!(!delete_steps(&p).contains(&b.id.as_str()));
}

#[test]
fn empty_subjects_are_listed_or_removed_after_their_deletes() {
    let p = move_plan(policy(Conflict::Fail), source());
    assert_eq!(p.transfers[0].empty_subjects, vec!["B"]);
    assert!(p.steps.iter().all(|s| s.kind != StepKind::RemoveSubject));
    let remove = Policy {
        remove_empty_subjects: Some(true),
        ..policy(Conflict::Fail)
    };
    let p = move_plan(remove, source());
    let step = p
        .steps
        .iter()
        .find(|s| s.kind == StepKind::RemoveSubject)
        .unwrap();
    assert_eq!(step.source_subject.as_deref(), Some("B"));
    assert_eq!(step.after, vec!["t/M_B/M_B_20240102/delete_source"]);
    assert!(p.summary.empty_subjects.is_empty());
    assert!(render_diff(&p, false)
        .contains("- remove source subject P/B  (left empty; policy.remove_empty_subjects)"));
}

#[test]
fn a_relocation_moves_whole_sessions_without_copy_or_delete() {
    // The sessions carry identifying data, which a relocation cannot rewrite: `warn` lets it run.
    let mut m = manifest(
        Mode::Relocate,
        Policy {
            anonymization: Some(Anonymization::Warn),
            ..policy(Conflict::Fail)
        },
    );
    m.transfers[0].dicom.set.clear();
    m.transfers[0].select.scan_types = ScanTypes::default();
    let p = plan_of(&m, source(), inv("M", vec![])).unwrap();
    let a = action(&p, "A_1");
    assert_eq!(a.kind, ActionKind::Relocate);
    assert_eq!(a.scans.len(), 2, "every scan goes");
    assert!(a.delete.is_none() && a.dicom_set.is_empty());
    let kinds: Vec<StepKind> = p
        .steps
        .iter()
        .filter(|s| s.dest_subject == "M_A")
        .map(|s| s.kind)
        .collect();
    assert_eq!(
        kinds,
        [StepKind::ShareSubject, StepKind::Relocate, StepKind::Verify]
    );
    assert_eq!(p.summary.relocations, 2);
    assert_eq!(p.summary.bytes, 0);
    let d = render_diff(&p, false);
    assert!(d.contains("> relocate A/A_1 -> M_A/M_A_20240101  (2 scans, 5 files; XNAT moves it, no bytes are copied"), "{d}");
}

#[test]
fn a_relocation_needs_the_owner_and_its_own_subject() {
    let mut m = manifest(Mode::Relocate, policy(Conflict::Fail));
    m.transfers[0].dicom.set.clear();
    let mut src = source();
    src.access.role = Some("member".into());
    let mut dst = inv(
        "M",
        vec![("M_A", vec![session("X_1", "2024-01-01", "9.9", &[])])],
    );
    dst.subjects.get_mut("M_A").unwrap().id = "OTHER".into();
    let p = plan_of(&m, src, dst).unwrap();
    let a = action(&p, "A_1");
    assert_eq!(a.kind, ActionKind::Blocked);
    assert!(
        a.reason.contains("relocation needs delete rights"),
        "{}",
        a.reason
    );
    assert!(
        a.reason.contains("belongs to another subject"),
        "{}",
        a.reason
    );
}
