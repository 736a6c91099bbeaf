//! Downloads: single files (streamed from disk with their length), zip archives of any file selection
//! (streamed as built, entry names in XNAT's layouts), and resource catalogs as XML.

use super::access::{self, Scope};
use super::files::{select_resources, select_scans, FileRef, Level};
use super::{fail, Answer, Ctx};
use crate::sim::http::{Body, Response};
use crate::sim::util::xml_escape;
use crate::sim::zipstream::stream_zip;

fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "xml" => "text/xml",
        "txt" => "text/plain",
        "json" => "application/json",
        "html" | "htm" => "text/html",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

/// Streams one file from disk.
pub fn send_file(store_root: &std::path::Path, f: &FileRef) -> Answer {
    crate::sim::paths::check_inside(store_root, &f.disk)
        .map_err(|_| fail(404, "Unable to find file."))?;
    let file = std::fs::File::open(&f.disk).map_err(|_| fail(404, "Unable to find file."))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(f.entry.size);
    Ok(Response {
        status: 200,
        headers: vec![("Content-Type".into(), content_type(&f.path).into())],
        body: Body::Sized(Box::new(file), len),
        drop_body: false,
    })
}

fn sanitize(t: &str) -> String {
    t.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A streamed zip of files, named per `structure` (default, `simplified`, `improved`).
pub fn zip_response(ctx: &Ctx, label: &str, files: Vec<FileRef>) -> Response {
    let structure = ctx.param("structure").unwrap_or("default");
    let entries = files
        .into_iter()
        .map(|f| {
            let name = match (&f.scan, structure) {
                (Some((id, _)), "simplified") => {
                    format!("{label}/scans/{id}/{}/{}", f.res_label, f.path)
                }
                (Some((id, t)), "improved") => {
                    format!("scans/{id}_{}/{}/{}", sanitize(t), f.res_label, f.path)
                }
                (Some((id, t)), _) => format!(
                    "{label}/scans/{id}-{}/resources/{}/files/{}",
                    sanitize(t),
                    f.res_label,
                    f.path
                ),
                (None, "simplified") => format!("{label}/resources/{}/{}", f.res_label, f.path),
                (None, _) => format!("{label}/resources/{}/files/{}", f.res_label, f.path),
            };
            (name, f.disk)
        })
        .collect();
    let deflate = ctx
        .param("compression")
        .and_then(|c| c.parse::<u32>().ok())
        .is_some_and(|c| c > 0);
    Response {
        status: 200,
        headers: vec![
            ("Content-Type".into(), "application/zip".into()),
            (
                "Content-Disposition".into(),
                format!("attachment; filename=\"{label}.zip\""),
            ),
        ],
        body: Body::Stream(Box::new(stream_zip(entries, deflate))),
        drop_body: false,
    }
}

/// `GET .../resources/{R}`: the catalog XML of a resource.
pub fn catalog(ctx: &Ctx, scope: Scope, key: &str, level: Level, r: &str) -> Answer {
    let store = ctx.read();
    let e = access::experiment_strict(ctx, &store, scope, key)?;
    let (res, uid) = match &level {
        Level::Scans(spec) => select_scans(e, spec).into_iter().find_map(|s| {
            select_resources(&s.resources, Some(r))
                .first()
                .map(|x| ((*x).clone(), s.uid.clone()))
        }),
        Level::Session => select_resources(&e.resources, Some(r))
            .first()
            .map(|x| ((*x).clone(), String::new())),
    }
    .ok_or_else(|| fail(404, &format!("Unable to find resource {r}.")))?;
    let dicom = res.format == "DICOM";
    let root = if dicom {
        "cat:DCMCatalog"
    } else {
        "cat:Catalog"
    };
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root} xmlns:cat=\"http://nrg.wustl.edu/catalog\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" ID=\"{}\"{}>\n<cat:entries>\n",
        xml_escape(&res.label),
        if dicom { format!(" UID=\"{}\"", xml_escape(&uid)) } else { String::new() }
    );
    for (p, f) in &res.files {
        let name = p.rsplit('/').next().unwrap_or(p);
        let kind = if dicom && !f.uid.is_empty() {
            format!(" xsi:type=\"cat:dcmEntry\" UID=\"{}\"", xml_escape(&f.uid))
        } else {
            " xsi:type=\"cat:entry\"".to_string()
        };
        xml.push_str(&format!(
            "<cat:entry{kind} ID=\"{}\" URI=\"{}\" name=\"{}\" digest=\"{}\" format=\"{}\">\
             <cat:metaFields><cat:metaField name=\"size_in_bytes\">{}</cat:metaField></cat:metaFields></cat:entry>\n",
            xml_escape(p),
            xml_escape(p),
            xml_escape(name),
            f.digest,
            xml_escape(&f.format),
            f.size
        ));
    }
    xml.push_str(&format!("</cat:entries>\n</{root}>\n"));
    Ok(Response::bytes(200, "text/xml", xml.into_bytes()))
}
