//! The rewritten header of one zip entry: the source header decoded once, rewritten in the agreed
//! order (de-identification profile, the destination's scripts, `dicom.set`), encoded once, and the
//! result decoded once for its header and its element fingerprints.

use super::entries::Entry;
use super::gate::FileRules;
use super::zipfacts::{FactsError, Gate};
use crate::dicom;
use crate::dicom::fingerprint::{self, ElementHashes};
use std::collections::BTreeSet;

/// A header rewritten, as parsed, with the UIDs of the file before the rewrite (none when the
/// anonymization gate is off: nothing else reads them).
pub(super) struct NewHeader {
    pub bytes: Vec<u8>,
    /// The source's header fingerprints, when the rules may change the header.
    pub source: Option<ElementHashes>,
    /// The rewritten header's fingerprints.
    pub after: ElementHashes,
    /// The rewritten header; among its keywords only SeriesNumber, the UIDs and those `dicom.set`
    /// writes.
    pub parsed: dicom::Header,
    pub original_uids: BTreeSet<String>,
}

/// Rewrites a decoded header per `rules` in the agreed order: de-identification profile, the
/// destination's scripts, `dicom.set`; `None` when nothing changed it. The header alone: PixelData
/// and what follows are not part of it and stay as they are.
fn rewrite_header(
    name: &str,
    p: &mut dicom::Parsed<'_>,
    rules: &FileRules,
) -> Result<Option<Vec<u8>>, FactsError> {
    let rewrite_err = |source| FactsError::Rewrite {
        entry: name.to_string(),
        source,
    };
    let mut changed = p.deidentify(rules.profile.as_ref());
    if !rules.scripts.is_empty() {
        changed |= p
            .edit_with(|ds| rules.scripts.apply_recorded(ds))
            .map_err(|source| FactsError::Script {
                entry: name.to_string(),
                source,
            })?;
    }
    if !rules.set.is_empty() {
        p.set(&rules.set).map_err(rewrite_err)?;
        changed = true;
    }
    if changed {
        p.encode().map(Some).map_err(rewrite_err)
    } else {
        Ok(None)
    }
}

/// The rewritten header of an entry; `None` when the entry is not a DICOM file. Each side is decoded
/// once: the source for its element hashes, its UIDs and the rewrite, the result (from the bytes
/// that are uploaded) for its header and its element hashes.
pub(super) fn new_header(
    e: &Entry<'_>,
    rules: &FileRules,
) -> Result<Option<NewHeader>, FactsError> {
    let Some(header) = e.header() else {
        return Ok(None);
    };
    let Ok(mut source) = dicom::Parsed::read(header) else {
        return Ok(None);
    };
    let hashes = super::verify::elements::before_rewrite(&source, rules, e.name())?;
    // Only the anonymization gate looks at the source's UIDs.
    let original_uids = match rules.gate {
        Gate::Off => BTreeSet::new(),
        _ => source.uids(),
    };
    let bytes = rewrite_header(e.name(), &mut source, rules)?.unwrap_or_else(|| header.to_vec());
    let rewrite_err = |source| FactsError::Rewrite {
        entry: e.name().to_string(),
        source,
    };
    let parsed = dicom::Parsed::read(&bytes).map_err(rewrite_err)?;
    let after = match &hashes {
        Some(before) => fingerprint::of_rewritten(&parsed, (&source, before), &rules.element_key),
        None => fingerprint::of_parsed(&parsed, &rules.element_key),
    }
    .map_err(rewrite_err)?;
    // Of the keywords, only what the rewrite reads (the scan key and the values `dicom.set` wrote);
    // the gate's input (every element) only when the gate looks at it.
    let wanted = std::iter::once("SeriesNumber").chain(rules.set.keys().map(String::as_str));
    let h = parsed.header_only(wanted, rules.gate != Gate::Off);
    Ok(Some(NewHeader {
        source: hashes,
        after,
        parsed: h,
        original_uids,
        bytes,
    }))
}
