use super::*;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_object::InMemDicomObject;
use std::collections::BTreeMap;

/// A plain map as a data set, to test the evaluator without dicom-object.
#[derive(Default)]
struct Map(BTreeMap<Tag, String>);

impl DataSet for Map {
    fn tags(&self) -> Vec<Tag> {
        self.0.keys().copied().collect()
    }
    fn value(&self, tag: Tag) -> Option<String> {
        self.0.get(&tag).cloned()
    }
    fn set(&mut self, tag: Tag, value: &str) -> Result<bool, String> {
        Ok(self.0.insert(tag, value.to_string()).as_deref() != Some(value))
    }
    fn remove(&mut self, tag: Tag) {
        self.0.remove(&tag);
    }
    fn remove_private(&mut self) -> usize {
        let before = self.0.len();
        self.0.retain(|t, _| t.group() % 2 == 0);
        before - self.0.len()
    }
}

const NAME: Tag = Tag(0x0010, 0x0010);
const ID: Tag = Tag(0x0010, 0x0020);
const STUDY_DESC: Tag = Tag(0x0008, 0x1030);

fn vars(project: &str) -> Vars {
    Vars {
        project: project.into(),
        subject: "SUBJ".into(),
        session: "SESS".into(),
        modality_label: "MR".into(),
    }
}

fn map(pairs: &[(Tag, &str)]) -> Map {
    Map(pairs.iter().map(|(t, v)| (*t, v.to_string())).collect())
}

fn run(script: &str, ds: &mut Map, project: &str) -> bool {
    Script::parse(script)
        .expect("parses")
        .apply(ds, &vars(project))
        .expect("applies")
}

#[test]
fn xnat_default_script_sets_the_three_fields() {
    let mut ds = map(&[(NAME, "Doe^Jane"), (ID, "H123"), (STUDY_DESC, "Brain")]);
    assert!(run(XNAT_DEFAULT_SCRIPT, &mut ds, "MAIN"));
    assert_eq!(ds.value(NAME).as_deref(), Some("SUBJ"));
    assert_eq!(ds.value(ID).as_deref(), Some("SESS"));
    assert_eq!(ds.value(STUDY_DESC).as_deref(), Some("MAIN"));
}

#[test]
fn the_condition_guards_only_its_own_action() {
    let mut ds = map(&[(STUDY_DESC, "Brain")]);
    run(XNAT_DEFAULT_SCRIPT, &mut ds, "Unassigned");
    assert_eq!(ds.value(STUDY_DESC).as_deref(), Some("Brain"));
    // The unconditional lines after it still ran.
    assert_eq!(ds.value(NAME).as_deref(), Some("SUBJ"));
}

#[test]
fn else_branch_runs_when_the_condition_fails() {
    let s = "version \"6.1\"\n(0008,0060) = \"CT\" ? (0008,1030) := \"ct\" : (0008,1030) := \"other\"\n";
    let mut ds = map(&[(Tag(0x0008, 0x0060), "MR")]);
    run(s, &mut ds, "P");
    assert_eq!(ds.value(STUDY_DESC).as_deref(), Some("other"));
    let mut ds = map(&[(Tag(0x0008, 0x0060), "CT")]);
    run(s, &mut ds, "P");
    assert_eq!(ds.value(STUDY_DESC).as_deref(), Some("ct"));
}

#[test]
fn regex_must_match_the_whole_value() {
    let s = "version \"6.1\"\n(0010,0010) ~ \"Doe.*\" ? - (0010,0010)\n(0010,0020) ~ \"12\" ? - (0010,0020)\n";
    let mut ds = map(&[(NAME, "Doe^Jane"), (ID, "H123")]);
    run(s, &mut ds, "P");
    assert_eq!(ds.value(NAME), None);
    assert_eq!(
        ds.value(ID).as_deref(),
        Some("H123"),
        "a partial match is not a match"
    );
    let s = "version \"6.1\"\n(0010,0020) !~ \"H[0-9]+\" ? - (0010,0020)\n";
    let mut ds = map(&[(ID, "H123")]);
    run(s, &mut ds, "P");
    assert_eq!(ds.value(ID).as_deref(), Some("H123"));
}

#[test]
fn absent_elements_compare_as_absent() {
    let s = "version \"6.1\"\n(0008,0060) != \"MR\" ? (0008,1030) := \"not MR\"\n(0008,0060) = \"\" ? (0010,0010) := \"empty\"\n";
    let mut ds = Map::default();
    run(s, &mut ds, "P");
    assert_eq!(ds.value(STUDY_DESC).as_deref(), Some("not MR"));
    assert_eq!(ds.value(NAME), None);
}

#[test]
fn wildcards_and_digit_classes_delete_ranges() {
    let mut ds = map(&[
        (Tag(0x0008, 0x1030), "a"),
        (Tag(0x0008, 0x103E), "b"),
        (Tag(0x0008, 0x1040), "c"),
        (Tag(0x5000, 0x0010), "curve"),
        (Tag(0x5002, 0x0010), "curve"),
        (Tag(0x0029, 0x1010), "odd"),
        (Tag(0x0028, 0x1010), "even"),
    ]);
    run(
        "version \"6.1\"\n- (0008,103x)\n- (50XX,xxxx)\n- (002#,1010)\n",
        &mut ds,
        "P",
    );
    assert_eq!(
        ds.tags(),
        vec![Tag(0x0008, 0x1040), Tag(0x0028, 0x1010)],
        "the range, the curve groups and only the odd group went"
    );
}

#[test]
fn remove_all_private_tags_and_comments() {
    let s = "// site rules\nversion \"6.1\" // trailing comment\n\nremoveAllPrivateTags\n(0008,1030) := \"a // not a comment\"\n";
    let mut ds = map(&[(Tag(0x0029, 0x0010), "SIEMENS"), (NAME, "x")]);
    run(s, &mut ds, "P");
    assert_eq!(ds.tags(), vec![Tag(0x0008, 0x1030), NAME]);
    assert_eq!(ds.value(STUDY_DESC).as_deref(), Some("a // not a comment"));
}

#[test]
fn values_copy_from_other_elements_and_variables() {
    let s = "version \"6.1\"\n(0010,4000) := (0010,0020)\n(0008,103E) := modalityLabel\n(0020,0011) := 7\n";
    let mut ds = map(&[(ID, "H1")]);
    run(s, &mut ds, "P");
    assert_eq!(ds.value(Tag(0x0010, 0x4000)).as_deref(), Some("H1"));
    assert_eq!(ds.value(Tag(0x0008, 0x103E)).as_deref(), Some("MR"));
    assert_eq!(ds.value(Tag(0x0020, 0x0011)).as_deref(), Some("7"));
}

fn unsupported_line(script: &str) -> (usize, String) {
    match Script::parse(script) {
        Err(ScriptError::Unsupported { line, construct }) => (line, construct),
        other => panic!("expected unsupported, got {other:?}"),
    }
}

#[test]
fn constructs_outside_the_subset_are_refused_with_their_line() {
    let cases = [
        ("(0020,000D) := hashUID[(0020,000D)]", "hashUID"),
        ("(0020,000D) := new UID", "new"),
        ("alterPixels[\"rectangle\", \"l=0\"]", "alterPixels"),
        ("reject[]", "reject"),
        ("(0008,1110)[0]/(0008,1155) := \"x\"", "sequence path"),
        ("- + / (0010,0010)", "sequence wildcard"),
        (
            "(0019,{SIEMENS MR HEADER}0F) := \"x\"",
            "private tag by creator",
        ),
        ("(0010,0010) ?= \"x\"", "?="),
        ("echo \"hi\"", "echo"),
        ("describe patient \"Patient\"", "describe"),
        ("mine := \"x\"", "variable initialisation"),
        ("(0010,0010) := patientName", "variable `patientName`"),
        ("- (7FE0,0010)", "pixel data"),
        ("(0002,0010) := \"1.2\"", "file meta group"),
    ];
    for (stmt, what) in cases {
        let (line, construct) = unsupported_line(&format!("version \"6.1\"\n// c\n{stmt}\n"));
        assert_eq!(line, 3, "{stmt}");
        assert!(construct.contains(what), "{stmt}: {construct}");
    }
    let (line, c) = unsupported_line("version \"4.2\"\n");
    assert_eq!((line, c.contains("4.2")), (1, true));
}

#[test]
fn malformed_scripts_are_syntax_errors_with_their_line() {
    for (s, line) in [
        ("version \"6.1\"\n(0010,0010) := \"open\n", 2),
        ("version \"6.1\"\n(0010,001) := \"x\"\n", 2),
        ("version \"6.1\"\n(0010,0010) ~ \"([\" ? - (0010,0010)\n", 2),
        ("version \"6.1\"\n(0010,0010) ? - (0010,0010)\n", 2),
        ("version \"6.1\"\n\n\nversion \"6.1\"\n", 4),
        ("version \"6.1\"\n(0010,0010) := \"a\" \"b\"\n", 2),
    ] {
        match Script::parse(s) {
            Err(ScriptError::Syntax { line: l, .. }) => assert_eq!(l, line, "{s}"),
            other => panic!("{s}: expected a syntax error, got {other:?}"),
        }
    }
}

#[test]
fn scripts_without_a_version_use_the_same_rules() {
    let s = "project != \"Unassigned\" ? (0008,1030) := project\n(0010,0010) := subject\n";
    let mut ds = Map::default();
    run(s, &mut ds, "P");
    assert_eq!(ds.value(STUDY_DESC).as_deref(), Some("P"));
}

#[test]
fn effects_name_conditional_and_unconditional_actions() {
    let s = Script::parse(XNAT_DEFAULT_SCRIPT).unwrap();
    let e = s.effects();
    assert_eq!(e.len(), 3);
    assert!(e[0].conditional && e[0].touches(STUDY_DESC));
    assert!(!e[1].conditional && e[1].touches(NAME));
    assert!(!e[2].touches(NAME));
    assert!(!s.is_empty());
    assert!(Script::parse("version \"6.1\"\n// nothing\n")
        .unwrap()
        .is_empty());
}

#[test]
fn in_memory_data_sets_keep_vrs_and_strip_private_tags_in_sequences() {
    let item = InMemDicomObject::from_element_iter([
        DataElement::new(Tag(0x0009, 0x0010), VR::LO, PrimitiveValue::from("CREATOR")),
        DataElement::new(Tag(0x0008, 0x1150), VR::UI, PrimitiveValue::from("1.2.3")),
    ]);
    let mut obj = InMemDicomObject::from_element_iter([
        DataElement::new(NAME, VR::PN, PrimitiveValue::from("Doe^Jane")),
        DataElement::new(Tag(0x0011, 0x0010), VR::LO, PrimitiveValue::from("X")),
        DataElement::new(
            Tag(0x0008, 0x1140),
            VR::SQ,
            dicom_core::value::DataSetSequence::from(vec![item]),
        ),
    ]);
    let s = Script::parse(
        "version \"6.1\"\nremoveAllPrivateTags\n(0010,0010) := subject\n(0020,0013) := \"5\"\n",
    )
    .unwrap();
    assert!(s.apply(&mut obj, &vars("P")).unwrap());
    assert_eq!(DataSet::value(&obj, NAME).as_deref(), Some("SUBJ"));
    assert_eq!(obj.get(Tag(0x0020, 0x0013)).map(|e| e.vr()), Some(VR::IS));
    assert!(obj.get(Tag(0x0011, 0x0010)).is_none());
    let seq = obj.get(Tag(0x0008, 0x1140)).unwrap();
    let items = seq.items().unwrap();
    assert!(items[0].get(Tag(0x0009, 0x0010)).is_none());
    assert!(items[0].get(Tag(0x0008, 0x1150)).is_some());
    // Running it again changes nothing.
    assert!(!s.apply(&mut obj, &vars("P")).unwrap());
    let bad = Script::parse("version \"6.1\"\n(0008,1140) := \"x\"\n").unwrap();
    match bad.apply(&mut obj, &vars("P")) {
        Err(ScriptError::Apply { line: 2, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn may_touch_reports_what_a_script_can_change_statically() {
    let s = Script::parse(
        "version \"6.1\"\n(0010,0010) := subject\n(0008,0060) = \"MR\" ? - (0008,1030)\n- (0018,10xx)\n",
    )
    .unwrap();
    assert!(s.may_touch(&[NAME]));
    assert!(s.may_touch(&[STUDY_DESC]), "conditional actions count");
    assert!(s.may_touch(&[Tag(0x0018, 0x1020)]), "ranges count");
    assert!(!s.may_touch(&[ID]));
    // Inside a sequence, only the top-level tag decides: the script acts on whole sequences.
    assert!(!s.may_touch(&[Tag(0x0008, 0x1140), NAME]));
    assert!(s.may_touch(&[NAME, Tag(0x0008, 0x0100)]));
    let private = Script::parse("version \"6.1\"\nremoveAllPrivateTags\n").unwrap();
    assert!(private.may_touch(&[Tag(0x0008, 0x1140), Tag(0x0029, 0x1010)]));
    assert!(!private.may_touch(&[Tag(0x0008, 0x1140), NAME]));
    assert!(!private.may_touch(&[]));
}
