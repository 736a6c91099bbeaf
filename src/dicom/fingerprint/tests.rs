//! Tests of header fingerprints.

use super::*;
use crate::dicom::synth::{file, Spec};
use std::collections::BTreeMap as Map;

const KEY: [u8; 32] = [7; 32];

fn set(bytes: &[u8], k: &str, v: &str) -> Vec<u8> {
    let m: Map<String, String> = [(k.to_string(), v.to_string())].into();
    crate::dicom::rewrite(bytes, &m).unwrap()
}

#[test]
fn a_rewrite_that_changes_one_element_changes_only_its_hash() {
    let a = file(&Spec::new(3));
    let b = set(&a, "StudyDate", "19990101");
    let (ha, hb) = (
        element_hashes(&a, &KEY).unwrap(),
        element_hashes(&b, &KEY).unwrap(),
    );
    assert!(ha.len() > 10, "{}", ha.len());
    let changes = ha.changes(&hb);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].0.to_string(), "(0008,0020)");
    assert_eq!(changes[0].0.keywords(), "StudyDate");
    assert_eq!(changes[0].1, Change::Changed);
    assert_ne!(ha.header_hash(&KEY), hb.header_hash(&KEY));
    // Re-encoding alone (the same value set again) changes nothing.
    let c = set(&b, "StudyDate", "19990101");
    assert_eq!(element_hashes(&c, &KEY).unwrap(), hb);
}

#[test]
fn added_and_removed_elements_are_told_apart() {
    let a = file(&Spec::new(4));
    let b = set(&a, "ClinicalTrialSiteName", "X");
    let ha = element_hashes(&a, &KEY).unwrap();
    let hb = element_hashes(&b, &KEY).unwrap();
    assert_eq!(
        ha.changes(&hb)
            .iter()
            .map(|(p, c)| (p.keywords(), *c))
            .collect::<Vec<_>>(),
        [("ClinicalTrialSiteName".to_string(), Change::Added)]
    );
    assert_eq!(hb.changes(&ha)[0].1, Change::Removed);
}

#[test]
fn hashes_are_keyed_and_cut_before_pixel_data() {
    let a = file(&Spec::new(5));
    let h1 = element_hashes(&a, &KEY).unwrap();
    let h2 = element_hashes(&a, &[8; 32]).unwrap();
    assert_ne!(h1.header_hash(&KEY), h2.header_hash(&[8; 32]));
    assert_ne!(h1, h2);
    let at = a
        .windows(4)
        .rposition(|w| w == [0xE0, 0x7F, 0x10, 0x00])
        .unwrap();
    assert_eq!(
        element_hashes(&a[..at], &KEY).unwrap(),
        h1,
        "the header alone suffices"
    );
}

fn canon(vr: VR, p: &PrimitiveValue) -> Vec<u8> {
    let mut out = Vec::new();
    canonical(vr, p, &mut out);
    out
}

#[test]
fn an_element_hash_is_the_keyed_hash_of_its_path_then_its_value() {
    // The hashes of a run in progress are kept in its staging folder: the way one is computed must
    // not change, or a resumed run would see every header as changed.
    let path = ElementPath::top(Tag(0x0010, 0x0010));
    let mut scratch = Vec::new();
    path.encode(&mut scratch);
    scratch.extend_from_slice(b"value");
    let mut h = blake3::Hasher::new_keyed(&KEY);
    h.update(&1u32.to_le_bytes());
    h.update(&0x0010u16.to_le_bytes());
    h.update(&0x0010u16.to_le_bytes());
    h.update(&u32::MAX.to_le_bytes());
    h.update(b"value");
    let mut first = [0u8; 8];
    first.copy_from_slice(&h.finalize().as_bytes()[..8]);
    assert_eq!(element_hash(&KEY, &scratch), u64::from_le_bytes(first));
}

#[test]
fn padding_and_writer_meta_are_not_content() {
    assert_eq!(trim_padding(b"1.2.3\0"), b"1.2.3");
    assert_eq!(
        canon(
            VR::CS,
            &PrimitiveValue::Strs([" A ".into(), "B\0".into()].into())
        ),
        b"A\\B"
    );
    assert_eq!(canon(VR::LT, &PrimitiveValue::from("  x ")), b"  x");
    // An odd-length byte value and the same padded to even are one value.
    let odd = PrimitiveValue::U8(b"abc".to_vec().into());
    let padded = PrimitiveValue::U8(b"abc\0".to_vec().into());
    assert_eq!(canon(VR::UN, &odd), canon(VR::UN, &padded));
    assert_ne!(
        canon(VR::UN, &odd),
        canon(VR::UN, &PrimitiveValue::U8(b"abd\0".to_vec().into()))
    );
    let a = file(&Spec::new(6));
    let h = element_hashes(&a, &KEY).unwrap();
    let paths: Vec<String> = h.map.keys().map(|p| p.to_string()).collect();
    assert!(paths.contains(&"(0002,0010)".to_string()), "{paths:?}");
    assert!(!paths
        .iter()
        .any(|p| p == "(0002,0000)" || p == "(0002,0012)"));
}

fn with_reference(bytes: &[u8], uid: &str) -> Vec<u8> {
    use dicom_core::value::DataSetSequence;
    use dicom_core::DataElement;
    let mut p = Parsed::read(bytes).unwrap();
    let mut item = InMemDicomObject::new_empty();
    item.put(DataElement::new(
        Tag(0x0008, 0x1155),
        VR::UI,
        PrimitiveValue::from(uid),
    ));
    p.dataset_mut().put(DataElement::new(
        Tag(0x0008, 0x1140),
        VR::SQ,
        Value::from(DataSetSequence::from(vec![item])),
    ));
    p.encode().unwrap()
}

#[test]
fn elements_inside_sequences_are_named_by_path_and_item() {
    let a = with_reference(&file(&Spec::new(9)), "1.2.3");
    let b = with_reference(&a, "1.2.4");
    let changes = element_hashes(&a, &KEY)
        .unwrap()
        .changes(&element_hashes(&b, &KEY).unwrap());
    assert_eq!(changes.len(), 1, "{changes:?}");
    let (path, change) = &changes[0];
    assert_eq!(path.to_string(), "(0008,1140)[0]/(0008,1155)");
    assert_eq!(
        path.keywords(),
        "ReferencedImageSequence[0]/ReferencedSOPInstanceUID"
    );
    assert_eq!(path.tags(), [Tag(0x0008, 0x1140), Tag(0x0008, 0x1155)]);
    assert_eq!(*change, Change::Changed);
}

/// A synthetic file with a sequence (one item holding a UID) besides its plain elements.
fn with_sequence(seed: u64) -> Vec<u8> {
    use dicom_core::value::DataSetSequence;
    use dicom_core::{DataElement, VR};
    let f = file(&Spec::new(seed));
    let mut p = Parsed::read(&f).unwrap();
    let item = InMemDicomObject::from_element_iter([DataElement::new(
        Tag(0x0008, 0x1155),
        VR::UI,
        PrimitiveValue::from("1.2.3.4.5"),
    )]);
    p.dataset_mut().put(DataElement::new(
        Tag(0x0008, 0x1140),
        VR::SQ,
        DataSetSequence::from(vec![item]),
    ));
    p.encode().unwrap()
}

/// The hashes of a rewritten header taken beside its source's equal those taken afresh, whatever
/// the rewrite changed: set, added, removed, inside a sequence or not, or everything at once.
#[test]
fn hashes_kept_from_the_source_equal_hashes_taken_afresh() {
    let f = with_sequence(8);
    let m: Map<String, String> = [
        ("PatientID".to_string(), "B_SUB001".to_string()),
        ("StudyDescription".to_string(), "xnat://P/S/E".to_string()),
    ]
    .into();
    let edits: [&dyn Fn(&mut Parsed<'_>); 3] = [
        &|p| p.set(&m).unwrap(),
        &|p| {
            p.set(&m).unwrap();
            p.edit_with(|ds| {
                ds.remove_element(Tag(0x0008, 0x0020));
                ((), Some([Tag(0x0008, 0x0020)].into()))
            });
        },
        &|p| {
            p.dataset_mut().remove_element(Tag(0x0008, 0x1140));
        },
    ];
    for (i, edit) in edits.iter().enumerate() {
        let mut source = Parsed::read(&f).unwrap();
        let before = of_parsed(&source, &KEY).unwrap();
        edit(&mut source);
        let bytes = source.encode().unwrap();
        let after = Parsed::read(&bytes).unwrap();
        let kept = of_rewritten(&after, (&source, &before), &KEY).unwrap();
        assert_eq!(kept, of_parsed(&after, &KEY).unwrap(), "edit {i}");
        assert!(kept.len() > 10, "edit {i}");
    }
    // Bytes that differ from the source where no edit was recorded are hashed, not taken over:
    // the element decodes differently, so its hash is taken afresh.
    let mut source = Parsed::read(&f).unwrap();
    let before = of_parsed(&source, &KEY).unwrap();
    source.set(&m).unwrap();
    let other = set(&source.encode().unwrap(), "StudyDate", "19990101");
    let after = Parsed::read(&other).unwrap();
    let kept = of_rewritten(&after, (&source, &before), &KEY).unwrap();
    assert_eq!(kept, of_parsed(&after, &KEY).unwrap());
    let changes = before.changes(&kept);
    assert!(
        changes.iter().any(|(p, _)| p.keywords() == "StudyDate"),
        "{changes:?}"
    );
}
