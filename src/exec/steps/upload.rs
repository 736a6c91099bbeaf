//! The `upload` step: the upload zip through the import service, into the prearchive or straight into
//! the archive, never into a destination session that appeared since the plan or that holds another
//! study (StudyInstanceUID), so it cannot merge into another subject's data.

use super::{local, resources, rewrite, xnat, Ctx, Env};
use crate::exec::pool::{StepContext, StepFailure};
use crate::manifest::model::Destination;
use crate::plan::ActionKind;
use crate::xnat::{ImportTarget, Overwrite};
use serde_json::{json, Value};

/// Uploads the session's upload zip; under `destination: archive` attaches its resources too.
pub fn run(
    env: &Env<'_>,
    c: &Ctx<'_>,
    resumed: bool,
    ctx: &StepContext<'_>,
) -> Result<Value, StepFailure> {
    check_destination(env, c, resumed)?;
    let (zip, _) = rewrite::upload_zip(env, c, ctx)?;
    let to = &c.transfer.to;
    let target = ImportTarget {
        project: to.project.clone(),
        subject: c.action.dest.subject.clone(),
        session: c.action.dest.session.clone(),
        destination: c.transfer.policy.destination,
        overwrite: if c.action.kind == ActionKind::Merge || resumed {
            Overwrite::Append
        } else {
            Overwrite::None
        },
    };
    let out = env
        .client(&to.server)?
        .import_zip(&zip, &target, &mut env.on_bytes())
        .map_err(xnat)?;
    if c.transfer.policy.destination == Destination::Archive {
        let n = resources::attach(env, c)?;
        return Ok(json!({ "uri": out.uri, "resource_files_uploaded": n }));
    }
    Ok(json!({ "uri": out.uri }))
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
    let same_study = existing_uid.is_some() && existing_uid == c.action.source.uid;
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
