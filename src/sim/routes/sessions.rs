//! Creating, changing and deleting experiments and their scans, with XNAT's answers: `201` + new
//! ID, `200` + existing ID, `409` for labels in use, `403` without the needed role. Projects and
//! subjects are in [`super::edit`].

use super::access::{self, Scope};
use super::edit::{create_subject, field, io_fail};
use super::{fail, Answer, Ctx};
use crate::sim::auth::Access;
use crate::sim::http::Response;
use crate::sim::model::{scan_order, scan_type_for, session_type_for, Experiment, Scan};
use crate::sim::render::text;
use crate::sim::store::Store;
use crate::sim::util::{now_sql, valid_id};

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
