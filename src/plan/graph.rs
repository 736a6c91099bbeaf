//! The execution graph: per runnable action its chain of steps (download → rewrite → upload →
//! archive → verify → delete_source, or share_session → verify), with subject steps shared by the
//! sessions of a new destination subject. Emitted in a stable topological order: transfers in manifest
//! order, then destination subjects by label, each subject step before its sessions' chains.

use super::model::{Action, ActionKind, Step, StepKind, TransferPlan};
use crate::manifest::model::{Archive, DeleteSource, Destination};
use std::collections::BTreeMap;

fn subject_step(
    t: &TransferPlan,
    kind: StepKind,
    dest_subject: &str,
    source: Option<&str>,
) -> Step {
    Step {
        id: format!("{}/{dest_subject}/{}", t.name, kind.as_str()),
        kind,
        transfer: t.name.clone(),
        action: None,
        dest_subject: dest_subject.to_string(),
        source_subject: source.map(str::to_string),
        after: Vec::new(),
    }
}

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
    let mut kinds = vec![StepKind::Download, StepKind::Rewrite, StepKind::Upload];
    if t.policy.destination == Destination::Prearchive && t.policy.archive == Archive::Auto {
        kinds.push(StepKind::Archive);
    }
    kinds.push(StepKind::Verify);
    if t.policy.delete_source == DeleteSource::AfterVerify {
        kinds.push(StepKind::DeleteSource);
    }
    kinds
}

/// The step that a session's chain waits for (the subject step), attached to the chain's first
/// destination-side step.
fn session_steps(t: &TransferPlan, a: &Action, subject_step: Option<&str>) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    for kind in chain(t, a) {
        let mut after: Vec<String> = out.last().map(|s| vec![s.id.clone()]).unwrap_or_default();
        if matches!(kind, StepKind::Upload | StepKind::ShareSession) {
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

/// Every step of the plan's runnable actions.
pub fn steps(transfers: &[TransferPlan]) -> Vec<Step> {
    let mut out = Vec::new();
    for t in transfers {
        let mut by_subject: BTreeMap<&str, Vec<&Action>> = BTreeMap::new();
        for a in &t.actions {
            if matches!(
                a.kind,
                ActionKind::Create | ActionKind::Merge | ActionKind::Share
            ) {
                by_subject.entry(&a.dest.subject).or_default().push(a);
            }
        }
        for (subject, mut actions) in by_subject {
            actions.sort_by(|x, y| x.dest.session.cmp(&y.dest.session));
            let new = actions.iter().find(|a| !a.dest.subject_exists);
            let subj = new.map(|a| {
                if a.kind == ActionKind::Share {
                    subject_step(t, StepKind::ShareSubject, subject, Some(&a.source.subject))
                } else {
                    subject_step(t, StepKind::CreateSubject, subject, None)
                }
            });
            let subj_id = subj.as_ref().map(|s| s.id.clone());
            out.extend(subj);
            for a in actions {
                out.extend(session_steps(t, a, subj_id.as_deref()));
            }
        }
    }
    out
}
