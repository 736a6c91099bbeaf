//! Reading the DICOM header fields the emulator needs from uploaded bytes (up to PixelData, for speed)
//! with dicom-object, and XNAT's built-in routing rules for project, subject and session labels.

use dicom_dictionary_std::tags;
use dicom_object::file::ReadPreamble;
use dicom_object::{DefaultDicomObject, OpenFileOptions};

/// The header fields of one DICOM object that the emulator uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Header {
    /// StudyInstanceUID.
    pub study_uid: String,
    /// SeriesInstanceUID.
    pub series_uid: String,
    /// SOPInstanceUID.
    pub sop_uid: String,
    /// SOPClassUID.
    pub sop_class: String,
    /// SeriesNumber.
    pub series_number: String,
    /// InstanceNumber.
    pub instance_number: String,
    /// Modality.
    pub modality: String,
    /// StudyDate as `YYYY-MM-DD`, or empty.
    pub study_date: String,
    /// StudyTime as `HH:MM:SS`, or empty.
    pub study_time: String,
    /// SeriesDescription.
    pub series_description: String,
    /// StudyDescription.
    pub study_description: String,
    /// AccessionNumber.
    pub accession_number: String,
    /// PatientName.
    pub patient_name: String,
    /// PatientID.
    pub patient_id: String,
    /// PatientComments, StudyComments and AdditionalPatientHistory, in that order.
    pub comments: Vec<String>,
    /// NumberOfFrames (1 when absent).
    pub frames: u64,
}

/// Parses the header of a DICOM Part 10 object (with or without its 128-byte preamble).
/// `None` when the bytes are not a readable DICOM object.
pub fn read_header(bytes: &[u8]) -> Option<Header> {
    let body = if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        &bytes[128..]
    } else if bytes.starts_with(b"DICM") {
        bytes
    } else {
        return None;
    };
    let obj = OpenFileOptions::new()
        .read_preamble(ReadPreamble::Never)
        .read_until(tags::PIXEL_DATA)
        .from_reader(body)
        .ok()?;
    let h = Header {
        study_uid: text(&obj, tags::STUDY_INSTANCE_UID),
        series_uid: text(&obj, tags::SERIES_INSTANCE_UID),
        sop_uid: text(&obj, tags::SOP_INSTANCE_UID),
        sop_class: text(&obj, tags::SOP_CLASS_UID),
        series_number: text(&obj, tags::SERIES_NUMBER),
        instance_number: text(&obj, tags::INSTANCE_NUMBER),
        modality: text(&obj, tags::MODALITY),
        study_date: format_date(&text(&obj, tags::STUDY_DATE)),
        study_time: format_time(&text(&obj, tags::STUDY_TIME)),
        series_description: text(&obj, tags::SERIES_DESCRIPTION),
        study_description: text(&obj, tags::STUDY_DESCRIPTION),
        accession_number: text(&obj, tags::ACCESSION_NUMBER),
        patient_name: text(&obj, tags::PATIENT_NAME),
        patient_id: text(&obj, tags::PATIENT_ID),
        comments: [
            tags::PATIENT_COMMENTS,
            dicom_core::Tag(0x0032, 0x4000),
            tags::ADDITIONAL_PATIENT_HISTORY,
        ]
        .iter()
        .map(|t| text(&obj, *t))
        .collect(),
        frames: text(&obj, tags::NUMBER_OF_FRAMES).parse().unwrap_or(1),
    };
    if h.study_uid.is_empty() {
        return None;
    }
    Some(h)
}

fn text(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> String {
    // `get`, not `element_opt`: the latter builds an error, with a captured backtrace, for every
    // element a file lacks, which cost the emulator more CPU than reading the header.
    obj.get(tag)
        .and_then(|e| e.to_str().ok())
        .map(|s| {
            s.trim_matches(|c: char| c == '\0' || c.is_whitespace())
                .to_string()
        })
        .unwrap_or_default()
}

fn format_date(d: &str) -> String {
    let d: String = d.chars().filter(|c| c.is_ascii_digit()).collect();
    if d.len() == 8 {
        format!("{}-{}-{}", &d[0..4], &d[4..6], &d[6..8])
    } else {
        String::new()
    }
}

fn format_time(t: &str) -> String {
    let t: String = t.chars().take_while(|c| *c != '.').collect();
    if t.len() >= 6 && t.chars().all(|c| c.is_ascii_digit()) {
        format!("{}:{}:{}", &t[0..2], &t[2..4], &t[4..6])
    } else {
        String::new()
    }
}

/// Values from XNAT's assignment syntax (`Project: X Subject: Y Session: Z AA: true`), searched
/// case-insensitively in each comment field in order; the first field with a value wins per key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Assignment {
    /// `Project:` value.
    pub project: Option<String>,
    /// `Subject:` value.
    pub subject: Option<String>,
    /// `Session:` value.
    pub session: Option<String>,
    /// `AA:` value is true.
    pub auto_archive: bool,
}

/// Extracts the assignment strings from comment fields.
pub fn assignment(comments: &[String]) -> Assignment {
    let mut a = Assignment::default();
    for c in comments {
        let found = scan_assignment(c);
        a.project = a.project.or(found.project);
        a.subject = a.subject.or(found.subject);
        a.session = a.session.or(found.session);
        a.auto_archive |= found.auto_archive;
    }
    a
}

fn scan_assignment(text: &str) -> Assignment {
    let mut a = Assignment::default();
    let lower = text.to_ascii_lowercase();
    for (key, slot) in [("project", 0), ("subject", 1), ("session", 2), ("aa", 3)] {
        let mut from = 0;
        while let Some(pos) = lower[from..].find(key) {
            let start = from + pos;
            from = start + key.len();
            // The key must start a word.
            if start > 0 && lower.as_bytes()[start - 1].is_ascii_alphanumeric() {
                continue;
            }
            let rest = lower[from..].trim_start();
            let Some(rest) = rest.strip_prefix(':') else {
                continue;
            };
            let offset = text.len() - rest.len();
            let value: String = text[offset..]
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                .collect();
            if value.is_empty() {
                continue;
            }
            match slot {
                0 => a.project = Some(value),
                1 => a.subject = Some(value),
                2 => a.session = Some(value),
                _ => a.auto_archive = value.eq_ignore_ascii_case("true"),
            }
            break;
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_syntax_is_found_in_order() {
        let a = assignment(&[
            "Project: PILOT Subject: SUB001 Session: SUB001_MR1".into(),
            "project:OTHER;AA:true".into(),
        ]);
        assert_eq!(a.project.as_deref(), Some("PILOT"));
        assert_eq!(a.subject.as_deref(), Some("SUB001"));
        assert_eq!(a.session.as_deref(), Some("SUB001_MR1"));
        assert!(a.auto_archive);
    }

    #[test]
    fn assignment_ignores_keys_inside_words() {
        let a = assignment(&["subproject: X".into()]);
        assert_eq!(a.project, None);
    }

    #[test]
    fn junk_is_not_dicom() {
        assert!(read_header(b"hello").is_none());
        let mut fake = vec![0u8; 128];
        fake.extend_from_slice(b"DICMgarbage");
        assert!(read_header(&fake).is_none());
    }

    #[test]
    fn dates_and_times_are_formatted() {
        assert_eq!(format_date("20240115"), "2024-01-15");
        assert_eq!(format_date(""), "");
        assert_eq!(format_time("101112.5"), "10:11:12");
    }
}
