//! The import service (`POST /data/services/import`): DICOM-zip (and single-object gradual-DICOM)
//! uploads are parsed with dicom-object, routed to project, subject and session as XNAT does (explicit
//! parameters, then the assignment syntax in comment fields, then fixed tags), grouped into prearchive
//! sessions, and archived at once when the destination or flags ask for it.

mod receive;

use super::archiver::{archive_session, ArchiveOpts};
use super::{fail, not_allowed, Answer, Ctx};
use crate::sim::auth::Access;
use crate::sim::dicomio::{assignment, read_header, Header};
use crate::sim::http::Response;
use crate::sim::render::uri_list;
use crate::sim::store::Store;
use crate::sim::util::valid_id;
use receive::receive;
use std::collections::BTreeMap;
use std::io::Read;

/// One DICOM object of an upload.
struct Object {
    name: String,
    bytes: Vec<u8>,
    header: Header,
    /// The MD5 of `bytes`, lower-case hex, as the archive lists it.
    digest: String,
}

/// Where a group of objects goes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Target {
    project: String,
    study_uid: String,
    session: String,
    subject: String,
}

/// Explicit destination from `dest` and the label parameters.
#[derive(Debug, Default)]
struct Dest {
    archive: bool,
    project: Option<String>,
    subject: Option<String>,
    session: Option<String>,
}

fn parse_dest(ctx: &Ctx) -> Dest {
    let mut d = Dest::default();
    if let Some(dest) = ctx.param("dest") {
        let dest = dest.trim_start_matches("/data").trim_start_matches("/REST");
        let segs: Vec<&str> = dest.split('/').filter(|s| !s.is_empty()).collect();
        d.archive = segs.first() == Some(&"archive");
        let mut it = segs.iter().skip(1);
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            match *k {
                "projects" => d.project = Some(v.to_string()),
                "subjects" => d.subject = Some(v.to_string()),
                "experiments" => d.session = Some(v.to_string()),
                _ => {}
            }
        }
    }
    let pick = |a: &str, b: &str| {
        ctx.param(a)
            .or_else(|| ctx.param(b))
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    d.project = pick("PROJECT_ID", "project").or(d.project);
    d.subject = pick("SUBJECT_ID", "subject").or(d.subject);
    d.session = pick("EXPT_LABEL", "session").or(d.session);
    d
}

/// XNAT turns characters that are not allowed in labels into `_`.
fn clean_label(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_matches('_')
        .to_string()
}

/// Unpacks the upload into named byte blobs (nested zips are opened too).
fn entries(ctx: &Ctx) -> Result<Vec<(String, Vec<u8>)>, Response> {
    let ct = ctx
        .req
        .header("content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    let body = &ctx.req.body;
    if body.is_empty() {
        return Err(fail(400, "Unable to identify upload format."));
    }
    let (name, data) = if ct.starts_with("multipart/form-data") {
        let mut parts =
            super::upload::multipart(ctx.req.header("content-type").unwrap_or(""), body)
                .ok_or_else(|| fail(400, "Unable to identify upload format."))?;
        match parts.len() {
            0 => return Err(fail(400, "Unable to identify upload format.")),
            1 => parts.remove(0),
            _ => {
                return Err(fail(
                    400,
                    "Importer is limited to one uploaded resource at a time.",
                ))
            }
        }
    } else {
        ("upload".to_string(), body.clone())
    };
    let gradual =
        ctx.param("import-handler") == Some("gradual-DICOM") || ct.starts_with("application/dicom");
    if gradual || !data.starts_with(b"PK") {
        if gradual {
            return Ok(vec![(name, data)]);
        }
        return Err(fail(400, "Unable to identify upload format."));
    }
    let mut out = Vec::new();
    unzip_into(&data, &mut out, 0)?;
    Ok(out)
}

fn unzip_into(data: &[u8], out: &mut Vec<(String, Vec<u8>)>, depth: usize) -> Result<(), Response> {
    let bad = || fail(400, "Unable to read the uploaded archive.");
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(data)).map_err(|_| bad())?;
    for i in 0..z.len() {
        let mut f = z.by_index(i).map_err(|_| bad())?;
        if f.is_dir() {
            continue;
        }
        let name = f
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| format!("entry{i}"));
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).map_err(|_| bad())?;
        if depth < 2 && name.to_ascii_lowercase().ends_with(".zip") && bytes.starts_with(b"PK") {
            unzip_into(&bytes, out, depth + 1)?;
        } else {
            out.push((name, bytes));
        }
    }
    Ok(())
}

/// `POST /data/services/import`.
pub fn import(ctx: &Ctx) -> Answer {
    if ctx.method() != "POST" {
        return Err(not_allowed());
    }
    match ctx.param("import-handler").unwrap_or("DICOM-zip") {
        "DICOM-zip" | "SI" | "gradual-DICOM" => {}
        other => return Err(fail(404, &format!("Unknown import handler {other}."))),
    }
    let dest = parse_dest(ctx);
    let (objects, unreadable) = read_objects(ctx)?;
    let mut store = ctx.write();
    if let Some(p) = &dest.project {
        super::access::project(ctx, &store, p, Access::Edit)?;
    }
    let mut groups: BTreeMap<Target, Vec<Object>> = BTreeMap::new();
    for o in objects {
        let t = route(ctx, &store, &dest, &o.header);
        groups.entry(t).or_default().push(o);
    }
    let archive = unreadable.is_none()
        && (dest.archive
            || ctx.flag("Direct-Archive")
            || ctx.flag("AA")
            || ctx.flag("auto-archive"));
    let mut uris = Vec::new();
    for (target, objs) in groups {
        let objs = site_anonymization(ctx, &store, &target, objs)?;
        let auto = archive || auto_archived(&store, &target, &objs);
        let key = receive(&mut store, ctx, &target, objs)?;
        if auto && unreadable.is_none() && target.project != "Unassigned" {
            let uri = archive_received(ctx, &mut store, &key, &target.project)?;
            uris.push(format!("/data{uri}"));
        } else if let Some(p) = store.prearchive.get(&key) {
            uris.push(format!("/data{}", p.url()));
        }
    }
    import_answer(ctx, unreadable, &uris)
}

/// Reads the header of every DICOM object of the upload (hidden files skipped): the objects, and the
/// name of the first unreadable one unless the upload asks to ignore unparsable files.
fn read_objects(ctx: &Ctx) -> Result<(Vec<Object>, Option<String>), Response> {
    let ignore = ctx.flag("Ignore-Unparsable") || ctx.param("action") == Some("commit");
    let mut objects = Vec::new();
    let mut unreadable = None;
    for (name, bytes) in entries(ctx)? {
        let base = name.rsplit('/').next().unwrap_or(&name).to_string();
        if base.starts_with('.') || base.is_empty() {
            continue;
        }
        match read_header(&bytes) {
            Some(header) => objects.push(Object {
                name: base,
                bytes,
                header,
                digest: String::new(),
            }),
            None if ignore => {}
            None => {
                unreadable = Some(base);
                break;
            }
        }
    }
    // Checksums are computed as the files arrive, before the store is locked: XNAT computes them
    // in each upload's own request thread, so concurrent imports do not wait on each other's.
    let messages: Vec<&[u8]> = objects.iter().map(|o| o.bytes.as_slice()).collect();
    let digests = crate::digest::md5_many(&messages);
    for (o, d) in objects.iter_mut().zip(digests) {
        o.digest = crate::digest::hex(&d);
    }
    Ok((objects, unreadable))
}

/// Whether a received session goes to the archive at once without the upload asking: an object's
/// comment assignment asks for it, or its project auto-archives (prearchive code 4 or 5).
fn auto_archived(store: &Store, target: &Target, objs: &[Object]) -> bool {
    objs.iter()
        .any(|o| assignment(&o.header.comments).auto_archive)
        || store
            .projects
            .get(&target.project)
            .is_some_and(|p| p.prearchive_code >= 4)
}

/// Archives a session the import just received into `project`, overwriting files when the upload or
/// the project's prearchive code (5) asks for it; returns its archive URI.
fn archive_received(
    ctx: &Ctx,
    store: &mut Store,
    key: &(String, String, String),
    project: &str,
) -> Result<String, Response> {
    let opts = ArchiveOpts {
        overwrite_files: ctx.flag("overwrite_files")
            || store
                .projects
                .get(project)
                .is_some_and(|p| p.prearchive_code == 5),
        override_exceptions: ctx.flag("overrideExceptions"),
        ..ArchiveOpts::default()
    };
    archive_session(ctx, store, key, &opts)
}

/// The import's answer: the URIs of the sessions it archived or left in the prearchive, as a list or
/// as text, or why the upload as a whole failed.
fn import_answer(ctx: &Ctx, unreadable: Option<String>, uris: &[String]) -> Answer {
    if let Some(name) = unreadable {
        return Err(fail(400, &format!("unable to read DICOM object {name}")));
    }
    if uris.is_empty() {
        return Err(fail(400, "The upload contained no DICOM objects."));
    }
    if ctx
        .param("format")
        .is_some_and(|f| f.eq_ignore_ascii_case("txt"))
    {
        return Ok(crate::sim::render::text(200, uris.join("\n")));
    }
    Ok(uri_list(200, uris))
}

/// Runs the site-wide anonymization script over a group's objects, as XNAT does on receipt, unless
/// the upload carries `prevent_anon=true`. A script that cannot run fails the import (`500`).
fn site_anonymization(
    ctx: &Ctx,
    store: &Store,
    t: &Target,
    objs: Vec<Object>,
) -> Result<Vec<Object>, Response> {
    let anon = &store.site.anon;
    if ctx.flag("prevent_anon") || !anon.enabled {
        return Ok(objs);
    }
    let folder = if valid_id(&t.session) {
        t.session.as_str()
    } else {
        "dicom_upload"
    };
    let labels = crate::sim::anon::Labels {
        project: &t.project,
        subject: &t.subject,
        session: folder,
    };
    let mut out = Vec::with_capacity(objs.len());
    for o in objs {
        let failed = |why: &str| fail(500, &format!("anonymization of {} failed: {why}", o.name));
        match crate::sim::anon::run(&anon.script, &labels, &o.bytes) {
            Ok(None) => out.push(o),
            Ok(Some(bytes)) => {
                let header = read_header(&bytes).ok_or_else(|| failed("unreadable result"))?;
                out.push(Object {
                    name: o.name,
                    digest: crate::digest::hex(&crate::digest::md5_one(&bytes)),
                    bytes,
                    header,
                });
            }
            Err(e) => return Err(failed(&e.0)),
        }
    }
    Ok(out)
}

/// Decides project, subject and session for one object.
fn route(ctx: &Ctx, store: &Store, dest: &Dest, h: &Header) -> Target {
    let a = assignment(&h.comments);
    let usable = |p: &str| store.projects.contains_key(p) && ctx.access(store, p) >= Access::Edit;
    let project = dest
        .project
        .clone()
        .or_else(|| a.project.clone().filter(|p| usable(p)))
        .or_else(|| Some(h.study_description.clone()).filter(|p| usable(p)))
        .or_else(|| Some(h.accession_number.clone()).filter(|p| usable(p)))
        .unwrap_or_else(|| "Unassigned".into());
    let subject = dest
        .subject
        .clone()
        .or(a.subject)
        .unwrap_or_else(|| clean_label(&h.patient_name));
    let session = dest
        .session
        .clone()
        .or(a.session)
        .or_else(|| Some(clean_label(&h.patient_id)).filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "dicom_upload".into());
    Target {
        project,
        study_uid: h.study_uid.clone(),
        session,
        subject,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_cleaned_as_xnat_does() {
        assert_eq!(clean_label("Hartmann^Anna"), "Hartmann_Anna");
        assert_eq!(clean_label("H7730011"), "H7730011");
        assert_eq!(clean_label("^x y^"), "x_y");
    }
}
