//! The execution graph of a plan: the steps of every runnable action with their dependencies, in a
//! stable topological order (subject steps of a transfer first, then each action's steps in order).

use super::model::*;
use crate::manifest::model::{DeleteSource, Mode};
use std::collections::BTreeSet;

fn id(t: &TransferPlan, a: &Action, kind: StepKind) -> String {
    format!(
        "{}/{}/{}/{}",
        t.name,
        a.dest.subject,
        a.dest.session,
        kind.as_str()
    )
}

/// The steps of all transfers.
pub fn steps(transfers: &[TransferPlan]) -> Vec<Step> {
    let mut out = Vec::new();
    for t in transfers {
        let runnable: Vec<&Action> = t
            .actions
            .iter()
            .filter(|a| {
                matches!(
                    a.kind,
                    ActionKind::Create | ActionKind::Merge | ActionKind::Share
                )
            })
            .collect();
        let mut steps: Vec<Step> = Vec::new();
        for a in &runnable {
            steps.extend(action_steps(t, a));
        }
        // Subjects to create or share, once each, placed right after the last step they wait for so
        // the list stays in topological order.
        let mut subjects = BTreeSet::new();
        for a in &runnable {
            if a.dest.subject_exists || !subjects.insert(a.dest.subject.clone()) {
                continue;
            }
            let s = subject_step(t, a, &runnable);
            let pos = steps
                .iter()
                .rposition(|x| s.after.contains(&x.id))
                .map(|p| p + 1)
                .unwrap_or(0);
            let pos = pos.min(
                steps
                    .iter()
                    .position(|x| x.after.contains(&s.id))
                    .unwrap_or(steps.len()),
            );
            steps.insert(pos, s);
        }
        out.extend(steps);
    }
    out
}

/// The step that creates (or shares) a destination subject. A subject is created only once every
/// session going into it was prepared (downloaded, rewritten, checked for PHI): a session stopped
/// there leaves no empty subject behind.
fn subject_step(t: &TransferPlan, a: &Action, runnable: &[&Action]) -> Step {
    let kind = if t.mode == Mode::Share {
        StepKind::ShareSubject
    } else {
        StepKind::CreateSubject
    };
    let mut after: Vec<String> = if kind == StepKind::CreateSubject {
        runnable
            .iter()
            .filter(|b| b.dest.subject == a.dest.subject)
            .map(|b| id(t, b, StepKind::Rewrite))
            .collect()
    } else {
        Vec::new()
    };
    after.sort();
    Step {
        id: format!("{}/{}/{}", t.name, a.dest.subject, kind.as_str()),
        kind,
        transfer: t.name.clone(),
        action: None,
        dest_subject: a.dest.subject.clone(),
        source_subject: (kind == StepKind::ShareSubject).then(|| a.source.subject.clone()),
        after,
    }
}

fn action_steps(t: &TransferPlan, a: &Action) -> Vec<Step> {
    let subject_step = (!a.dest.subject_exists).then(|| {
        let kind = if t.mode == Mode::Share {
            StepKind::ShareSubject
        } else {
            StepKind::CreateSubject
        };
        format!("{}/{}/{}", t.name, a.dest.subject, kind.as_str())
    });
    let kinds: Vec<StepKind> = if a.kind == ActionKind::Share {
        vec![StepKind::ShareSession, StepKind::Verify]
    } else {
        let mut k = vec![StepKind::Download, StepKind::Rewrite, StepKind::Upload];
        if super::build::archives(&t.policy)
            && t.policy.destination == crate::manifest::model::Destination::Prearchive
        {
            k.push(StepKind::Archive);
        }
        k.push(StepKind::Verify);
        if t.policy.delete_source == DeleteSource::AfterVerify && super::build::archives(&t.policy)
        {
            k.push(StepKind::DeleteSource);
        }
        k
    };
    let mut out: Vec<Step> = Vec::new();
    for kind in kinds {
        let mut after: Vec<String> = out
            .last()
            .map(|s: &Step| vec![s.id.clone()])
            .unwrap_or_default();
        if matches!(kind, StepKind::Upload | StepKind::ShareSession) {
            after.extend(subject_step.clone());
        }
        after.sort();
        out.push(Step {
            id: id(t, a, kind),
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
