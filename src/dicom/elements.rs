//! Every element of a data set before PixelData, at any depth of nested sequences, with private and
//! repeating-group (overlay, curve) elements included: the input of the anonymization gate.
//!
//! Values are kept in memory for the gate's checks; they never leave it (findings name paths and
//! keywords only).

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::header::Header as _;
use dicom_core::VR;
use dicom_dictionary_std::StandardDataDictionary;
use dicom_object::InMemDicomObject;
use serde::{Deserialize, Serialize};

/// One element seen somewhere in a data set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// Where it is: keywords from the top level down, `/`-separated, e.g.
    /// `OtherPatientIDsSequence/PatientID`; tags without a keyword (private, repeating groups) as
    /// `(gggg,eeee)`.
    pub path: String,
    /// The tag's group.
    pub group: u16,
    /// The tag's element.
    pub element: u16,
    /// The value representation, e.g. `PN`.
    pub vr: String,
    /// The value as text for text value representations (trimmed), empty otherwise.
    pub value: String,
    /// Whether it holds anything: a non-empty value, bytes, or a sequence with items.
    pub filled: bool,
    /// Whether it is a top-level element (not inside a sequence).
    pub top: bool,
}

impl Seen {
    /// Whether the tag is private (odd group; groups 0001, 0003, 0005, 0007 and FFFF are not used).
    pub fn is_private(&self) -> bool {
        self.group % 2 == 1 && self.group > 0x0008 && self.group != 0xFFFF
    }
}

/// Whether a value representation holds text ferry can read as such.
pub(crate) fn is_text_vr(vr: VR) -> bool {
    !matches!(
        vr,
        VR::SQ
            | VR::OB
            | VR::OW
            | VR::OF
            | VR::OD
            | VR::OL
            | VR::OV
            | VR::UN
            | VR::US
            | VR::SS
            | VR::UL
            | VR::SL
            | VR::FL
            | VR::FD
            | VR::UV
            | VR::SV
            | VR::AT
    )
}

fn name_of(group: u16, element: u16) -> String {
    // Private and repeating-group tags are named by their tag: a dictionary alias would hide which
    // group (overlay 6002 or 6000) the element is in.
    let private = group % 2 == 1;
    let repeating = (0x5000..=0x60FF).contains(&group);
    match StandardDataDictionary.by_tag(dicom_core::Tag(group, element)) {
        Some(e) if !private && !repeating => e.alias().to_string(),
        _ => format!("({group:04X},{element:04X})"),
    }
}

/// Every element of `obj` before PixelData, depth first, in tag order.
pub fn elements(obj: &InMemDicomObject) -> Vec<Seen> {
    let mut out = Vec::new();
    walk(obj, "", &mut out);
    out
}

fn walk(obj: &InMemDicomObject, prefix: &str, out: &mut Vec<Seen>) {
    for e in obj.iter() {
        let tag = e.tag();
        if tag >= dicom_dictionary_std::tags::PIXEL_DATA {
            break;
        }
        let (group, element) = (tag.group(), tag.element());
        let name = name_of(group, element);
        let path = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let vr = e.vr();
        let mut seen = Seen {
            path,
            group,
            element,
            vr: vr.to_string().to_string(),
            top: prefix.is_empty(),
            ..Seen::default()
        };
        if let Some(items) = e.items() {
            seen.filled = !items.is_empty();
            let path = seen.path.clone();
            out.push(seen);
            for item in items {
                walk(item, &path, out);
            }
            continue;
        }
        if is_text_vr(vr) {
            if let Ok(v) = e.to_str() {
                seen.value = v
                    .trim_matches(|c: char| c == '\0' || c.is_whitespace())
                    .to_string();
            }
            seen.filled = !seen.value.is_empty() && seen.value.chars().any(|c| c != '\\');
        } else {
            seen.filled = e
                .value()
                .primitive()
                .is_some_and(|p| p.calculate_byte_len() > 0);
        }
        out.push(seen);
    }
}

/// Top-level elements rebuilt from a keyword -> text map (an inventory that holds only the header's
/// keywords); keywords not in the standard dictionary are left out.
pub fn seen_from_keywords(keywords: &std::collections::BTreeMap<String, String>) -> Vec<Seen> {
    use dicom_core::dictionary::VirtualVr;
    keywords
        .iter()
        .filter_map(|(k, v)| {
            let e = StandardDataDictionary.by_name(k)?;
            let vr = match e.vr() {
                VirtualVr::Exact(vr) => vr.to_string().to_string(),
                _ => "UN".to_string(),
            };
            Some(Seen {
                path: k.clone(),
                group: e.tag().group(),
                element: e.tag().element(),
                vr,
                filled: !v.trim().is_empty(),
                value: v.trim().to_string(),
                top: true,
            })
        })
        .collect()
}
