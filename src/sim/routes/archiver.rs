//! Archiving one prearchive session into the archive, with XNAT's merge checks: a different project,
//! subject or StudyInstanceUID (or a scan UID under another scan number) is a `409` that leaves the
//! session in the prearchive as `CONFLICT`; otherwise scans and files are merged, never replacing a
//! file unless asked.

use super::{edit, fail, Ctx};
use crate::sim::auth::Access;
use crate::sim::http::Response;
use crate::sim::model::{scan_order, Experiment, PrearcSession, Subject};
use crate::sim::store::Store;
use crate::sim::util::now_sql;

type Key = (String, String, String);

/// Options of one archive operation.
#[derive(Debug, Clone, Default)]
pub struct ArchiveOpts {
    /// Destination project (default: the session's).
    pub project: Option<String>,
    /// Subject label (default: the session's).
    pub subject: Option<String>,
    /// Session label (default: the session's).
    pub label: Option<String>,
    /// Replace files that exist in the destination.
    pub overwrite_files: bool,
    /// Skip the UID and scan checks.
    pub override_exceptions: bool,
    /// `overwrite=delete`: replace whole scans that exist.
    pub replace_scans: bool,
}

fn conflict(store: &mut Store, key: &Key, status: u16, msg: &str) -> Response {
    if let Some(mut p) = store.prearchive.get(key).cloned() {
        p.status = "CONFLICT".into();
        p.lastmod = now_sql();
        let _ = store.put_prearc(p);
    }
    fail(status, msg)
}

/// Archives one prearchive session; returns `/archive/projects/P/subjects/S/experiments/L`.
pub fn archive_session(
    ctx: &Ctx,
    store: &mut Store,
    key: &Key,
    opts: &ArchiveOpts,
) -> Result<String, Response> {
    let pre = store
        .prearchive
        .get(key)
        .cloned()
        .ok_or_else(|| fail(404, "Unable to find the specified prearchive session."))?;
    let project = opts.project.clone().unwrap_or(pre.project.clone());
    super::access::project(ctx, store, &project, Access::Edit)?;
    let label = opts.label.clone().unwrap_or(pre.label.clone());
    let mut subject_label = opts.subject.clone().unwrap_or(pre.subject.clone());
    if subject_label.is_empty() {
        subject_label = pre
            .dcm_patient_name
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_");
    }
    if !crate::sim::util::valid_id(&label) || !crate::sim::util::valid_id(&subject_label) {
        return Err(conflict(
            store,
            key,
            400,
            "Identifiers cannot use special characters.",
        ));
    }
    let labels = crate::sim::anon::Labels {
        project: &project,
        subject: &subject_label,
        session: &label,
    };
    let pre = crate::sim::anon::project_pass(store, &pre, &labels)
        .map_err(|e| fail(500, &format!("anonymization failed: {}", e.0)))?;
    let mut exp = match store.find_experiment(&project, &label).cloned() {
        Some(e) => {
            let subject = store.find_subject(&project, &subject_label).cloned();
            merge_check(&e, subject.as_ref(), &pre, &project, opts)
                .map_err(|(status, msg)| conflict(store, key, status, &msg))?;
            e
        }
        None => new_experiment(ctx, store, &pre, (&project, &subject_label, &label))?,
    };
    merge_files(store, &pre, &mut exp, opts)
        .map_err(|_| fail(500, "The server could not move the files."))?;
    save_archived(store, key, exp)?;
    Ok(format!(
        "/archive/projects/{project}/subjects/{subject_label}/experiments/{label}"
    ))
}

/// A new archived session (project, subject label, session label) for a prearchive session with no
/// namesake in the project, under its subject (created when the project has none of that label).
fn new_experiment(
    ctx: &Ctx,
    store: &mut Store,
    pre: &PrearcSession,
    (project, subject_label, label): (&str, &str, &str),
) -> Result<Experiment, Response> {
    let subject_id = match store.find_subject(project, subject_label) {
        Some(s) => s.id.clone(),
        None => edit::create_subject(store, project, subject_label, ctx.user())?,
    };
    Ok(Experiment {
        id: store.new_experiment_id(),
        project: project.to_string(),
        subject_id,
        label: label.to_string(),
        date: pre.scan_date.clone(),
        time: pre.scan_time.clone(),
        xsi_type: pre.xsi_type.clone(),
        uid: pre.tag.clone(),
        modality: pre.modality.clone(),
        dcm_patient_id: pre.dcm_patient_id.clone(),
        dcm_patient_name: pre.dcm_patient_name.clone(),
        dir: format!("archive/{project}/arc001/{label}"),
        insert_date: now_sql(),
        insert_user: ctx.user().into(),
        ..Experiment::default()
    })
}

/// Saves an archived session and the site state, then removes its prearchive entry.
fn save_archived(store: &mut Store, key: &Key, exp: Experiment) -> Result<(), Response> {
    store
        .put_experiment(exp)
        .map_err(|_| fail(500, "The server could not save the session."))?;
    store
        .save_site()
        .map_err(|_| fail(500, "The server could not save its state."))?;
    store
        .remove_prearc(key)
        .map_err(|_| fail(500, "The server could not clean the prearchive."))
}

/// XNAT's checks before merging a prearchive session into an archived one of the same label: the
/// same project, the same subject, the same StudyInstanceUID, and no scan UID under another scan ID
/// (the last two waived by `overwrite=delete`'s override). The status and message of a refusal.
fn merge_check(
    e: &Experiment,
    subject: Option<&Subject>,
    pre: &PrearcSession,
    project: &str,
    opts: &ArchiveOpts,
) -> Result<(), (u16, String)> {
    let refuse = |what: &str| {
        Err((
            409,
            format!("Invalid modification of {what} via archive process."),
        ))
    };
    if e.project != project {
        return refuse("session project");
    }
    if subject.map(|s| &s.id) != Some(&e.subject_id) {
        return refuse("session subject");
    }
    if opts.override_exceptions {
        return Ok(());
    }
    if !e.uid.is_empty() && !pre.tag.is_empty() && e.uid != pre.tag {
        return refuse("session UID");
    }
    for s in &pre.scans {
        if e.scans
            .iter()
            .any(|x| x.uid == s.uid && !s.uid.is_empty() && x.id != s.id)
        {
            return refuse(&format!("scan {}", s.id));
        }
    }
    Ok(())
}

/// Moves the prearchive files into the session folder, merging scan by scan.
fn merge_files(
    store: &mut Store,
    pre: &PrearcSession,
    exp: &mut Experiment,
    opts: &ArchiveOpts,
) -> std::io::Result<()> {
    let from = store.root().join(pre.dir());
    let to = store.root().join(&exp.dir);
    store.guard(&from)?;
    store.guard(&to)?;
    for scan in &pre.scans {
        if opts.replace_scans {
            if let Some(i) = exp.scans.iter().position(|x| x.id == scan.id) {
                let old = to.join("SCANS").join(&scan.id);
                store.guard(&old)?;
                if old.exists() {
                    std::fs::remove_dir_all(old)?;
                }
                exp.scans.remove(i);
            }
        }
        let idx = match exp.scans.iter().position(|x| x.id == scan.id) {
            Some(i) => i,
            None => {
                let mut s = scan.clone();
                s.db_id = store.new_scan_key();
                for r in &mut s.resources {
                    r.id = store.new_resource_id();
                    r.files.clear();
                }
                exp.scans.push(s);
                exp.scans.sort_by(|a, b| scan_order(&a.id, &b.id));
                exp.scans.iter().position(|x| x.id == scan.id).unwrap_or(0)
            }
        };
        for res in &scan.resources {
            let target = &mut exp.scans[idx];
            let ri = match target.resources.iter().position(|r| r.label == res.label) {
                Some(i) => i,
                None => {
                    let mut r = res.clone();
                    r.id = store.new_resource_id();
                    r.files.clear();
                    target.resources.push(r);
                    target.resources.len() - 1
                }
            };
            let dst_dir = to.join("SCANS").join(&scan.id).join(&res.label);
            std::fs::create_dir_all(&dst_dir)?;
            for (name, entry) in &res.files {
                let tr = &mut target.resources[ri];
                if tr.files.contains_key(name) && !opts.overwrite_files {
                    continue;
                }
                let src = from
                    .join("SCANS")
                    .join(&scan.id)
                    .join(&res.label)
                    .join(name);
                let dst = dst_dir.join(name);
                store.guard(&src)?;
                store.guard(&dst)?;
                if std::fs::rename(&src, &dst).is_err() {
                    std::fs::copy(&src, &dst)?;
                }
                tr.files.insert(name.clone(), entry.clone());
            }
            let count = target.resources[ri].files.len() as u64;
            target.frames = target.frames.max(count);
        }
    }
    Ok(())
}
