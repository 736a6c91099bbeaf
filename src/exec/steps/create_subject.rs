//! The `create_subject` step: creates the destination subject the plan's sessions go into.

use super::{local, xnat, Env};
use crate::exec::pool::StepFailure;
use crate::plan::Step;
use serde_json::{json, Value};

/// Creates the step's destination subject.
pub fn run(env: &Env<'_>, step: &Step) -> Result<Value, StepFailure> {
    let t = env
        .plan
        .transfer(&step.transfer)
        .ok_or_else(|| local(format!("transfer `{}` is not in the plan", step.transfer)))?;
    env.client(&t.to.server)?
        .create_subject(&t.to.project, &step.dest_subject)
        .map_err(xnat)?;
    Ok(json!({ "subject": step.dest_subject }))
}
