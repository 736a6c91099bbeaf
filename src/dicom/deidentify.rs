//! The de-identification profile applied to a data set in memory: every element, at any depth of
//! nested sequences, gets the action of its Annex E rule (remove, empty, dummy, replace UID, keep),
//! and private elements are removed when the manifest says so.

use super::profile::{self, Action, Options};
use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Tag, VR};
use dicom_object::InMemDicomObject;

/// What the rewrite does before `dicom.set`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Apply the Basic Profile's actions (with `options`).
    pub basic: bool,
    /// The retain options.
    pub options: Options,
    /// The key of the transfer's UID replacement (see [`profile::replacement_uid`]).
    pub uid_key: [u8; 32],
    /// Remove private elements.
    pub remove_private: bool,
}

impl Profile {
    /// Whether the profile changes anything.
    pub fn is_active(&self) -> bool {
        self.basic || self.remove_private
    }
}

fn empty(tag: Tag, vr: VR) -> DataElement<InMemDicomObject> {
    if vr == VR::SQ {
        DataElement::new(
            tag,
            VR::SQ,
            Value::from(DataSetSequence::<InMemDicomObject>::empty()),
        )
    } else {
        DataElement::new(tag, vr, PrimitiveValue::Empty)
    }
}

/// Applies `p` to every element of `obj`, depth first. Items of sequences that are kept are visited
/// too, so identifying data nested anywhere gets its rule's action.
pub fn apply(obj: &mut InMemDicomObject, p: &Profile) {
    let tags: Vec<Tag> = obj.tags().collect();
    for tag in tags {
        if tag >= dicom_dictionary_std::tags::PIXEL_DATA {
            continue;
        }
        if tag.group() % 2 == 1 && tag.group() > 0x0008 {
            if p.remove_private {
                obj.remove_element(tag);
            }
            continue;
        }
        let Some(mut e) = obj.take(tag) else {
            continue;
        };
        let vr = e.vr();
        let action = if p.basic {
            profile::rule_for(tag.group(), tag.element())
                .map_or(Action::Keep, |r| r.action(&p.options))
        } else {
            Action::Keep
        };
        let replaced = match action {
            Action::Remove => continue,
            Action::Empty => empty(tag, vr),
            Action::Dummy => match profile::dummy_for(vr) {
                Some(d) => DataElement::new(tag, vr, PrimitiveValue::from(d)),
                None => empty(tag, vr),
            },
            Action::ReplaceUid if vr == VR::UI => {
                let uids: Vec<String> = e
                    .to_str()
                    .map(|v| v.to_string())
                    .unwrap_or_default()
                    .split('\\')
                    .map(|u| u.trim_matches(|c: char| c == '\0' || c.is_whitespace()))
                    .filter(|u| !u.is_empty())
                    .map(|u| profile::replacement_uid(&p.uid_key, u))
                    .collect();
                DataElement::new(tag, vr, PrimitiveValue::Strs(uids.into()))
            }
            // A kept sequence (or a UID rule on a sequence: its UIDs have rules of their own).
            _ => {
                if let Some(items) = e.items_mut() {
                    for item in items.iter_mut() {
                        apply(item, p);
                    }
                }
                e
            }
        };
        obj.put(replaced);
    }
}
