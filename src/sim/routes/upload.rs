//! Resources and files: creating and deleting resources, uploading files (raw body or multipart,
//! `overwrite`, `extract` of zip archives) and deleting files. Digests are MD5, as XNAT's catalogs.

use super::access::Scope;
use super::files::Level;
use super::sessions::experiment_for_change;
use super::{fail, Answer, Ctx};
use crate::sim::auth::Access;
use crate::sim::http::Response;
use crate::sim::model::{Experiment, FileEntry, Resource};
use crate::sim::render::{json_value, text};
use crate::sim::store::Store;
use crate::sim::util::md5_hex;
use serde_json::json;
use std::io::Read;
use std::path::PathBuf;

fn io_fail(_: std::io::Error) -> Response {
    fail(500, "The server could not store the file.")
}

/// The resources of the level a URL names, and the folder they live in.
fn resources_mut<'e>(
    store: &Store,
    e: &'e mut Experiment,
    level: &Level,
) -> Result<(&'e mut Vec<Resource>, PathBuf), Response> {
    let root = store.root().join(&e.dir);
    match level {
        Level::Scans(spec) => {
            let scan = e
                .scans
                .iter_mut()
                .find(|s| s.id == *spec)
                .ok_or_else(|| fail(404, &format!("Unable to find scan {spec}.")))?;
            let dir = root.join("SCANS").join(&scan.id);
            Ok((&mut scan.resources, dir))
        }
        Level::Session => Ok((&mut e.resources, root.join("RESOURCES"))),
    }
}

fn find_resource(list: &[Resource], r: &str) -> Option<usize> {
    list.iter()
        .position(|x| x.label == r || x.id.to_string() == r)
}

/// `PUT .../resources/{R}`: creates an empty resource; `409` if it exists.
pub fn create_resource(ctx: &Ctx, scope: Scope, key: &str, level: Level, r: &str) -> Answer {
    let mut store = ctx.write();
    let mut e = experiment_for_change(ctx, &store, scope, key, Access::Edit)?;
    let id = store.new_resource_id();
    let (list, _) = resources_mut(&store, &mut e, &level)?;
    if find_resource(list, r).is_some() {
        return Err(fail(409, "Specified resource already exists."));
    }
    check_label(r)?;
    list.push(new_resource(ctx, id, r, &level));
    store.put_experiment(e).map_err(io_fail)?;
    store.save_site().map_err(io_fail)?;
    Ok(text(200, ""))
}

/// A new resource's label becomes a folder name, so it must be a valid XNAT identifier.
fn check_label(label: &str) -> Result<(), Response> {
    if crate::sim::util::valid_id(label) {
        Ok(())
    } else {
        Err(fail(
            400,
            "Invalid resource label: identifiers cannot use special characters.",
        ))
    }
}

/// Checks a path against the state folder before it is touched.
fn guarded(store: &Store, path: PathBuf) -> Result<PathBuf, Response> {
    store
        .guard(&path)
        .map_err(|_| fail(400, "Invalid path: it leaves the session's folder."))?;
    Ok(path)
}

fn new_resource(ctx: &Ctx, id: u64, label: &str, level: &Level) -> Resource {
    let fmt = ctx
        .param("format")
        .filter(|f| !matches!(*f, "json" | "xml" | "csv" | "html"))
        .unwrap_or(if label == "DICOM" { "DICOM" } else { "" });
    let content = ctx
        .param("content")
        .unwrap_or(if matches!(level, Level::Scans(_)) {
            "RAW"
        } else {
            ""
        });
    Resource {
        id,
        label: label.into(),
        format: fmt.into(),
        content: content.into(),
        files: Default::default(),
    }
}

/// `DELETE .../resources/{R}`: removes the resource and its files.
pub fn delete_resource(ctx: &Ctx, scope: Scope, key: &str, level: Level, r: &str) -> Answer {
    let mut store = ctx.write();
    let mut e = experiment_for_change(ctx, &store, scope, key, Access::Delete)?;
    let (list, dir) = resources_mut(&store, &mut e, &level)?;
    let i = find_resource(list, r)
        .ok_or_else(|| fail(404, &format!("Unable to find resource {r}.")))?;
    let res = list.remove(i);
    let folder = guarded(&store, dir.join(&res.label))?;
    if folder.exists() && ctx.param("removeFiles") != Some("false") {
        std::fs::remove_dir_all(folder).map_err(io_fail)?;
    }
    store.put_experiment(e).map_err(io_fail)?;
    Ok(text(200, ""))
}

/// One uploaded file: (relative path, bytes).
type Part = (String, Vec<u8>);

fn safe_path(p: &str) -> Option<String> {
    let parts: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
    if parts.is_empty()
        || parts
            .iter()
            .any(|s| *s == ".." || *s == "." || s.contains(['\\', '\0']))
    {
        return None;
    }
    Some(parts.join("/"))
}

/// Parses `multipart/form-data` into file parts (those with a filename).
pub(super) fn multipart(content_type: &str, body: &[u8]) -> Option<Vec<Part>> {
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .next()?
        .trim_matches('"');
    let delim = format!("--{boundary}");
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let pos = find(rest, delim.as_bytes())?;
        rest = &rest[pos + delim.len()..];
        if rest.starts_with(b"--") {
            return Some(out);
        }
        let head_end = find(rest, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&rest[..head_end]).to_string();
        rest = &rest[head_end + 4..];
        let end = find(rest, format!("\r\n{delim}").as_bytes())?;
        let data = &rest[..end];
        rest = &rest[end + 2..];
        let filename = head
            .lines()
            .filter(|l| l.to_ascii_lowercase().starts_with("content-disposition"))
            .flat_map(|l| l.split(';'))
            .filter_map(|p| p.trim().strip_prefix("filename="))
            .next()
            .map(|f| f.trim().trim_matches('"').to_string());
        if let Some(f) = filename.filter(|f| !f.is_empty()) {
            let base = f.rsplit(['/', '\\']).next().unwrap_or(&f).to_string();
            out.push((base, data.to_vec()));
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn unzip(bytes: &[u8]) -> Result<Vec<Part>, Response> {
    let bad = || fail(400, "Unable to read the uploaded archive.");
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|_| bad())?;
    let mut out = Vec::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).map_err(|_| bad())?;
        if f.is_dir() {
            continue;
        }
        let Some(name) = f
            .enclosed_name()
            .and_then(|p| safe_path(&p.to_string_lossy().replace('\\', "/")))
        else {
            continue;
        };
        let mut data = Vec::new();
        f.read_to_end(&mut data).map_err(|_| bad())?;
        out.push((name, data));
    }
    Ok(out)
}

/// The name of a body uploaded without one: `upload` with the extension of its content type.
fn derived_name(content_type: &str) -> String {
    let ct = content_type.to_ascii_lowercase();
    let ext = match ct.split(';').next().unwrap_or("").trim() {
        "application/zip" | "application/x-zip-compressed" | "application/x-zip" => ".zip",
        "application/xml" | "text/xml" => ".xml",
        "application/json" => ".json",
        "text/plain" => ".txt",
        _ => "",
    };
    format!("upload{ext}")
}

/// The files an upload request carries.
fn parts_of(ctx: &Ctx, path: &[&str]) -> Result<Vec<Part>, Response> {
    let ct = ctx.req.header("content-type").unwrap_or("");
    let inbody = ctx.flag("inbody");
    let mut parts = if ct.starts_with("multipart/form-data") {
        if inbody {
            return Err(fail(406, "In-body uploads cannot be multipart."));
        }
        let mut parts =
            multipart(ct, &ctx.req.body).ok_or_else(|| fail(400, "Malformed multipart body."))?;
        if !path.is_empty() && parts.len() == 1 {
            parts[0].0 = path.join("/");
        }
        parts
    } else {
        if ctx.req.body.is_empty() {
            return Err(fail(400, "You didn't provide any data to upload."));
        }
        let mut name = path.join("/");
        if name.is_empty() {
            // A body PUT to the collection (`.../files`) is named from its type, as XNAT's
            // SecureResource does (`upload.zip` for a zip), so `extract=true` can unpack it.
            name = derived_name(ct);
        }
        vec![(name, ctx.req.body.clone())]
    };
    if parts.is_empty() {
        return Err(fail(400, "You didn't provide any data to upload."));
    }
    if ctx.flag("extract") {
        let mut out = Vec::new();
        for (name, data) in parts.drain(..) {
            if name.to_ascii_lowercase().ends_with(".zip") {
                out.extend(unzip(&data)?);
            } else {
                out.push((name, data));
            }
        }
        parts = out;
    }
    parts
        .into_iter()
        .map(|(n, d)| {
            safe_path(&n)
                .map(|n| (n, d))
                .ok_or_else(|| fail(400, "Invalid file path."))
        })
        .collect()
}

/// `PUT|POST .../resources/{R}/files[/{path}]`: stores files, creating the resource if needed.
pub fn upload(ctx: &Ctx, scope: Scope, key: &str, level: Level, r: &str, path: &[&str]) -> Answer {
    let parts = parts_of(ctx, path)?;
    let overwrite = ctx.flag("overwrite");
    let mut store = ctx.write();
    let mut e = experiment_for_change(ctx, &store, scope, key, Access::Edit)?;
    let new_id = store.new_resource_id();
    let (list, dir) = resources_mut(&store, &mut e, &level)?;
    let idx = match find_resource(list, r) {
        Some(i) => i,
        None => {
            check_label(r)?;
            list.push(new_resource(ctx, new_id, r, &level));
            list.len() - 1
        }
    };
    let res = &mut list[idx];
    let folder = dir.join(&res.label);
    let mut duplicates = Vec::new();
    for (name, data) in parts {
        if res.files.contains_key(&name) && !overwrite {
            duplicates.push(name);
            continue;
        }
        let target = guarded(&store, folder.join(&name))?;
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io_fail)?;
        }
        std::fs::write(&target, &data).map_err(io_fail)?;
        let uid = if res.format == "DICOM" {
            crate::sim::dicomio::read_header(&data)
                .map(|h| h.sop_uid)
                .unwrap_or_default()
        } else {
            String::new()
        };
        res.files.insert(
            name,
            FileEntry {
                size: data.len() as u64,
                digest: md5_hex(&data),
                format: if uid.is_empty() {
                    String::new()
                } else {
                    "DICOM".into()
                },
                uid,
            },
        );
    }
    store.put_experiment(e).map_err(io_fail)?;
    store.save_site().map_err(io_fail)?;
    if duplicates.is_empty() {
        Ok(text(200, ""))
    } else {
        let mut resp = json_value(200, &json!({ "duplicates": duplicates }));
        resp.headers = vec![("Content-Type".into(), "text/html".into())];
        Ok(resp)
    }
}

/// `DELETE .../resources/{R}/files/{path}`.
pub fn delete_file(
    ctx: &Ctx,
    scope: Scope,
    key: &str,
    level: Level,
    r: &str,
    path: &[&str],
) -> Answer {
    let path = path.join("/");
    let mut store = ctx.write();
    let mut e = experiment_for_change(ctx, &store, scope, key, Access::Delete)?;
    let (list, dir) = resources_mut(&store, &mut e, &level)?;
    let i = find_resource(list, r)
        .ok_or_else(|| fail(404, &format!("Unable to find resource {r}.")))?;
    let res = &mut list[i];
    let many = path.ends_with('/') || path.ends_with('*');
    let prefix = path.trim_end_matches('*');
    let names: Vec<String> = res
        .files
        .keys()
        .filter(|k| {
            if many {
                k.starts_with(prefix)
            } else {
                **k == path
            }
        })
        .cloned()
        .collect();
    if names.is_empty() {
        return Err(fail(404, "No matched files"));
    }
    let folder = dir.join(&res.label);
    for n in names {
        let path = guarded(&store, folder.join(&n))?;
        res.files.remove(&n);
        if ctx.param("removeFiles") != Some("false") {
            let _ = std::fs::remove_file(path);
        }
    }
    store.put_experiment(e).map_err(io_fail)?;
    Ok(text(200, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_bodies_yield_file_parts() {
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nfield\r\n--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"dir/x.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XX--\r\n";
        let parts = multipart("multipart/form-data; boundary=XX", body).unwrap();
        assert_eq!(parts, vec![("x.txt".to_string(), b"hello".to_vec())]);
        assert!(multipart("multipart/form-data; boundary=XX", b"junk").is_none());
    }

    #[test]
    fn unnamed_bodies_are_named_from_their_type() {
        assert_eq!(derived_name("application/zip"), "upload.zip");
        assert_eq!(derived_name("text/xml; charset=UTF-8"), "upload.xml");
        assert_eq!(derived_name(""), "upload");
    }

    #[test]
    fn paths_cannot_escape_the_resource() {
        assert_eq!(safe_path("a//b.dcm").as_deref(), Some("a/b.dcm"));
        assert!(safe_path("../x").is_none());
        assert!(safe_path("").is_none());
    }
}
