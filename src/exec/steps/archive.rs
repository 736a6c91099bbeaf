//! The `archive` step: moves the uploaded session from the prearchive into the archive once the
//! prearchive says it is READY, then attaches the session's resources. A lost answer is settled by a
//! look at the destination: the entry gone and the archive complete means it was archived; an entry
//! still READY is archived again (with `overwrite=append`, which never replaces a file); an entry gone
//! with the archive incomplete is completed by importing the upload zip straight into the archive.
//! When the destination project archived the upload itself (auto-archive), there is nothing to move.

use super::landing::{self, Found};
use super::metadata;
use super::{local, resources, rewrite, xnat, Ctx, Env};
use crate::exec::pool::{StepContext, StepFailure};
use crate::manifest::model::Destination;
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
    if !uri.starts_with("/prearchive/") {
        // The destination project archives uploads itself (prearchive code 4 or 5): XNAT already did
        // what this step would do.
        let n = resources::attach(env, c)?;
        return Ok(json!({ "uri": uri, "archived_by_server": true, "resource_files_uploaded": n }));
    }
    let (zip, facts) = rewrite::upload_zip(env, c, ctx)?;
    let mut attempts = 0;
    loop {
        let entry = match client.prearchive_entry(&uri) {
            Ok(e) => e,
            Err(XnatError::NotFound { .. }) => {
                // Archived by an attempt whose answer was lost, or gone: the archive says which.
                let (found, removed) = landing::look(client, c, &facts, Destination::Archive)?;
                let (archived, reimported) = match found {
                    Found::Complete(u) => (u, false),
                    Found::Partial | Found::Absent => {
                        let l = landing::import(env, c, &zip, &facts, Destination::Archive, true)?;
                        (l.uri, true)
                    }
                };
                let more = [
                    ("found_complete", json!(!reimported)),
                    ("reimported", json!(reimported)),
                    ("leftovers_removed", json!(removed)),
                    ("resumed", json!(resumed)),
                ];
                return finish(env, c, &archived, attempts, more);
            }
            Err(e) => return Err(xnat(e)),
        };
        if entry.status != "READY" {
            return Err(local(format!(
                "{}: the prearchive holds the upload in state {} at {uri}; resolve it there (see the guide's prearchive section) and run apply again",
                c.action.dest.session, entry.status
            )));
        }
        // After a lost answer the session may be archived in part: append never replaces a file.
        let overwrite = if c.action.kind == ActionKind::Merge || attempts > 0 || resumed {
            Overwrite::Append
        } else {
            Overwrite::None
        };
        attempts += 1;
        match client.archive(
            &uri,
            &to.project,
            &c.action.dest.subject,
            &c.action.dest.session,
            overwrite,
        ) {
            Ok(archived) => return finish(env, c, &archived, attempts, []),
            Err(e) if landing::may_have_landed(&e) && attempts < landing::ATTEMPTS => {
                std::thread::sleep(landing::pause(attempts));
            }
            Err(e) => return Err(xnat(e)),
        }
    }
}

/// The end of an archived session: attaches its resources and carries its fields, then the step's
/// detail (where it landed, after how many attempts, `more`, and the counts).
fn finish<const N: usize>(
    env: &Env<'_>,
    c: &Ctx<'_>,
    uri: &str,
    attempts: u32,
    more: [(&str, Value); N],
) -> Result<Value, StepFailure> {
    let n = resources::attach(env, c)?;
    let fields = metadata::carry(env, c)?;
    let mut detail = json!({ "uri": uri, "fields_carried": fields, "attempts": attempts });
    for (key, value) in more {
        detail[key] = value;
    }
    detail["resource_files_uploaded"] = json!(n);
    Ok(detail)
}
