//! The drift check: has anything the plan was computed from changed on the servers since? `apply`
//! refuses a drifted plan (exit 3) and `ferry check PLAN` reports it; both call [`check`].

use crate::plan::Plan;
use crate::xnat::{Client, InventoryOptions, NoProgress, XnatError};
use serde::Serialize;
use std::collections::BTreeMap;
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

/// Re-reads every inventory the plan was computed from and lists what changed.
pub fn check(
    plan: &Plan,
    clients: &BTreeMap<String, Arc<Client>>,
) -> Result<DriftReport, DriftError> {
    let mut work = Vec::new();
    for inv in &plan.inventories {
        let client = clients
            .get(&inv.server)
            .ok_or_else(|| DriftError::UnknownServer(inv.server.clone()))?;
        work.push((inv, client));
    }
    // Every inventory is read at once; each client keeps its own limit on requests in flight.
    let results: Vec<Result<bool, XnatError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = work
            .iter()
            .map(|(inv, client)| {
                scope.spawn(move || {
                    client
                        .inventory(
                            &inv.project,
                            &InventoryOptions { headers: true },
                            &NoProgress,
                        )
                        .map(|now| now.fingerprint() != inv.fingerprint)
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
    });
    let mut report = DriftReport::default();
    for ((inv, _), r) in work.iter().zip(results) {
        if r? {
            report.changes.push(Change {
                server: inv.server.clone(),
                project: inv.project.clone(),
                object: "project".into(),
                what: "changed since the plan was made".into(),
            });
        }
    }
    report.changes.sort();
    Ok(report)
}
