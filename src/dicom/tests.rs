use super::synth::{self, Spec};
use super::*;
use std::collections::BTreeMap;

fn set(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn reads_the_header_up_to_pixel_data() {
    let mut spec = Spec::new(3);
    spec.text
        .insert("PatientBirthDate".into(), "19700101".into());
    let bytes = synth::file(&spec);
    let h = read_header_bytes(&bytes).unwrap();
    assert_eq!(h.keywords["PatientName"], "Synthetic^Patient");
    assert_eq!(h.keywords["SeriesNumber"], "1");
    assert_eq!(h.sop_instance_uid.as_deref(), Some(spec.sop_uid.as_str()));
    assert_eq!(
        h.study_instance_uid.as_deref(),
        Some(spec.study_uid.as_str())
    );
    assert_eq!(h.transfer_syntax, synth::EXPLICIT_LE);
    assert!(!h.keywords.contains_key("PixelData"));
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.dcm");
    std::fs::write(&p, &bytes).unwrap();
    assert_eq!(read_header_path(&p).unwrap(), h);
}

#[test]
fn rewrite_sets_values_and_keeps_pixel_bytes() {
    for ts in [synth::EXPLICIT_LE, synth::IMPLICIT_LE] {
        let mut spec = Spec::new(7);
        spec.transfer_syntax = ts.into();
        let before = synth::file(&spec);
        let s = set(&[
            ("PatientID", "MAIN_001"),
            ("PatientName", "MAIN_001"),
            ("StudyDescription", "xnat://MAIN/MAIN_001/MAIN_001_20240101"),
            (
                "PatientComments",
                "Project: MAIN Subject: MAIN_001 Session: S",
            ),
        ]);
        let after = rewrite(&before, &s).unwrap();
        let h = read_header_bytes(&after).unwrap();
        for (k, v) in &s {
            assert_eq!(&h.keywords[k], v, "{ts} {k}");
        }
        assert_eq!(h.keywords["Modality"], "MR");
        let ph = pixel_hash(&before).unwrap().unwrap();
        assert_eq!(pixel_hash(&after).unwrap().unwrap(), ph, "{ts}");
        // The tail from PixelData on is byte-identical.
        let tail = 16 * 16 * 2;
        assert_eq!(&before[before.len() - tail..], &after[after.len() - tail..]);
        assert_ne!(file_hash(&before), file_hash(&after));
        // Rewriting again with the same values changes nothing.
        assert_eq!(rewrite(&after, &s).unwrap(), after);
    }
}

#[test]
fn an_empty_rewrite_keeps_the_file_readable() {
    let before = synth::file(&Spec::new(1));
    let after = rewrite(&before, &BTreeMap::new()).unwrap();
    assert_eq!(
        read_header_bytes(&after).unwrap(),
        read_header_bytes(&before).unwrap()
    );
}

#[test]
fn refuses_keywords_that_cannot_be_set() {
    let bytes = synth::file(&Spec::new(1));
    for k in [
        "PatientNmae",
        "PixelData",
        "TransferSyntaxUID",
        "ReferencedImageSequence",
    ] {
        let e = rewrite(&bytes, &set(&[(k, "x")])).unwrap_err();
        assert!(matches!(e, DicomError::UnknownKeyword { .. }), "{k}: {e}");
        assert!(!is_known_keyword(k), "{k}");
    }
    assert!(is_known_keyword("PatientID"));
    let e = rewrite(&bytes, &set(&[("Rows", "many")])).unwrap_err();
    assert!(e.to_string().contains("Rows"), "{e}");
}

#[test]
fn non_dicom_and_truncated_input_are_errors() {
    assert!(matches!(
        read_header_bytes(b"hello"),
        Err(DicomError::NotDicom)
    ));
    let text = vec![b'x'; 400];
    assert!(matches!(
        read_header_bytes(&text),
        Err(DicomError::NotDicom)
    ));
    let bytes = synth::file(&Spec::new(2));
    let mut wrong = bytes.clone();
    wrong[129] = b'X';
    assert!(read_header_bytes(&wrong).is_err());
    // Every truncation of the header is an error or a shorter header, never a panic.
    for cut in 0..bytes.len() - 16 * 16 * 2 {
        let _ = read_header_bytes(&bytes[..cut]);
        let _ = rewrite(&bytes[..cut], &set(&[("PatientID", "X")]));
        let _ = pixel_hash(&bytes[..cut]);
    }
}

#[test]
fn mutated_files_never_panic() {
    let bytes = synth::file(&Spec::new(5));
    let mut rng = fastrand::Rng::with_seed(42);
    for _ in 0..3000 {
        let mut m = bytes.clone();
        for _ in 0..rng.usize(1..4) {
            let i = rng.usize(128..m.len());
            m[i] = rng.u8(..);
        }
        let _ = read_header_bytes(&m);
        let _ = rewrite(&m, &set(&[("PatientID", "X")]));
        let _ = rewrite_with(&m, Some(&basic_profile()), &set(&[("PatientID", "X")]));
        let _ = pixel_hash(&m);
    }
}

#[test]
fn huge_declared_lengths_are_errors() {
    let bytes = synth::file(&Spec::new(6));
    // Find PatientName's explicit header (0010,0010 PN) and claim a huge length.
    let pos = bytes
        .windows(6)
        .position(|w| w == [0x10, 0x00, 0x10, 0x00, b'P', b'N'])
        .unwrap();
    let mut m = bytes.clone();
    m[pos + 6] = 0xff;
    m[pos + 7] = 0xff;
    assert!(matches!(
        read_header_bytes(&m),
        Err(DicomError::Truncated(_))
    ));
    let mut m = bytes[..pos + 8].to_vec();
    m.extend_from_slice(&[0u8; 4]);
    assert!(read_header_bytes(&m).is_err());
}

/// The file with the first `from` replaced by `to` (same length).
fn patched(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let pos = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern in the synthetic file");
    let mut m = bytes.to_vec();
    m[pos..pos + to.len()].copy_from_slice(to);
    m
}

/// Inputs the fuzz target found: each made the parser read the data set from another byte or in
/// another encoding than the walk had checked, which cost hundreds of MB on a 1 kB file or made a
/// rewritten file unreadable. Each is now refused before parsing.
#[test]
fn inputs_found_by_fuzzing_are_refused_before_parsing() {
    let bytes = synth::file(&Spec::new(8));
    let malformed = |m: &[u8], what: &str| {
        for r in [
            read_header_bytes(m).err(),
            rewrite(m, &set(&[("PatientID", "X")])).err(),
        ] {
            match r {
                Some(DicomError::Malformed(text)) => assert!(text.contains(what), "{text}"),
                other => panic!("expected a malformed-file error about {what}, got {other:?}"),
            }
        }
    };
    // Modality ("MR") declared UL: 4-byte values that do not divide its length.
    malformed(
        &patched(
            &bytes,
            &[0x08, 0, 0x60, 0, b'C', b'S'],
            &[0x08, 0, 0x60, 0, b'U', b'L'],
        ),
        "does not fit its value representation",
    );
    // The transfer syntax declared UV, an element with a 4-byte length, in the meta group.
    malformed(
        &patched(
            &bytes,
            &[0x02, 0, 0x10, 0, b'U', b'I'],
            &[0x02, 0, 0x10, 0, b'U', b'V'],
        ),
        "does not fit its value representation",
    );
    // The transfer syntax padded with a tab: a parser that trims it reads another encoding.
    malformed(
        &patched(&bytes, b"1.2.840.10008.1.2.1\0", b"1.2.840.10008.1.2.1\t"),
        "not a UID",
    );
    // A file meta group length two bytes longer than its elements.
    let pos = bytes
        .windows(6)
        .position(|w| w == [0x02, 0, 0, 0, b'U', b'L'])
        .unwrap();
    let mut m = bytes.clone();
    m[pos + 8] = m[pos + 8].wrapping_add(2);
    malformed(&m, "announces");
}

/// A file whose meta group holds a name that is not ASCII (found by the fuzzer): a de-identified copy
/// gets a new Media Storage SOP Instance UID, and its meta group length must still match its elements,
/// with every other meta element kept byte for byte.
#[test]
fn deidentified_meta_group_length_matches_its_elements() {
    let bytes = include_bytes!("../../fuzz/seeds/dicom_header/meta-version-name-not-ascii.bin");
    let out = rewrite_with(bytes, Some(&basic_profile()), &BTreeMap::new()).unwrap();
    assert_eq!(pixel_hash(&out).unwrap(), pixel_hash(bytes).unwrap());
    let name = [0x46, 0xb6, 0xad, 0xad, 0xa6, 0x5f, 0x53, 0x49, 0x4d, 0x20];
    assert!(
        out.windows(name.len()).any(|w| w == name),
        "a meta element was re-encoded"
    );
    let before = read_header_bytes(bytes).unwrap();
    let after = read_header_bytes(&out).unwrap();
    assert_ne!(before.sop_instance_uid, after.sop_instance_uid);
}

fn basic_profile() -> Profile {
    Profile {
        basic: true,
        options: profile::Options::default(),
        uid_key: [9; 32],
        remove_private: true,
    }
}

/// A file with identifying data nested in a sequence and in a private group.
fn nested_file() -> Vec<u8> {
    use dicom_core::value::{DataSetSequence, PrimitiveValue};
    use dicom_core::{DataElement, Tag, VR};
    use dicom_object::{InMemDicomObject, OpenFileOptions};
    let bytes = synth::file(&Spec::new(11));
    let mut obj = OpenFileOptions::new().from_reader(&bytes[128..]).unwrap();
    let mut item = InMemDicomObject::new_empty();
    item.put(DataElement::new(
        Tag(0x0010, 0x0020),
        VR::LO,
        PrimitiveValue::from("H-NESTED-1"),
    ));
    item.put(DataElement::new(
        Tag(0x0008, 0x1155),
        VR::UI,
        PrimitiveValue::from("1.2.3.99"),
    ));
    obj.put(DataElement::new(
        Tag(0x0010, 0x1002),
        VR::SQ,
        DataSetSequence::from(vec![item]),
    ));
    obj.put(DataElement::new(
        Tag(0x0029, 0x0010),
        VR::LO,
        PrimitiveValue::from("ACME"),
    ));
    obj.put(DataElement::new(
        Tag(0x0029, 0x1001),
        VR::LO,
        PrimitiveValue::from("Doe Jane"),
    ));
    obj.put(DataElement::new(
        Tag(0x6000, 0x3000),
        VR::OW,
        PrimitiveValue::U16(vec![1u16, 2].into()),
    ));
    let mut out = Vec::new();
    obj.write_all(&mut out).unwrap();
    out
}

#[test]
fn the_header_lists_nested_private_and_overlay_elements() {
    let h = read_header_bytes(&nested_file()).unwrap();
    let paths: Vec<&str> = h.elements.iter().map(|e| e.path.as_str()).collect();
    for p in [
        "OtherPatientIDsSequence",
        "OtherPatientIDsSequence/PatientID",
        "OtherPatientIDsSequence/ReferencedSOPInstanceUID",
        "(0029,1001)",
        "(6000,3000)",
        "PatientName",
    ] {
        assert!(paths.contains(&p), "{p} not in {paths:?}");
    }
    let nested = h
        .elements
        .iter()
        .find(|e| e.path == "OtherPatientIDsSequence/PatientID")
        .unwrap();
    assert!(!nested.top && nested.filled);
    assert!(h.elements.iter().any(|e| e.is_private()));
}

#[test]
fn the_basic_profile_reaches_nested_items_and_replaces_uids_consistently() {
    let before = nested_file();
    let p = basic_profile();
    let after = rewrite_with(&before, Some(&p), &set(&[("PatientID", "MAIN_001")])).unwrap();
    let h = read_header_bytes(&after).unwrap();
    // Set on top of the profile; the profile emptied or removed the rest.
    assert_eq!(h.keywords["PatientID"], "MAIN_001");
    assert_eq!(h.keywords.get("PatientName").map(String::as_str), Some(""));
    assert!(h.keywords.get("StudyDate").is_none_or(|v| v.is_empty()));
    let paths: Vec<&str> = h.elements.iter().map(|e| e.path.as_str()).collect();
    assert!(
        !paths
            .iter()
            .any(|p| p.starts_with("OtherPatientIDsSequence")),
        "{paths:?}"
    );
    assert!(!h.elements.iter().any(|e| e.is_private()), "{paths:?}");
    assert!(!paths.contains(&"(6000,3000)"), "overlay data kept");
    // UIDs: replaced, the same way for the same UID, the file meta group following the instance UID.
    let spec = Spec::new(11);
    let study = profile::replacement_uid(&p.uid_key, &spec.study_uid);
    assert_eq!(h.study_instance_uid.as_deref(), Some(study.as_str()));
    let sop = profile::replacement_uid(&p.uid_key, &spec.sop_uid);
    assert_eq!(h.sop_instance_uid.as_deref(), Some(sop.as_str()));
    let meta = dicom_object::OpenFileOptions::new()
        .read_until(dicom_dictionary_std::tags::PIXEL_DATA)
        .from_reader(&after[128..])
        .unwrap();
    assert_eq!(meta.meta().media_storage_sop_instance_uid(), sop);
    assert_eq!(pixel_hash(&after).unwrap(), pixel_hash(&before).unwrap());
    let text = String::from_utf8_lossy(&after);
    for v in [
        "H-NESTED-1",
        "Doe Jane",
        "Synthetic",
        &spec.study_uid,
        &spec.sop_uid,
    ] {
        assert!(!text.contains(v), "{v} survived");
    }
    // The gate on the result finds nothing the profile should have handled.
    let originals = super::Parsed::read(&before).unwrap().uids();
    let none = std::collections::BTreeSet::new();
    let cleared: std::collections::BTreeSet<String> = ["PatientID".to_string()].into();
    let rules = phi::GateRules {
        options: profile::Options::default(),
        profile: true,
        private: phi::PrivateData::Remove,
        cleared: &cleared,
        tainted: &none,
        burned_in_ok: false,
        old_labels: &[],
        new_labels: &[],
    };
    let found = phi::assess(
        &h.elements,
        &rules,
        phi::Stage::Result {
            original_uids: Some(&originals),
        },
    );
    assert!(found.is_empty(), "{found:?}");
    // Without the profile, the same gate finds the nested ID, the private group and the UIDs.
    let plain = rewrite(&before, &set(&[("PatientID", "MAIN_001")])).unwrap();
    let hp = read_header_bytes(&plain).unwrap();
    let mut r2 = rules.clone();
    r2.profile = false;
    r2.private = phi::PrivateData::Unsaid;
    let found = phi::assess(
        &hp.elements,
        &r2,
        phi::Stage::Result {
            original_uids: Some(&originals),
        },
    );
    for f in [
        "OtherPatientIDsSequence/PatientID",
        "private group 0029",
        "StudyInstanceUID",
        "(6000,3000)",
    ] {
        assert!(found.contains(f), "{f} not in {found:?}");
    }
}

#[test]
fn text_becomes_a_value_of_the_elements_kind_or_is_refused() {
    use dicom_core::value::PrimitiveValue;
    use dicom_core::VR;
    assert_eq!(
        value_from_text(VR::US, "1\\2"),
        Ok(PrimitiveValue::U16([1, 2].into()))
    );
    assert_eq!(value_from_text(VR::UV, "7"), Ok(PrimitiveValue::from(7u64)));
    assert_eq!(
        value_from_text(VR::US, "x"),
        Err(TextValueError::NotNumbers)
    );
    assert_eq!(value_from_text(VR::OB, "x"), Err(TextValueError::NotText));
    assert_eq!(
        value_from_text(VR::CS, "A\\B"),
        Ok(PrimitiveValue::Strs(
            ["A".to_string(), "B".to_string()].into()
        ))
    );
}

/// A header that names only some keywords holds exactly what the full header holds for them (and for
/// the UIDs), whatever else the data set carries: nested items, private and overlay elements, a
/// sequence asked for by name, a keyword absent from the file.
#[test]
fn a_header_of_some_keywords_agrees_with_the_full_header_on_them() {
    let mut spec = Spec::new(5);
    spec.text
        .insert("PatientBirthDate".into(), "19700101".into());
    for bytes in [synth::file(&spec), nested_file()] {
        let p = Parsed::read(&bytes).unwrap();
        let full = p.header_with(false);
        let wanted = [
            "SeriesNumber",
            "PatientName",
            "OtherPatientIDsSequence",
            "ImageComments",
        ];
        let some = p.header_only(wanted, false);
        let mut expected = full.keywords.clone();
        expected.retain(|k, _| {
            wanted.contains(&k.as_str())
                || ["SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID"].contains(&k.as_str())
        });
        assert!(expected.contains_key("PatientName") && expected.contains_key("SeriesNumber"));
        assert!(!expected.contains_key("ImageComments"));
        assert_eq!(some.keywords, expected);
        assert!(full.keywords.len() > some.keywords.len());
        assert_eq!(
            (
                &some.sop_instance_uid,
                &some.series_instance_uid,
                &some.study_instance_uid,
                &some.transfer_syntax
            ),
            (
                &full.sop_instance_uid,
                &full.series_instance_uid,
                &full.study_instance_uid,
                &full.transfer_syntax
            )
        );
        assert_eq!(
            p.header_only(wanted, true).elements,
            p.header_with(true).elements
        );
    }
}
