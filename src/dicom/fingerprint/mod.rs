//! Keyed fingerprints of a file's header, element by element: what verification compares between
//! the source, ferry's rewrite and the destination's copy, without keeping a single value.
//!
//! Every element before PixelData is named by its tag path (`(0010,0030)`, or
//! `(0008,1140)[0]/(0008,1155)` for an element inside the first item of a sequence) and hashed with
//! blake3 keyed by a secret the caller holds (a random key per plan run): without the key a hash
//! cannot be brute-forced back to a birth date or a short name. A path never carries a value.
//!
//! What is hashed is the value as DICOM means it, not its bytes: text is split into its values and
//! each is trimmed of padding (trailing spaces and NULs; leading spaces too, except in LT, ST and UT),
//! bytes (OB, UN) are taken without the NUL that pads an odd length to even,
//! numbers are hashed little endian whatever the transfer syntax, a sequence by its number of items
//! (its items' elements have entries of their own). So a writer that pads, re-encodes a character set
//! or switches a sequence between defined and undefined length changes nothing here, and a changed
//! value always does.
//!
//! Left out, because writers change them without changing the object: group lengths (`gggg,0000`),
//! Data Set Trailing Padding `(FFFC,FFFC)`, and the file meta elements that describe the writer, not
//! the object: File Meta Information Group Length `(0002,0000)`, Implementation Class UID
//! `(0002,0012)`, Implementation Version Name `(0002,0013)` and Source Application Entity Title
//! `(0002,0016)` (see docs/xnat-compat.md, "Header elements XNAT's writers change"). The rest of the
//! file meta group (SOP class and instance, transfer syntax) is compared like any element.

use super::walk::explicit_le_header;
use super::{DicomError, Parsed};
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::header::Header as _;
use dicom_core::value::{PrimitiveValue, Value};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;
use dicom_object::InMemDicomObject;
use smallvec::{smallvec, SmallVec};
use std::collections::BTreeMap;

/// File meta elements that name the writer, not the object: writers set them on their own.
pub const WRITER_META: [u16; 4] = [0x0000, 0x0012, 0x0013, 0x0016];

/// One step of an element's path: its tag, and the item of the sequence it is in, if it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Step {
    group: u16,
    element: u16,
    /// The item (0-based) of this sequence element the next step is in.
    item: Option<u32>,
}

/// Where an element is: tags from the top level down, with the item of each sequence passed through.
/// Paths of up to two steps (almost all of them) are held inline: a header has hundreds of elements
/// and is fingerprinted twice per file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ElementPath(SmallVec<[Step; 2]>);

impl ElementPath {
    fn top(tag: Tag) -> ElementPath {
        ElementPath(smallvec![Step {
            group: tag.group(),
            element: tag.element(),
            item: None,
        }])
    }

    fn child(&self, item: u32, tag: Tag) -> ElementPath {
        let mut steps = self.0.clone();
        if let Some(last) = steps.last_mut() {
            last.item = Some(item);
        }
        steps.push(Step {
            group: tag.group(),
            element: tag.element(),
            item: None,
        });
        ElementPath(steps)
    }

    /// The path as bytes for hashing: its length, then per step group, element and item (`u32::MAX`
    /// for none), little endian; no two paths encode alike.
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.0.len() as u32).to_le_bytes());
        for s in &self.0 {
            out.extend_from_slice(&s.group.to_le_bytes());
            out.extend_from_slice(&s.element.to_le_bytes());
            out.extend_from_slice(&s.item.unwrap_or(u32::MAX).to_le_bytes());
        }
    }

    /// The tags along the path, from the top level down.
    pub fn tags(&self) -> Vec<Tag> {
        self.0.iter().map(|s| Tag(s.group, s.element)).collect()
    }

    /// The top-level tag the path starts at.
    pub fn first(&self) -> Tag {
        self.0
            .first()
            .map(|s| Tag(s.group, s.element))
            .unwrap_or(Tag(0, 0))
    }

    /// The path by keywords where the standard dictionary has one (private and unknown tags as
    /// `(gggg,eeee)`), e.g. `ReferencedImageSequence[0]/ReferencedSOPInstanceUID`.
    pub fn keywords(&self) -> String {
        self.render(|s| {
            let private = s.group % 2 == 1;
            match StandardDataDictionary.by_tag(Tag(s.group, s.element)) {
                Some(e) if !private => e.alias().to_string(),
                _ => format!("({:04X},{:04X})", s.group, s.element),
            }
        })
    }

    fn render(&self, name: impl Fn(&Step) -> String) -> String {
        let mut out = String::new();
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                out.push('/');
            }
            out.push_str(&name(s));
            if let Some(item) = s.item {
                out.push_str(&format!("[{item}]"));
            }
        }
        out
    }
}

impl std::fmt::Display for ElementPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render(|s| format!("({:04X},{:04X})", s.group, s.element)))
    }
}

/// How an element differs between two headers.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Present in the second header only.
    Added,
    /// Present in the first header only.
    Removed,
    /// Present in both with other values.
    Changed,
}

impl Change {
    /// `added`, `removed` or `changed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Changed => "changed",
        }
    }
}

/// The keyed hash of every element of one header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ElementHashes {
    map: BTreeMap<ElementPath, u64>,
}

impl ElementHashes {
    /// The hashes of `pairs` (in any order; built at once rather than one insertion at a time).
    fn of(pairs: Vec<(ElementPath, u64)>) -> ElementHashes {
        ElementHashes {
            map: pairs.into_iter().collect(),
        }
    }

    /// How many elements were hashed.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no element was hashed.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// One keyed hash of the whole header (every path with its element hash), 32 hex digits: equal
    /// for two headers exactly when every element is.
    pub fn header_hash(&self, key: &[u8; 32]) -> String {
        let mut h = blake3::Hasher::new_keyed(key);
        h.update(b"xnat-ferry header v1\0");
        let mut buf = Vec::with_capacity(64);
        for (path, v) in &self.map {
            buf.clear();
            path.encode(&mut buf);
            buf.extend_from_slice(&v.to_le_bytes());
            h.update(&buf);
        }
        h.finalize().to_hex()[..32].to_string()
    }

    /// Every element that differs from `self` to `other`, in path order (one pass over both).
    pub fn changes(&self, other: &ElementHashes) -> Vec<(ElementPath, Change)> {
        use std::cmp::Ordering;
        let mut out = Vec::new();
        let (mut a, mut b) = (self.map.iter().peekable(), other.map.iter().peekable());
        loop {
            let order = match (a.peek(), b.peek()) {
                (None, None) => break,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some((p, _)), Some((q, _))) => p.cmp(q),
            };
            match order {
                Ordering::Less => {
                    if let Some((p, _)) = a.next() {
                        out.push((p.clone(), Change::Removed));
                    }
                }
                Ordering::Greater => {
                    if let Some((q, _)) = b.next() {
                        out.push((q.clone(), Change::Added));
                    }
                }
                Ordering::Equal => {
                    if let (Some((p, v)), Some((_, w))) = (a.next(), b.next()) {
                        if v != w {
                            out.push((p.clone(), Change::Changed));
                        }
                    }
                }
            }
        }
        out
    }
}

/// The keyed hash of every element of a file's header: the file meta group (less what names the
/// writer) and the data set before PixelData at any depth. `bytes` may be the whole file or only its
/// part before PixelData.
pub fn element_hashes(bytes: &[u8], key: &[u8; 32]) -> Result<ElementHashes, DicomError> {
    of_parsed(&Parsed::read(bytes)?, key)
}

/// [`element_hashes`] of a header already decoded.
pub fn of_parsed(p: &Parsed<'_>, key: &[u8; 32]) -> Result<ElementHashes, DicomError> {
    let mut out = Vec::new();
    let mut scratch = Vec::with_capacity(256);
    meta(p.bytes(), p.dataset_start(), key, &mut scratch, &mut out)?;
    walk(p.dataset(), None, key, &mut scratch, &mut out);
    Ok(ElementHashes::of(out))
}

/// [`of_parsed`] of a rewritten header `after`, given the header it was rewritten from and that
/// header's hashes, taken before the rewrite. A top-level element the rewrite did not touch and that
/// decodes to the same element in both keeps its hashes (and those of everything inside it): equal
/// elements hash alike, so only what changed is hashed again. The result is `of_parsed(after)`.
pub fn of_rewritten(
    after: &Parsed<'_>,
    (source, before): (&Parsed<'_>, &ElementHashes),
    key: &[u8; 32],
) -> Result<ElementHashes, DicomError> {
    let mut out = Vec::new();
    let mut scratch = Vec::with_capacity(256);
    meta(
        after.bytes(),
        after.dataset_start(),
        key,
        &mut scratch,
        &mut out,
    )?;
    // The source's hashes in path order, which is top-level tag order: one pass beside the walk.
    let mut old = before.map.iter().peekable();
    for e in after.dataset().iter() {
        let tag = e.tag();
        if tag == dicom_dictionary_std::tags::PIXEL_DATA {
            break;
        }
        while old.next_if(|(p, _)| p.first() < tag).is_some() {}
        if source.untouched(tag) && source.dataset().get(tag) == Some(e) {
            while let Some((p, h)) = old.next_if(|(p, _)| p.first() == tag) {
                out.push((p.clone(), *h));
            }
        } else {
            element(e, None, key, &mut scratch, &mut out);
        }
    }
    Ok(ElementHashes::of(out))
}

/// Where PixelData starts in `bytes` (`None` when the file has none, or when `bytes` ends before it
/// at an element boundary); [`DicomError::Truncated`] when `bytes` ends inside an element.
pub fn pixel_data_offset(bytes: &[u8]) -> Result<Option<usize>, DicomError> {
    Ok(super::rewrite::layout(bytes)?.pixel_start)
}

/// The keyed hash of one element: its path, then its value, hashed as one message (`scratch` holds
/// the path's encoding followed by the value, which [`canonical`] or the caller wrote after `at`).
fn element_hash(key: &[u8; 32], scratch: &[u8]) -> u64 {
    let b = blake3::keyed_hash(key, scratch);
    let mut first = [0u8; 8];
    first.copy_from_slice(&b.as_bytes()[..8]);
    u64::from_le_bytes(first)
}

fn meta(
    bytes: &[u8],
    end: usize,
    key: &[u8; 32],
    scratch: &mut Vec<u8>,
    out: &mut Vec<(ElementPath, u64)>,
) -> Result<(), DicomError> {
    let mut at = 132;
    while at < end {
        let tag = |o: usize| {
            bytes
                .get(at + o..at + o + 2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
        };
        let (Some(group), Some(element)) = (tag(0), tag(2)) else {
            break;
        };
        let (header, len) = explicit_le_header(bytes, at)?;
        let stop = (at + header + len as usize).min(end);
        if group == 0x0002 && !WRITER_META.contains(&element) {
            let value = &bytes[(at + header).min(stop)..stop];
            let value = if element == 0x0001 {
                value
            } else {
                trim_padding(value)
            };
            let path = ElementPath::top(Tag(group, element));
            scratch.clear();
            path.encode(scratch);
            scratch.extend_from_slice(value);
            out.push((path, element_hash(key, scratch)));
        }
        at = stop;
    }
    Ok(())
}

fn trim_padding(v: &[u8]) -> &[u8] {
    let mut end = v.len();
    while end > 0 && matches!(v[end - 1], b' ' | 0) {
        end -= 1;
    }
    &v[..end]
}

fn walk(
    obj: &InMemDicomObject,
    parent: Option<(&ElementPath, u32)>,
    key: &[u8; 32],
    scratch: &mut Vec<u8>,
    out: &mut Vec<(ElementPath, u64)>,
) {
    for e in obj.iter() {
        if parent.is_none() && e.tag() == dicom_dictionary_std::tags::PIXEL_DATA {
            break;
        }
        element(e, parent, key, scratch, out);
    }
}

/// The hashes of one element and of everything inside it (group lengths and trailing padding have
/// none).
fn element(
    e: &dicom_core::DataElement<InMemDicomObject>,
    parent: Option<(&ElementPath, u32)>,
    key: &[u8; 32],
    scratch: &mut Vec<u8>,
    out: &mut Vec<(ElementPath, u64)>,
) {
    let tag = e.tag();
    if tag.element() == 0x0000 || tag == Tag(0xFFFC, 0xFFFC) {
        return;
    }
    let path = match parent {
        Some((p, item)) => p.child(item, tag),
        None => ElementPath::top(tag),
    };
    if let Value::Sequence(seq) = e.value() {
        for (i, item) in seq.items().iter().enumerate() {
            walk(item, Some((&path, i as u32)), key, scratch, out);
        }
    }
    scratch.clear();
    path.encode(scratch);
    match e.value() {
        Value::Sequence(seq) => {
            scratch.extend_from_slice(b"SQ");
            scratch.extend_from_slice(&(seq.items().len() as u32).to_le_bytes());
        }
        Value::Primitive(p) => canonical(e.vr(), p, scratch),
        Value::PixelSequence(_) => scratch.extend_from_slice(b"fragments"),
    }
    out.push((path, element_hash(key, scratch)));
}

/// Appends a value as DICOM means it to `out`, independent of padding, character set and byte order.
fn canonical(vr: VR, p: &PrimitiveValue, out: &mut Vec<u8>) {
    fn le<T: Copy, const N: usize>(out: &mut Vec<u8>, xs: &[T], f: impl Fn(T) -> [u8; N]) {
        for x in xs {
            out.extend_from_slice(&f(*x));
        }
    }
    match p {
        PrimitiveValue::Empty => {}
        // Bytes of odd length are padded to even with one NUL when written: not content.
        PrimitiveValue::U8(x) if x.len() % 2 == 0 && x.last() == Some(&0) => {
            out.extend_from_slice(&x[..x.len() - 1])
        }
        PrimitiveValue::U8(x) => out.extend_from_slice(x),
        PrimitiveValue::I16(x) => le(out, x, i16::to_le_bytes),
        PrimitiveValue::U16(x) => le(out, x, u16::to_le_bytes),
        PrimitiveValue::I32(x) => le(out, x, i32::to_le_bytes),
        PrimitiveValue::U32(x) => le(out, x, u32::to_le_bytes),
        PrimitiveValue::I64(x) => le(out, x, i64::to_le_bytes),
        PrimitiveValue::U64(x) => le(out, x, u64::to_le_bytes),
        PrimitiveValue::F32(x) => le(out, x, |f: f32| f.to_bits().to_le_bytes()),
        PrimitiveValue::F64(x) => le(out, x, |f: f64| f.to_bits().to_le_bytes()),
        PrimitiveValue::Tags(x) => {
            for t in x.iter() {
                out.extend_from_slice(&t.group().to_le_bytes());
                out.extend_from_slice(&t.element().to_le_bytes());
            }
        }
        other => {
            let text = other.to_str();
            let keep_leading = matches!(vr, VR::LT | VR::ST | VR::UT);
            for (i, v) in text.split('\\').enumerate() {
                if i > 0 {
                    out.push(b'\\');
                }
                let v = v.trim_end_matches([' ', '\0']);
                let v = if keep_leading {
                    v
                } else {
                    v.trim_start_matches(' ')
                };
                out.extend_from_slice(v.as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests;
