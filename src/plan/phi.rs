//! The planner's anonymization gate: what the rewrite will leave identifying in a session, judged on
//! the first DICOM header of the session that the inventory read (every element at any depth), with
//! the transfer's de-identification profile, private-data rule, `dicom.set` values (only those whose
//! templates read nothing identifying clear a keyword), Burned In Annotation acknowledgments, and the
//! source labels that must not survive in text. Pure.

use crate::dicom::phi::{self, GateRules, PrivateData, Stage};
use crate::manifest::model::{Anonymization, Mode, Transfer};
use crate::model::inventory::{Session, Subject};
use std::collections::{BTreeMap, BTreeSet};

/// What the gate needs of a transfer, computed once.
pub(crate) struct TransferGate {
    pub anonymization: Anonymization,
    pub share: bool,
    pub tainted: BTreeSet<String>,
    pub cleared: BTreeSet<String>,
}

impl TransferGate {
    pub fn new(t: &Transfer, anonymization: Anonymization, tainted: BTreeSet<String>) -> Self {
        // Shares and relocations rewrite nothing.
        let share = matches!(t.mode, Mode::Share | Mode::Relocate);
        let cleared = if share {
            BTreeSet::new()
        } else {
            t.dicom
                .set
                .keys()
                .filter(|k| !tainted.contains(*k))
                .cloned()
                .collect()
        };
        TransferGate {
            anonymization,
            share,
            tainted,
            cleared,
        }
    }
}

/// The source labels that differ from their destination labels (they must not survive in text), and
/// the destination labels.
pub(crate) fn labels(
    t: &Transfer,
    subject: &Subject,
    session: &Session,
    dest_subject: &str,
    dest_session: &str,
) -> (Vec<String>, Vec<String>) {
    let pairs = [
        (&t.from.project, &t.to.project),
        (&subject.label, &dest_subject.to_string()),
        (&session.label, &dest_session.to_string()),
    ];
    let old = pairs
        .iter()
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a.to_string())
        .collect();
    let new = pairs.iter().map(|(_, b)| b.to_string()).collect();
    (old, new)
}

/// The findings of one session, sorted (empty under `anonymization: off`).
pub(crate) fn findings(
    g: &TransferGate,
    t: &Transfer,
    session: &Session,
    labels: (&[String], &[String]),
    dicom_set: &BTreeMap<String, String>,
    scans: &[&str],
) -> Vec<String> {
    if g.anonymization == Anonymization::Off {
        return Vec::new();
    }
    let (profile, options) = match (&t.dicom.deidentify, g.share) {
        (Some(d), false) => (true, d.options()),
        _ => (false, Default::default()),
    };
    let private = match (t.dicom.private, g.share) {
        (_, true) | (None, _) => PrivateData::Unsaid,
        (Some(crate::manifest::model::PrivateData::Remove), _) => PrivateData::Remove,
        (Some(crate::manifest::model::PrivateData::Keep), _) => PrivateData::Keep,
    };
    // The planner reads one file; which series carries the flag it cannot tell: it passes when every
    // selected series is acknowledged (the executor then judges each file by its own series).
    let burned_in_ok = !scans.is_empty()
        && scans.iter().all(|id| {
            t.dicom
                .burned_in_acknowledged
                .contains(&format!("{}/{id}", session.label))
        });
    let elements = if session.elements.is_empty() {
        crate::dicom::seen_from_keywords(&session.header)
    } else {
        session.elements.clone()
    };
    let rules = GateRules {
        options,
        profile,
        private,
        cleared: &g.cleared,
        tainted: &g.tainted,
        burned_in_ok,
        old_labels: labels.0,
        new_labels: labels.1,
    };
    phi::assess(&elements, &rules, Stage::Source { written: dicom_set })
        .into_iter()
        .collect()
}
