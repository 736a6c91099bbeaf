//! What a plan does to the source of a move, as lines for people: one per session that loses
//! something (`- delete source scans 2, 3 of PILOT/SUB001_MR1; stays: scan 1 (localizer)`), one per
//! session a move keeps whole (`= keep source …`), one per subject it removes, and a note of the
//! subjects it leaves empty and keeps. Shared by the terminal diff and the Markdown view.

use super::model::{ActionKind, Plan, SourceDelete, StepKind, TransferPlan};
use std::collections::BTreeSet;

/// The kind of a source line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Something is deleted (`-`).
    Delete,
    /// A source is kept whole, and why (`=`).
    Keep,
    /// A note.
    Note,
}

/// One line about the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLine {
    /// Its kind.
    pub mark: Mark,
    /// Its text, with the symbol for deletes and keeps.
    pub text: String,
}

fn list(one: &str, many: &str, v: &[String]) -> String {
    format!("{} {}", if v.len() == 1 { one } else { many }, v.join(", "))
}

/// `scans 2, 3 of P/S; stays: scan 1 (localizer)`, or `session P/S (scans 2, 3; nothing else is in it)`.
pub fn delete_text(d: &SourceDelete, at: &str) -> String {
    let mut parts = Vec::new();
    if !d.scans.is_empty() {
        parts.push(list("scan", "scans", &d.scans));
    }
    if !d.dicom_of.is_empty() {
        parts.push(list(
            "the DICOM files of scan",
            "the DICOM files of scans",
            &d.dicom_of,
        ));
    }
    if !d.resources.is_empty() {
        parts.push(list("resource", "resources", &d.resources));
    }
    let what = parts.join(", ");
    let mut line = if d.session {
        format!("session {at} ({what}; nothing else is in it)")
    } else {
        format!("{what} of {at}; stays: {}", d.stays.join(", "))
    };
    if !d.also_from.is_empty() {
        line.push_str(&format!(
            "; also gone from {} (policy.shared_elsewhere: delete)",
            d.also_from.join(", ")
        ));
    }
    line.push_str("  (after verification)");
    line
}

/// The source lines of one transfer, in action order, then subjects.
pub fn lines(plan: &Plan, t: &TransferPlan) -> Vec<SourceLine> {
    let steps = |kind: StepKind| {
        plan.steps
            .iter()
            .filter(move |s| s.transfer == t.name && s.kind == kind)
    };
    let deleting: BTreeSet<&str> = steps(StepKind::DeleteSource)
        .filter_map(|s| s.action.as_deref())
        .collect();
    let mut out = Vec::new();
    for a in &t.actions {
        let at = format!("{}/{}", t.from.project, a.source.session);
        match (&a.delete, &a.source_kept) {
            (Some(d), _) if deleting.contains(a.id.as_str()) => out.push(SourceLine {
                mark: Mark::Delete,
                text: format!("- delete source {}", delete_text(d, &at)),
            }),
            (_, Some(why)) if a.kind != ActionKind::Blocked => out.push(SourceLine {
                mark: Mark::Keep,
                text: format!("= keep source {at}  ({why})"),
            }),
            _ => {}
        }
    }
    let removing: Vec<&str> = steps(StepKind::RemoveSubject)
        .map(|s| s.source_subject.as_deref().unwrap_or(&s.dest_subject))
        .collect();
    for s in &removing {
        out.push(SourceLine {
            mark: Mark::Delete,
            text: format!(
                "- remove source subject {}/{s}  (left empty; policy.remove_empty_subjects)",
                t.from.project
            ),
        });
    }
    if removing.is_empty() && !t.empty_subjects.is_empty() {
        out.push(SourceLine {
            mark: Mark::Note,
            text: format!(
                "left empty in {} and kept (policy.remove_empty_subjects: false): subjects {}",
                t.from.project,
                t.empty_subjects.join(", ")
            ),
        });
    }
    out
}
