//! The facts of a zip the destination sent back, read entry by entry as streams (see
//! [`super::entries`]): per scan and SOPInstanceUID what verification compares with the facts of the
//! upload, and the identifying data the anonymization gate finds in what came back.

use super::entries::{each_entry, each_entry_with, Entry, Take, CHUNK, DEFERRED, MAX_HEADER_BYTES};
use super::gate::FileRules;
use super::stash::Staged;
use super::verify::{FileFacts, SessionFacts};
use super::zipfacts::{facts_of, scan_key, sop_key, stream_rest, FactsError};
use crate::dicom;
use std::collections::BTreeMap;
use std::path::Path;

/// The header and facts of one entry as it is (nothing rewritten); `None` when it is not DICOM.
pub(super) fn read_entry(
    e: &mut Entry<'_>,
    rules: &FileRules,
) -> Result<Option<(dicom::Header, FileFacts)>, FactsError> {
    let Some(header) = e.header().map(<[u8]>::to_vec) else {
        return Ok(None);
    };
    let Ok(parsed) = dicom::Parsed::read(&header) else {
        return Ok(None);
    };
    let h = parsed.header();
    let name = e.name().to_string();
    let err = |source| FactsError::Rewrite {
        entry: name.clone(),
        source,
    };
    let header_hash =
        super::verify::elements::header_hash(&parsed, &rules.element_key).map_err(err)?;
    let take = Take {
        md5: false,
        file: true,
        pixels: true,
    };
    let streamed = stream_rest(e, &header, take, |_| Ok(()))?;
    let f = facts_of(e.name(), &header, &h, &rules.set, streamed, header_hash).map_err(err)?;
    Ok(Some((h, f)))
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
    each_entry(zip, (CHUNK, MAX_HEADER_BYTES), |e| {
        let Some((h, f)) = read_entry(e, rules)? else {
            return Ok(());
        };
        let scan = scan_key(&h, rules);
        for k in rules.findings(&h, &scan, None) {
            *phi.entry(k).or_default() += 1;
        }
        if facts.study_uid.is_none() {
            facts.study_uid = h.study_instance_uid.as_deref().map(|u| rules.digest(u));
        }
        if facts
            .scans
            .entry(scan.clone())
            .or_default()
            .insert(sop_key(&h, e.name(), rules), f)
            .is_some()
        {
            *facts.duplicates.entry(scan).or_default() += 1;
        }
        Ok(())
    })?;
    Ok((facts, phi))
}

/// Takes the pixel hashes the rewrite left for later ([`DEFERRED`]) from the upload zip `upload` (on
/// disk, or in memory and read in place), for the files of `facts` that are read back. Every
/// deferred hash is filled, or the upload zip does not hold what its facts say and this is an error.
pub fn fill_pixel_hashes(upload: &Staged, facts: &mut SessionFacts) -> Result<(), FactsError> {
    let path = upload.path();
    let mut wanted: BTreeMap<String, &mut FileFacts> = facts
        .scans
        .values_mut()
        .flat_map(|m| m.values_mut())
        .filter(|f| f.pixel_hash == DEFERRED)
        .map(|f| (f.name.clone(), f))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let reader = upload.reader().map_err(|source| FactsError::Io {
        action: "open",
        path: path.display().to_string(),
        source,
    })?;
    let memory = match upload {
        Staged::Memory(_, bytes) => bytes.as_slice(),
        Staged::Disk(_) => None,
    };
    each_entry_with(reader, memory, path, (CHUNK, MAX_HEADER_BYTES), |e| {
        let Some(f) = wanted.get_mut(e.name()) else {
            return Ok(());
        };
        let header = e.header().map(<[u8]>::to_vec).unwrap_or_default();
        let take = Take {
            md5: false,
            file: false,
            pixels: true,
        };
        let streamed = stream_rest(e, &header, take, |_| Ok(()))?;
        if let Some(h) = streamed.pixel_hash.filter(|h| h != DEFERRED) {
            f.pixel_hash = h;
        }
        Ok(())
    })?;
    match wanted.values().find(|f| f.pixel_hash == DEFERRED) {
        None => Ok(()),
        Some(f) => Err(FactsError::Zip {
            path: path.display().to_string(),
            detail: format!("entry `{}` has no pixel data to compare", f.name),
        }),
    }
}
