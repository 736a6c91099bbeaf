//! The demo world's outcome, selection and the skip report, label templates, PHI gates.

use super::*;

#[test]
fn the_demo_world_plans_as_documented() {
    let plan = demo_plan();
    let t = &plan.transfers[0];
    let kinds: Vec<(&str, ActionKind)> = t
        .actions
        .iter()
        .map(|a| (a.source.session.as_str(), a.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("SUB001_MR1", ActionKind::Create),
            ("SUB002_MR1", ActionKind::Skip),
            ("SUB003_MR1", ActionKind::Blocked),
            ("SUB004_MR1", ActionKind::Blocked),
            ("SUB004_MR2", ActionKind::Blocked),
            ("SUB005_MR1", ActionKind::Create),
            ("SUB006_MR1", ActionKind::Create),
            ("SUB006_MR2", ActionKind::Create),
        ]
    );
    let a = act(&plan, "SUB001_MR1");
    assert_eq!(a.dest.subject, "MAIN_001");
    assert_eq!(a.dest.session, "MAIN_001_20240115");
    assert_eq!(a.id, "pilot-into-main/SUB001/SUB001_MR1");
    let scans: Vec<&str> = a.scans.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(scans, ["2", "3", "4"]);
    assert_eq!((a.files, a.bytes), (30, 30_000));
    assert_eq!(
        a.dicom_set["StudyDescription"],
        "xnat://MAIN/MAIN_001/MAIN_001_20240115"
    );
    assert!(a.phi.is_empty(), "{:?}", a.phi);

    let skip = act(&plan, "SUB002_MR1");
    assert!(skip.reason.contains("conflict: skip"), "{}", skip.reason);
    assert!(skip.dest.session_exists && skip.dest.subject_exists);

    let phi = act(&plan, "SUB003_MR1");
    assert!(phi.reason.contains("PatientBirthDate"), "{}", phi.reason);
    assert!(
        phi.reason.contains("ReferringPhysicianName"),
        "{}",
        phi.reason
    );
    let kws: Vec<&str> = phi.phi.iter().map(|f| f.keyword.as_str()).collect();
    assert_eq!(kws, ["PatientBirthDate", "ReferringPhysicianName"]);

    let mr1 = act(&plan, "SUB004_MR1");
    let mr2 = act(&plan, "SUB004_MR2");
    let both =
        "collision: SUB004/SUB004_MR1 and SUB004/SUB004_MR2 both map onto MAIN/MAIN_004_20240301";
    assert_eq!(mr1.reason, both);
    assert_eq!(mr2.reason, both);

    let s = &plan.summary;
    assert_eq!(
        (
            s.subjects_created,
            s.sessions_created,
            s.sessions_skipped,
            s.sessions_blocked
        ),
        (3, 4, 1, 3)
    );
    assert_eq!((s.scans, s.files, s.bytes), (12, 120, 120_000));
    assert!(plan.is_blocked());
}

#[test]
fn the_skip_report_names_everything_left_behind() {
    let mut p = pilot()
        .assessor("SUB001", "SUB001_FS", "fs:fsData")
        .prearchived("SUB001", "SUB001_MR9", "1.2.9");
    let mut shared = Subject {
        id: "XNAT_S_OTHER".into(),
        label: "EXT01".into(),
        shared_from: Some("OTHER".into()),
        ..Default::default()
    };
    shared.sessions.insert(
        "EXT01_MR1".into(),
        Session {
            label: "EXT01_MR1".into(),
            shared_from: Some("OTHER".into()),
            ..Default::default()
        },
    );
    p.inv.subjects.insert("EXT01".into(), shared);
    let mut m = manifest("copy", "conflict: skip", "");
    m.transfers[0].select.subjects = vec!["SUB00[1-5]".into(), "EXT*".into()];
    m.transfers[0].select.sessions = vec!["*_MR1".into(), "*_MR9".into()];
    let plan = plan_of(&m, &invs(vec![p, main_project()])).unwrap();
    let skipped: Vec<(String, String)> = plan.transfers[0]
        .skipped
        .iter()
        .map(|s| (s.object.clone(), s.reason.clone()))
        .collect();
    let has = |obj: &str, why: &str| {
        assert!(
            skipped.iter().any(|(o, r)| o == obj && r.contains(why)),
            "missing {obj} ({why}) in {skipped:#?}"
        )
    };
    has("subject EXT01", "shared into PILOT from OTHER");
    has("subject SUB006", "not matched by select.subjects");
    has("session SUB004_MR2", "not matched by select.sessions");
    has(
        "session SUB001_MR1 scan 1 (localizer)",
        "select.scan_types.exclude",
    );
    has("resource NOTES of SUB001_MR1", "select.resources");
    has("experiment SUB001_FS (fs:fsData) of SUB001", "assessors");
    has("prearchive session SUB001/SUB001_MR9", "source prearchive");
    // SUB004_MR2 filtered out: SUB004_MR1 no longer collides.
    assert_eq!(act(&plan, "SUB004_MR1").kind, ActionKind::Create);
}

#[test]
fn include_globs_select_scans_and_resources_are_reported() {
    let mut m = manifest("copy", "conflict: skip", "");
    m.transfers[0].select.resources = vec!["NOTES".into()];
    m.transfers[0].select.scan_types.include = vec!["T1*".into(), "DTI*".into()];
    let plan = plan_of(&m, &invs(vec![pilot(), main_project()])).unwrap();
    let a = act(&plan, "SUB001_MR1");
    let scans: Vec<&str> = a.scans.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(scans, ["2", "4"]);
    // A selected resource is carried, file by file, and counted in the action's totals.
    let labels: Vec<&str> = a.resources.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(labels, ["NOTES"]);
    assert_eq!(a.resources[0].files, 1);
    assert_eq!(a.files, 21);
    assert!(!plan.transfers[0]
        .skipped
        .iter()
        .any(|s| s.object == "resource NOTES of SUB001_MR1"));
    // Sessions left in the prearchive cannot take resources: skipped, with why.
    m.transfers[0].policy.archive = Some(crate::manifest::model::Archive::Manual);
    let manual = plan_of(&m, &invs(vec![pilot(), main_project()])).unwrap();
    assert!(act(&manual, "SUB001_MR1").resources.is_empty());
    assert!(manual.transfers[0].skipped.iter().any(
        |s| s.object == "resource NOTES of SUB001_MR1" && s.reason.contains("archive: manual")
    ));
    assert!(plan.transfers[0].skipped.iter().any(|s| s.object
        == "session SUB001_MR1 scan 3 (BOLD_rest)"
        && s.reason.contains("include")));
}

#[test]
fn a_failing_template_names_transfer_session_and_field() {
    let mut m = manifest("copy", "conflict: skip", "");
    m.transfers[0].map.session = Some("{{ dest.subject }}_{{ dicom.SeriesDate }}".into());
    let e = plan_of(&m, &invs(vec![pilot(), main_project()])).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, PlanError::Template { .. }), "{msg}");
    assert!(msg.contains("pilot-into-main"), "{msg}");
    assert!(
        msg.contains("session `SUB001_MR1` of subject `SUB001`"),
        "{msg}"
    );
    assert!(msg.contains("map.session"), "{msg}");

    m.transfers[0].map.session = None;
    m.transfers[0].dicom.set.insert(
        "StudyID".into(),
        "{{ tables.missing[subject.label] }}".into(),
    );
    let msg = plan_of(&m, &invs(vec![pilot(), main_project()]))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("dicom.set.StudyID"), "{msg}");

    m.transfers[0].dicom.set.clear();
    m.transfers[0].map.subject = Some("{{ subject.label ".into());
    let msg = plan_of(&m, &invs(vec![pilot(), main_project()]))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("map.subject") && msg.contains("syntax"),
        "{msg}"
    );
}

#[test]
fn dicom_keywords_and_tables_feed_labels() {
    let mut m = manifest("copy", "conflict: skip", "");
    m.transfers[0].map.subject = Some("{{ tables.ids[subject.label] }}".into());
    m.transfers[0].map.session = Some(
        "{{ dest.subject }}_{{ dicom.PatientSex }}_{{ session.uid | replace('.', '') }}".into(),
    );
    let mut ids = crate::template::Table::new();
    for i in 1..=6 {
        ids.insert(format!("SUB00{i}"), format!("P{i}"));
    }
    let tables = BTreeMap::from([("ids".to_string(), ids)]);
    let invs = invs(vec![
        (1..=6).fold(pilot(), |p, i| {
            let subj = format!("SUB00{i}");
            let sessions: Vec<String> = p.inv.subjects[&subj].sessions.keys().cloned().collect();
            sessions
                .iter()
                .fold(p, |p, s| p.header(&subj, s, "PatientSex", "F"))
        }),
        main_project(),
    ]);
    let plan = build(&PlanInput {
        manifest: &m,
        tables: &tables,
        manifest_path: "m.yaml",
        manifest_hash: "blake3:00",
        inventories: &invs,
        ferry_version: crate::VERSION,
    })
    .unwrap();
    let a = act(&plan, "SUB005_MR1");
    assert_eq!(
        (a.dest.subject.as_str(), a.dest.session.as_str()),
        ("P5", "P5_F_12151")
    );
}

#[test]
fn invalid_labels_block_the_session_with_the_rendered_label() {
    let mut m = manifest("copy", "conflict: skip, anonymization: off", "");
    m.transfers[0].map.session = Some("{{ dest.subject }} {{ session.date }}".into());
    let plan = plan_of(&m, &invs(vec![pilot(), main_project()])).unwrap();
    let a = act(&plan, "SUB001_MR1");
    assert_eq!(a.kind, ActionKind::Blocked);
    assert!(a.reason.contains("`MAIN_001 2024-01-15`"), "{}", a.reason);
    assert!(a.reason.contains("' '"), "{}", a.reason);
    assert!(check_label("").is_err());
    assert!(check_label("MAIN_001-a").is_ok());
    let item = plan
        .checklist
        .iter()
        .find(|c| c.item == "label_mapping")
        .unwrap();
    assert_eq!(item.status, CheckStatus::Blocked);
}

#[test]
fn phi_under_warn_is_listed_and_off_is_silent() {
    let warn = plan_of(
        &manifest("copy", "conflict: skip, anonymization: warn", ""),
        &invs(vec![pilot(), main_project()]),
    )
    .unwrap();
    let a = act(&warn, "SUB003_MR1");
    assert_eq!(a.kind, ActionKind::Create);
    assert_eq!(a.phi.len(), 2);
    let item = warn
        .checklist
        .iter()
        .find(|c| c.item == "anonymization")
        .unwrap();
    assert_eq!(item.status, CheckStatus::Warn);

    let off = plan_of(
        &manifest("copy", "conflict: skip, anonymization: off", ""),
        &invs(vec![pilot(), main_project()]),
    )
    .unwrap();
    assert!(act(&off, "SUB003_MR1").phi.is_empty());

    // PatientName not overwritten: a finding for every session.
    let mut m = manifest("copy", "conflict: skip", "");
    m.transfers[0].dicom.set.remove("PatientName");
    let plan = plan_of(&m, &invs(vec![pilot(), main_project()])).unwrap();
    let a = act(&plan, "SUB001_MR1");
    assert_eq!(a.kind, ActionKind::Blocked);
    assert!(a.reason.contains("PatientName"), "{}", a.reason);
}

#[test]
fn bad_globs_and_missing_inventories_are_errors() {
    let mut m = manifest("copy", "conflict: skip", "");
    m.transfers[0].select.subjects = vec!["SUB[".into()];
    let e = plan_of(&m, &invs(vec![pilot(), main_project()])).unwrap_err();
    assert!(e.to_string().contains("select.subjects"), "{e}");
    assert!(e.to_string().contains("SUB["), "{e}");

    let m = manifest("copy", "conflict: skip", "");
    let e = plan_of(&m, &invs(vec![pilot()])).unwrap_err();
    assert!(matches!(e, PlanError::MissingInventory { .. }), "{e}");
    assert!(e.to_string().contains("MAIN"), "{e}");
}

#[test]
fn the_same_inputs_in_any_order_give_the_same_plan() {
    let reference = to_yaml(&demo_plan());
    for seed in 0..20u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut order: Vec<(String, String)> = pilot()
            .inv
            .sessions()
            .map(|(s, e)| (s.label.clone(), e.label.clone()))
            .collect();
        rng.shuffle(&mut order);
        // Rebuild PILOT by inserting sessions in a shuffled order.
        let full = pilot().inv;
        let mut p = Proj::new("PILOT");
        for (subj, sess) in &order {
            let src = &full.subjects[subj];
            let entry = p.subject(subj);
            entry.id = src.id.clone();
            entry
                .sessions
                .insert(sess.clone(), src.sessions[sess].clone());
        }
        let mut projects = vec![p, main_project()];
        rng.shuffle(&mut projects);
        let m = manifest("copy", "conflict: skip, anonymization: require", "");
        let plan = plan_of(&m, &invs(projects)).unwrap();
        assert_eq!(to_yaml(&plan), reference, "seed {seed}");
    }
}

#[test]
fn sessions_of_a_data_type_the_destination_lacks_are_skipped_with_why() {
    let m = manifest("copy", "conflict: skip", "");
    let mut dest = main_project();
    dest.inv.data_types = Some(["xnat:ctSessionData".to_string()].into_iter().collect());
    let plan = plan_of(&m, &invs(vec![pilot(), dest])).unwrap();
    assert!(plan.transfers[0].actions.is_empty());
    let reason = plan.transfers[0]
        .skipped
        .iter()
        .find(|s| s.object == "session SUB001_MR1")
        .map(|s| s.reason.as_str())
        .unwrap_or_default();
    assert!(
        reason.contains(
            "data type xnat:mrSessionData is not served by the destination server `local`"
        ),
        "{reason}"
    );
    // A destination that lists the type, or does not say, takes the sessions.
    let mut dest = main_project();
    dest.inv.data_types = Some(["xnat:mrSessionData".to_string()].into_iter().collect());
    let plan = plan_of(&m, &invs(vec![pilot(), dest])).unwrap();
    assert!(!plan.transfers[0].actions.is_empty());
    assert!(!plan_of(&m, &invs(vec![pilot(), main_project()]))
        .unwrap()
        .transfers[0]
        .actions
        .is_empty());
}

#[test]
fn old_source_labels_in_written_text_are_findings() {
    // The source session label written into a text element survives into the destination file.
    let mut m = manifest("copy", "conflict: skip, anonymization: require", "");
    m.transfers[0]
        .dicom
        .set
        .insert("ImageComments".into(), "was {{ session.label }}".into());
    let plan = plan_of(&m, &invs(vec![pilot(), main_project()])).unwrap();
    let a = act(&plan, "SUB001_MR1");
    assert_eq!(a.kind, ActionKind::Blocked);
    assert!(
        a.reason.contains("old label in ImageComments"),
        "{}",
        a.reason
    );
    // Unrewritten, the source's own routing string is an old label too.
    let mut m = manifest("copy", "conflict: skip, anonymization: require", "");
    m.transfers[0].dicom.set.remove("PatientComments");
    m.transfers[0]
        .dicom
        .set
        .insert("PatientComments".into(), "{{ dest.subject }}".into());
    let plan = plan_of(&m, &invs(vec![pilot(), main_project()])).unwrap();
    assert_eq!(act(&plan, "SUB001_MR1").kind, ActionKind::Create);
    m.transfers[0].dicom.set.remove("PatientComments");
    let plan = plan_of(&m, &invs(vec![pilot(), main_project()])).unwrap();
    let a = act(&plan, "SUB001_MR1");
    assert!(
        a.reason.contains("old label in PatientComments"),
        "{}",
        a.reason
    );
}
