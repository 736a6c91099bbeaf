//! Deterministic synthetic DICOM files for tests and benchmarks: an MR image whose every byte follows
//! from its [`Spec`], so tests need no emulator and no fixture files.

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use std::collections::BTreeMap;

const MR_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.4";
/// Explicit VR little endian.
pub const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
/// Implicit VR little endian.
pub const IMPLICIT_LE: &str = "1.2.840.10008.1.2";

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// StudyInstanceUID.
    pub study_uid: String,
    /// SeriesInstanceUID.
    pub series_uid: String,
    /// SOPInstanceUID.
    pub sop_uid: String,
    /// SeriesNumber.
    pub series_number: u32,
    /// Rows and columns of the image.
    pub size: u16,
    /// Varies the pixel values.
    pub seed: u64,
    /// Transfer syntax UID ([`EXPLICIT_LE`] or [`IMPLICIT_LE`]).
    pub transfer_syntax: String,
    /// Text elements by keyword (PatientName, PatientBirthDate, …).
    pub text: BTreeMap<String, String>,
}

impl Spec {
    /// A small image with a patient name and ID.
    pub fn new(seed: u64) -> Spec {
        let mut text = BTreeMap::new();
        text.insert("PatientName".into(), "Synthetic^Patient".into());
        text.insert("PatientID".into(), format!("SYN{seed}"));
        text.insert("Modality".into(), "MR".into());
        text.insert("StudyDate".into(), "20240101".into());
        Spec {
            study_uid: "1.2.826.0.1.3680043.10.1137.90.1".into(),
            series_uid: "1.2.826.0.1.3680043.10.1137.90.1.1".into(),
            sop_uid: format!("1.2.826.0.1.3680043.10.1137.90.1.1.{seed}"),
            series_number: 1,
            size: 16,
            seed,
            transfer_syntax: EXPLICIT_LE.into(),
            text,
        }
    }
}

/// The file's bytes. Keywords in `text` that are not standard are ignored.
pub fn file(spec: &Spec) -> Vec<u8> {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
    let mut o = InMemDicomObject::new_empty();
    let mut put = |tag, vr, v: &str| o.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
    put(tags::SOP_CLASS_UID, VR::UI, MR_IMAGE_STORAGE);
    put(tags::SOP_INSTANCE_UID, VR::UI, &spec.sop_uid);
    put(tags::STUDY_INSTANCE_UID, VR::UI, &spec.study_uid);
    put(tags::SERIES_INSTANCE_UID, VR::UI, &spec.series_uid);
    put(tags::SERIES_NUMBER, VR::IS, &spec.series_number.to_string());
    put(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2");
    for (k, v) in &spec.text {
        if let Some(e) = dicom_dictionary_std::StandardDataDictionary.by_name(k) {
            if let VirtualVr::Exact(vr) = e.vr() {
                put(e.tag(), vr, v);
            }
        }
    }
    for (tag, v) in [
        (tags::SAMPLES_PER_PIXEL, 1u16),
        (tags::ROWS, spec.size),
        (tags::COLUMNS, spec.size),
        (tags::BITS_ALLOCATED, 16),
        (tags::BITS_STORED, 12),
        (tags::HIGH_BIT, 11),
        (tags::PIXEL_REPRESENTATION, 0),
    ] {
        o.put(DataElement::new(tag, VR::US, PrimitiveValue::from(v)));
    }
    let n = usize::from(spec.size) * usize::from(spec.size);
    let mut state = spec.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let pixels: Vec<u16> = (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state & 0x0fff) as u16
        })
        .collect();
    o.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U16(pixels.into()),
    ));
    let meta = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(MR_IMAGE_STORAGE)
        .media_storage_sop_instance_uid(spec.sop_uid.as_str())
        .transfer_syntax(spec.transfer_syntax.as_str())
        .implementation_class_uid("1.2.826.0.1.3680043.10.1137.9")
        .implementation_version_name("FERRY_SYNTH");
    let mut bytes = Vec::new();
    // Building from valid parts cannot fail; an empty result would fail every test that reads it.
    if let Ok(f) = o.with_meta(meta) {
        let _ = f.write_all(&mut bytes);
    }
    bytes
}
