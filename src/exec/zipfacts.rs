//! The file work of a session transfer, one zip entry at a time so memory stays flat whatever the size
//! of the session: rewriting a downloaded zip into the zip that is uploaded (headers per `dicom.set`,
//! pixel data untouched, the anonymization gate on every file), and reading the facts verification
//! compares from a zip the destination sent back.
//!
//! Entries are matched to scans by their own headers (SeriesNumber, as XNAT's importer assigns scan
//! IDs), never by the paths a server chose, and are written into the upload zip under names ferry
//! builds itself, so a hostile entry name cannot escape anything.

use super::gate::{uids_of, FileRules};
use super::verify::{FileFacts, SessionFacts};
use crate::dicom;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

/// The largest single file ferry accepts inside a zip (DICOM files are far smaller).
pub const MAX_ENTRY_BYTES: u64 = 4 << 30;
/// The prefix of a [`FileFacts::pixel_hash`] that hashes the content of an object without PixelData.
pub const CONTENT: &str = "content:";
/// The most entries ferry accepts in one zip.
pub const MAX_ENTRIES: usize = 1_000_000;

/// Why a zip could not be processed.
#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    /// Reading or writing a local file failed.
    #[error("cannot {action} `{path}`: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The zip is not readable.
    #[error("the zip `{path}` is not readable: {detail}")]
    Zip {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// An entry is larger than ferry accepts, or the zip has too many entries.
    #[error("the zip `{path}` is refused: {detail}")]
    Limits {
        /// The file.
        path: String,
        /// Which limit.
        detail: String,
    },
    /// A file could not be rewritten.
    #[error("cannot rewrite `{entry}`: {source}")]
    Rewrite {
        /// The zip entry.
        entry: String,
        /// The cause.
        source: dicom::DicomError,
    },
    /// The destination's anonymization script could not run on a file.
    #[error("cannot run the destination's scripts on `{entry}`: {source}")]
    Script {
        /// The zip entry.
        entry: String,
        /// The cause.
        source: super::localanon::ScriptRunError,
    },
    /// ferry's rewrite changed an element its rules do not change (a defect of ferry, caught before
    /// upload).
    #[error("ferry's rewrite {change} the header element {element} of `{entry}`, which no rule of this transfer changes (dicom.set, the de-identification profile, the destination's scripts); this is a defect of ferry: nothing of this session was uploaded")]
    Unexpected {
        /// The entry in the upload zip.
        entry: String,
        /// Its tag path and keywords (never its value).
        element: String,
        /// `added`, `removed` or `changed`.
        change: &'static str,
    },
    /// Identifying data remains after the rewrite under `anonymization: require`.
    #[error("{files} file(s) still carry identifying DICOM data after rewriting (PS3.15 Annex E): {keywords} (anonymization: require); nothing of this session was uploaded")]
    Phi {
        /// How many files.
        files: usize,
        /// The keywords, comma-separated (never their values).
        keywords: String,
    },
}

/// What the rewrite produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rewritten {
    /// The facts verification expects to read back.
    pub facts: SessionFacts,
    /// DICOM files written.
    pub files: usize,
    /// Bytes written into the upload zip's entries.
    pub bytes: u64,
    /// Entries skipped because they are not DICOM (names only).
    pub not_dicom: Vec<String>,
    /// Identifying keywords found (under `warn`), with the number of files.
    pub phi: BTreeMap<String, usize>,
}

/// How the anonymization gate treats identifying keywords left in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Stop the session before anything is uploaded.
    Require,
    /// Report them.
    Warn,
    /// Do not look.
    Off,
}

fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> FactsError + 'a {
    move |source| FactsError::Io {
        action,
        path: path.display().to_string(),
        source,
    }
}

fn zip_err<'a>(path: &'a Path) -> impl Fn(zip::result::ZipError) -> FactsError + 'a {
    move |e| FactsError::Zip {
        path: path.display().to_string(),
        detail: e.to_string(),
    }
}

/// Calls `f` with the name and bytes of every file entry of a zip, one at a time.
fn each_entry(
    path: &Path,
    mut f: impl FnMut(&str, Vec<u8>) -> Result<(), FactsError>,
) -> Result<(), FactsError> {
    let file = File::open(path).map_err(io_err("open", path))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(zip_err(path))?;
    if zip.len() > MAX_ENTRIES {
        return Err(FactsError::Limits {
            path: path.display().to_string(),
            detail: format!("{} entries (at most {MAX_ENTRIES})", zip.len()),
        });
    }
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(zip_err(path))?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().map_err(zip_err(path))?.to_string();
        if entry.size() > MAX_ENTRY_BYTES {
            return Err(FactsError::Limits {
                path: path.display().to_string(),
                detail: format!("entry `{name}` announces {} bytes", entry.size()),
            });
        }
        let announced = entry.size();
        let mut bytes = Vec::with_capacity(announced as usize);
        // Read one byte past the announced size to catch an entry larger than it says.
        (&mut entry)
            .take(announced + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| FactsError::Zip {
                path: path.display().to_string(),
                detail: format!("entry `{name}`: {e}"),
            })?;
        if bytes.len() as u64 != announced {
            return Err(FactsError::Limits {
                path: path.display().to_string(),
                detail: format!(
                    "entry `{name}` holds more or fewer bytes than the {announced} it announces"
                ),
            });
        }
        f(&name, bytes)?;
    }
    Ok(())
}

/// The scan a file belongs to, from its header: its SeriesNumber, as XNAT's importer numbers scans
/// (or a digest of its SeriesInstanceUID, never the UID itself).
pub fn scan_key(h: &dicom::Header, rules: &FileRules) -> String {
    match h.keywords.get("SeriesNumber").map(|s| s.trim()) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => h
            .series_instance_uid
            .as_deref()
            .map(|u| format!("series:{}", rules.digest(u)))
            .unwrap_or_else(|| "unknown".into()),
    }
}

fn facts_of(
    name: &str,
    bytes: &[u8],
    h: &dicom::Header,
    set: &BTreeMap<String, String>,
    header: String,
) -> Result<FileFacts, dicom::DicomError> {
    Ok(FileFacts {
        header,
        name: name.to_string(),
        size: bytes.len() as u64,
        pixel_hash: match dicom::pixel_hash(bytes)? {
            Some(h) => h,
            // An object without pixel data is verified by its content, less the fields ferry set.
            None => format!(
                "{CONTENT}{}",
                dicom::content_hash(bytes, &set.keys().cloned().collect())?
            ),
        },
        file_hash: dicom::file_hash(bytes),
        md5: String::new(),
        set_fields: set
            .keys()
            .map(|k| (k.clone(), h.keywords.get(k).cloned().unwrap_or_default()))
            .collect(),
    })
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The SOPInstanceUID digest a file is known by in facts (its entry name when it has none).
fn sop_key(h: &dicom::Header, name: &str, rules: &FileRules) -> String {
    h.sop_instance_uid
        .as_deref()
        .map(|u| rules.digest(u))
        .unwrap_or_else(|| name.to_string())
}

/// Rewrites every DICOM file of `input` per `rules` (de-identification profile, then `dicom.set`)
/// into a new zip at `output` (stored, no compression: DICOM pixel data does not shrink much and the
/// CPU is better spent elsewhere), and judges every rewritten file with the anonymization gate. Under
/// [`Gate::Require`] a finding fails the whole session and `output` is removed. Entries are named
/// `SCAN/NNNNNN.dcm`: a source file name (often its SOPInstanceUID) never reaches the destination.
pub fn rewrite_zip(
    input: &Path,
    output: &Path,
    rules: &FileRules,
) -> Result<Rewritten, FactsError> {
    let out = File::create(output).map_err(io_err("create", output))?;
    let mut zip = zip::ZipWriter::new(BufWriter::new(out));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(false);
    let mut result = Rewritten::default();
    let mut phi_files = 0usize;
    let profiled = rules.profile.as_ref().is_some_and(|p| p.is_active());
    let active = !rules.set.is_empty() || profiled;
    let no_set = BTreeMap::new();
    each_entry(input, |name, bytes| {
        let Ok(before) = dicom::read_header_bytes(&bytes) else {
            result.not_dicom.push(name.to_string());
            return Ok(());
        };
        let rewrite_err = |source| FactsError::Rewrite {
            entry: name.to_string(),
            source,
        };
        // The agreed order: de-identification profile, the destination's scripts, `dicom.set`.
        let source = super::verify::elements::before_rewrite(&bytes, rules, name)?;
        let new = if rules.scripts.is_empty() && active {
            dicom::rewrite_with(&bytes, rules.profile.as_ref(), &rules.set).map_err(rewrite_err)?
        } else if rules.scripts.is_empty() {
            bytes
        } else {
            let bytes = if profiled {
                dicom::rewrite_with(&bytes, rules.profile.as_ref(), &no_set).map_err(rewrite_err)?
            } else {
                bytes
            };
            let bytes = rules
                .scripts
                .apply(bytes)
                .map_err(|source| FactsError::Script {
                    entry: name.to_string(),
                    source,
                })?;
            if rules.set.is_empty() {
                bytes
            } else {
                dicom::rewrite_with(&bytes, None, &rules.set).map_err(rewrite_err)?
            }
        };
        let h = dicom::read_header_bytes(&new).map_err(rewrite_err)?;
        let scan = scan_key(&h, rules);
        let originals = uids_of(&before);
        let found = rules.findings(&h, &scan, Some(&originals));
        if !found.is_empty() {
            phi_files += 1;
            for k in found {
                *result.phi.entry(k).or_default() += 1;
            }
        }
        let entry_name = format!("{scan}/{:06}.dcm", result.files + 1);
        let header =
            super::verify::elements::check_rewrite(source.as_ref(), &new, rules, &entry_name)?;
        let mut facts = facts_of(&entry_name, &new, &h, &rules.set, header).map_err(rewrite_err)?;
        // The MD5 of exactly the bytes that go into the upload zip (stored, so sent as they are).
        facts.md5 = md5_hex(&new);
        if result.facts.study_uid.is_none() {
            result.facts.study_uid = h.study_instance_uid.as_deref().map(|u| rules.digest(u));
        }
        if result
            .facts
            .scans
            .entry(scan.clone())
            .or_default()
            .insert(sop_key(&h, &entry_name, rules), facts)
            .is_some()
        {
            *result.facts.duplicates.entry(scan).or_default() += 1;
        }
        zip.start_file(entry_name, options)
            .map_err(zip_err(output))?;
        zip.write_all(&new).map_err(io_err("write", output))?;
        result.files += 1;
        result.bytes += new.len() as u64;
        Ok(())
    })?;
    let mut w = zip.finish().map_err(zip_err(output))?;
    w.flush().map_err(io_err("write", output))?;
    if rules.gate == Gate::Require && phi_files > 0 {
        let _ = std::fs::remove_file(output);
        return Err(FactsError::Phi {
            files: phi_files,
            keywords: result.phi.keys().cloned().collect::<Vec<_>>().join(", "),
        });
    }
    Ok(result)
}

/// What a zip sent back by the destination holds: facts per scan and file, and identifying data
/// found (by where, with file counts) when the gate is not off. UIDs are not judged here (the
/// originals are not at hand); every file was judged on them before upload.
pub fn read_facts(
    zip: &Path,
    rules: &FileRules,
) -> Result<(SessionFacts, BTreeMap<String, usize>), FactsError> {
    let mut facts = SessionFacts::default();
    let mut phi: BTreeMap<String, usize> = BTreeMap::new();
    each_entry(zip, |name, bytes| {
        let Ok(h) = dicom::read_header_bytes(&bytes) else {
            return Ok(());
        };
        let scan = scan_key(&h, rules);
        for k in rules.findings(&h, &scan, None) {
            *phi.entry(k).or_default() += 1;
        }
        let err = |source| FactsError::Rewrite {
            entry: name.to_string(),
            source,
        };
        let header =
            super::verify::elements::header_hash(&bytes, &rules.element_key).map_err(err)?;
        let f = facts_of(name, &bytes, &h, &rules.set, header).map_err(err)?;
        if facts.study_uid.is_none() {
            facts.study_uid = h.study_instance_uid.as_deref().map(|u| rules.digest(u));
        }
        if facts
            .scans
            .entry(scan.clone())
            .or_default()
            .insert(sop_key(&h, name, rules), f)
            .is_some()
        {
            *facts.duplicates.entry(scan).or_default() += 1;
        }
        Ok(())
    })?;
    Ok((facts, phi))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic file cut before its PixelData: an object without pixel data.
    fn no_pixels() -> Vec<u8> {
        let f = dicom::synth::file(&dicom::synth::Spec::new(3));
        let at = f
            .windows(4)
            .rposition(|w| w == [0xE0, 0x7F, 0x10, 0x00])
            .unwrap();
        f[..at].to_vec()
    }

    #[test]
    fn objects_without_pixel_data_are_compared_by_content_less_what_ferry_set() {
        let a = no_pixels();
        assert_eq!(dicom::pixel_hash(&a).unwrap(), None);
        let set: BTreeMap<String, String> =
            [("PatientID".to_string(), "MAIN_001".to_string())].into();
        let b = dicom::rewrite(&a, &set).unwrap();
        let h = dicom::read_header_bytes(&b).unwrap();
        let fa = facts_of("a", &a, &h, &set, String::new()).unwrap();
        let fb = facts_of("b", &b, &h, &set, String::new()).unwrap();
        assert!(fa.pixel_hash.starts_with(CONTENT), "{}", fa.pixel_hash);
        assert_eq!(fa.pixel_hash, fb.pixel_hash);
        // A change to anything else is a change of content.
        let other: BTreeMap<String, String> =
            [("SeriesDescription".to_string(), "edited".to_string())].into();
        let c = dicom::rewrite(&b, &other).unwrap();
        let fc = facts_of("c", &c, &h, &set, String::new()).unwrap();
        assert_ne!(fb.pixel_hash, fc.pixel_hash);
        let mut want = SessionFacts::default();
        want.scans
            .entry("1".into())
            .or_default()
            .insert("9".into(), fb);
        let mut got = SessionFacts::default();
        got.scans
            .entry("1".into())
            .or_default()
            .insert("9".into(), fc);
        let v = crate::exec::verify::compare(&want, &got, crate::exec::verify::Depth::Full);
        assert_eq!(
            v.problems,
            vec![crate::exec::verify::Problem::Content {
                scan: "1".into(),
                sop_uid: "9".into()
            }]
        );
    }

    #[test]
    fn a_zip_with_an_oversized_claim_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.zip");
        std::fs::write(&path, b"not a zip at all").unwrap();
        let e = read_facts(&path, &FileRules::plain(&BTreeMap::new(), Gate::Off)).unwrap_err();
        assert!(e.to_string().contains("not readable"), "{e}");
    }
}
