//! The `share_subject` step: shares the source subject into the destination project under the
//! planned label, so shared sessions have a subject to sit under.

use super::{local, xnat, Env};
use crate::exec::pool::StepFailure;
use crate::plan::Step;
use serde_json::{json, Value};

/// Shares the step's source subject into the destination project.
pub fn run(env: &Env<'_>, step: &Step) -> Result<Value, StepFailure> {
    let t = env
        .plan
        .transfer(&step.transfer)
        .ok_or_else(|| local(format!("transfer `{}` is not in the plan", step.transfer)))?;
    let source = step.source_subject.as_deref().unwrap_or(&step.dest_subject);
    env.client(&t.from.server)?
        .share_subject(&t.from.project, source, &t.to.project, &step.dest_subject)
        .map_err(xnat)?;
    Ok(json!({ "subject": step.dest_subject }))
}
