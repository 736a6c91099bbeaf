//! [`DataSet`] for dicom-object's in-memory data set, the shape both ferry's rewrite and the emulator's
//! import hold a header in.

use super::DataSet;
use crate::dicom::{value_from_text, TextValueError};
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::header::Header as _;
use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;
use dicom_object::InMemDicomObject;
use std::collections::BTreeSet;

fn text_value(vr: VR, text: &str) -> Result<PrimitiveValue, String> {
    value_from_text(vr, text).map_err(|e| match e {
        TextValueError::NotNumbers => {
            format!("the value does not fit value representation {vr}")
        }
        TextValueError::NotText => {
            format!("text cannot be assigned to an element of value representation {vr}")
        }
    })
}

fn vr_for(tag: Tag) -> VR {
    match StandardDataDictionary.by_tag(tag).map(|e| e.vr()) {
        Some(VirtualVr::Exact(vr)) => vr,
        _ => VR::LO,
    }
}

fn strip_private(obj: &mut InMemDicomObject) -> usize {
    let before = obj.tags().count();
    obj.retain(|e| e.tag().group() % 2 == 0);
    let mut removed = before - obj.tags().count();
    let sequences: Vec<Tag> = obj
        .iter()
        .filter(|e| e.vr() == VR::SQ)
        .map(|e| e.tag())
        .collect();
    for t in sequences {
        obj.update_value(t, |v| {
            if let Some(items) = v.items_mut() {
                for item in items.iter_mut() {
                    removed += strip_private(item);
                }
            }
        });
    }
    removed
}

impl DataSet for InMemDicomObject {
    fn tags(&self) -> Vec<Tag> {
        InMemDicomObject::tags(self).collect()
    }

    fn value(&self, tag: Tag) -> Option<String> {
        let e = self.get(tag)?;
        let s = e.to_str().ok()?;
        Some(
            s.trim_matches(|c: char| c == '\0' || c.is_whitespace())
                .to_string(),
        )
    }

    fn set(&mut self, tag: Tag, value: &str) -> Result<bool, String> {
        let vr = self.get(tag).map(|e| e.vr()).unwrap_or_else(|| vr_for(tag));
        if DataSet::value(self, tag).as_deref() == Some(value) {
            return Ok(false);
        }
        let v = text_value(vr, value)?;
        self.put(DataElement::new(tag, vr, v));
        Ok(true)
    }

    fn remove(&mut self, tag: Tag) {
        self.remove_element(tag);
    }

    fn remove_private(&mut self) -> usize {
        strip_private(self)
    }
}

/// A data set that keeps a record of what a script did to it: the top-level tags it set (to a new
/// value) or removed, or that it removed private elements, which reaches inside sequences.
pub struct Recorded<'a> {
    ds: &'a mut InMemDicomObject,
    tags: BTreeSet<Tag>,
    deep: bool,
}

impl<'a> Recorded<'a> {
    /// A record of the edits to `ds`, empty so far.
    pub fn new(ds: &'a mut InMemDicomObject) -> Recorded<'a> {
        Recorded {
            ds,
            tags: Default::default(),
            deep: false,
        }
    }

    /// The top-level tags set or removed; `None` when an edit may have reached inside a sequence.
    pub fn touched(self) -> Option<BTreeSet<Tag>> {
        (!self.deep).then_some(self.tags)
    }
}

impl DataSet for Recorded<'_> {
    fn tags(&self) -> Vec<Tag> {
        DataSet::tags(&*self.ds)
    }

    fn value(&self, tag: Tag) -> Option<String> {
        DataSet::value(&*self.ds, tag)
    }

    fn set(&mut self, tag: Tag, value: &str) -> Result<bool, String> {
        let changed = DataSet::set(&mut *self.ds, tag, value)?;
        if changed {
            self.tags.insert(tag);
        }
        Ok(changed)
    }

    fn remove(&mut self, tag: Tag) {
        self.tags.insert(tag);
        DataSet::remove(&mut *self.ds, tag);
    }

    fn remove_private(&mut self) -> usize {
        self.deep = true;
        DataSet::remove_private(&mut *self.ds)
    }
}
