//! Creating, changing and deleting projects and subjects, with XNAT's answers: `201` + new ID,
//! `200` + existing ID, `409` for labels in use, `403` without the needed role. Experiments and
//! scans are in [`super::sessions`], sharing in [`super::share`].

use super::access::{self, Scope};
use super::sessions::drop_experiment_from;
use super::{fail, not_allowed, Answer, Ctx};
use crate::sim::auth::Access;
use crate::sim::http::Response;
use crate::sim::model::{Project, Role, Subject};
use crate::sim::render::text;
use crate::sim::store::Store;
use crate::sim::util::{now_sql, valid_id};

/// A field given as `name`, or as an XML path ending in `/name` (`xnat:mrSessionData/date`).
pub fn field<'c>(ctx: &'c Ctx, name: &str) -> Option<&'c str> {
    let suffix = format!("/{}", name.to_ascii_lowercase());
    ctx.params
        .iter()
        .find(|(k, _)| k == name || k.to_ascii_lowercase().ends_with(&suffix))
        .map(|(_, v)| v.as_str())
}

/// The answer when the emulator cannot save its state.
pub(super) fn io_fail(_: std::io::Error) -> Response {
    fail(500, "The server could not save its state.")
}

/// `PUT /projects/{P}`: site administrators create projects; existing ones are updated.
pub fn put_project(ctx: &Ctx, p: &str) -> Answer {
    if !valid_id(p) {
        return Err(fail(417, "Invalid character in project ID."));
    }
    let mut store = ctx.write();
    let existing = store.projects.get(p).cloned();
    let mut proj = match existing {
        Some(pr) => {
            if ctx.access(&store, p) < Access::Edit {
                return Err(fail(
                    403,
                    "User account doesn't have permission to edit this project.",
                ));
            }
            pr
        }
        None => {
            if !ctx.is_admin() {
                return Err(fail(
                    403,
                    "User account doesn't have permission to create projects.",
                ));
            }
            let mut pr = Project {
                id: p.into(),
                name: p.into(),
                secondary_id: p.into(),
                ..Project::default()
            };
            pr.roles.insert(ctx.user().to_string(), Role::Owner);
            pr
        }
    };
    if let Some(v) = field(ctx, "name") {
        proj.name = v.into();
    }
    if let Some(v) = field(ctx, "secondary_ID") {
        proj.secondary_id = v.into();
    }
    if let Some(v) = field(ctx, "description") {
        proj.description = v.into();
    }
    store.put_project(proj).map_err(io_fail)?;
    Ok(text(200, ""))
}

/// `DELETE /projects/{P}`: owners delete the project with its own subjects and experiments.
pub fn delete_project(ctx: &Ctx, p: &str) -> Answer {
    let mut store = ctx.write();
    access::project(ctx, &store, p, Access::Delete)?;
    let remove_files = ctx.flag("removeFiles");
    let exps: Vec<String> = store
        .experiments_in(p)
        .iter()
        .map(|e| e.id.clone())
        .collect();
    for id in exps {
        drop_experiment_from(&mut store, &id, p, remove_files)?;
    }
    let subs: Vec<String> = store.subjects_in(p).iter().map(|s| s.id.clone()).collect();
    for id in subs {
        drop_subject_from(&mut store, &id, p)?;
    }
    store.projects.remove(p);
    let meta = store.root().join(format!("meta/projects/{p}.json"));
    let _ = std::fs::remove_file(meta);
    Ok(text(200, ""))
}

/// `GET /projects/{P}/prearchive_code`, `PUT /projects/{P}/prearchive_code/{n}`.
pub fn prearchive_code(ctx: &Ctx, p: &str, rest: &[&str]) -> Answer {
    let mut store = ctx.write();
    match (ctx.method(), rest) {
        ("GET", []) => {
            access::project(ctx, &store, p, Access::Read)?;
            Ok(text(200, store.projects[p].prearchive_code.to_string()))
        }
        ("PUT" | "POST", [code]) => {
            access::project(ctx, &store, p, Access::Delete)?;
            let c: u8 = code
                .parse()
                .map_err(|_| fail(400, "Invalid prearchive code."))?;
            if ![0, 4, 5].contains(&c) {
                return Err(fail(400, "Invalid prearchive code."));
            }
            let mut proj = store.projects[p].clone();
            proj.prearchive_code = c;
            store.put_project(proj).map_err(io_fail)?;
            Ok(text(200, ""))
        }
        _ => Err(not_allowed()),
    }
}

/// Creates a subject in a project and returns its ID.
pub fn create_subject(
    store: &mut Store,
    project: &str,
    label: &str,
    user: &str,
) -> Result<String, Response> {
    if !valid_id(label) {
        return Err(fail(400, "Identifiers cannot use special characters."));
    }
    let id = store.new_subject_id();
    store
        .put_subject(Subject {
            id: id.clone(),
            project: project.into(),
            label: label.into(),
            insert_date: now_sql(),
            insert_user: user.into(),
            ..Subject::default()
        })
        .map_err(io_fail)?;
    store.save_site().map_err(io_fail)?;
    Ok(id)
}

/// `PUT /projects/{P}/subjects/{S}`.
pub fn put_subject(ctx: &Ctx, scope: Scope, s: &str) -> Answer {
    let Some(p) = scope.project() else {
        return Err(fail(400, "Subjects are created inside a project."));
    };
    let mut store = ctx.write();
    access::project(ctx, &store, p, Access::Edit)?;
    if let Some(existing) = store.find_subject(p, s).cloned() {
        let mut changed = existing.clone();
        if subject_fields(ctx, &mut changed) {
            if existing.project != p {
                return Err(fail(
                    403,
                    "Shared subjects are edited in their own project.",
                ));
            }
            store.put_subject(changed).map_err(io_fail)?;
        }
        let existing = store.find_subject(p, s).cloned().unwrap_or(existing);
        if let Some(new) = field(ctx, "label").filter(|l| *l != existing.label) {
            if existing.project != p {
                return Err(fail(
                    403,
                    "Shared subjects are relabelled through the share.",
                ));
            }
            if store.subject_label_taken(p, new) {
                return Err(fail(409, "Specified label is already in use."));
            }
            if !valid_id(new) {
                return Err(fail(400, "Identifiers cannot use special characters."));
            }
            let mut changed = existing.clone();
            changed.label = new.into();
            store.put_subject(changed).map_err(io_fail)?;
        }
        return Ok(text(200, existing.id));
    }
    let label = field(ctx, "label").unwrap_or(s);
    let id = create_subject(&mut store, p, label, ctx.user())?;
    if let Some(mut created) = store.subject(&id).cloned() {
        if subject_fields(ctx, &mut created) {
            store.put_subject(created).map_err(io_fail)?;
        }
    }
    Ok(text(201, id))
}

/// Applies `group` and demographic parameters (shortcut names or xpaths ending in them); whether any
/// was given.
fn subject_fields(ctx: &Ctx, s: &mut Subject) -> bool {
    let mut any = false;
    for name in crate::sim::model::SUBJECT_FIELDS {
        if let Some(v) = field(ctx, name) {
            s.fields.insert(name.to_string(), v.to_string());
            any = true;
        }
    }
    any
}

fn drop_subject_from(store: &mut Store, id: &str, p: &str) -> Result<(), Response> {
    let Some(mut s) = store.subject(id).cloned() else {
        return Ok(());
    };
    if s.project == p {
        store.remove_subject(id).map_err(io_fail)
    } else {
        s.shares.remove(p);
        store.put_subject(s).map_err(io_fail)
    }
}

/// `DELETE /projects/{P}/subjects/{S}`: deletes in the primary project, unshares elsewhere.
pub fn delete_subject(ctx: &Ctx, scope: Scope, s: &str) -> Answer {
    let mut store = ctx.write();
    let subj = access::subject(ctx, &store, scope, s)?.clone();
    let p = scope.project().unwrap_or(&subj.project).to_string();
    access::project(ctx, &store, &p, Access::Delete)?;
    let remove_files = ctx.flag("removeFiles");
    let exps: Vec<String> = store
        .experiments_of(&subj.id)
        .iter()
        .filter(|e| e.project == p || e.shares.contains_key(&p))
        .map(|e| e.id.clone())
        .collect();
    for id in exps {
        drop_experiment_from(&mut store, &id, &p, remove_files)?;
    }
    drop_subject_from(&mut store, &subj.id, &p)?;
    Ok(text(200, ""))
}
