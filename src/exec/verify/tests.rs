//! Tests of the session comparison.

use super::*;

fn file(pixel: &str, whole: &str, pid: &str) -> FileFacts {
    FileFacts {
        name: "f.dcm".into(),
        size: 100,
        pixel_hash: pixel.into(),
        file_hash: whole.into(),
        set_fields: [("PatientID".to_string(), pid.to_string())].into(),
        md5: String::new(),
        header: String::new(),
    }
}

fn session(files: &[(&str, &str, FileFacts)]) -> SessionFacts {
    let mut s = SessionFacts {
        study_uid: Some("1.2.3".into()),
        ..Default::default()
    };
    for (scan, sop, f) in files {
        s.scans
            .entry(scan.to_string())
            .or_default()
            .insert(sop.to_string(), f.clone());
    }
    s
}

#[test]
fn identical_sessions_pass() {
    let a = session(&[("1", "1.1", file("p", "w", "MAIN_001"))]);
    let v = compare(&a, &a.clone(), Depth::Full);
    assert!(v.passed(), "{:?}", v.problems);
    assert_eq!((v.scans, v.files, v.bytes), (1, 1, 100));
}

#[test]
fn missing_scan_file_and_pixel_changes_fail() {
    let want = session(&[
        ("1", "1.1", file("p1", "w1", "X")),
        ("1", "1.2", file("p2", "w2", "X")),
        ("2", "2.1", file("p3", "w3", "X")),
    ]);
    let got = session(&[
        ("1", "1.1", file("CHANGED", "w1", "X")),
        ("1", "9.9", file("p9", "w9", "X")),
    ]);
    let v = compare(&want, &got, Depth::Full);
    assert!(v
        .problems
        .contains(&Problem::MissingScan { scan: "2".into() }));
    assert!(v.problems.contains(&Problem::PixelData {
        scan: "1".into(),
        sop_uid: "1.1".into()
    }));
    assert!(v.problems.contains(&Problem::MissingFile {
        scan: "1".into(),
        sop_uid: "1.2".into()
    }));
    assert!(v.problems.contains(&Problem::UnexpectedFile {
        scan: "1".into(),
        sop_uid: "9.9".into()
    }));
}

#[test]
fn fields_ferry_set_must_read_back() {
    let want = session(&[("1", "1.1", file("p", "w", "MAIN_001"))]);
    let got = session(&[("1", "1.1", file("p", "w2", "SOMEONE_ELSE"))]);
    let v = compare(&want, &got, Depth::Full);
    assert_eq!(
        v.problems,
        vec![Problem::Field {
            scan: "1".into(),
            sop_uid: "1.1".into(),
            keyword: "PatientID".into()
        }]
    );
}

#[test]
fn server_side_header_changes_are_notes_not_failures() {
    let want = session(&[("1", "1.1", file("p", "w", "X"))]);
    let got = session(&[("1", "1.1", file("p", "rewritten-by-server", "X"))]);
    let v = compare(&want, &got, Depth::Full);
    assert!(v.passed());
    assert_eq!(v.notes.len(), 1);
    // The facts of a rewrite carry no whole-file hash (the header hash, pixel hash and MD5 cover
    // the file): nothing is inferred from the read-back file's.
    let want = session(&[("1", "1.1", file("p", "", "X"))]);
    let v = compare(&want, &got, Depth::Full);
    assert!(v.passed() && v.notes.is_empty(), "{:?}", v.notes);
}

#[test]
fn fields_rewritten_by_server_scripts_are_notes_only_when_the_server_runs_them() {
    let want = session(&[("1", "1.1", file("p", "w", "MAIN_001"))]);
    let got = session(&[("1", "1.1", file("p", "w2", "MAIN_001_MR"))]);
    let local = compare(&want, &got, Depth::Full);
    assert!(local
        .problems
        .iter()
        .any(|p| matches!(p, Problem::Field { keyword, .. } if keyword == "PatientID")));
    let server = compare(&want, &got, Depth::PixelsAndUids);
    assert!(server.passed(), "{:?}", server.problems);
    assert!(server.notes.iter().any(|n| n.contains("rewrote PatientID")));
    // Pixel data and UIDs still fail it.
    let mut bad = got.clone();
    bad.study_uid = Some("9.9".into());
    bad.scans
        .get_mut("1")
        .unwrap()
        .get_mut("1.1")
        .unwrap()
        .pixel_hash = "q".into();
    let v = compare(&want, &bad, Depth::PixelsAndUids);
    assert!(v
        .problems
        .iter()
        .any(|p| matches!(p, Problem::StudyUid { .. })));
    assert!(v
        .problems
        .iter()
        .any(|p| matches!(p, Problem::PixelData { .. })));
}

#[test]
fn study_uid_must_match_and_counts_mode_ignores_hashes() {
    let want = session(&[("1", "1.1", file("p", "w", "X"))]);
    let mut got = session(&[("1", "1.1", file("other", "w", "X"))]);
    got.study_uid = Some("9.9.9".into());
    let full = compare(&want, &got, Depth::Full);
    assert!(full
        .problems
        .iter()
        .any(|p| matches!(p, Problem::StudyUid { .. })));
    let counts = compare(&want, &got, Depth::Counts);
    assert!(counts.passed(), "{:?}", counts.problems);
}

#[test]
fn extra_scans_already_in_the_destination_are_fine() {
    let want = session(&[("2", "2.1", file("p", "w", "X"))]);
    let got = session(&[
        ("1", "1.1", file("q", "v", "Y")),
        ("2", "2.1", file("p", "w", "X")),
    ]);
    assert!(compare(&want, &got, Depth::Full).passed());
}

#[test]
fn duplicate_uids_in_the_destination_fail_and_in_the_source_are_noted() {
    let a = session(&[("1", "1.1", file("p", "w", "MAIN_001"))]);
    let mut dest = a.clone();
    dest.duplicates.insert("1".into(), 1);
    let v = compare(&a, &dest, Depth::Full);
    assert_eq!(
        v.problems,
        vec![Problem::Duplicates {
            scan: "1".into(),
            count: 1
        }]
    );
    assert!(v.problems[0].to_string().contains("second copy"));
    let mut src = a.clone();
    src.duplicates.insert("1".into(), 2);
    let v = compare(&src, &a, Depth::Full);
    assert!(v.passed());
    assert!(
        v.notes[0].contains("the source holds 2 file(s)"),
        "{:?}",
        v.notes
    );
}

/// Element changes by (expected entry, destination entry), as a header source.
struct Changes(BTreeMap<String, Vec<(ElementPath, Change)>>);

impl HeaderSource for Changes {
    fn changes(
        &self,
        _scan: &str,
        want: &FileFacts,
        _got: &FileFacts,
    ) -> Result<Vec<(ElementPath, Change)>, String> {
        self.0
            .get(&want.name)
            .cloned()
            .ok_or_else(|| format!("{} was not expected to be read", want.name))
    }
}

/// Real element paths and changes, from two synthetic files.
fn element_changes(edit: &[(&str, &str)]) -> Vec<(ElementPath, Change)> {
    use crate::dicom::{fingerprint::element_hashes, synth};
    let a = synth::file(&synth::Spec::new(2));
    let set: BTreeMap<String, String> = edit
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let b = crate::dicom::rewrite(&a, &set).unwrap();
    let k = [3; 32];
    element_hashes(&a, &k)
        .unwrap()
        .changes(&element_hashes(&b, &k).unwrap())
}

fn with_header(mut f: FileFacts, header: &str) -> FileFacts {
    f.header = header.into();
    f
}

fn judged(
    want: &SessionFacts,
    got: &SessionFacts,
    changes: Vec<(ElementPath, Change)>,
    depth: Depth,
    touches: &dyn Fn(&[Tag]) -> bool,
) -> Verification {
    let source = Changes([("f.dcm".to_string(), changes)].into());
    compare_with(
        want,
        got,
        &Judge {
            depth,
            headers: Some(&source),
            server_touches: touches,
        },
    )
    .unwrap()
}

#[test]
fn a_header_element_the_destination_changed_fails_by_name() {
    let want = session(&[("1", "1.1", with_header(file("p", "w", "X"), "h1"))]);
    let got = session(&[("1", "1.1", with_header(file("p", "w2", "X"), "h2"))]);
    let changes = element_changes(&[("StudyDate", "19990101")]);
    let v = judged(&want, &got, changes, Depth::Full, &|_| false);
    assert_eq!(
        v.problems,
        vec![Problem::Element {
            scan: "1".into(),
            sop_uid: "1.1".into(),
            element: "(0008,0020)".into(),
            keyword: "StudyDate".into(),
            change: Change::Changed,
        }]
    );
    let text = v.problems[0].to_string();
    assert!(
        text.contains("(0008,0020) `StudyDate` of `1.1` was changed"),
        "{text}"
    );
    assert!(v.notes.is_empty(), "{:?}", v.notes);
}

#[test]
fn added_and_removed_elements_fail_too() {
    let want = session(&[("1", "1.1", with_header(file("p", "w", "X"), "h1"))]);
    let got = session(&[("1", "1.1", with_header(file("p", "w2", "X"), "h2"))]);
    let added = element_changes(&[("ClinicalTrialSiteName", "Site")]);
    let v = judged(&want, &got, added.clone(), Depth::Full, &|_| false);
    assert!(
        matches!(&v.problems[..], [Problem::Element { keyword, change: Change::Added, .. }] if keyword == "ClinicalTrialSiteName"),
        "{:?}",
        v.problems
    );
    let removed: Vec<_> = added
        .into_iter()
        .map(|(p, _)| (p, Change::Removed))
        .collect();
    let v = judged(&want, &got, removed, Depth::Full, &|_| false);
    assert!(v.problems[0]
        .to_string()
        .contains("was removed after upload"));
}

#[test]
fn equal_header_hashes_read_nothing_and_set_fields_are_judged_by_value() {
    let want = session(&[("1", "1.1", with_header(file("p", "w", "X"), "h"))]);
    // The source would fail if asked: equal hashes must not read anything.
    let v = judged(&want, &want.clone(), Vec::new(), Depth::Full, &|_| false);
    assert!(v.passed());
    let empty = Changes(BTreeMap::new());
    let v = compare_with(
        &want,
        &want.clone(),
        &Judge {
            depth: Depth::Full,
            headers: Some(&empty),
            server_touches: &|_| false,
        },
    )
    .unwrap();
    assert!(v.passed(), "{:?}", v.problems);
    // A changed field ferry set is reported once, as the field, not again as an element.
    let got = session(&[("1", "1.1", with_header(file("p", "w2", "Y"), "h2"))]);
    let changes = element_changes(&[("PatientID", "Y")]);
    let v = judged(&want, &got, changes, Depth::Full, &|_| false);
    assert_eq!(
        v.problems,
        vec![Problem::Field {
            scan: "1".into(),
            sop_uid: "1.1".into(),
            keyword: "PatientID".into()
        }]
    );
}

#[test]
fn under_server_scripts_what_they_may_touch_is_a_note_and_anything_else_fails() {
    let want = session(&[("1", "1.1", with_header(file("p", "w", "X"), "h1"))]);
    let got = session(&[("1", "1.1", with_header(file("p", "w2", "X_MR"), "h2"))]);
    let changes = element_changes(&[("PatientID", "X_MR"), ("InstitutionName", "Site")]);
    // The scripts set PatientID and InstitutionName: both are theirs.
    let both = |p: &[Tag]| p[0] == Tag(0x0010, 0x0020) || p[0] == Tag(0x0008, 0x0080);
    let v = judged(&want, &got, changes.clone(), Depth::PixelsAndUids, &both);
    assert!(v.passed(), "{:?}", v.problems);
    assert!(
        v.notes
            .iter()
            .any(|n| n.contains("rewrote InstitutionName, PatientID")),
        "{:?}",
        v.notes
    );
    // The scripts only set PatientID: the InstitutionName change is nobody's.
    let id_only = |p: &[Tag]| p[0] == Tag(0x0010, 0x0020);
    let v = judged(&want, &got, changes.clone(), Depth::PixelsAndUids, &id_only);
    assert_eq!(v.problems.len(), 1, "{:?}", v.problems);
    assert!(
        matches!(&v.problems[0], Problem::Element { keyword, .. } if keyword == "InstitutionName")
    );
    // Nor is a set field the scripts are not known to touch.
    let institution_only = |p: &[Tag]| p[0] == Tag(0x0008, 0x0080);
    let v = judged(
        &want,
        &got,
        changes.clone(),
        Depth::PixelsAndUids,
        &institution_only,
    );
    assert!(
        matches!(&v.problems[..], [Problem::Field { keyword, .. }] if keyword == "PatientID"),
        "{:?}",
        v.problems
    );
    // Without server scripts, every change fails.
    let v = judged(&want, &got, changes, Depth::Full, &both);
    assert_eq!(v.problems.len(), 2, "{:?}", v.problems);
}

#[test]
fn an_object_without_pixel_data_is_named_by_element_when_headers_are_known() {
    let content = |h: &str, c: &str| {
        let mut f = with_header(file("", "w", "X"), h);
        f.pixel_hash = format!("{}{c}", crate::exec::zipfacts::CONTENT);
        f
    };
    let want = session(&[("1", "1.1", content("h1", "c1"))]);
    let got = session(&[("1", "1.1", content("h2", "c2"))]);
    let changes = element_changes(&[("SeriesDescription", "edited")]);
    let v = judged(&want, &got, changes, Depth::Full, &|_| false);
    assert!(
        matches!(&v.problems[..], [Problem::Element { keyword, .. }] if keyword == "SeriesDescription"),
        "{:?}",
        v.problems
    );
    // Facts without header hashes (an earlier ferry's) keep the content comparison.
    let want = session(&[("1", "1.1", content("", "c1"))]);
    let v = judged(&want, &got, Vec::new(), Depth::Full, &|_| false);
    assert!(
        matches!(&v.problems[..], [Problem::Content { .. }]),
        "{:?}",
        v.problems
    );
}

#[test]
fn a_summary_groups_element_problems_by_scan_element_and_change() {
    let element = |scan: &str, sop: &str| Problem::Element {
        scan: scan.into(),
        sop_uid: sop.into(),
        element: "(0008,1090)".into(),
        keyword: "ManufacturerModelName".into(),
        change: Change::Added,
    };
    let lines = summary(&[
        element("2", "a"),
        element("2", "b"),
        Problem::MissingScan { scan: "5".into() },
        element("9", "c"),
    ]);
    assert_eq!(
        lines,
        [
            "scan `2`: header element (0008,1090) `ManufacturerModelName` was added after upload in 2 file(s), a change ferry did not make",
            "scan `9`: header element (0008,1090) `ManufacturerModelName` was added after upload in 1 file(s), a change ferry did not make",
            "scan `5` is missing",
        ]
    );
}
