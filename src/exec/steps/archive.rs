//! The `archive` step: moves the uploaded session from the prearchive into the archive once the
//! prearchive says it is READY, then attaches the session's resources.

use super::{local, resources, xnat, Ctx, Env};
use crate::exec::pool::{StepContext, StepFailure};
use crate::plan::{ActionKind, StepKind};
use crate::xnat::{Overwrite, XnatError};
use serde_json::{json, Value};

/// Archives the prearchive entry the upload step recorded.
pub fn run(
    env: &Env<'_>,
    c: &Ctx<'_>,
    resumed: bool,
    ctx: &StepContext<'_>,
) -> Result<Value, StepFailure> {
    let to = &c.transfer.to;
    let client = env.client(&to.server)?;
    let upload = ctx
        .detail(&env.sibling(c, StepKind::Upload))
        .unwrap_or_default();
    let uri = upload["uri"].as_str().unwrap_or_default().to_string();
    if uri.is_empty() {
        return Err(local("the upload step recorded no prearchive location"));
    }
    let entry = match client.prearchive_entry(&uri) {
        Ok(e) => e,
        Err(XnatError::NotFound { .. }) if resumed => {
            // An earlier attempt archived it; verification will say whether that is so.
            let n = resources::attach(env, c)?;
            return Ok(json!({ "uri": uri, "resumed": true, "resource_files_uploaded": n }));
        }
        Err(e) => return Err(xnat(e)),
    };
    if entry.status != "READY" {
        return Err(local(format!(
            "{}: the prearchive holds the upload in state {} at {uri}; resolve it there (see the guide's prearchive section) and run apply again",
            c.action.dest.session, entry.status
        )));
    }
    let overwrite = if c.action.kind == ActionKind::Merge {
        Overwrite::Append
    } else {
        Overwrite::None
    };
    let archived = client
        .archive(
            &uri,
            &to.project,
            &c.action.dest.subject,
            &c.action.dest.session,
            overwrite,
        )
        .map_err(xnat)?;
    let n = resources::attach(env, c)?;
    Ok(json!({ "uri": archived, "resource_files_uploaded": n }))
}
