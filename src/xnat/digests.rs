//! The digests a destination lists for the files of a session's scans (XNAT's `digest` column, an
//! MD5 when checksums are on), read in one request so that verification can skip reading back
//! files the server vouches for.

use super::json::{opt, rows, s, scan_of};
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
        let v = self.http.get_json(
            &path,
            &format!("listing the file digests of {project}/{session}"),
        )?;
        for r in rows(&v) {
            if let Some(list) = scan_of(&s(r, "URI")).and_then(|id| out.get_mut(&id)) {
                list.push(opt(r, "digest"));
            }
        }
        Ok(out)
    }
}
