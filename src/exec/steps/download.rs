//! The `download` step: the selected scans of the source session into `source.zip`, held in memory
//! when the session is small and the run's [`Stash`](crate::exec::stash::Stash) has room, else in
//! the staging folder (through `source.zip.part`, on disk before it is renamed); the selected session resources beside it, as files.

use super::{io, resources, xnat, Ctx, Env};
use crate::exec::pool::StepFailure;
use crate::exec::stash::{zip_allowance, Bytes};
use crate::xnat::Landing;
use serde_json::{json, Value};

/// Downloads the session's selected scans and resources into its staging folder.
pub fn run(env: &Env<'_>, c: &Ctx<'_>) -> Result<Value, StepFailure> {
    std::fs::create_dir_all(&c.dir).map_err(|e| io("create", &c.dir, e))?;
    let dest = c.dir.join("source.zip");
    let scans: Vec<String> = c.action.scans.iter().map(|s| s.id.clone()).collect();
    let from = &c.transfer.from;
    let limit = memory_limit(env, c);
    let d = env
        .client(&from.server)?
        .download_session(
            &from.project,
            &c.action.source.subject,
            &c.action.source.session,
            &scans,
            Landing::memory(&dest, limit),
            &mut env.on_bytes(),
        )
        .map_err(|e| {
            env.stash.release(&c.dir);
            xnat(e)
        })?;
    let held = match d.memory {
        Some(bytes) => match env.stash.hold(&dest, Bytes::whole(bytes)) {
            Ok(_) => true,
            Err(bytes) => {
                // Staged on disk: the rewrite reads it there and writes its zip beside it.
                env.stash.release(&c.dir);
                super::write_durably(&dest, &bytes.slices())?;
                false
            }
        },
        None => false,
    };
    let staged = resources::staged(env, c)?;
    Ok(json!({ "bytes": d.bytes, "in_memory": held, "resource_files": staged.len() }))
}

/// How many bytes of the session's zip may be held in memory ([`zip_allowance`]), or 0 when the
/// run's stash has no room for it and a quarter more: the upload zip refers to the download's bytes
/// for each file's data and holds only its headers itself ([`crate::exec::composed`]); one whose own
/// bytes outgrow that room (headers that grew, a compressed download) is staged on disk.
fn memory_limit(env: &Env<'_>, c: &Ctx<'_>) -> u64 {
    let zip = zip_allowance(c.action.files, c.action.bytes);
    env.stash.release(&c.dir);
    if zip > 0 && env.stash.reserve(&c.dir, zip + zip / 4) {
        zip
    } else {
        0
    }
}
