//! Why a session failed verification: one [`Problem`] per thing that differs, named by scan, file
//! (SOPInstanceUID digest) and, for headers, element path; never a value.

use crate::dicom::fingerprint::Change;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One reason verification failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Problem {
    /// An expected scan is not in the destination.
    MissingScan {
        /// Scan ID.
        scan: String,
    },
    /// The destination's scan has another number of files.
    FileCount {
        /// Scan ID.
        scan: String,
        /// Files uploaded.
        expected: usize,
        /// Files found.
        found: usize,
    },
    /// An uploaded file is not in the destination scan.
    MissingFile {
        /// Scan ID.
        scan: String,
        /// SOPInstanceUID.
        sop_uid: String,
    },
    /// A file in the destination scan that ferry did not upload (another source's data?).
    UnexpectedFile {
        /// Scan ID.
        scan: String,
        /// SOPInstanceUID.
        sop_uid: String,
    },
    /// Pixel data differs.
    PixelData {
        /// Scan ID.
        scan: String,
        /// SOPInstanceUID.
        sop_uid: String,
    },
    /// An object without pixel data (a report, a presentation state) differs in something ferry did
    /// not set.
    Content {
        /// Scan ID.
        scan: String,
        /// SOPInstanceUID.
        sop_uid: String,
    },
    /// A field ferry set reads back differently.
    Field {
        /// Scan ID.
        scan: String,
        /// SOPInstanceUID.
        sop_uid: String,
        /// The DICOM keyword.
        keyword: String,
    },
    /// A header element ferry did not change was added, removed or changed after upload.
    Element {
        /// Scan ID.
        scan: String,
        /// SOPInstanceUID (its digest).
        sop_uid: String,
        /// The tag path, e.g. `(0008,0080)` or `(0008,1140)[0]/(0008,1155)`.
        element: String,
        /// The same path by keywords, e.g. `InstitutionName`.
        keyword: String,
        /// `added`, `removed` or `changed`.
        change: Change,
    },
    /// A session resource file is missing or differs.
    Resource {
        /// Resource label.
        label: String,
        /// Path inside the resource.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// A field people curate in XNAT (scan type, quality, note, series description; session note,
    /// visit, time) did not arrive as it is in the source. Values are not shown: notes are free text.
    Curated {
        /// `scan 2` or `session`.
        object: String,
        /// The XNAT field.
        field: String,
    },
    /// Files of a destination scan share a SOPInstanceUID with another file of it (a second copy).
    Duplicates {
        /// Scan ID.
        scan: String,
        /// Files beyond the first per SOPInstanceUID.
        count: usize,
    },
    /// The session's StudyInstanceUID differs.
    StudyUid {
        /// Expected UID.
        expected: Option<String>,
        /// UID found.
        found: Option<String>,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::MissingScan { scan } => write!(f, "scan `{scan}` is missing"),
            Problem::FileCount {
                scan,
                expected,
                found,
            } => write!(f, "scan `{scan}` has {found} files, expected {expected}"),
            Problem::MissingFile { scan, sop_uid } => {
                write!(
                    f,
                    "scan `{scan}`: file with SOPInstanceUID `{sop_uid}` is missing"
                )
            }
            Problem::UnexpectedFile { scan, sop_uid } => write!(
                f,
                "scan `{scan}`: unexpected file with SOPInstanceUID `{sop_uid}`"
            ),
            Problem::PixelData { scan, sop_uid } => {
                write!(f, "scan `{scan}`: pixel data of `{sop_uid}` differs")
            }
            Problem::Content { scan, sop_uid } => write!(
                f,
                "scan `{scan}`: the content of `{sop_uid}` (no pixel data) differs beyond the fields ferry set"
            ),
            Problem::Field {
                scan,
                sop_uid,
                keyword,
            } => write!(
                f,
                "scan `{scan}`: `{keyword}` of `{sop_uid}` differs from what was set"
            ),
            Problem::Element {
                scan,
                sop_uid,
                element,
                keyword,
                change,
            } => write!(
                f,
                "scan `{scan}`: header element {element} `{keyword}` of `{sop_uid}` was {} after upload, a change ferry did not make",
                change.as_str()
            ),
            Problem::Curated { object, field } => {
                write!(
                    f,
                    "{object}: the XNAT field `{field}` differs from the source"
                )
            }
            Problem::Resource { label, path, why } => {
                write!(f, "resource file `{label}/{path}`: {why}")
            }
            Problem::Duplicates { scan, count } => write!(
                f,
                "scan `{scan}`: {count} file(s) repeat the SOPInstanceUID of another file (a second copy)"
            ),
            Problem::StudyUid { expected, found } => write!(
                f,
                "StudyInstanceUID is {}, expected {}",
                found.as_deref().unwrap_or("missing"),
                expected.as_deref().unwrap_or("none")
            ),
        }
    }
}

/// Problems as lines for a one-line failure: each problem as it reads, except that header element
/// problems are grouped by scan, element and change with their file count (a destination that
/// changes one element changes it in every file).
pub fn summary(problems: &[Problem]) -> Vec<String> {
    let mut out = Vec::new();
    let mut groups: BTreeMap<(&str, &str, &str, Change), usize> = BTreeMap::new();
    for p in problems {
        match p {
            Problem::Element {
                scan,
                element,
                keyword,
                change,
                ..
            } => {
                *groups
                    .entry((scan.as_str(), element.as_str(), keyword.as_str(), *change))
                    .or_default() += 1
            }
            other => out.push(other.to_string()),
        }
    }
    let elements = groups.into_iter().map(|((scan, element, keyword, change), n)| {
        format!(
            "scan `{scan}`: header element {element} `{keyword}` was {} after upload in {n} file(s), a change ferry did not make",
            change.as_str()
        )
    });
    elements.chain(out).collect()
}
