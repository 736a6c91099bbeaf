//! The file work of a session transfer, one zip entry at a time and each entry as a stream, so memory
//! stays flat whatever the size of the session or of one file: rewriting a downloaded zip into the zip
//! that is uploaded (headers per `dicom.set`, pixel data untouched, the anonymization gate on every
//! file), and the facts of each file that verification compares (read back from the destination's zip
//! by [`super::readback`] with the same pieces). Only the header of a file (the part before PixelData)
//! is held and rewritten; the rest streams through in chunks (see [`super::entries`]).
//!
//! Entries are matched to scans by their own headers (SeriesNumber, as XNAT's importer assigns scan
//! IDs), never by the paths a server chose, and are written into the upload zip under names ferry
//! builds itself, so a hostile entry name cannot escape anything.

use super::composed::{Composer, Layout};
use super::entries::{each_entry_with, Entry, Hashes, Streamed, Take, CHUNK};
use super::gate::FileRules;
use super::md5batch::{self, Md5Batch};
use super::newheader::new_header;
use super::verify::{FileFacts, SessionFacts};
use crate::dicom;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Cursor, Read, Seek, Write};
use std::path::Path;

pub use super::entries::{MAX_ENTRIES, MAX_ENTRY_BYTES, MAX_HEADER_BYTES};
#[cfg(test)]
use super::readback::read_entry;
pub use super::readback::{fill_pixel_hashes, read_facts};

/// The prefix of a [`FileFacts::pixel_hash`] that hashes the content of an object without PixelData.
pub const CONTENT: &str = "content:";

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

/// The facts of one file from its name, its header (the bytes before PixelData; the whole file for
/// an object without PixelData), the header as parsed, and the hashes taken as the file streamed.
pub(super) fn facts_of(
    name: &str,
    header: &[u8],
    h: &dicom::Header,
    set: &BTreeMap<String, String>,
    streamed: Streamed,
    header_hash: String,
) -> Result<FileFacts, dicom::DicomError> {
    Ok(FileFacts {
        header: header_hash,
        name: name.to_string(),
        size: streamed.size,
        pixel_hash: match streamed.pixel_hash {
            Some(h) => h,
            // An object without pixel data is verified by its content, less the fields ferry set;
            // it is all header, so `header` is the whole file.
            None => format!(
                "{CONTENT}{}",
                dicom::content_hash(header, &set.keys().cloned().collect())?
            ),
        },
        file_hash: streamed.file_hash,
        md5: streamed.md5,
        set_fields: set
            .keys()
            .map(|k| (k.clone(), h.keywords.get(k).cloned().unwrap_or_default()))
            .collect(),
    })
}

/// Streams the rest of an entry after `header` (the header the file is written with) to `sink`,
/// taking the hashes `take` asks for (and the pixel data's) as it passes.
pub(super) fn stream_rest(
    e: &mut Entry<'_>,
    header: &[u8],
    take: Take,
    mut sink: impl FnMut(&[u8]) -> Result<(), FactsError>,
) -> Result<Streamed, FactsError> {
    let hash_err = |name: &str| {
        let name = name.to_string();
        move |source| FactsError::Rewrite {
            entry: name,
            source,
        }
    };
    let mut hashes = Hashes::new(header, e.has_pixel_data(), take).map_err(hash_err(e.name()))?;
    e.stream_rest(|chunk| {
        sink(chunk)?;
        hashes.update(chunk);
        Ok(())
    })?;
    hashes.finish().map_err(hash_err(e.name()))
}

/// The SOPInstanceUID digest a file is known by in facts (its entry name when it has none).
pub(super) fn sop_key(h: &dicom::Header, name: &str, rules: &FileRules) -> String {
    h.sop_instance_uid
        .as_deref()
        .map(|u| rules.digest(u))
        .unwrap_or_else(|| name.to_string())
}

/// Adds files' facts to a session's, in order, each with its MD5 when one is given (a file whose MD5
/// was taken as it streamed comes with an empty one); a second file with the same SOPInstanceUID in
/// a scan replaces the first and is counted as a duplicate.
fn add_facts(
    session: &mut SessionFacts,
    files: impl IntoIterator<Item = (String, (String, String, FileFacts))>,
) {
    for (md5, (scan, sop, mut facts)) in files {
        if !md5.is_empty() {
            facts.md5 = md5;
        }
        let scans = session.scans.entry(scan.clone()).or_default();
        if scans.insert(sop, facts).is_some() {
            *session.duplicates.entry(scan).or_default() += 1;
        }
    }
}

/// The upload zip as the rewrite writes it, its entry options, and its path (for errors).
type UploadZip<'a, W> = (
    &'a mut zip::ZipWriter<W>,
    zip::write::SimpleFileOptions,
    &'a Path,
);

/// How the rewrite reads its input and takes the MD5s of what it writes.
#[derive(Clone, Copy)]
enum Mode<'m> {
    /// Entries are read as streams; each file's MD5 is taken as it is written (in batches of small
    /// files).
    Streams,
    /// The input zip is these bytes: stored entries are read in place. The output is in memory too,
    /// and the caller takes every file's MD5 from it at the end ([`md5batch::md5s_of_stored`]).
    Memory(&'m [u8]),
}

/// Writes one rewritten file into the upload zip as entry `name`: its new `header`, then the rest of
/// the source entry. Under [`Mode::Streams`] a file the source announces as small comes back whole
/// too, for its MD5 to be taken in a batch (from a buffer of `batch`); a larger one comes back with
/// its MD5 taken as it streamed. Under [`Mode::Memory`] no MD5 is taken here.
fn write_entry<W: Write + Seek>(
    e: &mut Entry<'_>,
    (header, name, mode): (&[u8], &str, Mode<'_>),
    (zip, options, output): UploadZip<'_, W>,
    batch: &mut Md5Batch<(String, String, FileFacts)>,
) -> Result<(Streamed, Option<Vec<u8>>), FactsError> {
    zip.start_file(name, options).map_err(zip_err(output))?;
    zip.write_all(header).map_err(io_err("write", output))?;
    let streams = matches!(mode, Mode::Streams);
    let mut whole = e
        .announced()
        .filter(|s| streams && md5batch::takes(*s))
        .map(|size| {
            // The rewritten header may be longer than the source's.
            let mut b = batch.buffer(size as usize + header.len());
            b.extend_from_slice(header);
            b
        });
    // The MD5 of exactly the bytes that go into the upload zip (stored, so sent as they are).
    // Pixel data is hashed later, and only for a file that is read back (see `fill_pixel_hashes`).
    let take = Take {
        md5: streams && whole.is_none(),
        file: false,
        pixels: false,
    };
    let streamed = stream_rest(e, header, take, |chunk| {
        if let Some(w) = whole.as_mut() {
            w.extend_from_slice(chunk);
        }
        zip.write_all(chunk).map_err(io_err("write", output))
    })?;
    Ok((streamed, whole))
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
    rewrite_zip_in(input, output, rules, (CHUNK, MAX_HEADER_BYTES))
}

/// [`rewrite_zip`] of a zip held in memory into one built in memory (`input_path` and `output_path`
/// name them in errors), handing back the output's layout: it refers to `input` for the data after
/// each file's header rather than copying them ([`Composer`]). Stored entries are read in place, and
/// the MD5s of the written files are taken from the output at the end, all in SIMD lanes. Under
/// [`Gate::Require`] a finding fails the session, and nothing is handed back.
pub fn rewrite_zip_in_memory(
    input: &[u8],
    (input_path, output_path): (&Path, &Path),
    rules: &FileRules,
) -> Result<(Rewritten, Layout), FactsError> {
    // Room for the zip's own bytes: headers, which grow a little, and the zip's structures.
    let out = Composer::new(input, input.len() / 8 + 64 * 1024);
    let sizes = (CHUNK, MAX_HEADER_BYTES);
    let (mut r, out) = rewrite_entries(
        (Cursor::new(input), Mode::Memory(input)),
        (input_path, output_path),
        out,
        rules,
        sizes,
    )?;
    let layout = out.into_layout();
    let md5s = md5batch::md5s_of_composed(&layout, input).map_err(zip_err(output_path))?;
    for f in r.facts.scans.values_mut().flat_map(|m| m.values_mut()) {
        f.md5 = md5s.get(&f.name).cloned().ok_or_else(|| FactsError::Zip {
            path: output_path.display().to_string(),
            detail: format!("entry `{}` is not in the zip just written", f.name),
        })?;
    }
    Ok((r, layout))
}

/// [`rewrite_zip`] reading entries in `chunk`-byte steps, their headers up to `cap` bytes.
fn rewrite_zip_in(
    input: &Path,
    output: &Path,
    rules: &FileRules,
    sizes: (usize, usize),
) -> Result<Rewritten, FactsError> {
    let source = File::open(input).map_err(io_err("open", input))?;
    let out = File::create(output).map_err(io_err("create", output))?;
    let written = rewrite_entries(
        (BufReader::new(source), Mode::Streams),
        (input, output),
        BufWriter::new(out),
        rules,
        sizes,
    );
    match written {
        Ok((r, mut w)) => {
            w.flush().map_err(io_err("write", output))?;
            Ok(r)
        }
        Err(e) => {
            if matches!(e, FactsError::Phi { .. }) {
                let _ = std::fs::remove_file(output);
            }
            Err(e)
        }
    }
}

/// The rewrite itself: every entry of `input` into `out` (`names`: the two zips' paths, for errors).
fn rewrite_entries<W: Write + Seek>(
    (input, mode): (impl Read + Seek, Mode<'_>),
    (input_path, output): (&Path, &Path),
    out: W,
    rules: &FileRules,
    sizes: (usize, usize),
) -> Result<(Rewritten, W), FactsError> {
    let mut zip = zip::ZipWriter::new(out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(false);
    let mut result = Rewritten::default();
    let mut phi_files = 0usize;
    // Small files wait for their MD5 to be taken several at a time; they enter the facts in the
    // order they came, so a waiting batch is emptied before a large file's facts go in.
    let mut batch: Md5Batch<(String, String, FileFacts)> = Md5Batch::default();
    let memory = match mode {
        Mode::Memory(bytes) => Some(bytes),
        Mode::Streams => None,
    };
    each_entry_with(input, memory, input_path, sizes, |e| {
        let Some(new) = new_header(e, rules)? else {
            result.not_dicom.push(e.name().to_string());
            return Ok(());
        };
        let h = &new.parsed;
        let scan = scan_key(h, rules);
        let found = rules.findings(h, &scan, Some(&new.original_uids));
        if !found.is_empty() {
            phi_files += 1;
            for k in found {
                *result.phi.entry(k).or_default() += 1;
            }
        }
        let entry_name = format!("{scan}/{:06}.dcm", result.files + 1);
        let header_hash = super::verify::elements::check_rewrite(
            new.source.as_ref(),
            &new.after,
            rules,
            &entry_name,
        )?;
        let (streamed, whole) = write_entry(
            e,
            (&new.bytes, &entry_name, mode),
            (&mut zip, options, output),
            &mut batch,
        )?;
        result.files += 1;
        result.bytes += streamed.size;
        let facts = facts_of(
            &entry_name,
            &new.bytes,
            h,
            &rules.set,
            streamed,
            header_hash,
        )
        .map_err(|source| FactsError::Rewrite {
            entry: e.name().to_string(),
            source,
        })?;
        if result.facts.study_uid.is_none() {
            result.facts.study_uid = h.study_instance_uid.as_deref().map(|u| rules.digest(u));
        }
        let sop = sop_key(h, &entry_name, rules);
        if let Some(whole) = whole {
            let done = batch.push(whole, (scan, sop, facts));
            add_facts(&mut result.facts, done);
        } else {
            add_facts(&mut result.facts, batch.flush());
            add_facts(&mut result.facts, [(String::new(), (scan, sop, facts))]);
        }
        Ok(())
    })?;
    add_facts(&mut result.facts, batch.flush());
    let w = zip.finish().map_err(zip_err(output))?;
    if rules.gate == Gate::Require && phi_files > 0 {
        return Err(FactsError::Phi {
            files: phi_files,
            keywords: result.phi.keys().cloned().collect::<Vec<_>>().join(", "),
        });
    }
    Ok((result, w))
}

#[cfg(test)]
#[path = "zipfacts_tests.rs"]
mod tests;
