//! The execution graph: per runnable action its chain of steps (download → rewrite → upload →
//! archive → verify → delete_source, or share_session → verify), with one subject step per new
//! destination subject shared by its sessions.
//!
//! A subject is created once the first session going into it was prepared (downloaded, rewritten,
//! checked for PHI), so a session stopped there leaves no empty subject behind: a stopped first
//! session stops the subject and its other sessions, a stopped later one leaves the subject with the
//! first. Uploads wait for the subject.
//! A shared subject is shared first, then its sessions.
//!
//! Steps are emitted in a stable topological order: transfers in manifest order, destination subjects
//! by label, and within a subject: the preparing steps of its sessions, the subject step, then the
//! rest of each session's chain.

use super::model::{Action, ActionKind, Step, StepKind, TransferPlan};
use crate::manifest::model::{Archive, Destination};
use std::collections::BTreeMap;

/// The step ID of an action's step of `kind`.
pub fn session_step_id(t: &TransferPlan, a: &Action, kind: StepKind) -> String {
    format!(
        "{}/{}/{}/{}",
        t.name,
        a.dest.subject,
        a.dest.session,
        kind.as_str()
    )
}

/// The kinds of an action's chain, in order.
fn chain(t: &TransferPlan, a: &Action) -> Vec<StepKind> {
    if a.kind == ActionKind::Share {
        return vec![StepKind::ShareSession, StepKind::Verify];
    }
    if a.kind == ActionKind::Relocate {
        return vec![StepKind::Relocate, StepKind::Verify];
    }
    let mut kinds = vec![StepKind::Download, StepKind::Rewrite, StepKind::Upload];
    if t.policy.destination == Destination::Prearchive && t.policy.archive == Archive::Auto {
        kinds.push(StepKind::Archive);
    }
    kinds.push(StepKind::Verify);
    // A move deletes only what the plan names; a source it keeps has no delete step at all.
    if a.delete.is_some() {
        kinds.push(StepKind::DeleteSource);
    }
    kinds
}

/// Whether a step prepares a session locally (before anything changes on the destination).
fn preparing(kind: StepKind) -> bool {
    matches!(kind, StepKind::Download | StepKind::Rewrite)
}

/// An action's chain, each step after the previous one; the first destination-side step (upload or
/// share_session) also after the subject step.
fn session_steps(t: &TransferPlan, a: &Action, subject_step: Option<&str>) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    for kind in chain(t, a) {
        let mut after: Vec<String> = out.last().map(|s| vec![s.id.clone()]).unwrap_or_default();
        if matches!(
            kind,
            StepKind::Upload | StepKind::ShareSession | StepKind::Relocate
        ) {
            after.extend(subject_step.map(str::to_string));
        }
        after.sort();
        out.push(Step {
            id: session_step_id(t, a, kind),
            kind,
            transfer: t.name.clone(),
            action: Some(a.id.clone()),
            dest_subject: a.dest.subject.clone(),
            source_subject: None,
            after,
        });
    }
    out
}

/// The subject step of a destination subject, if it must be created or shared.
fn subject_step(t: &TransferPlan, subject: &str, actions: &[&Action]) -> Option<Step> {
    let new = actions.iter().find(|a| !a.dest.subject_exists)?;
    // A relocated session keeps its subject, so the subject is shared into the destination first.
    let share = matches!(new.kind, ActionKind::Share | ActionKind::Relocate);
    let kind = if share {
        StepKind::ShareSubject
    } else {
        StepKind::CreateSubject
    };
    // A new subject waits for the rewrite of its first session (in session order, the order the
    // executor starts them in), not for all of them: a session stopped by the PHI gate then leaves
    // either no subject (the first) or a subject holding the first session, and the first upload
    // need not wait for its siblings' downloads and rewrites.
    let after: Vec<String> = if share {
        Vec::new()
    } else {
        actions
            .first()
            .map(|a| session_step_id(t, a, StepKind::Rewrite))
            .into_iter()
            .collect()
    };
    Some(Step {
        id: format!("{}/{subject}/{}", t.name, kind.as_str()),
        kind,
        transfer: t.name.clone(),
        action: None,
        dest_subject: subject.to_string(),
        source_subject: share.then(|| new.source.subject.clone()),
        after,
    })
}

/// Every step of the plan's runnable actions.
pub fn steps(transfers: &[TransferPlan]) -> Vec<Step> {
    let mut out = Vec::new();
    for t in transfers {
        let mut by_subject: BTreeMap<&str, Vec<&Action>> = BTreeMap::new();
        for a in &t.actions {
            if matches!(
                a.kind,
                ActionKind::Create | ActionKind::Merge | ActionKind::Share | ActionKind::Relocate
            ) {
                by_subject.entry(&a.dest.subject).or_default().push(a);
            }
        }
        for (subject, mut actions) in by_subject {
            actions.sort_by(|x, y| x.dest.session.cmp(&y.dest.session));
            let subj = subject_step(t, subject, &actions);
            let chains: Vec<Vec<Step>> = actions
                .iter()
                .map(|a| session_steps(t, a, subj.as_ref().map(|s| s.id.as_str())))
                .collect();
            for c in &chains {
                out.extend(c.iter().filter(|s| preparing(s.kind)).cloned());
            }
            out.extend(subj);
            for c in chains {
                out.extend(c.into_iter().filter(|s| !preparing(s.kind)));
            }
        }
        out.extend(remove_subject_steps(t, &out));
    }
    out
}

/// Under `policy.remove_empty_subjects`, one step per source subject the move leaves empty, after
/// every delete of its sessions.
fn remove_subject_steps(t: &TransferPlan, so_far: &[Step]) -> Vec<Step> {
    if !t.policy.remove_empty_subjects {
        return Vec::new();
    }
    let mut out = Vec::new();
    for subject in &t.empty_subjects {
        let mut after: Vec<String> = t
            .actions
            .iter()
            .filter(|a| &a.source.subject == subject)
            .map(|a| session_step_id(t, a, StepKind::DeleteSource))
            .filter(|id| so_far.iter().any(|s| &s.id == id))
            .collect();
        after.sort();
        out.push(Step {
            id: format!(
                "{}/{}/{subject}/{}",
                t.name,
                t.from.project,
                StepKind::RemoveSubject.as_str()
            ),
            kind: StepKind::RemoveSubject,
            transfer: t.name.clone(),
            action: None,
            dest_subject: subject.clone(),
            source_subject: Some(subject.clone()),
            after,
        });
    }
    out
}
