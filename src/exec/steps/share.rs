//! The `share_session` step: shares the source session into the destination project under the
//! planned label. Nothing is copied; verification checks the share is visible.

use super::{xnat, Ctx, Env};
use crate::exec::pool::StepFailure;
use serde_json::{json, Value};

/// Shares the source session into the destination project.
pub fn run(env: &Env<'_>, c: &Ctx<'_>) -> Result<Value, StepFailure> {
    let (from, to) = (&c.transfer.from, &c.transfer.to);
    env.client(&from.server)?
        .share_session(
            &from.project,
            &c.action.source.subject,
            &c.action.source.session,
            &to.project,
            &c.action.dest.session,
        )
        .map_err(xnat)?;
    Ok(json!({}))
}
