//! Routes under a session: scans, resources, the session's `status` and `projects`. File listings,
//! single files and zips are in [`super::filelist`], uploads and deletions of files in
//! [`super::upload`], zips and catalogs in [`super::download`].

use super::access::{self, Scope};
use super::{download, fail, filelist, items, not_allowed, sessions, upload, Answer, Ctx};
use crate::sim::model::{Experiment, FileEntry, Resource, Scan};
use crate::sim::render::{text, Meta, Table};
use serde_json::{Map, Value};
use std::path::PathBuf;

/// Which level of a session a resource URL names.
#[derive(Debug, Clone)]
pub enum Level {
    /// Scans selected by a spec (`1`, `1,2`, `T1_MPRAGE`, `ALL`).
    Scans(String),
    /// Session-level resources.
    Session,
}

/// One file picked by a URL.
#[derive(Debug, Clone)]
pub struct FileRef {
    /// Scan ID and type, for scan-level files.
    pub scan: Option<(String, String)>,
    /// The resource.
    pub res_id: u64,
    /// The resource label.
    pub res_label: String,
    /// Path relative to the resource folder.
    pub path: String,
    /// The catalog entry.
    pub entry: FileEntry,
    /// Where the bytes are.
    pub disk: PathBuf,
}

/// Dispatches `rest` under a session URL.
pub fn session_route(ctx: &Ctx, scope: Scope, key: &str, rest: &[&str]) -> Answer {
    let m = ctx.method();
    match rest {
        [] => Err(fail(404, "The requested resource was not found.")),
        ["status"] => Ok(text(200, "active")),
        ["projects"] => session_projects(ctx, scope, key),
        ["scans"] if m == "GET" => list_scans(ctx, scope, key),
        ["scans", s] => match m {
            "GET" => get_scan(ctx, scope, key, s),
            "PUT" | "POST" => sessions::put_scan(ctx, scope, key, s),
            "DELETE" => sessions::delete_scan(ctx, scope, key, s),
            _ => Err(not_allowed()),
        },
        ["scans", s, "resources"] if m == "GET" => {
            list_resources(ctx, scope, key, Level::Scans(s.to_string()))
        }
        ["scans", s, "resources", r, more @ ..] => {
            resource_route(ctx, scope, key, Level::Scans(s.to_string()), r, more)
        }
        ["scans", s, "files"] if m == "GET" => {
            filelist::files_get(ctx, scope, key, Level::Scans(s.to_string()), None, &[])
        }
        ["resources"] if m == "GET" => list_resources(ctx, scope, key, Level::Session),
        ["files"] if m == "GET" => filelist::session_files(ctx, scope, key),
        ["assessors"] | ["reconstructions"] if m == "GET" => {
            derived_listing(ctx, scope, key, rest[0])
        }
        ["resources", r, more @ ..] => resource_route(ctx, scope, key, Level::Session, r, more),
        ["scans", ..] | ["resources", ..] => Err(not_allowed()),
        _ => Err(fail(404, "The requested resource was not found.")),
    }
}

/// `{session}/assessors` and `{session}/reconstructions`: the emulator keeps neither, so both list
/// nothing (with XNAT's columns) for a session the caller may read.
fn derived_listing(ctx: &Ctx, scope: Scope, key: &str, what: &str) -> Answer {
    let store = ctx.read();
    access::experiment_strict(ctx, &store, scope, key)?;
    let columns: &[&str] = if what == "assessors" {
        &[
            "ID",
            "label",
            "xsiType",
            "date",
            "project",
            "insert_date",
            "URI",
        ]
    } else {
        &["ID", "type", "baseScanType", "xsiType", "URI"]
    };
    let table = Table {
        columns: columns.iter().map(|s| s.to_string()).collect(),
        rows: Vec::new(),
    };
    Ok(table.respond(
        &ctx.format(),
        &Meta {
            total: true,
            ..Meta::default()
        },
    ))
}

fn resource_route(
    ctx: &Ctx,
    scope: Scope,
    key: &str,
    level: Level,
    r: &str,
    more: &[&str],
) -> Answer {
    let m = ctx.method();
    match (m, more) {
        ("GET", []) => download::catalog(ctx, scope, key, level, r),
        ("PUT" | "POST", []) => upload::create_resource(ctx, scope, key, level, r),
        ("DELETE", []) => upload::delete_resource(ctx, scope, key, level, r),
        ("GET", ["files", path @ ..]) => filelist::files_get(ctx, scope, key, level, Some(r), path),
        ("PUT" | "POST", ["files", path @ ..]) => upload::upload(ctx, scope, key, level, r, path),
        ("DELETE", ["files", path @ ..]) if !path.is_empty() => {
            upload::delete_file(ctx, scope, key, level, r, path)
        }
        _ => Err(not_allowed()),
    }
}

/// The URL base of a session for URIs: with project and subject when the request named them.
pub fn base_uri(scope: Scope, e: &Experiment) -> String {
    match scope {
        Scope::ProjectSubject(p, _) => format!(
            "/data/projects/{p}/subjects/{}/experiments/{}",
            e.subject_id, e.id
        ),
        _ => format!("/data/experiments/{}", e.id),
    }
}

/// Scans matching a spec: IDs or types, comma lists, `ALL`/`*`, `NULL` for an empty type.
pub fn select_scans<'e>(e: &'e Experiment, spec: &str) -> Vec<&'e Scan> {
    let parts: Vec<String> = spec
        .split(',')
        .map(|p| p.replace("[SLASH]", "/").replace("[COMMA]", ","))
        .collect();
    e.scans
        .iter()
        .filter(|s| {
            parts.iter().any(|p| {
                p == "ALL"
                    || p == "*"
                    || *p == s.id
                    || *p == s.scan_type
                    || (p == "NULL" && s.scan_type.is_empty())
            })
        })
        .collect()
}

/// Resources matching a spec: labels or numeric ids, comma lists.
pub fn select_resources<'r>(list: &'r [Resource], spec: Option<&str>) -> Vec<&'r Resource> {
    match spec {
        None => list.iter().collect(),
        Some(spec) => {
            let parts: Vec<&str> = spec.split(',').collect();
            list.iter()
                .filter(|r| {
                    parts
                        .iter()
                        .any(|p| *p == r.label || *p == r.id.to_string())
                })
                .collect()
        }
    }
}

fn list_scans(ctx: &Ctx, scope: Scope, key: &str) -> Answer {
    let store = ctx.read();
    let e = access::experiment_strict(ctx, &store, scope, key)?;
    let rows = e
        .scans
        .iter()
        .map(|s| {
            let pairs = [
                ("xnat_imagescandata_id", s.db_id.to_string()),
                ("ID", s.id.clone()),
                ("type", s.scan_type.clone()),
                ("quality", s.quality.clone()),
                ("xsiType", s.xsi_type.clone()),
                ("note", s.note.clone()),
                ("series_description", s.series_description.clone()),
                ("UID", s.uid.clone()),
                ("frames", s.frames.to_string()),
                ("modality", s.modality.clone()),
                ("URI", format!("/data/experiments/{}/scans/{}", e.id, s.id)),
            ];
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), Value::String(v)))
                .collect::<Map<String, Value>>()
        })
        .collect();
    Ok(super::archive::listing(
        ctx,
        &[
            "xnat_imagescandata_id",
            "ID",
            "type",
            "quality",
            "xsiType",
            "note",
            "series_description",
        ],
        rows,
    ))
}

fn get_scan(ctx: &Ctx, scope: Scope, key: &str, s: &str) -> Answer {
    let store = ctx.read();
    let e = access::experiment_strict(ctx, &store, scope, key)?;
    let scan = e
        .scans
        .iter()
        .find(|x| x.id == s)
        .ok_or_else(|| fail(404, &format!("Unable to find scan {s}.")))?;
    Ok(items::respond(ctx, &items::scan(&store, e, scan), || {
        items::scan_xml(&store, e, scan)
    }))
}

/// The fixed columns of resource listings.
pub fn resource_table(rows: Vec<Vec<String>>) -> Table {
    Table {
        columns: [
            "xnat_abstractresource_id",
            "label",
            "element_name",
            "category",
            "cat_id",
            "cat_desc",
            "file_count",
            "file_size",
            "tags",
            "content",
            "format",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        rows,
    }
}

fn list_resources(ctx: &Ctx, scope: Scope, key: &str, level: Level) -> Answer {
    let store = ctx.read();
    let e = access::experiment_strict(ctx, &store, scope, key)?;
    let mut rows = Vec::new();
    let mut push = |r: &Resource, category: &str, cat_id: &str, cat_desc: &str| {
        rows.push(vec![
            r.id.to_string(),
            r.label.clone(),
            "xnat:resourceCatalog".into(),
            category.into(),
            cat_id.into(),
            cat_desc.into(),
            r.files.len().to_string(),
            r.total_size().to_string(),
            String::new(),
            r.content.clone(),
            r.format.clone(),
        ])
    };
    match &level {
        Level::Scans(spec) => {
            for s in select_scans(e, spec) {
                for r in &s.resources {
                    push(r, "scans", &s.id, &s.scan_type);
                }
            }
        }
        Level::Session => {
            for r in &e.resources {
                push(r, "resources", &e.id, "");
            }
        }
    }
    let meta = Meta {
        title: Some("Resources"),
        total: true,
        uri_columns: false,
    };
    Ok(resource_table(rows).respond(&ctx.format(), &meta))
}

/// Collects the files a URL picks (sub-path `path` empty = all files of the resources).
pub fn collect_files(
    store: &crate::sim::store::Store,
    e: &Experiment,
    level: &Level,
    res: Option<&str>,
    path: &str,
) -> Vec<FileRef> {
    let mut out = Vec::new();
    let mut add = |scan: Option<&Scan>, r: &Resource, dir: PathBuf| {
        for (p, entry) in &r.files {
            let wanted = path.is_empty()
                || p == path
                || (path.ends_with('/') && p.starts_with(path))
                || (path.ends_with('*') && p.starts_with(path.trim_end_matches('*')));
            if wanted {
                out.push(FileRef {
                    scan: scan.map(|s| (s.id.clone(), s.scan_type.clone())),
                    res_id: r.id,
                    res_label: r.label.clone(),
                    path: p.clone(),
                    entry: entry.clone(),
                    disk: dir.join(p),
                });
            }
        }
    };
    let root = store.root().join(&e.dir);
    match level {
        Level::Scans(spec) => {
            for s in select_scans(e, spec) {
                for r in select_resources(&s.resources, res) {
                    add(Some(s), r, root.join("SCANS").join(&s.id).join(&r.label));
                }
            }
        }
        Level::Session => {
            for r in select_resources(&e.resources, res) {
                add(None, r, root.join("RESOURCES").join(&r.label));
            }
        }
    }
    out
}

fn session_projects(ctx: &Ctx, scope: Scope, key: &str) -> Answer {
    let store = ctx.read();
    let e = access::experiment(ctx, &store, scope, key)?;
    let mut rows = Vec::new();
    for (p, label) in std::iter::once((&e.project, &e.label)).chain(e.shares.iter()) {
        let (sec, name) = store
            .projects
            .get(p)
            .map(|x| (x.secondary_id.clone(), x.name.clone()))
            .unwrap_or_default();
        rows.push(vec![label.clone(), p.clone(), sec, name]);
    }
    let table = Table {
        columns: ["label", "ID", "Secondary_ID", "Name"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        rows,
    };
    Ok(table.respond(
        &ctx.format(),
        &Meta {
            total: true,
            ..Meta::default()
        },
    ))
}
