//! The `delete_source` step of a move: removes from the source exactly what the plan's
//! [`SourceDelete`] names, and only after the session's verification passed. Scans go one by one
//! (or only their `DICOM` resource when other resources of theirs stay), then the carried session
//! resources, then the session itself when the plan said nothing else is in it and a fresh read
//! agrees. Before anything is removed the source is read again: a session that is now only shared
//! into the source project, or shared into projects the plan did not name, is left alone.
//!
//! Every delete is of one object and answers "already gone" without failing, so a run interrupted
//! half-way is finished by the next run, exactly once.

use super::{local, xnat, Ctx, Env};
use crate::exec::pool::{StepContext, StepFailure};
use crate::plan::{Action, SourceDelete, StepKind, TransferPlan};
use crate::xnat::{Client, SessionRef};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Deletes what the plan names from the source, after a passed verification; the verification that
/// allowed it goes into the journal with what was removed.
pub fn run(env: &Env<'_>, c: &Ctx<'_>, ctx: &StepContext<'_>) -> Result<Value, StepFailure> {
    let verify_id = env.sibling(c, StepKind::Verify);
    let client = env.client(&c.transfer.from.server)?;
    let out = delete(client, c.transfer, c.action, &verify_id, ctx)?;
    env.stash.release(&c.dir);
    let _ = std::fs::remove_dir_all(&c.dir);
    Ok(out)
}

fn delete(
    client: &Client,
    t: &TransferPlan,
    a: &Action,
    verify_id: &str,
    ctx: &StepContext<'_>,
) -> Result<Value, StepFailure> {
    let session = &a.source.session;
    let verified = ctx
        .detail(verify_id)
        .ok_or_else(|| local(format!("{session}: not verified; the source is kept")))?;
    let passed = verified["verification"]["problems"]
        .as_array()
        .is_some_and(|p| p.is_empty());
    if !passed {
        return Err(local(format!(
            "{session}: verification did not pass; the source is kept"
        )));
    }
    if verified["staged"] == true {
        return Err(local(format!(
            "{session}: the copy is only staged in the prearchive, not verified in the archive; the source is kept"
        )));
    }
    let plan = a
        .delete
        .as_ref()
        .ok_or_else(|| local(format!("{session}: the plan deletes nothing here")))?;
    let at = SessionRef {
        project: &t.from.project,
        subject: &a.source.subject,
        session,
    };
    let Some(now) = client
        .session(at.project, at.subject, at.session)
        .map_err(xnat)?
    else {
        // Gone: an earlier run removed the session after its last scan.
        return Ok(
            json!({ "verified_by": verify_id, "verification": verified["verification"], "session_deleted": true, "resumed": true }),
        );
    };
    check_still_ours(t, a, plan, &now)?;
    let mut removed = Vec::new();
    for scan in plan.scans.iter().filter(|s| now.scans.contains_key(*s)) {
        if client.delete_scan(at, scan).map_err(xnat)? {
            removed.push(format!("scan {scan}"));
        }
    }
    for scan in plan.dicom_of.iter().filter(|s| now.scans.contains_key(*s)) {
        if client
            .delete_scan_resource(at, scan, "DICOM")
            .map_err(xnat)?
        {
            removed.push(format!("DICOM of scan {scan}"));
        }
    }
    for label in plan
        .resources
        .iter()
        .filter(|r| now.resources.contains_key(*r))
    {
        if client.delete_session_resource(at, label).map_err(xnat)? {
            removed.push(format!("resource {label}"));
        }
    }
    let (session_deleted, left) = if plan.session {
        remove_if_empty(client, at, &a.source.session_id)?
    } else {
        (false, plan.stays.clone())
    };
    Ok(json!({
        "verified_by": verify_id,
        "verification": verified["verification"],
        "removed": removed,
        "session_deleted": session_deleted,
        "stays": left,
    }))
}

/// Refuses when the source changed in a way that makes the planned delete reach further than the
/// plan showed: the session is now owned elsewhere, or shared into projects the plan did not name.
fn check_still_ours(
    t: &TransferPlan,
    a: &Action,
    plan: &SourceDelete,
    now: &crate::model::inventory::Session,
) -> Result<(), StepFailure> {
    let src = &t.from.project;
    if let Some(owner) = &now.shared_from {
        return Err(StepFailure::fatal(format!(
            "{}: now owned by {owner} and only shared into {src}; nothing deleted",
            a.source.session
        )));
    }
    let named: BTreeSet<&String> = plan.also_from.iter().collect();
    let new: Vec<&String> = now.shares.keys().filter(|p| !named.contains(p)).collect();
    if !new.is_empty() {
        return Err(StepFailure::fatal(format!(
            "{}: shared into {} since the plan; deleting would remove it there too; nothing deleted, plan again",
            a.source.session,
            new.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(())
}

/// Deletes the session when a fresh read finds nothing left in it (no scan, no resource, no
/// assessor); otherwise keeps it and says what is there.
fn remove_if_empty(
    client: &Client,
    at: SessionRef<'_>,
    id: &str,
) -> Result<(bool, Vec<String>), StepFailure> {
    let item = match client.experiment_item(id) {
        Ok(i) => i,
        Err(crate::xnat::XnatError::NotFound { .. }) => return Ok((true, Vec::new())),
        Err(e) => return Err(xnat(e)),
    };
    let mut left: Vec<String> = item.scans.keys().map(|s| format!("scan {s}")).collect();
    left.extend(item.resources.keys().map(|r| format!("resource {r}")));
    if item.assessors > 0 {
        left.push(format!("{} assessor(s)", item.assessors));
    }
    if item.reconstructions > 0 {
        left.push(format!("{} reconstruction(s)", item.reconstructions));
    }
    if !left.is_empty() {
        return Ok((false, left));
    }
    client
        .delete_session(at.project, at.subject, at.session)
        .or_else(|e| match e {
            crate::xnat::XnatError::NotFound { .. } => Ok(()),
            e => Err(e),
        })
        .map_err(xnat)?;
    Ok((true, Vec::new()))
}
