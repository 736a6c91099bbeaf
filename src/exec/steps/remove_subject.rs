//! The `remove_subject` step of a move under `policy.remove_empty_subjects: true`: a source subject
//! the move left empty is removed, but only when a fresh read agrees that it is owned by the source
//! project, shared nowhere, and holds no experiment and no resource. Otherwise it stays and the
//! journal says why.

use super::{local, xnat, Env};
use crate::exec::pool::StepFailure;
use crate::plan::Step;
use serde_json::{json, Value};

/// Removes the step's source subject if a fresh read finds it empty.
pub fn run(env: &Env<'_>, step: &Step) -> Result<Value, StepFailure> {
    let t = env
        .plan
        .transfer(&step.transfer)
        .ok_or_else(|| local(format!("transfer `{}` is not in the plan", step.transfer)))?;
    let subject = step.source_subject.as_deref().unwrap_or(&step.dest_subject);
    let client = env.client(&t.from.server)?;
    let project = &t.from.project;
    let Some(h) = client.subject_holdings(project, subject).map_err(xnat)? else {
        return Ok(json!({ "subject": subject, "removed": true, "resumed": true }));
    };
    let mut why = Vec::new();
    if h.owner != *project {
        why.push(format!("owned by {}", h.owner));
    }
    if !h.shares.is_empty() {
        why.push(format!("shared into {}", h.shares.join(", ")));
    }
    if h.experiments > 0 {
        why.push(format!("{} experiment(s) left", h.experiments));
    }
    if h.resources > 0 {
        why.push(format!("{} subject resource(s)", h.resources));
    }
    if !why.is_empty() {
        return Ok(json!({ "subject": subject, "removed": false, "kept_because": why }));
    }
    client.delete_subject(project, subject).map_err(xnat)?;
    Ok(json!({ "subject": subject, "removed": true }))
}
