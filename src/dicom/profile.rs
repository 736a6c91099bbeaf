//! DICOM PS3.15 Annex E as data: the rules of Table E.1-1 (generated into `annex_e_table.rs` by
//! `tools/gen_annex_e.py`), the action each rule takes under the Basic Application Level
//! Confidentiality Profile with the retain options a manifest chose, and the values the actions write
//! (dummies, replacement UIDs).
//!
//! Nothing here reads or writes files; nothing here returns a value read from a file.

use dicom_core::VR;
use std::collections::HashMap;
use std::sync::OnceLock;

/// One row of Table E.1-1: the attribute (a tag, or a tag pattern for repeating groups such as
/// overlays `60xx` and curves `50xx`), and the action code of each profile and option column as the
/// standard writes it (`X`, `Z`, `D`, `U`, `K`, `C`, combinations such as `X/Z/D`, or empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The tag as the standard writes it, e.g. `(0010,0010)` or `(60XX,3000)`.
    pub tag: &'static str,
    /// The group, with the digits the pattern leaves open set to zero.
    pub group: u16,
    /// Which bits of the group must match.
    pub group_mask: u16,
    /// The element, with open digits set to zero.
    pub element: u16,
    /// Which bits of the element must match.
    pub element_mask: u16,
    /// The keyword of PS3.6 (empty for patterns without one).
    pub keyword: &'static str,
    /// The attribute name.
    pub name: &'static str,
    /// Basic Profile.
    pub basic: &'static str,
    /// Retain Safe Private Option.
    pub safe_private: &'static str,
    /// Retain UIDs Option.
    pub uids: &'static str,
    /// Retain Device Identity Option.
    pub device: &'static str,
    /// Retain Institution Identity Option.
    pub institution: &'static str,
    /// Retain Patient Characteristics Option.
    pub patient_chars: &'static str,
    /// Retain Longitudinal Temporal Information with Full Dates Option.
    pub long_full_dates: &'static str,
    /// Retain Longitudinal Temporal Information with Modified Dates Option.
    pub long_modif_dates: &'static str,
    /// Clean Descriptors Option.
    pub clean_desc: &'static str,
    /// Clean Structured Content Option.
    pub clean_struct: &'static str,
    /// Clean Graphics Option.
    pub clean_graph: &'static str,
}

/// What a rule does to an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// `K`: keep it.
    Keep,
    /// `X`: remove it.
    Remove,
    /// `Z`: keep the attribute with an empty value.
    Empty,
    /// `D`: replace the value with a dummy of the same value representation.
    Dummy,
    /// `U`: replace the UID with another, the same for the same original UID across a transfer.
    ReplaceUid,
}

/// The retain options of the profile a transfer uses (all off: the Basic Profile itself).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Retain Longitudinal Temporal Information with Full Dates.
    pub longitudinal_dates: bool,
    /// Retain Device Identity.
    pub device_identity: bool,
    /// Retain Institution Identity.
    pub institution_identity: bool,
    /// Retain Patient Characteristics.
    pub patient_characteristics: bool,
    /// Retain UIDs.
    pub uids: bool,
    /// Keep the attributes the Clean Descriptors Option would clean, as they are.
    pub descriptors: bool,
}

impl Rule {
    /// Whether the rule covers a tag.
    pub fn matches(&self, group: u16, element: u16) -> bool {
        group & self.group_mask == self.group && element & self.element_mask == self.element
    }

    /// The action under the Basic Profile with `o`'s retain options. A retain option whose column
    /// says `K` keeps the attribute; a `C` (clean) is not implemented, so the Basic Profile's action
    /// stands. Where the standard leaves a choice that depends on the IOD (`X/Z`, `Z/D`, `X/Z/D`,
    /// `X/D`, `X/Z/U*`), ferry takes the one that keeps the attribute present: `U` for UIDs, else
    /// `Z`, else `D`.
    pub fn action(&self, o: &Options) -> Action {
        let retained = [
            (o.uids, self.uids),
            (o.device_identity, self.device),
            (o.institution_identity, self.institution),
            (o.patient_characteristics, self.patient_chars),
            (o.longitudinal_dates, self.long_full_dates),
            (o.descriptors, if self.clean_desc == "C" { "K" } else { "" }),
        ];
        if retained.iter().any(|(on, col)| *on && *col == "K") {
            return Action::Keep;
        }
        parse_action(self.basic)
    }
}

fn parse_action(code: &str) -> Action {
    let has = |c: char| {
        code.split('/')
            .any(|p| p.trim_end_matches('*').starts_with(c))
    };
    if has('U') {
        Action::ReplaceUid
    } else if has('Z') {
        Action::Empty
    } else if has('D') {
        Action::Dummy
    } else if has('X') {
        Action::Remove
    } else {
        Action::Keep
    }
}

/// Every rule of Table E.1-1 ferry applies.
pub fn rules() -> &'static [Rule] {
    super::annex_e_table::RULES
}

/// The edition of DICOM PS3.15 the rules come from.
pub fn edition() -> &'static str {
    super::annex_e_table::EDITION
}

struct Index {
    exact: HashMap<(u16, u16), usize>,
    patterns: Vec<usize>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut exact = HashMap::new();
        let mut patterns = Vec::new();
        for (i, r) in rules().iter().enumerate() {
            if r.group_mask == 0xFFFF && r.element_mask == 0xFFFF {
                exact.insert((r.group, r.element), i);
            } else {
                patterns.push(i);
            }
        }
        Index { exact, patterns }
    })
}

/// The rule for a tag, if Table E.1-1 names it (private tags have none: see `phi`).
pub fn rule_for(group: u16, element: u16) -> Option<&'static Rule> {
    let ix = index();
    let all = rules();
    if let Some(i) = ix.exact.get(&(group, element)) {
        return Some(&all[*i]);
    }
    ix.patterns
        .iter()
        .map(|i| &all[*i])
        .find(|r| r.matches(group, element))
}

/// The rule for a keyword, if Table E.1-1 names it.
pub fn rule_for_keyword(keyword: &str) -> Option<&'static Rule> {
    rules().iter().find(|r| r.keyword == keyword)
}

/// The dummy value ferry writes for action `D`, by value representation; `None` where a dummy makes
/// no sense (binary values, sequences): those are emptied instead.
pub fn dummy_for(vr: VR) -> Option<&'static str> {
    Some(match vr {
        VR::PN => "ANONYMIZED",
        VR::LO | VR::SH | VR::LT | VR::ST | VR::UT | VR::UC | VR::CS | VR::AE => "ANONYMIZED",
        VR::DA => "19000101",
        VR::TM => "000000",
        VR::DT => "19000101000000",
        VR::AS => "000Y",
        VR::IS | VR::DS => "0",
        _ => return None,
    })
}

/// The UID that replaces `uid` in a transfer keyed by `key`: `2.25.` and the decimal of 128 bits of a
/// keyed blake3 of the original (PS3.5 B.2, a UUID-derived UID). The same original always gives the
/// same replacement under one key, so a study split over several files, runs or resumes stays one
/// study; without the key the original cannot be recovered or confirmed.
pub fn replacement_uid(key: &[u8; 32], uid: &str) -> String {
    let h = blake3::keyed_hash(key, uid.trim_end_matches('\0').trim().as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h.as_bytes()[..16]);
    format!("2.25.{}", u128::from_be_bytes(b))
}

/// What a transfer key is for: replacement UIDs written into files, or digests recorded in plans,
/// journals and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// [`replacement_uid`].
    Replacement,
    /// [`uid_digest`].
    Digest,
}

/// The key of the transfers into one destination project (server URL and project): the same for every
/// run, resume, plan and transfer into it (so a study consolidated from two sources, or merged into
/// later, keeps one replacement StudyInstanceUID), different between destinations and between uses.
pub fn transfer_key(purpose: KeyUse, to: (&str, &str)) -> [u8; 32] {
    let context = match purpose {
        KeyUse::Replacement => "xnat-ferry 2026-11 replacement UIDs",
        KeyUse::Digest => "xnat-ferry 2026-11 UID digests",
    };
    let material = format!("{}\n{}", to.0.trim_end_matches('/'), to.1);
    blake3::derive_key(context, material.as_bytes())
}

/// A keyed digest of a UID, `k:` and 32 hex digits: artefacts record UIDs this way, so that identity
/// checks (is this the same study?) work without the UID itself.
pub fn uid_digest(key: &[u8; 32], uid: &str) -> String {
    let h = blake3::keyed_hash(key, uid.trim_end_matches('\0').trim().as_bytes());
    format!("k:{}", &h.to_hex()[..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_every_row_of_the_2024b_edition() {
        // 621 rows in Table E.1-1 of 2024b; three are not rules (private attributes, and two
        // command-group UIDs that never occur in stored files).
        assert_eq!(edition(), "2024b");
        assert_eq!(rules().len(), 618);
        let name = rule_for(0x0010, 0x0010).unwrap();
        assert_eq!((name.keyword, name.basic), ("PatientName", "Z"));
        let birth = rule_for_keyword("PatientBirthDate").unwrap();
        assert_eq!((birth.tag, birth.basic), ("(0010,0030)", "Z"));
        let study = rule_for_keyword("StudyInstanceUID").unwrap();
        assert_eq!((study.basic, study.uids), ("U", "K"));
        let date = rule_for_keyword("StudyDate").unwrap();
        assert_eq!((date.basic, date.long_full_dates), ("Z", "K"));
        let other_ids = rule_for_keyword("OtherPatientIDsSequence").unwrap();
        assert_eq!(other_ids.basic, "X");
        let serial = rule_for_keyword("DeviceSerialNumber").unwrap();
        assert_eq!(serial.device, "K");
    }

    #[test]
    fn patterns_cover_overlays_and_curves() {
        let overlay = rule_for(0x6002, 0x3000).unwrap();
        assert_eq!(overlay.name, "Overlay Data");
        assert_eq!(rule_for(0x5010, 0x3000).unwrap().name, "Curve Data");
        assert!(
            rule_for(0x0028, 0x0010).is_none(),
            "Rows is not in the table"
        );
    }

    #[test]
    fn actions_follow_the_options() {
        let none = Options::default();
        let dates = Options {
            longitudinal_dates: true,
            ..Options::default()
        };
        let date = rule_for_keyword("StudyDate").unwrap();
        assert_eq!(date.action(&none), Action::Empty);
        assert_eq!(date.action(&dates), Action::Keep);
        let uid = rule_for_keyword("SOPInstanceUID").unwrap();
        assert_eq!(uid.action(&none), Action::ReplaceUid);
        let keep_uids = Options {
            uids: true,
            ..Options::default()
        };
        assert_eq!(uid.action(&keep_uids), Action::Keep);
        let series = rule_for_keyword("SeriesDescription").unwrap();
        assert_eq!(series.action(&none), Action::Remove);
        let descriptors = Options {
            descriptors: true,
            ..Options::default()
        };
        assert_eq!(series.action(&descriptors), Action::Keep);
        assert_eq!(parse_action("X/Z/D"), Action::Empty);
        assert_eq!(parse_action("X/D"), Action::Dummy);
        assert_eq!(parse_action("X/Z/U*"), Action::ReplaceUid);
        assert_eq!(parse_action("X"), Action::Remove);
        assert_eq!(parse_action("K"), Action::Keep);
    }

    #[test]
    fn replacement_uids_are_stable_valid_and_keyed() {
        let k1 = [1u8; 32];
        let k2 = [2u8; 32];
        let a = replacement_uid(&k1, "1.2.3.4");
        assert_eq!(a, replacement_uid(&k1, "1.2.3.4\0"));
        assert_ne!(a, replacement_uid(&k2, "1.2.3.4"));
        assert_ne!(a, replacement_uid(&k1, "1.2.3.5"));
        assert!(a.starts_with("2.25.") && a.len() <= 64, "{a}");
        assert!(a.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
    }
}
