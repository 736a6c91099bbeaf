//! The planner on hand-built inventories: conflicts under each policy, collisions, PHI, share and move
//! graphs, template failures, and determinism whatever order things were listed in.

use super::*;
use crate::manifest::model::*;
use crate::model::inventory::{Access, FileEntry, Inventory, Resource, Scan, Session, Subject};
use std::collections::BTreeMap;

pub(super) fn session(
    label: &str,
    date: &str,
    uid: &str,
    scans: &[(&str, &str, usize)],
) -> Session {
    let mut s = Session {
        id: format!("E_{label}"),
        label: label.into(),
        date: Some(date.into()),
        xsi_type: "xnat:mrSessionData".into(),
        uid: Some(uid.into()),
        ..Session::default()
    };
    for (id, t, n) in scans {
        let mut files = BTreeMap::new();
        for f in 0..*n {
            let name = format!("{id}-{f}.dcm");
            files.insert(
                name.clone(),
                FileEntry {
                    name,
                    size: 100,
                    digest: None,
                },
            );
        }
        let mut resources = BTreeMap::new();
        resources.insert(
            "DICOM".to_string(),
            Resource {
                label: "DICOM".into(),
                format: "DICOM".into(),
                files,
            },
        );
        s.scans.insert(
            id.to_string(),
            Scan {
                id: id.to_string(),
                scan_type: t.to_string(),
                resources,
                ..Scan::default()
            },
        );
    }
    s.header.insert("PatientName".into(), "Doe^Jane".into());
    s.header.insert("StudyDate".into(), date.replace('-', ""));
    s
}

pub(super) fn inv(project: &str, subjects: Vec<(&str, Vec<Session>)>) -> Inventory {
    let mut i = Inventory {
        server_url: "http://x".into(),
        project: project.into(),
        access: Access {
            role: Some("owner".into()),
            can_create_subjects: Some(true),
        },
        ..Inventory::default()
    };
    for (label, sessions) in subjects {
        let mut s = Subject {
            id: format!("S_{label}"),
            label: label.into(),
            ..Subject::default()
        };
        for e in sessions {
            s.sessions.insert(e.label.clone(), e);
        }
        i.subjects.insert(label.into(), s);
    }
    i
}

pub(super) fn manifest(mode: Mode, policy: Policy) -> Manifest {
    let mut servers = BTreeMap::new();
    servers.insert(
        "s".to_string(),
        Server {
            url: "http://x".into(),
            user_env: None,
            password_env: None,
            token_env: None,
            allow_http: false,
        },
    );
    let mut set = BTreeMap::new();
    if mode != Mode::Share {
        set.insert("PatientName".to_string(), "{{ dest.subject }}".to_string());
        set.insert(
            "StudyDescription".to_string(),
            "xnat://{{ dest.project }}/{{ dest.session }}".to_string(),
        );
    }
    Manifest {
        version: 1,
        servers,
        defaults: Defaults::default(),
        tables: BTreeMap::new(),
        transfers: vec![Transfer {
            name: "t".into(),
            mode,
            from: Endpoint {
                server: "s".into(),
                project: "P".into(),
            },
            to: Endpoint {
                server: "s".into(),
                project: "M".into(),
            },
            select: Select {
                scan_types: ScanTypes {
                    include: vec![],
                    exclude: vec!["loc*".into()],
                },
                ..Select::default()
            },
            map: LabelMap {
                subject: Some("M_{{ subject.label }}".into()),
                session: Some("{{ dest.subject }}_{{ session.date | replace('-', '') }}".into()),
            },
            dicom: DicomRewrite {
                deidentify: (mode != Mode::Share).then(|| Deidentify {
                    profile: DeidentifyProfile::Basic,
                    retain: vec![],
                    uids: UidPolicy::Keep,
                }),
                set,
                ..DicomRewrite::default()
            },
            policy,
        }],
    }
}

pub(super) fn plan_of(m: &Manifest, src: Inventory, dst: Inventory) -> Result<Plan, PlanError> {
    let mut inventories = BTreeMap::new();
    inventories.insert(("s".to_string(), "P".to_string()), src);
    inventories.insert(("s".to_string(), "M".to_string()), dst);
    build(&PlanInput {
        manifest: m,
        manifest_path: "m.yaml",
        manifest_hash: "blake3:00",
        tables: &BTreeMap::new(),
        inventories: &inventories,
        ferry_version: "0.1.0",
    })
}

pub(super) fn source() -> Inventory {
    inv(
        "P",
        vec![
            (
                "A",
                vec![session(
                    "A_1",
                    "2024-01-01",
                    "1.1",
                    &[("1", "localizer", 2), ("2", "T1", 3)],
                )],
            ),
            (
                "B",
                vec![session(
                    "B_1",
                    "2024-01-02",
                    "1.2",
                    &[("2", "T1", 3), ("3", "BOLD", 4)],
                )],
            ),
        ],
    )
}

pub(super) fn policy(conflict: Conflict) -> Policy {
    Policy {
        conflict: Some(conflict),
        ..Policy::default()
    }
}

fn kinds(p: &Plan) -> Vec<(String, ActionKind)> {
    p.transfers[0]
        .actions
        .iter()
        .map(|a| (a.dest.session.clone(), a.kind))
        .collect()
}

#[test]
fn new_sessions_are_created_with_their_steps() {
    let p = plan_of(
        &manifest(Mode::Copy, policy(Conflict::Fail)),
        source(),
        inv("M", vec![]),
    )
    .unwrap();
    assert_eq!(
        kinds(&p),
        [
            ("M_A_20240101".to_string(), ActionKind::Create),
            ("M_B_20240102".to_string(), ActionKind::Create)
        ]
    );
    let a = &p.transfers[0].actions[0];
    assert_eq!(a.scans.len(), 1, "the localizer is excluded");
    assert_eq!(a.dicom_set["PatientName"], "M_A");
    assert_eq!(a.dicom_set["StudyDescription"], "xnat://M/M_A_20240101");
    assert_eq!(p.summary.subjects_created, 2);
    let ids: Vec<&str> = p.steps.iter().map(|s| s.id.as_str()).collect();
    assert!(ids.contains(&"t/M_A/create_subject"));
    let upload = p
        .steps
        .iter()
        .find(|s| s.id == "t/M_A/M_A_20240101/upload")
        .unwrap();
    assert_eq!(
        upload.after,
        ["t/M_A/M_A_20240101/rewrite", "t/M_A/create_subject"]
    );
    assert!(p.steps.iter().any(|s| s.id == "t/M_A/M_A_20240101/archive"));
    assert!(!p.steps.iter().any(|s| s.kind == StepKind::DeleteSource));
    assert!(p.transfers[0]
        .skipped
        .iter()
        .any(|s| s.object.contains("scan 1 (localizer)")));
    // Steps come in an order where every dependency is earlier.
    for (i, s) in p.steps.iter().enumerate() {
        for d in &s.after {
            assert!(
                p.steps[..i].iter().any(|x| &x.id == d),
                "{} before {d}",
                s.id
            );
        }
    }
}

fn existing(uid: &str, scans: &[(&str, &str, usize)]) -> Inventory {
    inv(
        "M",
        vec![(
            "M_A",
            vec![session("M_A_20240101", "2024-01-01", uid, scans)],
        )],
    )
}

#[test]
fn each_conflict_policy_does_what_it_says() {
    let dst = || existing("1.1", &[("9", "T2", 1)]);
    let fail = plan_of(
        &manifest(Mode::Copy, policy(Conflict::Fail)),
        source(),
        dst(),
    )
    .unwrap();
    assert_eq!(fail.transfers[0].actions[0].kind, ActionKind::Blocked);
    assert!(fail.transfers[0].actions[0]
        .reason
        .contains("conflict: fail"));
    assert!(fail.is_blocked());
    let skip = plan_of(
        &manifest(Mode::Copy, policy(Conflict::Skip)),
        source(),
        dst(),
    )
    .unwrap();
    assert_eq!(skip.transfers[0].actions[0].kind, ActionKind::Skip);
    let merge = plan_of(
        &manifest(Mode::Copy, policy(Conflict::Merge)),
        source(),
        dst(),
    )
    .unwrap();
    assert_eq!(merge.transfers[0].actions[0].kind, ActionKind::Merge);
    assert_eq!(merge.transfers[0].actions[0].scans[0].id, "2");
    let clash = plan_of(
        &manifest(Mode::Copy, policy(Conflict::Merge)),
        source(),
        existing("9.9", &[("9", "T2", 1)]),
    )
    .unwrap();
    assert_eq!(clash.transfers[0].actions[0].kind, ActionKind::Blocked);
    assert!(clash.transfers[0].actions[0]
        .reason
        .contains("StudyInstanceUID"));
    let rename = plan_of(
        &manifest(Mode::Copy, policy(Conflict::Rename)),
        source(),
        dst(),
    )
    .unwrap();
    let a = &rename.transfers[0].actions[0];
    assert_eq!(
        (a.kind, a.dest.session.as_str()),
        (ActionKind::Create, "M_A_20240101_2")
    );
    assert_eq!(a.dicom_set["StudyDescription"], "xnat://M/M_A_20240101_2");
}

#[test]
fn an_identical_destination_is_already_transferred_under_any_policy() {
    for c in [
        Conflict::Fail,
        Conflict::Skip,
        Conflict::Merge,
        Conflict::Rename,
    ] {
        let p = plan_of(
            &manifest(Mode::Copy, policy(c)),
            source(),
            existing("1.1", &[("2", "T1", 3)]),
        )
        .unwrap();
        let a = &p.transfers[0].actions[0];
        assert_eq!(a.kind, ActionKind::Skip, "{c:?}");
        assert!(a.reason.contains("already transferred"), "{}", a.reason);
    }
}

#[test]
fn two_sources_onto_one_label_block_both() {
    let src = inv(
        "P",
        vec![(
            "A",
            vec![
                session("A_1", "2024-01-01", "1.1", &[("2", "T1", 1)]),
                session("A_2", "2024-01-01", "1.3", &[("2", "T1", 1)]),
            ],
        )],
    );
    let p = plan_of(
        &manifest(Mode::Copy, policy(Conflict::Rename)),
        src,
        inv("M", vec![]),
    )
    .unwrap();
    for a in &p.transfers[0].actions {
        assert_eq!(a.kind, ActionKind::Blocked);
        assert!(a.reason.contains("A/A_1 and A/A_2"), "{}", a.reason);
    }
    assert!(p.steps.is_empty());
}

#[test]
fn phi_blocks_under_require_and_is_listed_under_warn() {
    let mut src = source();
    src.subjects
        .get_mut("A")
        .unwrap()
        .sessions
        .get_mut("A_1")
        .unwrap()
        .header
        .insert("PatientBirthDate".into(), "19700101".into());
    // With the Basic Profile, the rewrite removes what the session carries: nothing blocks.
    let with_profile = manifest(Mode::Copy, policy(Conflict::Fail));
    let p = plan_of(&with_profile, src.clone(), inv("M", vec![])).unwrap();
    assert_eq!(p.transfers[0].actions[0].kind, ActionKind::Create);
    assert!(p.transfers[0].actions[0].phi.is_empty());
    let without = |policy: Policy| {
        let mut m = manifest(Mode::Copy, policy);
        m.transfers[0].dicom.deidentify = None;
        m
    };
    let p = plan_of(
        &without(policy(Conflict::Fail)),
        src.clone(),
        inv("M", vec![]),
    )
    .unwrap();
    let a = &p.transfers[0].actions[0];
    assert_eq!(a.kind, ActionKind::Blocked);
    assert!(a.reason.contains("StudyDate"), "{}", a.reason);
    assert!(a.reason.contains("PatientBirthDate"));
    assert!(
        !a.reason.contains("19700101"),
        "a value leaked into the plan"
    );
    // PatientName is overwritten by dicom.set, so it is no finding.
    assert!(!a.reason.contains("PatientName"));
    let warn = Policy {
        anonymization: Some(Anonymization::Warn),
        ..policy(Conflict::Fail)
    };
    let p = plan_of(&without(warn), src, inv("M", vec![])).unwrap();
    let a = &p.transfers[0].actions[0];
    assert_eq!(a.kind, ActionKind::Create);
    assert_eq!(a.phi[0].keyword, "PatientBirthDate");
    assert!(!to_yaml(&p).contains("19700101"));
    assert!(!to_yaml(&p).contains("Doe^Jane"));
}

#[test]
fn share_and_move_have_their_own_graphs() {
    // Shares rewrite nothing: with the gate on, the sessions' PatientName would block them.
    let mut open = policy(Conflict::Fail);
    open.anonymization = Some(Anonymization::Off);
    let share = plan_of(&manifest(Mode::Share, open), source(), inv("M", vec![])).unwrap();
    let kinds: Vec<StepKind> = share
        .steps
        .iter()
        .filter(|s| s.dest_subject == "M_A")
        .map(|s| s.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            StepKind::ShareSubject,
            StepKind::ShareSession,
            StepKind::Verify
        ]
    );
    assert!(share.transfers[0]
        .actions
        .iter()
        .all(|a| a.kind == ActionKind::Share && a.dicom_set.is_empty()));
    let mv = plan_of(
        &manifest(Mode::Move, policy(Conflict::Fail)),
        source(),
        inv("M", vec![]),
    )
    .unwrap();
    let del = mv
        .steps
        .iter()
        .find(|s| s.kind == StepKind::DeleteSource)
        .unwrap();
    assert!(del.after[0].ends_with("/verify"));
    assert_eq!(mv.summary.deletions, 2);
    let d = render_diff(&mv, false);
    assert!(
        d.contains(
            "- delete source scan 2 of P/A_1; stays: scan 1 (localizer)  (after verification)"
        ),
        "{d}"
    );
    assert!(
        d.contains("- delete source session P/B_1 (scans 2, 3; nothing else is in it)  (after verification)"),
        "{d}"
    );
    assert!(
        d.contains("left empty in P and kept (policy.remove_empty_subjects: false): subjects B"),
        "{d}"
    );
    assert_eq!(mv.summary.empty_subjects, vec!["P/B".to_string()]);
}

#[test]
fn a_failing_template_names_the_session() {
    let mut m = manifest(Mode::Copy, policy(Conflict::Fail));
    m.transfers[0].map.session = Some("{{ dicom.SeriesDescription }}".into());
    let e = plan_of(&m, source(), inv("M", vec![])).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("session `A_1`") && text.contains("map.session"),
        "{text}"
    );
}

#[test]
fn a_label_xnat_refuses_blocks_its_session() {
    let mut m = manifest(Mode::Copy, policy(Conflict::Fail));
    m.transfers[0].map.session = Some("{{ session.label }} copy".into());
    let p = plan_of(&m, source(), inv("M", vec![])).unwrap();
    assert!(p.transfers[0]
        .actions
        .iter()
        .all(|a| a.kind == ActionKind::Blocked && a.reason.contains("not a valid XNAT label")));
}

#[test]
fn subjects_cannot_be_created_without_the_role() {
    let mut dst = inv("M", vec![]);
    dst.access = Access {
        role: Some("collaborator".into()),
        can_create_subjects: Some(false),
    };
    let p = plan_of(&manifest(Mode::Copy, policy(Conflict::Fail)), source(), dst).unwrap();
    assert!(p.transfers[0]
        .actions
        .iter()
        .all(|a| a.kind == ActionKind::Blocked && a.reason.contains("cannot create subjects")));
    assert!(p
        .checklist
        .iter()
        .any(|c| c.item == "access" && c.status == CheckStatus::Blocked));
}

#[test]
fn plans_are_the_same_bytes_whatever_the_listing_order() {
    let m = manifest(Mode::Copy, policy(Conflict::Merge));
    let base = to_yaml(&plan_of(&m, source(), existing("1.1", &[("9", "T2", 1)])).unwrap());
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..20 {
        // Build the same inventories with subjects and sessions inserted in a shuffled order.
        let mut subjects = vec![
            (
                "B",
                vec![session(
                    "B_1",
                    "2024-01-02",
                    "1.2",
                    &[("3", "BOLD", 4), ("2", "T1", 3)],
                )],
            ),
            (
                "A",
                vec![session(
                    "A_1",
                    "2024-01-01",
                    "1.1",
                    &[("2", "T1", 3), ("1", "localizer", 2)],
                )],
            ),
        ];
        rng.shuffle(&mut subjects);
        let again =
            to_yaml(&plan_of(&m, inv("P", subjects), existing("1.1", &[("9", "T2", 1)])).unwrap());
        assert_eq!(base, again);
    }
    let parsed = from_yaml(&base, std::path::Path::new("p.yaml")).unwrap();
    assert_eq!(
        to_yaml(&parsed),
        base,
        "a plan reads back to the same bytes"
    );
}

#[test]
fn the_graph_exports_as_dot() {
    let p = plan_of(
        &manifest(Mode::Copy, policy(Conflict::Fail)),
        source(),
        inv("M", vec![]),
    )
    .unwrap();
    let dot = render_dot(&p);
    assert!(dot.starts_with("digraph ferry {"));
    assert!(dot.contains("\"t/M_A/M_A_20240101/download\" -> \"t/M_A/M_A_20240101/rewrite\";"));
}
