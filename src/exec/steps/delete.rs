//! The `delete_source` step of a move: deletes the source session only when its verification passed,
//! and writes the verification that allowed the deletion into the journal with it.

use super::{local, xnat, Ctx, Env};
use crate::exec::pool::{StepContext, StepFailure};
use crate::plan::StepKind;
use crate::xnat::XnatError;
use serde_json::{json, Value};

/// Deletes the source session after a passed verification.
pub fn run(env: &Env<'_>, c: &Ctx<'_>, ctx: &StepContext<'_>) -> Result<Value, StepFailure> {
    let verify_id = env.sibling(c, StepKind::Verify);
    let verified = ctx.detail(&verify_id).ok_or_else(|| {
        local(format!(
            "{}: not verified; the source is kept",
            c.action.source.session
        ))
    })?;
    let passed = verified["verification"]["problems"]
        .as_array()
        .is_some_and(|p| p.is_empty());
    if !passed {
        return Err(local(format!(
            "{}: verification did not pass; the source is kept",
            c.action.source.session
        )));
    }
    let from = &c.transfer.from;
    let client = env.client(&from.server)?;
    match client.delete_session(
        &from.project,
        &c.action.source.subject,
        &c.action.source.session,
    ) {
        Ok(()) | Err(XnatError::NotFound { .. }) => {}
        Err(e) => return Err(xnat(e)),
    }
    let _ = std::fs::remove_dir_all(&c.dir);
    Ok(json!({ "verified_by": verify_id, "verification": verified["verification"] }))
}
