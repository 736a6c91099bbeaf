//! Session resources (non-DICOM folders such as BIDS or pipeline outputs), file by file: the listing
//! with sizes and digests, streaming downloads hashed with MD5 (what XNAT catalogs record) and blake3,
//! and streaming uploads that never replace a file the destination already holds.

use super::http::{Payload, Retry};
use super::json::{file_entry, FileRow, Listing};
use super::transfer::{io_err, Landing, Tap};
use super::{enc, Client, XnatError};
use crate::model::inventory::FileEntry;
use std::fs::File;
use std::path::Path;

/// A session resource on a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceRef<'a> {
    /// Project ID.
    pub project: &'a str,
    /// Subject label.
    pub subject: &'a str,
    /// Session label.
    pub session: &'a str,
    /// Resource label.
    pub label: &'a str,
}

/// A file fetched to disk, with its hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedFile {
    /// Its size.
    pub bytes: u64,
    /// MD5, hex: comparable with the digests XNAT lists.
    pub md5: String,
    /// blake3, hex.
    pub blake3: String,
}

/// The path inside a resource of a file URI (`…/resources/LABEL/files/a/b.json` -> `a/b.json`), if
/// it is a safe relative path: no empty, `.` or `..` component, no backslash.
pub fn resource_path_of(uri: &str) -> Option<String> {
    let at = uri.find("/resources/")?;
    let rest = &uri[at + "/resources/".len()..];
    let (_, path) = rest.split_once("/files/")?;
    safe_relative(path)
}

/// A URI tail (`a/b%20c.json`, a query cut off) decoded, if it is a safe relative path: no empty,
/// `.` or `..` component, no backslash.
pub(super) fn safe_relative(tail: &str) -> Option<String> {
    let path = percent_encoding::percent_decode_str(tail.split('?').next().unwrap_or(tail))
        .decode_utf8_lossy()
        .into_owned();
    let safe = !path.is_empty()
        && !path.contains('\\')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..");
    safe.then_some(path)
}

impl Client {
    fn resource_base(&self, r: ResourceRef<'_>) -> String {
        format!(
            "{}/resources/{}",
            self.session_path(r.project, r.subject, r.session),
            enc(r.label)
        )
    }

    fn file_url(&self, r: ResourceRef<'_>, path: &str) -> String {
        let parts: Vec<String> = path.split('/').map(enc).collect();
        format!("{}/files/{}", self.resource_base(r), parts.join("/"))
    }

    /// The files of a session resource (`name`: the path inside the resource), sorted by path; empty when the resource does not exist.
    pub fn resource_files(&self, r: ResourceRef<'_>) -> Result<Vec<FileEntry>, XnatError> {
        let path = format!("{}/files?format=json", self.resource_base(r));
        let what = format!(
            "listing resource {} of session {} in {}",
            r.label, r.session, r.project
        );
        let listing: Listing<FileRow> = match self.http.get_json_as(&path, &what) {
            Ok(v) => v,
            Err(XnatError::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for row in &listing.rows() {
            let uri = row.uri.as_str();
            let path = resource_path_of(uri).ok_or_else(|| XnatError::BadResponse {
                server: self.name().to_string(),
                what: what.clone(),
                detail: format!("a file is listed under an unsafe or missing path: {uri:?}"),
            })?;
            out.push(file_entry(row, path));
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Streams one resource file to `dest` (through `dest.part`), hashing it on the way.
    pub fn download_resource_file(
        &self,
        r: ResourceRef<'_>,
        path: &str,
        dest: &Path,
        on_bytes: &mut dyn FnMut(u64),
    ) -> Result<FetchedFile, XnatError> {
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(io_err("create", dir))?;
        }
        let what = format!(
            "downloading {}/{path} of session {} in {}",
            r.label, r.session, r.project
        );
        let got = self.download_to(
            &self.file_url(r, path),
            &what,
            Landing::disk(dest),
            true,
            on_bytes,
        )?;
        Ok(FetchedFile {
            bytes: got.bytes,
            md5: got.md5.unwrap_or_default(),
            blake3: got.blake3,
        })
    }

    /// Streams a local file into a session resource, creating the resource when needed. Never
    /// overwrites: a file already there is an error from the server. Not retried blindly; callers
    /// list the resource before trying again.
    pub fn upload_resource_file(
        &self,
        r: ResourceRef<'_>,
        path: &str,
        src: &Path,
        on_bytes: &mut dyn FnMut(u64),
    ) -> Result<(), XnatError> {
        let url = format!("{}?inbody=true", self.file_url(r, path));
        let what = format!(
            "uploading {}/{path} into session {} of {}",
            r.label, r.session, r.project
        );
        let mut file = File::open(src).map_err(io_err("open", src))?;
        let len = file.metadata().map_err(io_err("read", src))?.len();
        let mut tap = Tap {
            inner: &mut file,
            on_bytes,
        };
        self.http.exchange(
            "PUT",
            &url,
            &what,
            Retry::Once,
            Payload::Stream(&mut tap, "application/octet-stream", len),
            |_| Ok(()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_come_from_the_uri_and_must_be_safe() {
        let p = |u: &str| resource_path_of(u);
        assert_eq!(
            p("/data/experiments/E1/resources/BIDS/files/sub-01/anat.json").as_deref(),
            Some("sub-01/anat.json")
        );
        assert_eq!(
            p("/data/experiments/E1/resources/NOTES/files/a%20b.txt").as_deref(),
            Some("a b.txt")
        );
        for bad in [
            "/data/experiments/E1/resources/N/files/../../etc/passwd",
            "/data/experiments/E1/resources/N/files/a//b",
            "/data/experiments/E1/resources/N/files/a%2F..%2F..%2Fx",
            "/data/experiments/E1/resources/N/files/",
            "/data/experiments/E1/resources/N/files/a\\b",
            "/data/experiments/E1/scans/1",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }
}
