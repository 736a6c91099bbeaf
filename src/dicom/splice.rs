//! The data set of a file whose edits were only top-level elements set or removed (`dicom.set`, and
//! anonymization scripts that assign or delete elements): every other element keeps its bytes as
//! they came, each set element, encoded alone, takes its place in tag order (or is put in where it
//! was absent), and a removed one is left out. Decoding a header and encoding it whole again costs
//! more than the rest of a rewrite; this does neither for the elements that did not change. The
//! checking decode of the result ([`super::Parsed::read`] of the rewritten bytes) still compares
//! every element with the source.
//!
//! It answers `None`, and the caller encodes the whole data set, when a set element holds text outside
//! ASCII (its bytes then depend on the character set) or is a sequence, when a changed tag is not of
//! the data set proper (the file meta group, PixelData and after), or when a group length element
//! stands in the group of an element set or removed (it would no longer be right).

use super::walk::{top_elements, Encoding};
use super::DicomError;
use dicom_core::value::{PrimitiveValue, Value};
use dicom_core::Tag;
use dicom_encoding::TransferSyntax;
use dicom_object::InMemDicomObject;
use std::collections::BTreeSet;

/// The data set `bytes[start..end]` (a walk of it stops at `end`, where PixelData starts or the
/// file ends) with the elements of `tags` as `ds` holds them now (those it no longer holds left out).
pub(super) fn spliced(
    bytes: &[u8],
    (start, end): (usize, usize),
    (enc, ts): (Encoding, &TransferSyntax),
    ds: &InMemDicomObject,
    tags: &BTreeSet<Tag>,
) -> Result<Option<Vec<u8>>, DicomError> {
    let Some(set) = encoded(ds, tags, ts)? else {
        return Ok(None);
    };
    let tops = top_elements(&bytes[..end], start, enc)?;
    let groups: BTreeSet<u16> = tags.iter().map(|t| t.group()).collect();
    if tops.iter().any(|((g, e), _)| *e == 0 && groups.contains(g)) {
        return Ok(None);
    }
    let added: usize = set
        .iter()
        .filter_map(|(_, b)| b.as_ref().map(Vec::len))
        .sum();
    let mut out = Vec::with_capacity(end - start + added);
    let mut set = set.into_iter().peekable();
    for (i, ((g, e), at)) in tops.iter().enumerate() {
        let tag = Tag(*g, *e);
        while let Some((_, b)) = set.next_if(|(t, _)| *t < tag) {
            out.extend_from_slice(b.as_deref().unwrap_or_default());
        }
        match set.next_if(|(t, _)| *t == tag) {
            Some((_, b)) => out.extend_from_slice(b.as_deref().unwrap_or_default()),
            None => {
                let next = tops.get(i + 1).map_or(end, |(_, n)| *n);
                out.extend_from_slice(&bytes[*at..next]);
            }
        }
    }
    for (_, b) in set {
        out.extend_from_slice(b.as_deref().unwrap_or_default());
    }
    Ok(Some(out))
}

/// An element encoded alone: its tag and bytes (`None`: the data set no longer holds it).
type Encoded = (Tag, Option<Vec<u8>>);

/// Each element of `tags` encoded alone in `ts`, in tag order; `None` when one holds text outside
/// ASCII, or is not an element of the data set proper.
fn encoded(
    ds: &InMemDicomObject,
    tags: &BTreeSet<Tag>,
    ts: &TransferSyntax,
) -> Result<Option<Vec<Encoded>>, DicomError> {
    let mut out = Vec::with_capacity(tags.len());
    for tag in tags {
        if tag.group() <= 0x0002 || *tag >= Tag(0x7FE0, 0x0010) {
            return Ok(None);
        }
        let Some(e) = ds.get(*tag) else {
            out.push((*tag, None));
            continue;
        };
        let ascii = match e.value() {
            Value::Primitive(PrimitiveValue::Str(s)) => s.is_ascii(),
            Value::Primitive(PrimitiveValue::Strs(s)) => s.iter().all(|s| s.is_ascii()),
            Value::Primitive(_) => true,
            _ => false,
        };
        if !ascii {
            return Ok(None);
        }
        let mut b = Vec::new();
        InMemDicomObject::from_element_iter([e.clone()])
            .write_dataset_with_ts(&mut b, ts)
            .map_err(|e| DicomError::Malformed(e.to_string()))?;
        out.push((*tag, Some(b)));
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dicom::synth::{file, Spec, EXPLICIT_BE, EXPLICIT_LE, IMPLICIT_LE};
    use crate::dicom::{fingerprint, Parsed};
    use std::collections::BTreeMap;

    const KEY: [u8; 32] = [7; 32];

    fn set(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The file with `set` applied, spliced and (after handing the data set out to edit) encoded
    /// whole.
    fn both_ways(f: &[u8], set: &BTreeMap<String, String>) -> (Vec<u8>, Vec<u8>) {
        let mut spliced = Parsed::read(f).unwrap();
        spliced.set(set).unwrap();
        let mut whole = Parsed::read(f).unwrap();
        whole.dataset_mut();
        whole.set(set).unwrap();
        (spliced.encode().unwrap(), whole.encode().unwrap())
    }

    /// Where a file's data set starts and PixelData starts, and its encoding.
    fn parts(f: &[u8]) -> ((usize, usize), (Encoding, &'static TransferSyntax)) {
        let layout = crate::dicom::rewrite::layout(f).unwrap();
        let span = (layout.dataset_start, layout.pixel_start.unwrap());
        let enc = Encoding::of(&layout.transfer_syntax).unwrap();
        let ts = crate::dicom::rewrite::transfer_syntax(&layout.transfer_syntax).unwrap();
        (span, (enc, ts))
    }

    /// Each top-level element's bytes, by tag.
    fn raw(f: &[u8]) -> BTreeMap<(u16, u16), Vec<u8>> {
        let layout = crate::dicom::rewrite::layout(f).unwrap();
        let end = layout.pixel_start.unwrap_or(f.len());
        let enc = Encoding::of(&layout.transfer_syntax).unwrap();
        let tops = top_elements(&f[..end], layout.dataset_start, enc).unwrap();
        tops.iter()
            .enumerate()
            .map(|(i, (tag, at))| {
                let next = tops.get(i + 1).map_or(end, |(_, n)| *n);
                (*tag, f[*at..next].to_vec())
            })
            .collect()
    }

    #[test]
    fn a_set_decodes_as_the_whole_encoding_and_leaves_every_other_element_as_it_was() {
        let values = set(&[
            ("PatientID", "B_SUB001"),
            ("PatientName", "B_SUB001"),
            // Absent from the source: put in at its place in tag order.
            ("StudyDescription", "xnat://MAIN/B_SUB001/B_SUB001_MR1"),
        ]);
        for ts in [EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE] {
            let mut spec = Spec::new(3);
            spec.transfer_syntax = ts.into();
            let f = file(&spec);
            let (cut, whole) = both_ways(&f, &values);
            let (a, b) = (Parsed::read(&cut).unwrap(), Parsed::read(&whole).unwrap());
            assert_eq!(a.dataset(), b.dataset(), "{ts}");
            assert_eq!(
                fingerprint::of_parsed(&a, &KEY).unwrap(),
                fingerprint::of_parsed(&b, &KEY).unwrap(),
                "{ts}"
            );
            assert_eq!(
                a.header().keywords.get("StudyDescription"),
                values.get("StudyDescription")
            );
            // Pixel data and everything after the data set, byte for byte.
            let end = |b: &[u8]| {
                b.len()
                    - crate::dicom::rewrite::layout(b)
                        .unwrap()
                        .pixel_start
                        .unwrap()
            };
            assert_eq!(end(&cut), end(&f), "{ts}");
            assert!(cut.ends_with(&f[f.len() - end(&f)..]), "{ts}");
            let (before, after) = (raw(&f), raw(&cut));
            let set_tags = [(0x0010, 0x0020), (0x0010, 0x0010), (0x0008, 0x1030)];
            let kept = |m: &BTreeMap<(u16, u16), Vec<u8>>| {
                m.iter()
                    .filter(|(t, _)| !set_tags.contains(t))
                    .map(|(t, v)| (*t, v.clone()))
                    .collect::<BTreeMap<_, _>>()
            };
            assert_eq!(
                kept(&before),
                kept(&after),
                "{ts}: elements not set keep their bytes"
            );
            assert!(after.contains_key(&(0x0008, 0x1030)), "{ts}");
            // The encoding of the file is the splice's.
            let mut p = Parsed::read(&f).unwrap();
            p.set(&values).unwrap();
            let (span, encoding) = parts(&f);
            let tags = set_tags.iter().map(|(g, e)| Tag(*g, *e)).collect();
            let data = spliced(&f, span, encoding, p.dataset(), &tags)
                .unwrap()
                .unwrap();
            assert_eq!(&cut[span.0..span.0 + data.len()], data.as_slice(), "{ts}");
        }
    }

    #[test]
    fn text_outside_ascii_is_left_to_the_whole_encoding() {
        let f = file(&Spec::new(4));
        let values = set(&[("PatientName", "Müller^Jörg")]);
        let p = Parsed::read(&f).unwrap();
        let mut edited = Parsed::read(&f).unwrap();
        edited.set(&values).unwrap();
        let (span, (enc, ts)) = parts(&f);
        let tags = BTreeSet::from([Tag(0x0010, 0x0010)]);
        assert_eq!(
            spliced(&f, span, (enc, ts), edited.dataset(), &tags).unwrap(),
            None
        );
        // The same set in ASCII is spliced; an element the data set does not hold is not.
        let ascii = Parsed::read(&f).map(|mut q| {
            q.set(&set(&[("PatientName", "Muller^Jorg")])).unwrap();
            q
        });
        let ascii = ascii.unwrap();
        assert!(spliced(&f, span, (enc, ts), ascii.dataset(), &tags)
            .unwrap()
            .is_some());
        // An element the data set no longer holds is left out.
        let gone = BTreeSet::from([Tag(0x0010, 0x0020)]);
        let mut removed = Parsed::read(&f).unwrap();
        removed.dataset_mut().remove_element(Tag(0x0010, 0x0020));
        let data = spliced(&f, span, (enc, ts), removed.dataset(), &gone)
            .unwrap()
            .unwrap();
        let mut kept = raw(&f);
        kept.remove(&(0x0010, 0x0020));
        assert_eq!(data, kept.into_values().flatten().collect::<Vec<u8>>());
        assert_ne!(
            spliced(&f, span, (enc, ts), p.dataset(), &gone).unwrap(),
            Some(data)
        );
        // And the file as a whole still carries the value, through the whole encoding.
        let (a, b) = both_ways(&f, &values);
        assert_eq!(a, b);
        let name = Parsed::read(&a).unwrap().header().keywords["PatientName"].clone();
        assert_eq!(name, "Müller^Jörg");
    }

    #[test]
    fn a_group_length_in_a_set_elements_group_is_left_to_the_whole_encoding() {
        use dicom_core::{DataElement, VR};
        let f = file(&Spec::new(5));
        let mut with_length = Parsed::read(&f).unwrap();
        with_length.dataset_mut().put(DataElement::new(
            Tag(0x0010, 0x0000),
            VR::UL,
            PrimitiveValue::from(64u32),
        ));
        let g = with_length.encode().unwrap();
        assert!(raw(&g).contains_key(&(0x0010, 0x0000)));
        let mut p = Parsed::read(&g).unwrap();
        p.set(&set(&[("PatientID", "X1"), ("StudyDescription", "d")]))
            .unwrap();
        let (span, (enc, ts)) = parts(&g);
        let in_group = BTreeSet::from([Tag(0x0010, 0x0020)]);
        assert_eq!(
            spliced(&g, span, (enc, ts), p.dataset(), &in_group).unwrap(),
            None
        );
        let elsewhere = BTreeSet::from([Tag(0x0008, 0x1030)]);
        assert!(spliced(&g, span, (enc, ts), p.dataset(), &elsewhere)
            .unwrap()
            .is_some());
    }
}
