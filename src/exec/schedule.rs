//! The order and limits of a run's steps: which ready step goes first, how many of each kind run
//! at once, and which wait for the drift check.

use super::queue::{DependencyQueue, QueueError};
use crate::plan::{Plan, StepKind};
use std::collections::BTreeMap;

/// The steps to run: all of them, or only those of runnable actions when blocked ones are skipped.
/// Sessions already started go on before new ones start: a step that unblocks uploads (a subject
/// to create or share) first, then the later a step comes in a session's chain the sooner it runs,
/// so uploads begin early and a session's zips are held no longer than needed. Rewrites, the steps
/// that use the CPU most, run at most half as many at once as the machine has cores (at least one),
/// beside the `jobs` other steps: one session through its rewrite sooner starts its upload sooner,
/// the rest of the CPU is left to the transfers (and, on a machine shared with a server, to the
/// server), and uploads waiting on a busy destination do not hold the next rewrite back. Within a
/// rank, smaller sessions go first. Steps that change a server wait for the drift check (the gate);
/// while it runs, one download at a time goes beside it. At most [`sessions_open`] sessions are
/// between the start of their download and the end of their verification at once, so the staging
/// folder (or memory) holds a few sessions ahead of the uploads, never the whole run.
pub fn graph(
    plan: &Plan,
    (jobs, rewrites): (usize, usize),
) -> Result<DependencyQueue<String>, QueueError> {
    let steps: Vec<Step> = plan
        .steps
        .iter()
        .map(|s| (s.id.clone(), s.after.clone(), s.kind))
        .collect();
    // Smaller sessions first: the first upload starts sooner, and the later sessions are
    // downloaded and rewritten while the earlier ones upload.
    let bytes: BTreeMap<&str, u64> = plan
        .transfers
        .iter()
        .flat_map(|t| &t.actions)
        .map(|a| (a.id.as_str(), a.bytes))
        .collect();
    let size: BTreeMap<String, u64> = plan
        .steps
        .iter()
        .filter_map(|s| Some((s.id.clone(), *bytes.get(s.action.as_deref()?)?)))
        .collect();
    queue_of(steps, &size, windows(plan), (jobs, rewrites))
}

/// A step of [`queue_of`]: its ID, the steps it runs after, its kind.
pub type Step = (String, Vec<String>, StepKind);

/// [`graph`] of steps given without a plan: `size` orders the ready steps of one rank (smaller
/// first), `windows` pairs each session's download with its verification.
pub fn queue_of(
    steps: Vec<Step>,
    size: &BTreeMap<String, u64>,
    windows: Vec<(String, String)>,
    (jobs, rewrites): (usize, usize),
) -> Result<DependencyQueue<String>, QueueError> {
    let kinds: BTreeMap<String, StepKind> =
        steps.iter().map(|(id, _, k)| (id.clone(), *k)).collect();
    let rank = |id: &String| match kinds.get(id) {
        Some(StepKind::CreateSubject | StepKind::ShareSubject) => 0,
        Some(StepKind::Download) => 4,
        Some(StepKind::Rewrite) => 3,
        Some(StepKind::Upload | StepKind::Archive) => 2,
        _ => 1,
    };
    let rewrite = |id: &String| kinds.get(id) == Some(&StepKind::Rewrite);
    // Steps that change a server wait for the drift check ([`pool::run_gated`]). While it runs, one
    // session at a time is downloaded (and rewritten): the check keeps the rest of the source's
    // request slots, and the first upload can start as soon as it passes.
    let download = |id: &String| kinds.get(id) == Some(&StepKind::Download);
    let changes = |id: &String| kinds.get(id).is_none_or(|k| k.changes_servers());
    let deps = steps.into_iter().map(|(id, after, _)| (id, after));
    Ok(DependencyQueue::new(deps)?
        .with_ranks(rank)
        .with_order(|id| size.get(id).copied().unwrap_or(0))
        .with_limit(rewrite, rewrites)
        .with_outside_limit(jobs)
        .with_gate(changes)
        .with_early_limit(download, 1)
        .with_window(windows, sessions_open(jobs)))
}

/// How many sessions may be open (downloaded and not yet verified) at once with `jobs` steps at a
/// time: twice as many, so the next sessions are downloaded and rewritten while others upload.
pub fn sessions_open(jobs: usize) -> usize {
    jobs.max(1) * 2
}

/// Each action's download step and the step that ends its use of the staging folder (its
/// verification).
fn windows(plan: &Plan) -> Vec<(String, String)> {
    let mut by_action: BTreeMap<&str, (Option<&str>, Option<&str>)> = BTreeMap::new();
    for s in &plan.steps {
        let Some(action) = s.action.as_deref() else {
            continue;
        };
        let e = by_action.entry(action).or_default();
        match s.kind {
            StepKind::Download => e.0 = Some(&s.id),
            StepKind::Verify => e.1 = Some(&s.id),
            _ => {}
        }
    }
    by_action
        .into_values()
        .filter_map(|(d, v)| Some((d?.to_string(), v?.to_string())))
        .collect()
}

/// How many rewrites run at once: half as many as the machine has cores, at least one.
pub fn rewrites_at_once() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / 2).max(1)
}
