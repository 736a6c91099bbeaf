//! The demo world's DICOM files: one MR image per file, every element derived from the session plan
//! and the scan and file indexes.

use super::{patient, series_uid, study_uid, SessionPlan, UID_ROOT};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use std::io;

const MR_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.4";
const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";

fn put(obj: &mut InMemDicomObject, tag: dicom_core::Tag, vr: VR, value: &str) {
    obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
}

/// Identifying data where a top-level look does not see it: another patient ID inside a sequence, a
/// private group with a name in it, and pixels flagged as carrying burned-in text.
fn put_phi_extras(o: &mut InMemDicomObject) {
    let mut item = InMemDicomObject::new_empty();
    put(&mut item, tags::PATIENT_ID, VR::LO, "H-ALT-55013");
    put(
        &mut item,
        tags::ISSUER_OF_PATIENT_ID,
        VR::LO,
        "ST-ELSEWHERE",
    );
    o.put(DataElement::new(
        tags::OTHER_PATIENT_I_DS_SEQUENCE,
        VR::SQ,
        dicom_core::value::DataSetSequence::from(vec![item]),
    ));
    put(
        o,
        dicom_core::Tag(0x0029, 0x0010),
        VR::LO,
        "FERRY SIM PRIVATE",
    );
    put(
        o,
        dicom_core::Tag(0x0029, 0x1010),
        VR::LO,
        "Whitfield Gregory ref",
    );
    put(o, tags::BURNED_IN_ANNOTATION, VR::CS, "YES");
}

/// Builds one MR image: (SOPInstanceUID, file bytes).
pub(super) fn dicom_file(
    plan: &SessionPlan,
    scan_id: &str,
    scan_type: &str,
    file: usize,
    size: u16,
) -> io::Result<(String, Vec<u8>)> {
    let sop = format!(
        "{UID_ROOT}.3.{}.{}.{scan_id}.{file}",
        plan.subject_index, plan.session_index
    );
    let mut o = InMemDicomObject::new_empty();
    put_study_and_patient(&mut o, plan, scan_type, &sop);
    put_series_and_instance(&mut o, plan, scan_id, file);
    put_image(&mut o, plan, (scan_id, file), size);
    let bytes = encode_file(o, &sop)?;
    Ok((sop, bytes))
}

/// Puts the SOP, study and patient elements of one seeded image, with the PHI of a PHI session.
fn put_study_and_patient(o: &mut InMemDicomObject, plan: &SessionPlan, scan_type: &str, sop: &str) {
    let (name, pid) = patient(plan);
    let date = plan.date.replace('-', "");
    put(o, tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 100");
    put(o, tags::SOP_CLASS_UID, VR::UI, MR_IMAGE_STORAGE);
    put(o, tags::SOP_INSTANCE_UID, VR::UI, sop);
    put(o, tags::STUDY_DATE, VR::DA, &date);
    put(o, tags::SERIES_DATE, VR::DA, &date);
    put(o, tags::STUDY_TIME, VR::TM, "093000");
    put(o, tags::ACCESSION_NUMBER, VR::SH, "");
    put(o, tags::MODALITY, VR::CS, "MR");
    put(o, tags::MANUFACTURER, VR::LO, "SIEMENS");
    if plan.phi {
        put(
            o,
            tags::REFERRING_PHYSICIAN_NAME,
            VR::PN,
            "Whitfield^Gregory",
        );
    }
    put(o, tags::STUDY_DESCRIPTION, VR::LO, "Research^Brain");
    put(o, tags::SERIES_DESCRIPTION, VR::LO, scan_type);
    put(o, tags::PATIENT_NAME, VR::PN, &name);
    put(o, tags::PATIENT_ID, VR::LO, &pid);
    if plan.phi {
        put(o, tags::PATIENT_BIRTH_DATE, VR::DA, "19780412");
        put_phi_extras(o);
    }
    let sex = if plan.subject_index % 2 == 1 {
        "F"
    } else {
        "M"
    };
    put(o, tags::PATIENT_SEX, VR::CS, sex);
    let comments = format!(
        "Project: {} Subject: {} Session: {}",
        plan.project, plan.subject, plan.label
    );
    put(o, tags::PATIENT_COMMENTS, VR::LT, &comments);
}

/// Puts the study, series and instance UIDs and numbers that place one image in its XNAT scan.
fn put_series_and_instance(
    o: &mut InMemDicomObject,
    plan: &SessionPlan,
    scan_id: &str,
    file: usize,
) {
    put(o, tags::STUDY_INSTANCE_UID, VR::UI, &study_uid(plan));
    put(
        o,
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        &series_uid(plan, scan_id),
    );
    put(o, tags::STUDY_ID, VR::SH, "1");
    put(o, tags::SERIES_NUMBER, VR::IS, scan_id);
    put(o, tags::INSTANCE_NUMBER, VR::IS, &file.to_string());
}

/// Puts the image pixel module: a 12-bit monochrome square of `size` pixels a side, patterned by
/// session, scan and file so that every seeded image differs.
fn put_image(
    o: &mut InMemDicomObject,
    plan: &SessionPlan,
    (scan_id, file): (&str, usize),
    size: u16,
) {
    o.put(DataElement::new(
        tags::SAMPLES_PER_PIXEL,
        VR::US,
        PrimitiveValue::from(1u16),
    ));
    put(o, tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2");
    for (tag, v) in [
        (tags::ROWS, size),
        (tags::COLUMNS, size),
        (tags::BITS_ALLOCATED, 16),
        (tags::BITS_STORED, 12),
        (tags::HIGH_BIT, 11),
        (tags::PIXEL_REPRESENTATION, 0),
    ] {
        o.put(DataElement::new(tag, VR::US, PrimitiveValue::from(v)));
    }
    let seed = plan.subject_index * 1000 + plan.session_index * 100 + file;
    let scan_n: usize = scan_id.parse().unwrap_or(0);
    let n = usize::from(size);
    let pixels: Vec<u16> = (0..n * n)
        .map(|k| {
            let (x, y) = (k % n, k / n);
            (((x * y + seed * 7 + scan_n * 13) ^ (x + y * 3)) & 0x0fff) as u16
        })
        .collect();
    o.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U16(pixels.into()),
    ));
}

/// Wraps one image in its file meta (explicit VR little endian) and returns the Part 10 file bytes.
fn encode_file(o: InMemDicomObject, sop: &str) -> io::Result<Vec<u8>> {
    let meta = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(MR_IMAGE_STORAGE)
        .media_storage_sop_instance_uid(sop)
        .transfer_syntax(EXPLICIT_VR_LE)
        .implementation_class_uid(format!("{UID_ROOT}.9"))
        .implementation_version_name("FERRY_SIM");
    let file_obj = o.with_meta(meta).map_err(io::Error::other)?;
    let mut bytes = Vec::with_capacity(9 * 1024);
    file_obj.write_all(&mut bytes).map_err(io::Error::other)?;
    Ok(bytes)
}
