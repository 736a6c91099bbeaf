//! A header parsed once. The rewrite of a file needs, from its source header, the keyed element
//! hashes (to check the rewrite), its UIDs (for the anonymization gate) and a data set to edit; and
//! from the rewritten header, its keywords and elements (the gate, scan and file keys) and its keyed
//! element hashes again. Each side is decoded once into a [`Parsed`] and everything is taken from it.
//!
//! The structural walk ([`super::rewrite::layout`]) runs first, so a data set is only decoded from
//! bytes whose file meta group and element lengths were checked.

use super::deidentify::{self, Profile};
use super::header::{classify, header_of, header_of_only, settable, Header};
use super::rewrite::{layout, meta_with_sop, transfer_syntax, value_for, Layout};
use super::splice;
use super::walk::Encoding;
use super::DicomError;
use dicom_core::header::Header as _;
use dicom_core::value::Value;
use dicom_core::{DataElement, Tag, VR};
use dicom_encoding::TransferSyntax;
use dicom_object::InMemDicomObject;
use std::collections::{BTreeMap, BTreeSet};

/// A file (or the part of it before PixelData) with its data set before PixelData decoded.
pub struct Parsed<'a> {
    bytes: &'a [u8],
    layout: Layout,
    ts: &'static TransferSyntax,
    ds: InMemDicomObject,
    /// SOPInstanceUID as read, before any edit.
    sop_before: Option<String>,
    /// What was edited since the read.
    edits: Edits,
}

/// The edits of a [`Parsed`]: only top-level elements set or removed (these tags; none yet after the
/// read), or anything (the data set was handed out to edit, or de-identified).
enum Edits {
    Top(BTreeSet<Tag>),
    Any,
}

impl<'a> Parsed<'a> {
    /// Walks and decodes `bytes`: a whole DICOM Part 10 file or its part before PixelData.
    pub fn read(bytes: &'a [u8]) -> Result<Parsed<'a>, DicomError> {
        let layout = layout(bytes)?;
        let ts = transfer_syntax(&layout.transfer_syntax)?;
        let end = layout.pixel_start.unwrap_or(bytes.len());
        let ds = InMemDicomObject::read_dataset_with_ts(&bytes[layout.dataset_start..end], ts)
            .map_err(classify)?;
        let sop_before = sop_uid(&ds);
        Ok(Parsed {
            bytes,
            layout,
            ts,
            ds,
            sop_before,
            edits: Edits::Top(BTreeSet::new()),
        })
    }

    /// The bytes it was read from.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Where the data set starts (after the preamble and the file meta group).
    pub fn dataset_start(&self) -> usize {
        self.layout.dataset_start
    }

    /// The data set before PixelData.
    pub fn dataset(&self) -> &InMemDicomObject {
        &self.ds
    }

    /// The data set before PixelData, to edit; [`Parsed::encode`] writes the result.
    pub fn dataset_mut(&mut self) -> &mut InMemDicomObject {
        self.edits = Edits::Any;
        &mut self.ds
    }

    /// Its keywords, UIDs and elements (as [`super::read_header_bytes`] reads them).
    pub fn header(&self) -> Header {
        self.header_with(true)
    }

    /// [`Parsed::header`], with [`Header::elements`] (every element at any depth, the anonymization
    /// gate's input) left empty unless `elements`: a rewrite whose gate is off does not need them.
    pub fn header_with(&self, elements: bool) -> Header {
        header_of(&self.ds, &self.layout.transfer_syntax, elements)
    }

    /// [`Parsed::header_with`] whose keywords are only the `wanted` ones and the study, series and
    /// instance UIDs.
    pub fn header_only<'k>(
        &self,
        wanted: impl IntoIterator<Item = &'k str>,
        elements: bool,
    ) -> Header {
        header_of_only(&self.ds, &self.layout.transfer_syntax, wanted, elements)
    }

    /// Every UID value in the data set, at any depth (UI elements, split into their values).
    pub fn uids(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        collect_uids(&self.ds, &mut out);
        out
    }

    /// Whether no edit since the read could have changed the top-level element `tag` (or anything
    /// inside it).
    pub fn untouched(&self, tag: Tag) -> bool {
        match &self.edits {
            Edits::Top(tags) => !tags.contains(&tag),
            Edits::Any => false,
        }
    }

    /// Runs `edit` on the data set. It answers with what it changed: `Some(tags)`, only these
    /// top-level elements (set or removed), so that only they are encoded anew; `None`, anything.
    pub fn edit_with<R>(
        &mut self,
        edit: impl FnOnce(&mut InMemDicomObject) -> (R, Option<BTreeSet<Tag>>),
    ) -> R {
        let (r, touched) = edit(&mut self.ds);
        match (touched, &mut self.edits) {
            (Some(t), Edits::Top(tags)) => tags.extend(t),
            _ => self.edits = Edits::Any,
        }
        r
    }

    /// Applies the de-identification profile when it is active; whether it was.
    pub fn deidentify(&mut self, profile: Option<&Profile>) -> bool {
        match profile.filter(|p| p.is_active()) {
            Some(p) => {
                deidentify::apply(&mut self.ds, p);
                self.edits = Edits::Any;
                true
            }
            None => false,
        }
    }

    /// Sets each keyword of `set` to its value, creating elements that are absent.
    pub fn set(&mut self, set: &BTreeMap<String, String>) -> Result<(), DicomError> {
        for e in elements_for(set)? {
            if let Edits::Top(tags) = &mut self.edits {
                tags.insert(e.tag());
            }
            self.ds.put(e);
        }
        Ok(())
    }

    /// The file as edited: the preamble and file meta group as they were (its Media Storage SOP
    /// Instance UID following a changed SOPInstanceUID), the data set re-encoded (where only
    /// top-level elements were set or removed, only those: see [`super::splice`]), and PixelData with
    /// everything after it byte for byte.
    pub fn encode(&self) -> Result<Vec<u8>, DicomError> {
        let (start, end) = (
            self.layout.dataset_start,
            self.layout.pixel_start.unwrap_or(self.bytes.len()),
        );
        let mut out = Vec::with_capacity(self.bytes.len() + 512);
        match sop_uid(&self.ds).filter(|now| Some(now) != self.sop_before.as_ref()) {
            Some(now) => meta_with_sop(self.bytes, start, &now, &mut out)?,
            None => out.extend_from_slice(&self.bytes[..start]),
        }
        match self.spliced(start, end)? {
            Some(data) => out.extend_from_slice(&data),
            None => self.write_dataset(&mut out)?,
        }
        out.extend_from_slice(&self.bytes[end..]);
        Ok(out)
    }

    /// The data set before PixelData as edited, encoded alone (no preamble, meta group or pixel data).
    pub fn encode_dataset(&self) -> Result<Vec<u8>, DicomError> {
        let mut out = Vec::new();
        self.write_dataset(&mut out)?;
        Ok(out)
    }

    /// The data set with only its changed elements encoded anew, when only top-level elements were
    /// set or removed.
    fn spliced(&self, start: usize, end: usize) -> Result<Option<Vec<u8>>, DicomError> {
        let Edits::Top(tags) = &self.edits else {
            return Ok(None);
        };
        let Some(enc) = Encoding::of(&self.layout.transfer_syntax) else {
            return Ok(None);
        };
        splice::spliced(self.bytes, (start, end), (enc, self.ts), &self.ds, tags)
    }

    fn write_dataset(&self, out: &mut Vec<u8>) -> Result<(), DicomError> {
        self.ds
            .write_dataset_with_ts(out, self.ts)
            .map_err(|e| DicomError::Malformed(e.to_string()))
    }
}

/// The elements `set` puts, each checked against the dictionary (settable, value fits its VR).
fn elements_for(
    set: &BTreeMap<String, String>,
) -> Result<Vec<DataElement<InMemDicomObject>>, DicomError> {
    set.iter()
        .map(|(k, v)| {
            let (tag, vr) = settable(k)?;
            Ok(DataElement::new(tag, vr, value_for(k, vr, v)?))
        })
        .collect()
}

fn sop_uid(ds: &InMemDicomObject) -> Option<String> {
    let e = ds.get(dicom_dictionary_std::tags::SOP_INSTANCE_UID)?;
    let v = e.to_str().ok()?;
    Some(v.trim_end_matches(['\0', ' ']).to_string())
}

fn collect_uids(obj: &InMemDicomObject, out: &mut BTreeSet<String>) {
    for e in obj.iter() {
        if e.tag() >= dicom_dictionary_std::tags::PIXEL_DATA {
            break;
        }
        match e.value() {
            Value::Sequence(seq) => seq.items().iter().for_each(|i| collect_uids(i, out)),
            Value::Primitive(_) if e.vr() == VR::UI => {
                if let Ok(v) = e.to_str() {
                    let v = v.trim_matches(|c: char| c == '\0' || c.is_whitespace());
                    out.extend(
                        v.split('\\')
                            .map(str::trim)
                            .filter(|u| !u.is_empty())
                            .map(str::to_string),
                    );
                }
            }
            _ => {}
        }
    }
}
