//! The `create_subject` step: creates the destination subject the plan's sessions go into. When all
//! of them come from one source subject, its `group` and demographics as curated in XNAT (never its
//! date of birth) are set on the new subject and read back: a field that did not arrive fails the step.

use super::{local, xnat, Env};
use crate::exec::pool::StepFailure;
use crate::plan::{Step, TransferPlan};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Creates the step's destination subject. The source subject's fields are read while the subject is
/// created (two servers, one request each, at once).
pub fn run(env: &Env<'_>, step: &Step) -> Result<Value, StepFailure> {
    let t = env
        .plan
        .transfer(&step.transfer)
        .ok_or_else(|| local(format!("transfer `{}` is not in the plan", step.transfer)))?;
    let dest = env.client(&t.to.server)?;
    let source = single_source(t, step);
    let (created, fields) = std::thread::scope(|scope| {
        let fields = source.map(|id| {
            scope.spawn(move || env.client(&t.from.server)?.subject_fields(id).map_err(xnat))
        });
        let created = dest
            .create_subject(&t.to.project, &step.dest_subject)
            .map_err(xnat);
        let fields = fields.map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(local("reading the source subject failed")))
        });
        (created, fields)
    });
    created?;
    let carried = match fields {
        Some(fields) => carry(env, t, step, fields?)?,
        None => Vec::new(),
    };
    Ok(json!({ "subject": step.dest_subject, "fields_carried": carried }))
}

/// The source subject's accession ID when exactly one source subject maps onto this one.
fn single_source<'p>(t: &'p TransferPlan, step: &Step) -> Option<&'p str> {
    let sources: BTreeSet<&str> = t
        .actions
        .iter()
        .filter(|a| a.dest.subject == step.dest_subject)
        .map(|a| a.source.subject_id.as_str())
        .collect();
    match sources.into_iter().collect::<Vec<_>>()[..] {
        [source] => Some(source),
        _ => None,
    }
}

/// Sets the source subject's `fields` on the new subject and reads them back; returns the names of
/// the fields set.
fn carry(
    env: &Env<'_>,
    t: &TransferPlan,
    step: &Step,
    fields: BTreeMap<String, String>,
) -> Result<Vec<String>, StepFailure> {
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
