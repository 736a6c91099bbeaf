//! The anonymization gate: which elements of a data set still identify someone, judged by the rules
//! of DICOM PS3.15 Annex E (see `profile`) at any depth of nested sequences, plus private data,
//! Burned In Annotation, and old project/subject/session labels left in text.
//!
//! The gate runs at two stages. At [`Stage::Source`] (the planner, on a source header) it predicts
//! what the rewrite will leave: what the de-identification profile or a clean `dicom.set` replaces is
//! not a finding. At [`Stage::Result`] (every file after the rewrite, and what the destination sends
//! back) it checks what is there: a value the profile should have removed, emptied or replaced is a
//! finding if it is still there.
//!
//! Findings name where (a keyword path, a private group), never a value.

use super::elements::Seen;
use super::profile::{self, Action, Options};
use std::collections::{BTreeMap, BTreeSet};

/// What a manifest says to do with private elements (odd groups).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivateData {
    /// Nothing said: any private element is a finding.
    Unsaid,
    /// Remove them in the rewrite.
    Remove,
    /// Keep them (the manifest gives a reason).
    Keep,
}

/// What the gate knows of a transfer.
#[derive(Debug, Clone)]
pub struct GateRules<'a> {
    /// The retain options of the de-identification profile.
    pub options: Options,
    /// Whether the Basic Profile is applied in the rewrite.
    pub profile: bool,
    /// What to do with private elements.
    pub private: PrivateData,
    /// Top-level keywords `dicom.set` writes from templates that read no identifying attribute.
    pub cleared: &'a BTreeSet<String>,
    /// Keywords `dicom.set` writes from templates that read an identifying attribute.
    pub tainted: &'a BTreeSet<String>,
    /// Whether the manifest acknowledges Burned In Annotation for the series at hand.
    pub burned_in_ok: bool,
    /// Source project, subject and session labels that must not remain in text (those that differ
    /// from their destination labels).
    pub old_labels: &'a [String],
    /// The destination labels (text that holds them is not an old-label finding on their account).
    pub new_labels: &'a [String],
}

/// Where the gate looks.
#[derive(Debug, Clone, Copy)]
pub enum Stage<'a> {
    /// A source header, before the rewrite: the findings the rewrite will leave.
    Source {
        /// The values `dicom.set` will write, by keyword.
        written: &'a BTreeMap<String, String>,
    },
    /// A file after the rewrite (or read back from the destination).
    Result {
        /// The original file's UIDs, to tell a replaced UID from a kept one; `None` when unknown
        /// (the destination's copy), and then UIDs are not judged.
        original_uids: Option<&'a BTreeSet<String>>,
    },
}

/// Finding: Burned In Annotation says YES.
pub const BURNED_IN: &str = "BurnedInAnnotation";

/// Where the gate finds identifying data, sorted; empty when the data set passes.
pub fn assess(elements: &[Seen], rules: &GateRules<'_>, stage: Stage<'_>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for e in elements {
        if let Some(f) = finding(e, rules, stage) {
            out.insert(f);
        }
        if let Some(text) = label_text(e, rules, stage) {
            if rules
                .old_labels
                .iter()
                .any(|l| holds_label(&text, l, rules.new_labels))
            {
                out.insert(format!("old label in {}", e.path));
            }
        }
    }
    if let Stage::Source { written } = stage {
        for (k, v) in written {
            if rules.tainted.contains(k) {
                out.insert(format!("{k} (written from an identifying attribute)"));
            }
            if rules
                .old_labels
                .iter()
                .any(|l| holds_label(v, l, rules.new_labels))
            {
                out.insert(format!("old label in {k}"));
            }
        }
    }
    out
}

fn finding(e: &Seen, rules: &GateRules<'_>, stage: Stage<'_>) -> Option<String> {
    if (e.group, e.element) == (0x0028, 0x0301) {
        let yes = e.value.eq_ignore_ascii_case("YES");
        return (yes && !rules.burned_in_ok).then(|| BURNED_IN.to_string());
    }
    if e.is_private() {
        let flagged = match (rules.private, stage) {
            (PrivateData::Keep, _) => false,
            (PrivateData::Remove, Stage::Source { .. }) => false,
            _ => e.filled,
        };
        return flagged.then(|| format!("private group {:04X}", e.group));
    }
    if !e.filled {
        return None;
    }
    let rule = profile::rule_for(e.group, e.element)?;
    let action = rule.action(&rules.options);
    if action == Action::Keep || (e.top && rules.cleared.contains(&e.path)) {
        return None;
    }
    let flagged = match stage {
        Stage::Source { .. } => !rules.profile,
        Stage::Result { original_uids } => match action {
            Action::Keep => false,
            Action::Remove | Action::Empty => true,
            Action::Dummy => {
                let vr = e.vr.parse().ok();
                !(rules.profile && vr.and_then(profile::dummy_for) == Some(e.value.as_str()))
            }
            Action::ReplaceUid => original_uids.is_some_and(|o| o.contains(&e.value)),
        },
    };
    flagged.then(|| e.path.clone())
}

/// The text of an element to search for old labels, if it is one to search: text value
/// representations that can hold a label, as they will be after the rewrite.
fn label_text(e: &Seen, rules: &GateRules<'_>, stage: Stage<'_>) -> Option<String> {
    if e.value.is_empty()
        || e.is_private()
        || matches!(
            e.vr.as_str(),
            "UI" | "DA" | "TM" | "DT" | "AS" | "IS" | "DS"
        )
    {
        return None;
    }
    if let Stage::Source { written } = stage {
        if e.top && written.contains_key(&e.path) {
            return None; // judged on the written value
        }
        // What the profile replaces will not be there.
        let replaced = rules.profile
            && profile::rule_for(e.group, e.element)
                .is_some_and(|r| r.action(&rules.options) != Action::Keep);
        if replaced {
            return None;
        }
    }
    Some(e.value.clone())
}

/// Whether `text` holds `label` as a whole word (letters and digits on neither side), once every
/// destination label is taken out of it. Labels shorter than three characters are not searched:
/// they would match by chance.
pub fn holds_label(text: &str, label: &str, new_labels: &[String]) -> bool {
    if label.chars().count() < 3 {
        return false;
    }
    let mut t = text.to_string();
    let mut news: Vec<&String> = new_labels.iter().filter(|n| !n.is_empty()).collect();
    news.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for n in news {
        if n.as_str() != label {
            t = t.replace(n.as_str(), " ");
        }
    }
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let mut from = 0;
    while let Some(i) = t[from..].find(label) {
        let start = from + i;
        let end = start + label.len();
        if !word(t[..start].chars().next_back()) && !word(t[end..].chars().next()) {
            return true;
        }
        from = start + label.chars().next().map_or(1, char::len_utf8);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(path: &str, group: u16, element: u16, vr: &str, value: &str) -> Seen {
        Seen {
            path: path.into(),
            group,
            element,
            vr: vr.into(),
            value: value.into(),
            filled: !value.is_empty(),
            top: !path.contains('/'),
        }
    }

    fn rules<'a>(cleared: &'a BTreeSet<String>, none: &'a BTreeSet<String>) -> GateRules<'a> {
        GateRules {
            options: Options::default(),
            profile: false,
            private: PrivateData::Unsaid,
            cleared,
            tainted: none,
            burned_in_ok: false,
            old_labels: &[],
            new_labels: &[],
        }
    }

    #[test]
    fn identifying_values_at_any_depth_are_findings() {
        let none = BTreeSet::new();
        let cleared: BTreeSet<String> = ["PatientName".to_string()].into();
        let els = vec![
            seen("PatientName", 0x0010, 0x0010, "PN", "Doe^Jane"),
            seen("PatientBirthDate", 0x0010, 0x0030, "DA", "19700101"),
            seen("OtherPatientIDsSequence", 0x0010, 0x1002, "SQ", "x"),
            seen(
                "OtherPatientIDsSequence/PatientID",
                0x0010,
                0x0020,
                "LO",
                "H123",
            ),
            seen("(0029,1010)", 0x0029, 0x1010, "OB", "x"),
            seen("(6000,3000)", 0x6000, 0x3000, "OW", "x"),
            seen("Modality", 0x0008, 0x0060, "CS", "MR"),
            seen("BurnedInAnnotation", 0x0028, 0x0301, "CS", "YES"),
        ];
        let written = BTreeMap::new();
        let f = assess(
            &els,
            &rules(&cleared, &none),
            Stage::Source { written: &written },
        );
        let f: Vec<&str> = f.iter().map(String::as_str).collect();
        assert_eq!(
            f,
            [
                "(6000,3000)",
                "BurnedInAnnotation",
                "OtherPatientIDsSequence",
                "OtherPatientIDsSequence/PatientID",
                "PatientBirthDate",
                "private group 0029"
            ]
        );
    }

    #[test]
    fn the_profile_clears_at_source_and_is_checked_in_the_result() {
        let none = BTreeSet::new();
        let mut r = rules(&none, &none);
        r.profile = true;
        r.private = PrivateData::Remove;
        let els = vec![
            seen("PatientBirthDate", 0x0010, 0x0030, "DA", "19700101"),
            seen("(0029,1010)", 0x0029, 0x1010, "OB", "x"),
            seen("StudyInstanceUID", 0x0020, 0x000D, "UI", "1.2.3"),
            seen(
                "ClinicalTrialSponsorName",
                0x0012,
                0x0010,
                "LO",
                "ANONYMIZED",
            ),
        ];
        let written = BTreeMap::new();
        assert!(assess(&els, &r, Stage::Source { written: &written }).is_empty());
        let originals: BTreeSet<String> = ["1.2.3".to_string()].into();
        let after = assess(
            &els,
            &r,
            Stage::Result {
                original_uids: Some(&originals),
            },
        );
        let after: Vec<&str> = after.iter().map(String::as_str).collect();
        assert_eq!(
            after,
            ["PatientBirthDate", "StudyInstanceUID", "private group 0029"]
        );
    }

    #[test]
    fn old_labels_are_found_as_whole_words_only() {
        let news = vec!["MAIN".to_string(), "MAIN_001".to_string()];
        assert!(holds_label(
            "Project: PILOT Subject: SUB001",
            "SUB001",
            &news
        ));
        assert!(holds_label(
            "xnat://PILOT/SUB001/SUB001_MR1",
            "SUB001_MR1",
            &news
        ));
        assert!(!holds_label("SUB0012", "SUB001", &news));
        assert!(!holds_label(
            "Project: MAIN Subject: MAIN_001",
            "MAIN_00",
            &news
        ));
        assert!(!holds_label("anything 01", "01", &news), "too short");
        assert!(holds_label("MAIN_001", "MAIN_001", &[]));
    }

    #[test]
    fn dicom_set_from_identifying_sources_is_a_finding() {
        let none = BTreeSet::new();
        let tainted: BTreeSet<String> = ["PatientName".to_string()].into();
        let mut r = rules(&none, &none);
        r.tainted = &tainted;
        let mut written = BTreeMap::new();
        written.insert("PatientName".to_string(), "Doe^Jane".to_string());
        let els = vec![seen("PatientName", 0x0010, 0x0010, "PN", "Doe^Jane")];
        let f = assess(&els, &r, Stage::Source { written: &written });
        assert!(f.contains("PatientName"), "{f:?}");
        assert!(f.contains("PatientName (written from an identifying attribute)"));
    }
}
