//! The `upload` step: the upload zip through the import service, into the prearchive or straight into
//! the archive, never into a destination session that appeared since the plan or that holds another
//! study (StudyInstanceUID), so it cannot merge into another subject's data. A lost answer is settled by
//! a look at the destination ([`landing`]), so the session lands exactly once.

use super::{landing, local, resources, rewrite, xnat, Ctx, Env};
use crate::exec::pool::{StepContext, StepFailure};
use crate::manifest::model::Destination;
use crate::plan::ActionKind;
use serde_json::{json, Value};

/// Uploads the session's upload zip exactly once (see [`landing`]); under `destination: archive`
/// attaches its resources too.
pub fn run(
    env: &Env<'_>,
    c: &Ctx<'_>,
    resumed: bool,
    ctx: &StepContext<'_>,
) -> Result<Value, StepFailure> {
    check_destination(env, c, resumed)?;
    let (zip, facts) = rewrite::upload_zip(env, c, ctx)?;
    let dest = c.transfer.policy.destination;
    let landed = landing::import(env, c, &zip, &facts, dest, resumed)?;
    let mut detail = json!({
        "uri": landed.uri,
        "attempts": landed.attempts,
        "found_complete": landed.found_complete,
        "leftovers_removed": landed.leftovers_removed,
    });
    if dest == Destination::Archive {
        detail["resource_files_uploaded"] = json!(resources::attach(env, c)?);
        detail["fields_carried"] = json!(super::metadata::carry(env, c)?);
    }
    Ok(detail)
}

/// Refuses to upload into a destination session that is not the one the plan expects.
fn check_destination(env: &Env<'_>, c: &Ctx<'_>, resumed: bool) -> Result<(), StepFailure> {
    let to = &c.transfer.to;
    let dest = &c.action.dest;
    let existing = env
        .client(&to.server)?
        .session_uid(&to.project, &dest.subject, &dest.session)
        .map_err(xnat)?;
    let Some((_, existing_uid)) = existing else {
        if c.action.kind == ActionKind::Merge {
            return Err(local(format!(
                "{}/{}: the session to merge into is gone from {}; plan again",
                to.project, dest.session, to.server
            )));
        }
        return Ok(());
    };
    let digest = existing_uid.map(|u| env.file_rules(c).digest(&u));
    let same_study = digest.is_some() && digest.as_deref() == c.action.dest_uid();
    match c.action.kind {
        ActionKind::Merge if same_study => Ok(()),
        ActionKind::Create if resumed && same_study => Ok(()),
        ActionKind::Create if same_study => Err(local(format!(
            "{}/{}: the session appeared on {} since the plan (same study); plan again to see it as already transferred or to merge",
            to.project, dest.session, to.server
        ))),
        _ => Err(local(format!(
            "{}/{}: a session with another StudyInstanceUID holds this label on {}; refusing to upload into it",
            to.project, dest.session, to.server
        ))),
    }
}
