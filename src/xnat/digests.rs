//! The digests a destination lists for the files of a session's scans (XNAT's `digest` column, an
//! MD5 when checksums are on), read in one request so that verification can skip reading back
//! files the server vouches for.

use super::json::{scan_of, FileRow, Listing};
use super::{enc, Client, XnatError};
use std::collections::BTreeMap;

impl Client {
    /// For each of `scans` of a session: one entry per listed file, its digest or `None` where the
    /// server lists none. Every asked scan is present, empty when the server lists no file for it.
    pub fn scan_digests(
        &self,
        project: &str,
        subject: &str,
        session: &str,
        scans: &[String],
    ) -> Result<BTreeMap<String, Vec<Option<String>>>, XnatError> {
        let mut out: BTreeMap<String, Vec<Option<String>>> =
            scans.iter().map(|s| (s.clone(), Vec::new())).collect();
        if scans.is_empty() {
            return Ok(out);
        }
        let ids: Vec<String> = scans.iter().map(|s| enc(s)).collect();
        let path = format!(
            "{}/scans/{}/files?format=json",
            self.session_path(project, subject, session),
            ids.join(",")
        );
        let listing: Listing<FileRow> = self.http.get_json_as(
            &path,
            &format!("listing the file digests of {project}/{session}"),
        )?;
        for r in listing.rows() {
            if let Some(list) = scan_of(r.uri.as_str()).and_then(|id| out.get_mut(&id)) {
                list.push(r.digest.nonempty());
            }
        }
        Ok(out)
    }
}
