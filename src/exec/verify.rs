//! Verification of one session after transfer, as a pure comparison: what ferry uploaded (facts it
//! computed from the files it sent) against what the destination server gives back. Success is what
//! this comparison says, never an HTTP 200.
//!
//! Files are matched by SOPInstanceUID, because a server may rename files on import. Fails on: a
//! missing or unexpected scan, a file count that differs, a missing file, pixel data that differs, a
//! StudyInstanceUID that differs, a field ferry set that reads back differently. A header change the
//! server made on its own (its anonymization script, say) is reported as a note, not a failure.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What is known of one DICOM file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileFacts {
    /// The file name (informational; matching is by SOPInstanceUID).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// blake3 of the PixelData element's value; for an object without PixelData, `content:` and the
    /// blake3 of its data set less the fields ferry set.
    pub pixel_hash: String,
    /// blake3 of the whole file.
    pub file_hash: String,
    /// The values of the keywords ferry set (labels and routing strings, never source PHI).
    pub set_fields: BTreeMap<String, String>,
    /// MD5 of the file's bytes as ferry uploaded them (hex), to compare with the digest the
    /// destination lists; empty for files read back.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub md5: String,
}

/// What is known of one session: StudyInstanceUID, and files by scan ID then SOPInstanceUID.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionFacts {
    /// The StudyInstanceUID read from the files.
    pub study_uid: Option<String>,
    /// Scan ID -> SOPInstanceUID -> facts.
    pub scans: BTreeMap<String, BTreeMap<String, FileFacts>>,
    /// Scan ID -> files whose SOPInstanceUID another file of the scan already has (only the last of
    /// them is in `scans`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub duplicates: BTreeMap<String, usize>,
}

/// How deep to compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Depth {
    /// Scan and file counts only.
    Counts,
    /// Counts, files, sizes, pixel hashes, UIDs and the fields ferry set.
    Full,
    /// As `Full`, but the fields ferry set may differ (the destination's anonymization scripts ran on
    /// the server, `destination_anonymization: server`): such changes are notes.
    PixelsAndUids,
}

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

/// The outcome of verifying one session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// Scans compared.
    pub scans: usize,
    /// Files compared.
    pub files: usize,
    /// Bytes found in the destination's compared files.
    pub bytes: u64,
    /// Why it failed; empty when it passed.
    pub problems: Vec<Problem>,
    /// Changes the server made that are not failures.
    pub notes: Vec<String>,
    /// DICOM files verified by the destination's listed MD5, without reading them back.
    #[serde(default)]
    pub by_digest: usize,
    /// DICOM files read back and compared.
    #[serde(default)]
    pub read_back: usize,
}

impl Verification {
    /// Whether the session verified.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Compares what was uploaded with what the destination holds. Only the expected scans are compared:
/// under `merge` the destination may hold other scans that were there before.
pub fn compare(expected: &SessionFacts, found: &SessionFacts, depth: Depth) -> Verification {
    let mut v = Verification::default();
    if depth != Depth::Counts && expected.study_uid != found.study_uid {
        v.problems.push(Problem::StudyUid {
            expected: expected.study_uid.clone(),
            found: found.study_uid.clone(),
        });
    }
    for (scan, count) in &found.duplicates {
        v.problems.push(Problem::Duplicates {
            scan: scan.clone(),
            count: *count,
        });
    }
    for (scan, count) in &expected.duplicates {
        v.notes.push(format!(
            "scan `{scan}`: the source holds {count} file(s) that repeat the SOPInstanceUID of another file"
        ));
    }
    for (scan, want) in &expected.scans {
        let Some(got) = found.scans.get(scan) else {
            v.problems.push(Problem::MissingScan { scan: scan.clone() });
            continue;
        };
        v.scans += 1;
        if want.len() != got.len() {
            v.problems.push(Problem::FileCount {
                scan: scan.clone(),
                expected: want.len(),
                found: got.len(),
            });
        }
        if depth != Depth::Counts {
            compare_files(scan, want, got, depth, &mut v);
        } else {
            v.files += got.len();
            v.bytes += got.values().map(|f| f.size).sum::<u64>();
        }
    }
    v
}

fn compare_files(
    scan: &str,
    want: &BTreeMap<String, FileFacts>,
    got: &BTreeMap<String, FileFacts>,
    depth: Depth,
    v: &mut Verification,
) {
    let mut header_changed = 0usize;
    let mut rewritten: std::collections::BTreeSet<&str> = Default::default();
    for (sop, w) in want {
        let Some(g) = got.get(sop) else {
            v.problems.push(Problem::MissingFile {
                scan: scan.into(),
                sop_uid: sop.clone(),
            });
            continue;
        };
        v.files += 1;
        v.bytes += g.size;
        if w.pixel_hash != g.pixel_hash && w.pixel_hash.starts_with(super::zipfacts::CONTENT) {
            v.problems.push(Problem::Content {
                scan: scan.into(),
                sop_uid: sop.clone(),
            });
        } else if w.pixel_hash != g.pixel_hash {
            v.problems.push(Problem::PixelData {
                scan: scan.into(),
                sop_uid: sop.clone(),
            });
        }
        for (k, val) in &w.set_fields {
            if g.set_fields.get(k) != Some(val) && depth == Depth::PixelsAndUids {
                rewritten.insert(k);
            } else if g.set_fields.get(k) != Some(val) {
                v.problems.push(Problem::Field {
                    scan: scan.into(),
                    sop_uid: sop.clone(),
                    keyword: k.clone(),
                });
            }
        }
        if w.file_hash != g.file_hash && w.pixel_hash == g.pixel_hash {
            header_changed += 1;
        }
    }
    for sop in got.keys().filter(|s| !want.contains_key(*s)) {
        v.problems.push(Problem::UnexpectedFile {
            scan: scan.into(),
            sop_uid: sop.clone(),
        });
    }
    if !rewritten.is_empty() {
        let kw = rewritten.into_iter().collect::<Vec<_>>().join(", ");
        v.notes.push(format!(
            "scan `{scan}`: the server's anonymization scripts rewrote {kw} (destination_anonymization: server); pixel data and UIDs are intact"
        ));
    }
    if header_changed > 0 {
        v.notes.push(format!(
            "scan `{scan}`: the server changed other header fields of {header_changed} file(s) on import; pixel data and the fields ferry set are intact"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(pixel: &str, whole: &str, pid: &str) -> FileFacts {
        FileFacts {
            name: "f.dcm".into(),
            size: 100,
            pixel_hash: pixel.into(),
            file_hash: whole.into(),
            set_fields: [("PatientID".to_string(), pid.to_string())].into(),
            md5: String::new(),
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
}
