//! The drift check: has anything the plan touches changed on the servers since the plan was made?
//! Only the objects the plan recorded as touched count (the selected source sessions with their scans,
//! files and UIDs; the destination subjects, labels, prearchive entries and studies it writes to; see
//! [`crate::plan::watch`]); a change elsewhere in a project is not drift. `apply` refuses a drifted
//! plan (exit 3) naming each changed object, and `ferry check PLAN` reports it; both call [`check`].

use crate::model::inventory::Inventory;
use crate::plan::{watch, InventoryRef, Plan};
use crate::xnat::{Client, InventoryOptions, NoProgress, XnatError};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// One object that changed since the plan was made.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Change {
    /// The server's name in the plan.
    pub server: String,
    /// The project.
    pub project: String,
    /// The object, e.g. `session SUB001/SUB001_MR1` or `project`.
    pub object: String,
    /// What changed, in one line (never a DICOM value).
    pub what: String,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}: {}: {}",
            self.server, self.project, self.object, self.what
        )
    }
}

/// Everything that changed since the plan was made; empty when nothing did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DriftReport {
    /// The changed objects, sorted.
    pub changes: Vec<Change>,
}

impl DriftReport {
    /// Whether nothing the plan touches changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// One line per change, for people.
    pub fn render(&self) -> String {
        self.changes
            .iter()
            .map(|c| format!("  {c}\n"))
            .collect::<String>()
    }
}

/// Why the drift check could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    /// The plan names a server it does not define (a hand-edited plan).
    #[error("the plan reads server `{0}`, which it does not define")]
    UnknownServer(String),
    /// A server could not be read.
    #[error(transparent)]
    Read(#[from] XnatError),
}

/// What the drift check looks at.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Only the objects of these actions (by action ID); all runnable actions when `None`.
    pub actions: Option<BTreeSet<String>>,
    /// Objects not to compare because this plan's own finished steps changed them (on a resumed
    /// run, `subject LABEL` of a destination subject the plan created).
    pub ours: BTreeSet<String>,
}

/// Re-reads the inventories the plan was computed from and lists what changed among the objects the
/// plan touches (see [`crate::plan::watch`]). A change elsewhere in a project is not drift.
pub fn check(
    plan: &Plan,
    clients: &BTreeMap<String, Arc<Client>>,
) -> Result<DriftReport, DriftError> {
    check_scope(plan, clients, &Scope::default())
}

/// [`check`], limited to a scope: a resumed run checks the sessions none of whose steps started.
pub fn check_scope(
    plan: &Plan,
    clients: &BTreeMap<String, Arc<Client>>,
    scope: &Scope,
) -> Result<DriftReport, DriftError> {
    let mut work = Vec::new();
    for inv in &plan.inventories {
        let client = clients
            .get(&inv.server)
            .ok_or_else(|| DriftError::UnknownServer(inv.server.clone()))?;
        // A plan of an earlier version records no objects: it is compared as a whole, and not at
        // all on a resumed run (its own work has changed the projects).
        let planned = match (&inv.watched, &scope.actions) {
            (Some(w), Some(only)) => Some(filter(plan, inv, w, only)),
            (Some(w), None) => Some(w.clone()),
            (None, Some(_)) => continue,
            (None, None) => None,
        };
        if planned.as_ref().is_some_and(|p| p.is_empty()) && scope.actions.is_some() {
            continue;
        }
        // A plan that records its objects needs the details of its own sessions only; the rest of
        // each project is read from its listings.
        let only = planned.as_ref().map(|_| {
            watch::sessions_read(
                &plan.transfers,
                &inv.server,
                &inv.project,
                scope.actions.as_ref(),
            )
        });
        work.push((inv, client, planned, only));
    }
    let results = read_all(&work);
    let mut report = DriftReport::default();
    for ((inv, _, planned, _), now) in work.iter().zip(results) {
        let now = now?;
        match planned {
            None if now.fingerprint() != inv.fingerprint => report.changes.push(Change {
                server: inv.server.clone(),
                project: inv.project.clone(),
                object: "project".into(),
                what: "changed since the plan was made (a plan of an earlier ferry records no objects)"
                    .into(),
            }),
            None => {}
            Some(planned) => {
                let current = watch::watched(
                    &plan.transfers,
                    &inv.server,
                    &inv.project,
                    &now,
                    scope.actions.as_ref(),
                );
                for c in watch::compare(planned, &current) {
                    if scope.ours.contains(&c.object) {
                        continue;
                    }
                    report.changes.push(Change {
                        server: inv.server.clone(),
                        project: inv.project.clone(),
                        object: c.object,
                        what: c.what,
                    });
                }
            }
        }
    }
    report.changes.sort();
    Ok(report)
}

/// The planned objects of some actions only.
fn filter(
    plan: &Plan,
    inv: &InventoryRef,
    planned: &BTreeMap<String, String>,
    only: &BTreeSet<String>,
) -> BTreeMap<String, String> {
    // The keys those actions produce do not depend on the inventory's contents, only on the plan's
    // labels: an empty inventory yields them (with `absent` values), less the parts of sessions.
    let keys = watch::watched(
        &plan.transfers,
        &inv.server,
        &inv.project,
        &crate::model::inventory::Inventory::default(),
        Some(only),
    );
    // A session's scans and resources are named below it: `session S/L scan 3`.
    let ours = |k: &str| {
        keys.contains_key(k)
            || keys.keys().any(|s| {
                k.strip_prefix(s.as_str())
                    .is_some_and(|r| r.starts_with(' '))
            })
    };
    planned
        .iter()
        .filter(|(k, _)| ours(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// One inventory to re-read: the plan's record of it, its client, the objects it watches, and the
/// sessions to read in detail (all when `None`).
type Work<'a> = (
    &'a InventoryRef,
    &'a Arc<Client>,
    Option<BTreeMap<String, String>>,
    Option<BTreeSet<(String, String)>>,
);

/// Reads every inventory at once; each client keeps its own limit on requests in flight.
fn read_all(work: &[Work<'_>]) -> Vec<Result<Inventory, XnatError>> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = work
            .iter()
            .map(|(inv, client, _, only)| {
                scope.spawn(move || {
                    let opts = InventoryOptions { headers: true };
                    match only {
                        // Only what the watched objects depend on.
                        Some(only) => client.watched_inventory(&inv.project, &opts, only),
                        // A plan of an earlier version is compared by the whole inventory's
                        // fingerprint.
                        None => client.inventory_of(&inv.project, &opts, None, &NoProgress),
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(XnatError::BadResponse {
                        server: "local".into(),
                        what: "re-reading an inventory".into(),
                        detail: "a reader thread failed".into(),
                    })
                })
            })
            .collect()
    })
}

/// How a new plan differs from the reviewed one, one line per action or step: `+` new, `-` gone,
/// `~` changed (what the action does, where it goes, what it carries). Empty when they agree.
pub fn compare_plans(old: &Plan, new: &Plan) -> Vec<String> {
    use crate::plan::Action;
    let actions = |p: &Plan| -> BTreeMap<String, (String, Action)> {
        p.transfers
            .iter()
            .flat_map(|t| {
                t.actions
                    .iter()
                    .map(move |a| (a.id.clone(), (t.to.project.clone(), a.clone())))
            })
            .collect()
    };
    let summary = |(project, a): &(String, Action)| {
        format!(
            "{} -> {project}/{}/{}, {} scan(s), {} file(s), {} B",
            serde_json::to_value(a.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            a.dest.subject,
            a.dest.session,
            a.scans.len(),
            a.files,
            a.bytes
        )
    };
    let (before, after) = (actions(old), actions(new));
    let mut out = Vec::new();
    let ids: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for id in ids {
        match (before.get(id), after.get(id)) {
            (Some(b), None) => out.push(format!("- {id}: no longer planned (was {})", summary(b))),
            (None, Some(a)) => out.push(format!("+ {id}: {}", summary(a))),
            (Some(b), Some(a)) if b.1 != a.1 => {
                let (sb, sa) = (summary(b), summary(a));
                let mut line = if sb == sa {
                    format!("~ {id}: {sa} (scans, headers set or reason changed)")
                } else {
                    format!("~ {id}: {sb} => {sa}")
                };
                if b.1.reason != a.1.reason {
                    line.push_str(&format!(" [{}]", a.1.reason));
                }
                out.push(line);
            }
            _ => {}
        }
    }
    let steps = |p: &Plan| {
        p.steps
            .iter()
            .map(|s| s.id.clone())
            .collect::<BTreeSet<_>>()
    };
    let (sb, sa) = (steps(old), steps(new));
    for s in sb.difference(&sa) {
        out.push(format!("- step {s}"));
    }
    for s in sa.difference(&sb) {
        out.push(format!("+ step {s}"));
    }
    out
}
