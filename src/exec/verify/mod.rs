//! Verification of one session after transfer, as a pure comparison: what ferry uploaded (facts it
//! computed from the files it sent) against what the destination server gives back. Success is what
//! this comparison says, never an HTTP 200.
//!
//! Files are matched by SOPInstanceUID, because a server may rename files on import. Fails on: a
//! missing or unexpected scan, a file count that differs, a missing file, pixel data that differs, a
//! StudyInstanceUID that differs, a field ferry set that reads back differently, and any header
//! element added, removed or changed after upload ([`Problem::Element`], named by its tag path).
//! Each file's facts carry one keyed hash of its whole header ([`FileFacts::header`]); only where the
//! two header hashes differ are both files' elements read again ([`HeaderSource`]) to name what
//! changed, so the facts stay one line per file whatever the header holds. Under
//! `destination_anonymization: server` ([`Depth::PixelsAndUids`]) a change to an element the
//! destination's scripts may touch ([`elements::ServerScripts`]) is a note, any other a failure.
//!
//! The facts are those of the files ferry wrote; that ferry's rewrite itself changed nothing its rules
//! do not allow is checked file by file at rewrite time ([`elements::check_rewrite`]), so the
//! destination's copy is compared with the source, less exactly what ferry's rules change.

pub mod elements;
pub mod key;
mod problem;

pub use problem::{summary, Problem};

pub use elements::HeaderSource;

use crate::dicom::fingerprint::{Change, ElementPath};
use dicom_core::Tag;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

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
    /// blake3 of the whole file: of a file read back, and in the facts of a rewrite by an earlier
    /// ferry; a rewrite now leaves it empty (its header hash, pixel hash and MD5 cover the file).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub file_hash: String,
    /// The values of the keywords ferry set (labels and routing strings, never source PHI).
    pub set_fields: BTreeMap<String, String>,
    /// MD5 of the file's bytes as ferry uploaded them (hex), to compare with the digest the
    /// destination lists; empty for files read back.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub md5: String,
    /// A keyed hash of every header element (file meta less what names the writer, and the data set
    /// before PixelData at any depth; see [`crate::dicom::fingerprint`]), keyed by the plan run's
    /// secret. Empty in facts written before ferry recorded it: such files are not compared by
    /// header.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub header: String,
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

/// Compares what was uploaded with what the destination holds, by pixel data, UIDs and the fields
/// ferry set, without comparing headers element by element (the deep audit's comparison). Only the
/// expected scans are compared: under `merge` the destination may hold other scans that were there
/// before.
pub fn compare(expected: &SessionFacts, found: &SessionFacts, depth: Depth) -> Verification {
    let never = |_: &[Tag]| false;
    let judge = Judge {
        depth,
        headers: None,
        server_touches: &never,
    };
    compare_with(expected, found, &judge).unwrap_or_default()
}

/// How [`compare_with`] judges headers.
pub struct Judge<'a> {
    /// How deep to compare.
    pub depth: Depth,
    /// Where to read both sides' elements when header hashes differ; `None`: headers are not
    /// compared.
    pub headers: Option<&'a dyn HeaderSource>,
    /// Under [`Depth::PixelsAndUids`]: whether the destination's scripts may change an element (its
    /// tags from the top level down).
    pub server_touches: &'a dyn Fn(&[Tag]) -> bool,
}

/// Compares what was uploaded with what the destination holds, headers included when `judge` has a
/// source for them. Fails only when a header's elements cannot be read again.
pub fn compare_with(
    expected: &SessionFacts,
    found: &SessionFacts,
    judge: &Judge<'_>,
) -> Result<Verification, String> {
    let depth = judge.depth;
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
            compare_files(scan, want, got, judge, &mut v)?;
        } else {
            v.files += got.len();
            v.bytes += got.values().map(|f| f.size).sum::<u64>();
        }
    }
    Ok(v)
}

/// The tag of a standard keyword.
fn tag_of(keyword: &str) -> Option<Tag> {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
    dicom_dictionary_std::StandardDataDictionary
        .by_name(keyword)
        .map(|e| e.tag())
}

/// What the files of one scan add up to in notes.
#[derive(Default)]
struct ScanNotes {
    /// Files whose header changed where header hashes were not recorded.
    header_changed: usize,
    /// Elements the destination's scripts rewrote (by keyword path).
    rewritten: BTreeSet<String>,
}

fn compare_files(
    scan: &str,
    want: &BTreeMap<String, FileFacts>,
    got: &BTreeMap<String, FileFacts>,
    judge: &Judge<'_>,
    v: &mut Verification,
) -> Result<(), String> {
    let mut notes = ScanNotes::default();
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
        compare_file((scan, sop), (w, g), judge, &mut notes, v)?;
    }
    for sop in got.keys().filter(|s| !want.contains_key(*s)) {
        v.problems.push(Problem::UnexpectedFile {
            scan: scan.into(),
            sop_uid: sop.clone(),
        });
    }
    if !notes.rewritten.is_empty() {
        let kw = notes.rewritten.into_iter().collect::<Vec<_>>().join(", ");
        v.notes.push(format!(
            "scan `{scan}`: the server's anonymization scripts rewrote {kw} (destination_anonymization: server); pixel data and UIDs are intact"
        ));
    }
    if notes.header_changed > 0 {
        v.notes.push(format!(
            "scan `{scan}`: the server changed other header fields of {} file(s) on import; pixel data and the fields ferry set are intact",
            notes.header_changed
        ));
    }
    Ok(())
}

/// Compares one file with its destination copy: pixel data (or content), the fields ferry set, and
/// the header element by element where both header hashes are known and differ.
fn compare_file(
    (scan, sop): (&str, &str),
    (w, g): (&FileFacts, &FileFacts),
    judge: &Judge<'_>,
    notes: &mut ScanNotes,
    v: &mut Verification,
) -> Result<(), String> {
    let server = judge.depth == Depth::PixelsAndUids;
    let by_header = judge
        .headers
        .filter(|_| !w.header.is_empty() && !g.header.is_empty());
    let content = w.pixel_hash.starts_with(super::zipfacts::CONTENT);
    // An object without pixel data is compared by its content; with header hashes at hand the
    // elements below name what differs instead.
    if w.pixel_hash != g.pixel_hash && content && by_header.is_none() {
        v.problems.push(Problem::Content {
            scan: scan.into(),
            sop_uid: sop.into(),
        });
    } else if w.pixel_hash != g.pixel_hash && !content {
        v.problems.push(Problem::PixelData {
            scan: scan.into(),
            sop_uid: sop.into(),
        });
    }
    for (k, val) in &w.set_fields {
        if g.set_fields.get(k) == Some(val) {
            continue;
        }
        let touched = tag_of(k).is_some_and(|t| (judge.server_touches)(&[t]));
        // Before ferry knew what the scripts touch (no header hashes), every set field was theirs.
        if server && (touched || by_header.is_none()) {
            notes.rewritten.insert(k.clone());
        } else {
            v.problems.push(Problem::Field {
                scan: scan.into(),
                sop_uid: sop.into(),
                keyword: k.clone(),
            });
        }
    }
    match by_header {
        Some(source) if w.header != g.header => {
            let set: BTreeSet<Tag> = w.set_fields.keys().filter_map(|k| tag_of(k)).collect();
            for (path, change) in source.changes(scan, w, g)? {
                if set.contains(&path.first()) {
                    continue; // judged by value above
                }
                if server && (judge.server_touches)(&path.tags()) {
                    notes.rewritten.insert(path.keywords());
                } else {
                    v.problems.push(element_problem(scan, sop, &path, change));
                }
            }
        }
        None if !w.file_hash.is_empty()
            && !g.file_hash.is_empty()
            && w.file_hash != g.file_hash
            && w.pixel_hash == g.pixel_hash =>
        {
            notes.header_changed += 1;
        }
        _ => {}
    }
    Ok(())
}

fn element_problem(scan: &str, sop: &str, path: &ElementPath, change: Change) -> Problem {
    Problem::Element {
        scan: scan.into(),
        sop_uid: sop.into(),
        element: path.to_string(),
        keyword: path.keywords(),
        change,
    }
}

#[cfg(test)]
mod tests;
