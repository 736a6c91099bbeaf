//! Reading a file's header: everything before PixelData, as keyword -> text.

use super::DicomError;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::header::Header as _;
use dicom_core::{Tag, VR};
use dicom_dictionary_std::{tags, StandardDataDictionary};
use dicom_object::file::ReadPreamble;
use dicom_object::{InMemDicomObject, OpenFileOptions};
use std::collections::BTreeMap;
use std::path::Path;

/// One file's header, read up to PixelData.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// Standard keyword -> value as text (multiple values joined with `\`), for the top-level
    /// elements that hold text or numbers; sequences and binary values are left out.
    pub keywords: BTreeMap<String, String>,
    /// The transfer syntax UID from the file meta group.
    pub transfer_syntax: String,
    /// SOPInstanceUID.
    pub sop_instance_uid: Option<String>,
    /// SeriesInstanceUID.
    pub series_instance_uid: Option<String>,
    /// StudyInstanceUID.
    pub study_instance_uid: Option<String>,
    /// Every element before PixelData at any depth, for the anonymization gate.
    pub elements: Vec<super::elements::Seen>,
}

/// The bytes after the preamble, checked for the `DICM` marker.
pub(crate) fn after_preamble(bytes: &[u8]) -> Result<&[u8], DicomError> {
    if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        Ok(&bytes[128..])
    } else if bytes.len() < 132 && bytes.len() >= 128 {
        Err(DicomError::Truncated(
            "the file ends in its preamble".into(),
        ))
    } else {
        Err(DicomError::NotDicom)
    }
}

pub(super) fn classify(e: impl std::fmt::Display) -> DicomError {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("eof") || lower.contains("end of file") || lower.contains("fill whole buffer")
    {
        DicomError::Truncated(text)
    } else {
        DicomError::Malformed(text)
    }
}

/// Parses a DICOM Part 10 file held in memory (or its part before PixelData), stopping at PixelData.
pub fn read_header_bytes(bytes: &[u8]) -> Result<Header, DicomError> {
    Ok(super::Parsed::read(bytes)?.header())
}

/// Parses a DICOM Part 10 file on disk, reading only up to PixelData.
pub fn read_header_path(path: &Path) -> Result<Header, DicomError> {
    let io = |source| DicomError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut head = [0u8; 132];
    std::io::Read::read_exact(&mut f, &mut head).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            DicomError::NotDicom
        } else {
            io(e)
        }
    })?;
    after_preamble(&head)?;
    let obj = OpenFileOptions::new()
        .read_preamble(ReadPreamble::Always)
        .read_until(tags::PIXEL_DATA)
        .open_file(path)
        .map_err(classify)?;
    Ok(header_of(&obj, obj.meta().transfer_syntax(), true))
}

fn is_text_vr(vr: VR) -> bool {
    !matches!(
        vr,
        VR::SQ | VR::OB | VR::OW | VR::OF | VR::OD | VR::OL | VR::OV | VR::UN
    )
}

/// The header of a data set read up to PixelData, in the transfer syntax `ts`; its `elements` only
/// when asked for.
pub(super) fn header_of(obj: &InMemDicomObject, ts: &str, elements: bool) -> Header {
    let dict = StandardDataDictionary;
    let mut keywords = BTreeMap::new();
    for e in obj.iter() {
        if !is_text_vr(e.vr()) || e.tag() >= tags::PIXEL_DATA {
            continue;
        }
        let Some(entry) = dict.by_tag(e.tag()) else {
            continue;
        };
        if let Some(v) = text_of(e) {
            keywords.insert(entry.alias().to_string(), v);
        }
    }
    header_from(keywords, obj, ts, elements)
}

/// [`header_of`] with only the `wanted` keywords (and the UIDs every header carries) among its
/// keywords: what each top-level element of those keywords holds, found by its tag instead of by
/// naming every element of the data set.
pub(super) fn header_of_only<'k>(
    obj: &InMemDicomObject,
    ts: &str,
    wanted: impl IntoIterator<Item = &'k str>,
    elements: bool,
) -> Header {
    let dict = StandardDataDictionary;
    let mut keywords = BTreeMap::new();
    let always = ["SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID"];
    for k in always.into_iter().chain(wanted) {
        let Some(entry) = dict.by_name(k) else {
            continue;
        };
        let Some(e) = obj.get(entry.tag()) else {
            continue;
        };
        if !is_text_vr(e.vr()) || e.tag() >= tags::PIXEL_DATA {
            continue;
        }
        if let Some(v) = text_of(e) {
            keywords.insert(entry.alias().to_string(), v);
        }
    }
    header_from(keywords, obj, ts, elements)
}

/// An element's value as text, without padding.
fn text_of(e: &dicom_object::mem::InMemElement) -> Option<String> {
    let v = e.to_str().ok()?;
    Some(
        v.trim_matches(|c: char| c == '\0' || c.is_whitespace())
            .to_string(),
    )
}

fn header_from(
    keywords: BTreeMap<String, String>,
    obj: &InMemDicomObject,
    ts: &str,
    elements: bool,
) -> Header {
    let uid = |k: &str| keywords.get(k).filter(|v| !v.is_empty()).cloned();
    Header {
        transfer_syntax: ts.trim_end_matches('\0').to_string(),
        sop_instance_uid: uid("SOPInstanceUID"),
        series_instance_uid: uid("SeriesInstanceUID"),
        study_instance_uid: uid("StudyInstanceUID"),
        elements: if elements {
            super::elements::elements(obj)
        } else {
            Vec::new()
        },
        keywords,
    }
}

/// The tag and value representation of a keyword ferry may set, or why not.
pub(crate) fn settable(keyword: &str) -> Result<(Tag, VR), DicomError> {
    let refuse = |why| DicomError::UnknownKeyword {
        keyword: keyword.to_string(),
        why,
    };
    let entry = StandardDataDictionary
        .by_name(keyword)
        .ok_or_else(|| refuse("is not a standard DICOM keyword"))?;
    let tag = entry.tag();
    if tag.group() == 0x0002 {
        return Err(refuse("belongs to the file meta group and cannot be set"));
    }
    if tag >= tags::PIXEL_DATA {
        return Err(refuse("is at or after PixelData and cannot be set"));
    }
    match entry.vr() {
        VirtualVr::Exact(vr) if is_text_vr(vr) => Ok((tag, vr)),
        _ => Err(refuse(
            "holds binary data or a sequence and cannot be set from text",
        )),
    }
}

/// Whether a keyword is in the standard dictionary at all.
pub fn is_standard_keyword(keyword: &str) -> bool {
    StandardDataDictionary.by_name(keyword).is_some()
}

/// Whether a keyword is in the standard dictionary and can be set by `dicom.set`.
pub fn is_known_keyword(keyword: &str) -> bool {
    settable(keyword).is_ok()
}

/// The groups whose text elements `dicom.set` is usually asked for: identification, patient, study,
/// acquisition, relationship, visit, procedure and clinical trial (PS3.6). Searched element by
/// element once, to suggest a keyword for a misspelt one.
const SUGGESTION_GROUPS: [u16; 8] = [
    0x0008, 0x0010, 0x0012, 0x0018, 0x0020, 0x0032, 0x0038, 0x0040,
];

/// Every keyword ferry may set in [`SUGGESTION_GROUPS`], built on first use.
fn settable_keywords() -> &'static [&'static str] {
    static ALL: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        // The `&StandardDataDictionary` impl hands out entries with a 'static lifetime.
        let dict = &StandardDataDictionary;
        let mut out = Vec::new();
        for group in SUGGESTION_GROUPS {
            for element in 0..=u16::MAX {
                if let Some(e) = dict.by_tag(Tag(group, element)) {
                    if settable(e.alias()).is_ok() {
                        out.push(e.alias());
                    }
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    })
}

/// The settable keyword nearest to a misspelt one (case ignored; at most a quarter of its letters,
/// and at least two, differ), for a "did you mean" hint.
pub fn nearest_keyword(keyword: &str) -> Option<&'static str> {
    let lower = keyword.to_ascii_lowercase();
    let limit = (keyword.len() / 4).max(2);
    settable_keywords()
        .iter()
        .map(|k| (strsim::levenshtein(&lower, &k.to_ascii_lowercase()), *k))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, k)| k)
}

#[cfg(test)]
mod suggestion_tests {
    use super::*;

    #[test]
    fn misspelt_keywords_get_the_nearest_settable_one() {
        assert_eq!(nearest_keyword("PatientNme"), Some("PatientName"));
        assert_eq!(nearest_keyword("patientid"), Some("PatientID"));
        assert_eq!(nearest_keyword("StudyDescripton"), Some("StudyDescription"));
        assert_eq!(
            nearest_keyword("SeriesDescriptoin"),
            Some("SeriesDescription")
        );
        assert_eq!(nearest_keyword("Zebra"), None);
    }
}
