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

    /// Whether applying the profile may change the element at `path` (its tags from the top level
    /// down): a private tag anywhere on the path when private elements are removed, or, under the
    /// Basic Profile, a tag on the path whose rule does not keep it (a sequence that is removed or
    /// emptied takes everything inside it along). Static: what the profile may do, not what it did.
    pub fn may_change(&self, path: &[Tag]) -> bool {
        path.iter().any(|t| {
            if t.group() % 2 == 1 && t.group() > 0x0008 {
                return self.remove_private;
            }
            self.basic
                && profile::rule_for(t.group(), t.element())
                    .is_some_and(|r| r.action(&self.options) != Action::Keep)
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn may_change_follows_the_rules_options_and_private_setting() {
        let basic = Profile {
            basic: true,
            options: Options::default(),
            uid_key: [0; 32],
            remove_private: false,
        };
        let birth = Tag(0x0010, 0x0030);
        let rows = Tag(0x0028, 0x0010);
        let refs = Tag(0x0008, 0x1140);
        let ref_uid = Tag(0x0008, 0x1155);
        let private = Tag(0x0029, 0x1010);
        assert!(basic.may_change(&[birth]));
        assert!(!basic.may_change(&[rows]), "Rows has no rule");
        assert!(
            basic.may_change(&[refs, ref_uid]),
            "a UID inside a sequence is replaced"
        );
        assert!(
            !basic.may_change(&[private]),
            "private elements are kept unless removed"
        );
        let keep_dates = Profile {
            options: Options {
                longitudinal_dates: true,
                ..Options::default()
            },
            ..basic.clone()
        };
        assert!(
            !keep_dates.may_change(&[Tag(0x0008, 0x0020)]),
            "StudyDate kept"
        );
        let private_only = Profile {
            basic: false,
            remove_private: true,
            ..basic
        };
        assert!(private_only.may_change(&[rows, private]));
        assert!(!private_only.may_change(&[birth]));
    }
}
