//! The `create_subject` step: creates the destination subject the plan's sessions go into. When all
//! of them come from one source subject, its `group` and demographics as curated in XNAT (never its
//! date of birth) are set on the new subject and read back: a field that did not arrive fails the step.

use super::{local, xnat, Env};
use crate::exec::pool::StepFailure;
use crate::plan::{Step, TransferPlan};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Creates the step's destination subject.
pub fn run(env: &Env<'_>, step: &Step) -> Result<Value, StepFailure> {
    let t = env
        .plan
        .transfer(&step.transfer)
        .ok_or_else(|| local(format!("transfer `{}` is not in the plan", step.transfer)))?;
    let dest = env.client(&t.to.server)?;
    dest.create_subject(&t.to.project, &step.dest_subject)
        .map_err(xnat)?;
    let carried = demographics(env, t, step)?;
    Ok(json!({ "subject": step.dest_subject, "fields_carried": carried }))
}

/// Carries the source subject's fields when exactly one source subject maps onto this one; returns
/// the names of the fields set.
fn demographics(env: &Env<'_>, t: &TransferPlan, step: &Step) -> Result<Vec<String>, StepFailure> {
    let sources: BTreeSet<&str> = t
        .actions
        .iter()
        .filter(|a| a.dest.subject == step.dest_subject)
        .map(|a| a.source.subject_id.as_str())
        .collect();
    let [source] = sources.into_iter().collect::<Vec<_>>()[..] else {
        return Ok(Vec::new());
    };
    let fields = env
        .client(&t.from.server)?
        .subject_fields(source)
        .map_err(xnat)?;
    if fields.is_empty() {
        return Ok(Vec::new());
    }
    let dest = env.client(&t.to.server)?;
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    dest.set_subject_fields(&t.to.project, &step.dest_subject, &pairs)
        .map_err(xnat)?;
    let back = dest
        .subject_fields_at(&t.to.project, &step.dest_subject)
        .map_err(xnat)?;
    let missing: Vec<&String> = fields
        .iter()
        .filter(|(k, v)| back.get(*k) != Some(*v))
        .map(|(k, _)| k)
        .collect();
    if !missing.is_empty() {
        return Err(StepFailure::verification(format!(
            "{}/{}: the subject fields {missing:?} did not arrive as they are in the source",
            t.to.project, step.dest_subject
        )));
    }
    Ok(fields.into_keys().collect())
}
