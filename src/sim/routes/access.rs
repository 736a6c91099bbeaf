//! Resolving the objects a URL names, with XNAT's permission answers: `404` for unknown objects (and for
//! experiments the caller cannot see), `403` for projects the caller may not read or change.

use super::{fail, Ctx};
use crate::sim::auth::Access;
use crate::sim::http::Response;
use crate::sim::model::{Experiment, Subject};
use crate::sim::store::Store;

/// Where a URL looks for an object.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// `/data/experiments/{ID}`, `/data/subjects/{ID}`: accession IDs only.
    Site,
    /// `/data/projects/{P}/...`.
    Project(&'a str),
    /// `/data/projects/{P}/subjects/{S}/...`.
    ProjectSubject(&'a str, &'a str),
}

impl<'a> Scope<'a> {
    /// The project of the URL, if it names one.
    pub fn project(&self) -> Option<&'a str> {
        match self {
            Scope::Site => None,
            Scope::Project(p) | Scope::ProjectSubject(p, _) => Some(p),
        }
    }
}

/// Checks that a project exists and that the caller has at least `need` in it.
pub fn project(ctx: &Ctx, store: &Store, project: &str, need: Access) -> Result<(), Response> {
    if !store.projects.contains_key(project) {
        return Err(fail(404, &format!("Unable to identify project {project}")));
    }
    let have = ctx.access(store, project);
    if have < need {
        let msg = match (have, need) {
            (Access::None, _) => format!("Unable to read data for Project: {project}"),
            (_, Access::Delete) => {
                "User account doesn't have permission to delete this object.".to_string()
            }
            _ => format!("User account doesn't have permission to edit data in project {project}."),
        };
        return Err(fail(403, &msg));
    }
    Ok(())
}

/// The best access the caller has to an experiment: in its primary project or any sharing project.
pub fn experiment_access(ctx: &Ctx, store: &Store, e: &Experiment) -> Access {
    std::iter::once(&e.project)
        .chain(e.shares.keys())
        .map(|p| ctx.access(store, p))
        .max()
        .unwrap_or(Access::None)
}

/// Resolves a subject in a project (label or accession ID), requiring read access.
pub fn subject<'s>(
    ctx: &Ctx,
    store: &'s Store,
    scope: Scope,
    key: &str,
) -> Result<&'s Subject, Response> {
    let not_found = || fail(404, &format!("Unable to identify subject {key}"));
    match scope {
        Scope::Site => {
            let s = store.subject(key).ok_or_else(not_found)?;
            let visible = std::iter::once(&s.project)
                .chain(s.shares.keys())
                .any(|p| ctx.access(store, p) >= Access::Read);
            if visible {
                Ok(s)
            } else {
                Err(not_found())
            }
        }
        Scope::Project(p) | Scope::ProjectSubject(p, _) => {
            project(ctx, store, p, Access::Read)?;
            store.find_subject(p, key).ok_or_else(not_found)
        }
    }
}

/// Resolves an experiment the way XNAT's single-experiment routes do, requiring read access.
pub fn experiment<'s>(
    ctx: &Ctx,
    store: &'s Store,
    scope: Scope,
    key: &str,
) -> Result<&'s Experiment, Response> {
    let not_found = || fail(404, "Unable to find the specified experiment.");
    let e = match scope {
        Scope::Site => store.experiment(key).ok_or_else(not_found)?,
        Scope::Project(p) | Scope::ProjectSubject(p, _) => {
            project(ctx, store, p, Access::Read)?;
            store.find_experiment(p, key).ok_or_else(not_found)?
        }
    };
    if experiment_access(ctx, store, e) < Access::Read {
        return Err(not_found());
    }
    Ok(e)
}

/// Like [`experiment`], but for listings and files under a project and subject: the subject must
/// resolve in the project and own the experiment.
pub fn experiment_strict<'s>(
    ctx: &Ctx,
    store: &'s Store,
    scope: Scope,
    key: &str,
) -> Result<&'s Experiment, Response> {
    if let Scope::ProjectSubject(_, s) = scope {
        let subj = subject(ctx, store, scope, s)?;
        let e = experiment(ctx, store, scope, key)?;
        if e.subject_id != subj.id {
            return Err(fail(404, "Unable to find the specified experiment."));
        }
        return Ok(e);
    }
    experiment(ctx, store, scope, key)
}

/// The label an experiment has in a project (its share label there, else its own).
pub fn label_in(e: &Experiment, project: &str) -> String {
    if e.project == project {
        return e.label.clone();
    }
    e.shares
        .get(project)
        .filter(|l| !l.is_empty())
        .cloned()
        .unwrap_or_else(|| e.label.clone())
}

/// The label a subject has in a project.
pub fn subject_label_in(s: &Subject, project: &str) -> String {
    if s.project == project {
        return s.label.clone();
    }
    s.shares
        .get(project)
        .filter(|l| !l.is_empty())
        .cloned()
        .unwrap_or_else(|| s.label.clone())
}
