//! XNAT's change of primary project (`PUT …/projects/{D}?primary=true[&label=L]`), as
//! SubjAssessmentResource and ExperimentServiceImpl.changeExperimentPrimaryProject do it (see
//! docs/xnat-compat.md, "Sharing, deleting and moving"):
//! - experiment: delete rights on it in its primary project; `409 Already assigned to project:D` when
//!   D owns it already; `409 Specified label is already in use.` when another experiment holds the
//!   label in D; then its folder moves to `archive/D/arc001/L`, project and label change, the former
//!   share into D (if any) is dropped, and its accession ID, subject, scans, resources and other
//!   shares stay. The subject is not moved or shared. `200` with an empty body.
//! - subject: project and label change, a former share into D is dropped; its experiments stay where
//!   they are.

use super::access;
use super::{fail, Answer, Ctx};
use crate::sim::auth::Access;
use crate::sim::model::{Experiment, Subject};
use crate::sim::render::text;
use crate::sim::util::valid_id;

fn io_fail(_: std::io::Error) -> crate::sim::http::Response {
    fail(500, "The server could not save its state.")
}

/// Makes `e` primary in `d`.
pub fn experiment(ctx: &Ctx, e: Experiment, d: &str) -> Answer {
    let mut store = ctx.write();
    // Read again under the write lock: the caller resolved it under a lock it gave up.
    let mut e = store
        .experiment(&e.id)
        .cloned()
        .ok_or_else(|| fail(404, "Unable to find the specified experiment."))?;
    if ctx.access(&store, &e.project) < Access::Delete {
        return Err(fail(
            403,
            "Specified user account has insufficient privileges for experiments in this project.",
        ));
    }
    access::project(ctx, &store, d, Access::Edit)?;
    if e.project == d {
        return Err(fail(409, &format!("Already assigned to project:{d}")));
    }
    let label = ctx
        .param("label")
        .filter(|l| !l.is_empty())
        .unwrap_or(&e.label)
        .to_string();
    if !valid_id(&label) {
        return Err(fail(400, "Identifiers cannot use special characters."));
    }
    if store
        .find_experiment(d, &label)
        .is_some_and(|x| x.id != e.id)
    {
        return Err(fail(409, "Specified label is already in use."));
    }
    let new_dir = format!("archive/{d}/arc001/{label}");
    let (from, to) = (store.root().join(&e.dir), store.root().join(&new_dir));
    store.guard(&from).map_err(io_fail)?;
    store.guard(&to).map_err(io_fail)?;
    if from.exists() {
        if to.exists() {
            return Err(fail(
                409,
                "Failed to modify project: the destination folder exists.",
            ));
        }
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(io_fail)?;
        }
        std::fs::rename(&from, &to).map_err(io_fail)?;
    }
    e.dir = new_dir;
    e.shares.remove(d);
    e.project = d.to_string();
    e.label = label;
    store.put_experiment(e).map_err(io_fail)?;
    Ok(text(200, ""))
}

/// Makes `s` primary in `d`.
pub fn subject(ctx: &Ctx, s: Subject, d: &str) -> Answer {
    let mut store = ctx.write();
    let mut s = store
        .subject(&s.id)
        .cloned()
        .ok_or_else(|| fail(404, &format!("Unable to identify subject {}", s.id)))?;
    access::project(ctx, &store, &s.project, Access::Delete)?;
    access::project(ctx, &store, d, Access::Edit)?;
    if s.project == d {
        return Err(fail(409, &format!("Already assigned to project:{d}")));
    }
    let label = ctx
        .param("label")
        .filter(|l| !l.is_empty())
        .unwrap_or(&s.label)
        .to_string();
    if !valid_id(&label) {
        return Err(fail(400, "Identifiers cannot use special characters."));
    }
    if store.find_subject(d, &label).is_some_and(|x| x.id != s.id) {
        return Err(fail(409, "Specified label is already in use."));
    }
    s.shares.remove(d);
    s.project = d.to_string();
    s.label = label;
    store.put_subject(s).map_err(io_fail)?;
    Ok(text(200, ""))
}
