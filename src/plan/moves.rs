//! What a move does to the source, decided before anyone approves it: per session, exactly the
//! scans and resources that are carried (and so verified) are deleted, the session itself only when
//! nothing else is left in it, and everything that stays is named. Sessions shared into other
//! projects are blocked unless `policy.shared_elsewhere` says what to do; sessions the source only
//! shares are never deleted. Subjects a move leaves empty are listed, and removed only when asked.
//! Pure: reads the draft and the inventory.

use super::build::Draft;
use super::model::{ActionKind, ResourcePlan, ScanPlan, SourceDelete, TransferPlan};
use super::select::is_dicom;
use crate::manifest::model::{DeleteSource, Mode, SharedElsewhere};
use crate::model::inventory::{Inventory, Session};
use std::collections::BTreeSet;

/// Whether a mode moves no bytes: XNAT itself makes the session appear in the destination (share)
/// or makes it primary there (relocate).
pub(crate) fn native(mode: Mode) -> bool {
    matches!(mode, Mode::Share | Mode::Relocate)
}

/// Whether this transfer deletes source data after verification.
pub(crate) fn deletes(d: &Draft<'_>) -> bool {
    !native(d.t.mode) && d.policy.delete_source == DeleteSource::AfterVerify
}

fn projects(s: &Session) -> String {
    s.shares.keys().cloned().collect::<Vec<_>>().join(", ")
}

/// The block of a session shared into other projects, under `shared_elsewhere: block`.
pub(crate) fn shared_gate(d: &Draft<'_>, s: &Session) -> Option<String> {
    let blocked = deletes(d)
        && s.shared_from.is_none()
        && !s.shares.is_empty()
        && d.policy.shared_elsewhere == SharedElsewhere::Block;
    blocked.then(|| {
        format!(
            "shared into {}: deleting it from {} after the copy would remove it there too; set policy.shared_elsewhere: copy_only (copy it, keep the source and its shares) or delete (delete it from those projects too)",
            projects(s),
            d.src.project
        )
    })
}

/// What the delete step of one action removes, or why the source stays whole.
pub(crate) fn source_delete(
    d: &Draft<'_>,
    kind: ActionKind,
    session: &Session,
    scans: &[ScanPlan],
    resources: &[ResourcePlan],
) -> (Option<SourceDelete>, Option<String>) {
    if !deletes(d) || !matches!(kind, ActionKind::Create | ActionKind::Merge) {
        return (None, None);
    }
    let src = &d.src.project;
    if let Some(owner) = &session.shared_from {
        return (
            None,
            Some(format!(
                "shared into {src} from {owner}: a move never deletes data {src} only shares"
            )),
        );
    }
    if !session.shares.is_empty() && d.policy.shared_elsewhere == SharedElsewhere::CopyOnly {
        return (
            None,
            Some(format!(
                "shared into {} (policy.shared_elsewhere: copy_only)",
                projects(session)
            )),
        );
    }
    let carried: BTreeSet<&str> = scans.iter().map(|s| s.id.as_str()).collect();
    let mut out = SourceDelete::default();
    for scan in session.scans.values() {
        if !carried.contains(scan.id.as_str()) {
            out.stays
                .push(format!("scan {} ({})", scan.id, scan.scan_type));
            continue;
        }
        let others: Vec<&str> = scan
            .resources
            .values()
            .filter(|r| !is_dicom(r))
            .map(|r| r.label.as_str())
            .collect();
        if others.is_empty() {
            out.scans.push(scan.id.clone());
        } else {
            out.dicom_of.push(scan.id.clone());
            out.stays.push(format!(
                "resource {} of scan {}",
                others.join(", "),
                scan.id
            ));
        }
    }
    let carried_res: BTreeSet<&str> = resources.iter().map(|r| r.label.as_str()).collect();
    for r in session.resources.values() {
        if carried_res.contains(r.label.as_str()) {
            out.resources.push(r.label.clone());
        } else {
            out.stays.push(format!("resource {}", r.label));
        }
    }
    for (n, what) in [
        (session.assessors, "assessor"),
        (session.reconstructions, "reconstruction"),
    ] {
        if n > 0 {
            out.stays
                .push(format!("{n} {what}{}", if n == 1 { "" } else { "s" }));
        }
    }
    out.session = out.stays.is_empty();
    out.also_from = session.shares.keys().cloned().collect();
    (Some(out), None)
}

/// Source subjects the plan leaves with no session: every session of theirs is deleted whole, and
/// they hold no other experiment. Sorted.
pub(crate) fn empty_subjects(t: &TransferPlan, src: &Inventory) -> Vec<String> {
    let gone: BTreeSet<(&str, &str)> = t
        .actions
        .iter()
        .filter(|a| a.delete.as_ref().is_some_and(|x| x.session))
        .map(|a| (a.source.subject.as_str(), a.source.session.as_str()))
        .collect();
    src.subjects
        .values()
        .filter(|s| s.shared_from.is_none() && s.other_experiments.is_empty())
        .filter(|s| !s.sessions.is_empty())
        .filter(|s| {
            s.sessions
                .keys()
                .all(|k| gone.contains(&(s.label.as_str(), k.as_str())))
        })
        .map(|s| s.label.clone())
        .collect()
}
