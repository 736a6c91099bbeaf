//! File listings, single files and zips under a session (XNAT's FileList): `.../resources/{R}/files`,
//! `{session}/scans/{S}/files` and the short-cut `{session}/files`.

use super::access::{self, label_in, Scope};
use super::files::{base_uri, collect_files, select_resources, select_scans, FileRef, Level};
use super::{download, fail, Answer, Ctx};
use crate::sim::model::Experiment;
use crate::sim::render::{Meta, Table};
use crate::sim::util::percent_encode;
use std::path::PathBuf;

pub fn files_get(
    ctx: &Ctx,
    scope: Scope,
    key: &str,
    level: Level,
    res: Option<&str>,
    path: &[&str],
) -> Answer {
    let path = path.join("/");
    let found = {
        let store = ctx.read();
        let e = access::experiment_strict(ctx, &store, scope, key)?;
        if let Some(r) = res {
            let exists = match &level {
                Level::Scans(spec) => select_scans(e, spec)
                    .iter()
                    .any(|s| !select_resources(&s.resources, Some(r)).is_empty()),
                Level::Session => !select_resources(&e.resources, Some(r)).is_empty(),
            };
            if !exists {
                return Err(fail(404, &format!("Unable to find resource {r}.")));
            }
        }
        let files = collect_files(&store, e, &level, res, &path);
        Found::of(&store, scope, e, files)
    };
    answer_files(ctx, found, &path)
}

/// `{session}/files`, XNAT's file short-cut (FileList at `/experiments/{EXPT_ID}/files`): the
/// session's own resources, and with `all=true` every scan's resources too (XNATTemplate.loadCatalogs
/// adds scan, reconstruction and assessor resources only when `all` is set; the emulator keeps no
/// reconstructions or assessors).
pub fn session_files(ctx: &Ctx, scope: Scope, key: &str) -> Answer {
    let found = {
        let store = ctx.read();
        let e = access::experiment_strict(ctx, &store, scope, key)?;
        let mut files = collect_files(&store, e, &Level::Session, None, "");
        if ctx.flag("all") {
            files.extend(collect_files(
                &store,
                e,
                &Level::Scans("ALL".into()),
                None,
                "",
            ));
        }
        Found::of(&store, scope, e, files)
    };
    answer_files(ctx, found, "")
}

/// The files a URL picked, with what their answer needs from the store.
struct Found {
    files: Vec<FileRef>,
    base: String,
    label: String,
    root: PathBuf,
}

impl Found {
    fn of(
        store: &crate::sim::store::Store,
        scope: Scope,
        e: &Experiment,
        files: Vec<FileRef>,
    ) -> Found {
        let label = scope
            .project()
            .map(|p| label_in(e, p))
            .unwrap_or(e.label.clone());
        Found {
            files,
            base: base_uri(scope, e),
            label,
            root: store.root().to_path_buf(),
        }
    }
}

/// Answers with a zip, one file (`path` names one) or the listing.
fn answer_files(ctx: &Ctx, found: Found, path: &str) -> Answer {
    let Found {
        files,
        base,
        label,
        root,
    } = found;
    let format = ctx.format();
    if format == "zip" {
        if files.is_empty() {
            return Err(fail(404, "No matching files."));
        }
        return Ok(download::zip_response(ctx, &label, files));
    }
    let single = !path.is_empty() && !path.ends_with('/') && !path.ends_with('*');
    if single {
        let f = files
            .into_iter()
            .find(|f| f.path == path)
            .ok_or_else(|| fail(404, "Unable to find file."))?;
        return download::send_file(&root, &f);
    }
    let rows = files.iter().map(|f| file_row(&base, f)).collect();
    let table = Table {
        columns: FILE_COLUMNS.iter().map(|s| s.to_string()).collect(),
        rows,
    };
    let meta = Meta {
        title: Some("Files"),
        total: false,
        uri_columns: true,
    };
    Ok(table.respond(&format, &meta))
}

/// The columns of a file listing, as XNAT names them.
const FILE_COLUMNS: [&str; 9] = [
    "Name",
    "Size",
    "URI",
    "collection",
    "file_tags",
    "file_format",
    "file_content",
    "cat_ID",
    "digest",
];

/// One row of a file listing, its URI below the session's `base`, each path segment encoded.
fn file_row(base: &str, f: &FileRef) -> Vec<String> {
    let path = f
        .path
        .split('/')
        .map(percent_encode)
        .collect::<Vec<_>>()
        .join("/");
    let uri = match &f.scan {
        Some((id, _)) => format!(
            "{base}/scans/{}/resources/{}/files/{path}",
            percent_encode(id),
            f.res_id
        ),
        None => format!("{base}/resources/{}/files/{path}", f.res_id),
    };
    let name = f.path.rsplit('/').next().unwrap_or(&f.path).to_string();
    vec![
        name,
        f.entry.size.to_string(),
        uri,
        f.res_label.clone(),
        String::new(),
        f.entry.format.clone(),
        String::new(),
        f.res_id.to_string(),
        f.entry.digest.clone(),
    ]
}
