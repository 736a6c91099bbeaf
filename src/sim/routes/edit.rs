//! Creating, changing and deleting projects, subjects, experiments and scans, with XNAT's answers:
//! `201` + new ID, `200` + existing ID, `409` for labels in use, `403` without the needed role.
//! Sharing is in [`super::share`].

use super::access::{self, Scope};
use super::{fail, not_allowed, Answer, Ctx};
use crate::sim::auth::Access;
use crate::sim::http::Response;
use crate::sim::model::{
    scan_order, scan_type_for, session_type_for, Experiment, Project, Role, Scan, Subject,
};
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

/// Applies XNAT-style field parameters to an experiment.
fn apply_experiment_fields(ctx: &Ctx, e: &mut Experiment) {
    for (name, slot) in [
        ("date", &mut e.date),
        ("time", &mut e.time),
        ("UID", &mut e.uid),
        ("modality", &mut e.modality),
        ("dcmPatientId", &mut e.dcm_patient_id),
        ("dcmPatientName", &mut e.dcm_patient_name),
        ("note", &mut e.note),
        ("visit_id", &mut e.visit),
    ] {
        if let Some(v) = field(ctx, name) {
            *slot = v.to_string();
        }
    }
}

/// `PUT` of an experiment URL: creates (201 + ID) or updates (200 + ID).
pub fn put_experiment(ctx: &Ctx, scope: Scope, key: &str) -> Answer {
    let mut store = ctx.write();
    if let Some(p) = scope.project() {
        access::project(ctx, &store, p, Access::Edit)?;
    }
    let existing = match scope {
        Scope::Site => Some(access::experiment(ctx, &store, scope, key)?.clone()),
        Scope::Project(p) | Scope::ProjectSubject(p, _) => store.find_experiment(p, key).cloned(),
    };
    if let Some(mut e) = existing {
        if ctx.access(&store, &e.project) < Access::Edit {
            return Err(fail(
                403,
                "User account doesn't have permission to edit this experiment.",
            ));
        }
        if field(ctx, "project").is_some_and(|p| p != e.project) {
            return Err(fail(409, "Project must be modified through separate URI."));
        }
        if let Some(new) = field(ctx, "label").filter(|l| *l != e.label) {
            if store.experiment_label_taken(&e.project, new) || !valid_id(new) {
                return Err(fail(409, "Specified label is already in use."));
            }
            e.label = new.to_string();
        }
        apply_experiment_fields(ctx, &mut e);
        let id = e.id.clone();
        store.put_experiment(e).map_err(io_fail)?;
        return Ok(text(200, id));
    }
    let p = scope.project().unwrap_or_default().to_string();
    let subject_key = match scope {
        Scope::ProjectSubject(_, s) => s.to_string(),
        _ => field(ctx, "subject_ID")
            .or_else(|| field(ctx, "subject_label"))
            .ok_or_else(|| fail(400, "A subject is required (subject_ID)."))?
            .to_string(),
    };
    let subject_id = match store.find_subject(&p, &subject_key) {
        Some(s) => s.id.clone(),
        None => create_subject(&mut store, &p, &subject_key, ctx.user())?,
    };
    let label = field(ctx, "label").unwrap_or(key).to_string();
    if !valid_id(&label) {
        return Err(fail(400, "Identifiers cannot use special characters."));
    }
    if store.experiment_label_taken(&p, &label) {
        return Err(fail(409, "Specified label is already in use."));
    }
    let xsi = ctx
        .param("xsiType")
        .unwrap_or("xnat:mrSessionData")
        .to_string();
    let modality = match xsi.as_str() {
        "xnat:mrSessionData" => "MR",
        "xnat:ctSessionData" => "CT",
        "xnat:petSessionData" => "PT",
        _ => "",
    };
    let mut e = Experiment {
        id: store.new_experiment_id(),
        project: p.clone(),
        subject_id,
        dir: format!("archive/{p}/arc001/{label}"),
        label,
        xsi_type: xsi,
        modality: modality.into(),
        insert_date: now_sql(),
        insert_user: ctx.user().into(),
        ..Experiment::default()
    };
    apply_experiment_fields(ctx, &mut e);
    let id = e.id.clone();
    store.put_experiment(e).map_err(io_fail)?;
    store.save_site().map_err(io_fail)?;
    Ok(text(201, id))
}

/// Removes an experiment as seen from project `p`: deleted when `p` owns it, else unshared.
pub fn drop_experiment_from(
    store: &mut Store,
    id: &str,
    p: &str,
    remove_files: bool,
) -> Result<(), Response> {
    let Some(mut e) = store.experiment(id).cloned() else {
        return Ok(());
    };
    if e.project != p {
        e.shares.remove(p);
        return store.put_experiment(e).map_err(io_fail);
    }
    store.remove_experiment(id).map_err(io_fail)?;
    if remove_files {
        let dir = store.root().join(&e.dir);
        store.guard(&dir).map_err(io_fail)?;
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io_fail)?;
        }
    }
    Ok(())
}

/// `DELETE` of an experiment URL (`removeFiles=true` also deletes its files).
pub fn delete_experiment(ctx: &Ctx, scope: Scope, key: &str) -> Answer {
    let mut store = ctx.write();
    let e = access::experiment(ctx, &store, scope, key)?.clone();
    let p = scope.project().unwrap_or(&e.project).to_string();
    if ctx.access(&store, &p) < Access::Delete {
        return Err(fail(
            403,
            "User account doesn't have permission to delete this experiment.",
        ));
    }
    drop_experiment_from(&mut store, &e.id, &p, ctx.flag("removeFiles"))?;
    Ok(text(200, ""))
}

/// Resolves an experiment for a change and checks `need` in its primary project.
pub fn experiment_for_change(
    ctx: &Ctx,
    store: &Store,
    scope: Scope,
    key: &str,
    need: Access,
) -> Result<Experiment, Response> {
    let e = access::experiment_strict(ctx, store, scope, key)?.clone();
    if ctx.access(store, &e.project) < need {
        let msg = if need == Access::Delete {
            "User account doesn't have permission to delete this experiment."
        } else {
            "User account doesn't have permission to edit this experiment."
        };
        return Err(fail(403, msg));
    }
    Ok(e)
}

/// `PUT .../scans/{S}`: creates or updates a scan.
pub fn put_scan(ctx: &Ctx, scope: Scope, key: &str, s: &str) -> Answer {
    let mut store = ctx.write();
    let mut e = experiment_for_change(ctx, &store, scope, key, Access::Edit)?;
    let xsi = ctx.param("xsiType");
    if xsi == Some("xnat:imageScanData") {
        return Err(fail(
            400,
            "Multiple scan modalities: please specify a specific scan type.",
        ));
    }
    if !valid_id(s) {
        return Err(fail(
            400,
            "Invalid scan ID: identifiers cannot use special characters.",
        ));
    }
    let idx = match e.scans.iter().position(|x| x.id == s) {
        Some(i) => {
            if xsi.is_some_and(|x| x != e.scans[i].xsi_type) {
                return Err(fail(409, "Cannot change the xsiType of an existing scan."));
            }
            i
        }
        None => {
            let modality = if e.modality.is_empty() {
                "MR"
            } else {
                e.modality.as_str()
            };
            let _ = session_type_for(modality);
            e.scans.push(Scan {
                id: s.into(),
                db_id: store.new_scan_key(),
                xsi_type: xsi.unwrap_or(scan_type_for(modality)).into(),
                modality: modality.into(),
                quality: "usable".into(),
                ..Scan::default()
            });
            e.scans.sort_by(|a, b| scan_order(&a.id, &b.id));
            e.scans.iter().position(|x| x.id == s).unwrap_or(0)
        }
    };
    let scan = &mut e.scans[idx];
    for (name, slot) in [
        ("type", &mut scan.scan_type),
        ("series_description", &mut scan.series_description),
        ("UID", &mut scan.uid),
        ("quality", &mut scan.quality),
        ("note", &mut scan.note),
    ] {
        if let Some(v) = field(ctx, name) {
            *slot = v.to_string();
        }
    }
    if let Some(f) = field(ctx, "frames").and_then(|f| f.parse().ok()) {
        scan.frames = f;
    }
    store.put_experiment(e).map_err(io_fail)?;
    store.save_site().map_err(io_fail)?;
    Ok(text(200, ""))
}

/// `DELETE .../scans/{S}` (`removeFiles=true` deletes its files).
pub fn delete_scan(ctx: &Ctx, scope: Scope, key: &str, s: &str) -> Answer {
    let mut store = ctx.write();
    let mut e = experiment_for_change(ctx, &store, scope, key, Access::Delete)?;
    let before = e.scans.len();
    e.scans.retain(|x| x.id != s);
    if e.scans.len() == before {
        return Err(fail(404, &format!("Unable to find scan {s}.")));
    }
    if ctx.flag("removeFiles") {
        let dir = store.root().join(&e.dir).join("SCANS").join(s);
        store.guard(&dir).map_err(io_fail)?;
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(io_fail)?;
        }
    }
    store.put_experiment(e).map_err(io_fail)?;
    Ok(text(200, ""))
}
