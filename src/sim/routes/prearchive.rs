//! The prearchive: listings, single sessions (row, scans, files, zip), deletion, and archiving
//! (`POST /data/services/archive`, `action=commit`) with XNAT's merge checks: a different subject or
//! StudyInstanceUID is a `409` that leaves the session in the prearchive as `CONFLICT`.

use super::archiver::{archive_session, ArchiveOpts};
use super::{fail, not_allowed, Answer, Ctx};
use crate::sim::auth::Access;
use crate::sim::http::{Body, Response};
use crate::sim::model::PrearcSession;
use crate::sim::render::{text, uri_list, Meta, Table};
use crate::sim::store::Store;
use crate::sim::zipstream::stream_zip;

type Key = (String, String, String);

const COLUMNS: &[&str] = &[
    "project",
    "timestamp",
    "lastmod",
    "uploaded",
    "scan_date",
    "scan_time",
    "subject",
    "folderName",
    "name",
    "tag",
    "status",
    "url",
    "autoarchive",
    "prevent_anon",
    "prevent_auto_commit",
    "SOURCE",
    "VISIT",
    "PROTOCOL",
    "TIMEZONE",
];

fn row(p: &PrearcSession) -> Vec<String> {
    vec![
        p.project.clone(),
        p.timestamp.clone(),
        p.lastmod.clone(),
        p.uploaded.clone(),
        p.scan_date.clone(),
        p.scan_time.clone(),
        p.subject.clone(),
        p.folder.clone(),
        p.label.clone(),
        p.tag.clone(),
        p.status.clone(),
        p.url(),
        if p.autoarchive { "true" } else { "false" }.into(),
        "false".into(),
        "false".into(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    ]
}

fn table(rows: Vec<Vec<String>>) -> Table {
    Table {
        columns: COLUMNS.iter().map(|s| s.to_string()).collect(),
        rows,
    }
}

fn may_see(ctx: &Ctx, store: &Store, project: &str) -> bool {
    if project == "Unassigned" {
        ctx.is_admin()
    } else {
        ctx.access(store, project) >= Access::Edit
    }
}

/// `/data/prearchive/...`.
pub fn route(ctx: &Ctx, rest: &[&str]) -> Answer {
    match rest {
        [] | ["projects"] => list(ctx, None),
        ["projects", p] => list(ctx, Some(p)),
        ["projects", p, ts, f, more @ ..] => {
            session(ctx, &(p.to_string(), ts.to_string(), f.to_string()), more)
        }
        _ => Err(fail(404, "The requested resource was not found.")),
    }
}

fn list(ctx: &Ctx, projects: Option<&str>) -> Answer {
    if ctx.method() != "GET" {
        return Err(not_allowed());
    }
    let store = ctx.read();
    let wanted: Option<Vec<&str>> = projects.map(|p| p.split(',').collect());
    if let Some(ps) = &wanted {
        for p in ps {
            if *p != "Unassigned" {
                super::access::project(ctx, &store, p, Access::Read)?;
            }
            if !may_see(ctx, &store, p) {
                return Err(fail(
                    403,
                    &format!("Unable to read prearchive for project {p}."),
                ));
            }
        }
    }
    let rows = store
        .prearchive
        .values()
        .filter(|p| {
            wanted
                .as_ref()
                .is_none_or(|w| w.contains(&p.project.as_str()))
        })
        .filter(|p| may_see(ctx, &store, &p.project))
        .filter(|p| ctx.param("tag").is_none_or(|t| t == p.tag))
        .map(row)
        .collect();
    Ok(table(rows).respond(&ctx.format(), &Meta::default()))
}

fn find<'s>(ctx: &Ctx, store: &'s Store, key: &Key) -> Result<&'s PrearcSession, Response> {
    let p = store
        .prearchive
        .get(key)
        .ok_or_else(|| fail(404, "Unable to find the specified prearchive session."))?;
    if !may_see(ctx, store, &p.project) {
        return Err(fail(
            403,
            "User account doesn't have access to this prearchive session.",
        ));
    }
    Ok(p)
}

fn session(ctx: &Ctx, key: &Key, more: &[&str]) -> Answer {
    match (ctx.method(), more) {
        ("GET", []) => session_get(ctx, key),
        ("GET", ["scans"]) => session_scans(ctx, key),
        ("GET", ["scans", s, "resources", r, "files"]) => scan_files(ctx, key, s, r),
        ("DELETE", []) => {
            let mut store = ctx.write();
            find(ctx, &store, key)?;
            store
                .remove_prearc(key)
                .map_err(|_| fail(500, "cannot delete"))?;
            Ok(text(200, ""))
        }
        ("POST", []) => session_action(ctx, key),
        _ => Err(not_allowed()),
    }
}

/// The session's row, or with `format=zip` its files as one zip.
fn session_get(ctx: &Ctx, key: &Key) -> Answer {
    let store = ctx.read();
    let p = find(ctx, &store, key)?;
    if ctx.format() != "zip" {
        return Ok(table(vec![row(p)]).respond(&ctx.format(), &Meta::default()));
    }
    let dir = store.root().join(p.dir());
    let entries = p
        .scans
        .iter()
        .flat_map(|s| {
            s.resources.iter().flat_map(move |r| {
                r.files.keys().map(move |f| {
                    (
                        format!("{}/SCANS/{}/{}/{f}", p.folder, s.id, r.label),
                        format!("SCANS/{}/{}/{f}", s.id, r.label),
                    )
                })
            })
        })
        .map(|(name, rel)| (name, dir.join(rel)))
        .collect();
    Ok(Response {
        status: 200,
        headers: vec![("Content-Type".into(), "application/zip".into())],
        body: Body::Stream(Box::new(stream_zip(entries, false))),
        drop_body: false,
    })
}

fn columns(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The session's scans.
fn session_scans(ctx: &Ctx, key: &Key) -> Answer {
    let store = ctx.read();
    let p = find(ctx, &store, key)?;
    let rows = p
        .scans
        .iter()
        .map(|s| {
            vec![
                s.id.clone(),
                s.scan_type.clone(),
                s.series_description.clone(),
                s.xsi_type.clone(),
                s.uid.clone(),
            ]
        })
        .collect();
    let t = Table {
        columns: columns(&["ID", "type", "series_description", "xsiType", "UID"]),
        rows,
    };
    let meta = Meta {
        total: true,
        ..Meta::default()
    };
    Ok(t.respond(&ctx.format(), &meta))
}

/// The files of one scan resource.
fn scan_files(ctx: &Ctx, key: &Key, s: &str, r: &str) -> Answer {
    let store = ctx.read();
    let p = find(ctx, &store, key)?;
    let scan = p
        .scans
        .iter()
        .find(|x| x.id == s)
        .ok_or_else(|| fail(404, "Unable to find scan."))?;
    let res = scan
        .resources
        .iter()
        .find(|x| x.label == r)
        .ok_or_else(|| fail(404, "Unable to find resource."))?;
    let rows = res
        .files
        .iter()
        .map(|(n, f)| {
            vec![
                n.clone(),
                f.size.to_string(),
                format!("/data{}/scans/{s}/resources/{r}/files/{n}", p.url()),
                f.digest.clone(),
            ]
        })
        .collect();
    let t = Table {
        columns: columns(&["Name", "Size", "URI", "digest"]),
        rows,
    };
    Ok(t.respond(&ctx.format(), &Meta::default()))
}

/// `POST` on a session: archive it (`action=commit`) or rebuild it.
fn session_action(ctx: &Ctx, key: &Key) -> Answer {
    match ctx.param("action") {
        Some("commit") | Some("archive") => {
            let mut store = ctx.write();
            find(ctx, &store, key)?;
            let uri = archive_session(ctx, &mut store, key, &ArchiveOpts::default())?;
            Ok(uri_list(200, &[uri]))
        }
        Some("build") | Some("reset-status") | None => {
            let mut store = ctx.write();
            let mut p = find(ctx, &store, key)?.clone();
            p.status = "READY".into();
            store
                .put_prearc(p.clone())
                .map_err(|_| fail(500, "cannot save"))?;
            Ok(uri_list(200, &[format!("/data{}", p.url())]))
        }
        Some(other) => Err(fail(400, &format!("Unknown action {other}."))),
    }
}

/// Parses `src` values into prearchive keys.
fn sources(ctx: &Ctx) -> Result<Vec<Key>, Response> {
    let mut out = Vec::new();
    for src in ctx.params_named("src") {
        let s = src.trim_start_matches("/data").trim_start_matches("/REST");
        let segs: Vec<&str> = s.split('/').filter(|x| !x.is_empty()).collect();
        match segs.as_slice() {
            ["prearchive", "projects", p, ts, f] => {
                out.push((p.to_string(), ts.to_string(), f.to_string()))
            }
            _ => return Err(fail(400, &format!("Invalid src {src}."))),
        }
    }
    if out.is_empty() {
        if let (Some(p), Some(ts), Some(f)) = (
            ctx.param("project"),
            ctx.param("timestamp"),
            ctx.param("folderName"),
        ) {
            out.push((p.to_string(), ts.to_string(), f.to_string()));
        }
    }
    if out.is_empty() {
        return Err(fail(400, "Missing src parameter."));
    }
    Ok(out)
}

/// `POST /data/services/archive`.
pub fn archive_service(ctx: &Ctx) -> Answer {
    if ctx.method() != "POST" {
        return Err(not_allowed());
    }
    let keys = sources(ctx)?;
    let overwrite = ctx.param("overwrite").unwrap_or("none");
    let mut opts = ArchiveOpts {
        overwrite_files: ctx.flag("overwrite_files") || overwrite == "delete",
        override_exceptions: matches!(overwrite, "append" | "delete")
            || ctx.flag("overrideExceptions"),
        replace_scans: overwrite == "delete",
        ..ArchiveOpts::default()
    };
    if let Some(dest) = ctx.param("dest") {
        let segs: Vec<&str> = dest
            .trim_start_matches("/data")
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        let mut it = segs.iter().skip(1);
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            match *k {
                "projects" => opts.project = Some(v.to_string()),
                "subjects" => opts.subject = Some(v.to_string()),
                "experiments" => opts.label = Some(v.to_string()),
                _ => {}
            }
        }
    }
    let nonempty = |k: &str| ctx.param(k).filter(|v| !v.is_empty()).map(str::to_string);
    opts.project = nonempty("project").or(opts.project);
    opts.subject = nonempty("subject").or(opts.subject);
    opts.label = nonempty("session").or(nonempty("label")).or(opts.label);
    let mut store = ctx.write();
    let mut uris = Vec::new();
    for key in &keys {
        find(ctx, &store, key)?;
        if key.0 == "Unassigned" && opts.project.is_none() {
            return Err(fail(
                400,
                "Sessions in Unassigned need a destination project.",
            ));
        }
        uris.push(archive_session(ctx, &mut store, key, &opts)?);
    }
    if ctx.flag("redirect") && uris.len() == 1 {
        return Ok(text(303, "").with_header("Location", uris[0].clone()));
    }
    Ok(uri_list(200, &uris))
}

/// `POST /data/services/prearchive/{delete|rebuild|move}?src=...`.
pub fn batch(ctx: &Ctx, op: &str) -> Answer {
    if ctx.method() != "POST" {
        return Err(not_allowed());
    }
    let keys = sources(ctx)?;
    let mut store = ctx.write();
    let mut rows = Vec::new();
    for key in keys {
        let mut p = find(ctx, &store, &key)?.clone();
        match op {
            "delete" => {
                store
                    .remove_prearc(&key)
                    .map_err(|_| fail(500, "cannot delete"))?;
                p.status = "DELETED".into();
            }
            "rebuild" => {
                p.status = "READY".into();
                store
                    .put_prearc(p.clone())
                    .map_err(|_| fail(500, "cannot save"))?;
            }
            _ => return Err(fail(404, &format!("Unknown prearchive operation {op}."))),
        }
        rows.push(row(&p));
    }
    Ok(table(rows).respond(&ctx.format(), &Meta::default()))
}
