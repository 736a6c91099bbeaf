//! The `download` step: the selected scans of the source session into `source.zip` in the staging
//! folder, and the selected session resources beside it.

use super::{io, resources, xnat, Ctx, Env};
use crate::exec::pool::StepFailure;
use serde_json::{json, Value};

/// Downloads the session's selected scans and resources into its staging folder.
pub fn run(env: &Env<'_>, c: &Ctx<'_>) -> Result<Value, StepFailure> {
    std::fs::create_dir_all(&c.dir).map_err(|e| io("create", &c.dir, e))?;
    let dest = c.dir.join("source.zip");
    let scans: Vec<String> = c.action.scans.iter().map(|s| s.id.clone()).collect();
    let from = &c.transfer.from;
    let d = env
        .client(&from.server)?
        .download_session(
            &from.project,
            &c.action.source.subject,
            &c.action.source.session,
            &scans,
            &dest,
            &mut env.on_bytes(),
        )
        .map_err(xnat)?;
    let staged = resources::staged(env, c)?;
    Ok(json!({ "bytes": d.bytes, "blake3": d.blake3, "resource_files": staged.len() }))
}
