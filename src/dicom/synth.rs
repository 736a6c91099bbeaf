//! Deterministic synthetic DICOM files for tests and benchmarks: an MR image (one frame or many, native
//! or encapsulated pixel data) whose every byte follows from its [`Spec`], so tests need no emulator
//! and no fixture files. [`write`] streams the pixel data as it generates it, so a benchmark can make
//! a file of several hundred MB without holding it.

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use std::collections::BTreeMap;
use std::io::Write;

const MR_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.4";
/// Explicit VR little endian.
pub const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
/// Implicit VR little endian.
pub const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
/// Explicit VR big endian (retired, still met in archives).
pub const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";
/// RLE lossless: an encapsulated transfer syntax (the generated fragments are not real RLE data; only
/// their framing is DICOM's).
pub const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";

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
    /// Transfer syntax UID ([`EXPLICIT_LE`], [`IMPLICIT_LE`], [`EXPLICIT_BE`], or an encapsulated one
    /// such as [`RLE_LOSSLESS`], which makes the pixel data one fragment per frame).
    pub transfer_syntax: String,
    /// Frames of the image (NumberOfFrames is written when more than one).
    pub frames: u32,
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
            frames: 1,
            text,
        }
    }
}

/// The file's bytes. Keywords in `text` that are not standard are ignored.
pub fn file(spec: &Spec) -> Vec<u8> {
    let mut bytes = Vec::new();
    // Writing into memory cannot fail; an empty result would fail every test that reads it.
    let _ = write(spec, &mut bytes);
    bytes
}

/// The bytes of pixel data [`write`] generates for `spec` (frame headers of encapsulated data not
/// counted).
pub fn pixel_bytes(spec: &Spec) -> u64 {
    u64::from(spec.size) * u64::from(spec.size) * 2 * u64::from(spec.frames.max(1))
}

fn encapsulated(ts: &str) -> bool {
    ![EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE].contains(&ts)
}

/// Writes the file to `out`, the pixel data as it is generated; the number of bytes written.
pub fn write(spec: &Spec, out: &mut dyn Write) -> std::io::Result<u64> {
    let header = header(spec)?;
    out.write_all(&header)?;
    let ts = spec.transfer_syntax.as_str();
    let big = ts == EXPLICIT_BE;
    let frame = u64::from(spec.size) * u64::from(spec.size) * 2;
    let total = pixel_bytes(spec);
    let too_big = || std::io::Error::other("the pixel data does not fit a 32-bit length");
    let mut written = header.len() as u64;
    let mut put = |out: &mut dyn Write, b: &[u8]| -> std::io::Result<()> {
        written += b.len() as u64;
        out.write_all(b)
    };
    let u16b = |v: u16| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let u32b = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut element = Vec::with_capacity(12);
    element.extend_from_slice(&u16b(0x7FE0));
    element.extend_from_slice(&u16b(0x0010));
    let native_len = u32::try_from(total).map_err(|_| too_big())?;
    let len = if encapsulated(ts) {
        u32::MAX
    } else {
        native_len
    };
    if ts != IMPLICIT_LE {
        element.extend_from_slice(if encapsulated(ts) {
            b"OB\0\0"
        } else {
            b"OW\0\0"
        });
    }
    element.extend_from_slice(&u32b(len));
    put(out, &element)?;
    let item = |len: u32| {
        let mut b = vec![0xFE, 0xFF, 0x00, 0xE0];
        b.extend_from_slice(&len.to_le_bytes());
        b
    };
    if encapsulated(ts) {
        // An empty basic offset table, then one fragment per frame.
        put(out, &item(0))?;
    }
    let mut state = spec.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut buf = Vec::with_capacity(64 * 1024);
    for _ in 0..spec.frames.max(1) {
        if encapsulated(ts) {
            put(out, &item(u32::try_from(frame).map_err(|_| too_big())?))?;
        }
        let mut left = frame / 2;
        while left > 0 {
            let n = left.min(32 * 1024);
            buf.clear();
            for _ in 0..n {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                buf.extend_from_slice(&u16b((state & 0x0fff) as u16));
            }
            put(out, &buf)?;
            left -= n;
        }
    }
    if encapsulated(ts) {
        put(out, &[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0])?;
    }
    Ok(written)
}

/// The file up to PixelData: preamble, file meta group and data set, from dicom-object.
fn header(spec: &Spec) -> std::io::Result<Vec<u8>> {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
    let mut o = InMemDicomObject::new_empty();
    let mut put = |tag, vr, v: &str| o.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
    put(tags::SOP_CLASS_UID, VR::UI, MR_IMAGE_STORAGE);
    put(tags::SOP_INSTANCE_UID, VR::UI, &spec.sop_uid);
    put(tags::STUDY_INSTANCE_UID, VR::UI, &spec.study_uid);
    put(tags::SERIES_INSTANCE_UID, VR::UI, &spec.series_uid);
    put(tags::SERIES_NUMBER, VR::IS, &spec.series_number.to_string());
    put(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2");
    if spec.frames > 1 {
        put(tags::NUMBER_OF_FRAMES, VR::IS, &spec.frames.to_string());
    }
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
    let meta = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(MR_IMAGE_STORAGE)
        .media_storage_sop_instance_uid(spec.sop_uid.as_str())
        .transfer_syntax(spec.transfer_syntax.as_str())
        .implementation_class_uid("1.2.826.0.1.3680043.10.1137.9")
        .implementation_version_name("FERRY_SYNTH");
    let mut bytes = Vec::new();
    o.with_meta(meta)
        .map_err(std::io::Error::other)?
        .write_all(&mut bytes)
        .map_err(std::io::Error::other)?;
    Ok(bytes)
}
