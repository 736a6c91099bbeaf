//! The writes a move and a relocation make on the source server, each aimed at exactly one object:
//! a scan, a scan's resource, a session resource, a session, a subject; XNAT's change of primary
//! project; and the XNAT fields people curate (scan type, quality, note, series description; session
//! note, visit, time), set on PUT with XNAT's xpath query parameters.
//!
//! Deletes answer `Ok(false)` when the object is already gone (a resumed run), so one more run
//! finishes exactly once.

use super::http::Retry;
use super::{enc, Client, XnatError};

/// Where a session is on a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRef<'a> {
    /// Project ID.
    pub project: &'a str,
    /// Subject label in the project.
    pub subject: &'a str,
    /// Session label in the project.
    pub session: &'a str,
}

impl Client {
    fn at(&self, s: SessionRef<'_>) -> String {
        self.session_path(s.project, s.subject, s.session)
    }

    fn delete_one(&self, path: &str, what: &str) -> Result<bool, XnatError> {
        match self.http.send("DELETE", path, what, Retry::Idempotent) {
            Ok(_) => Ok(true),
            Err(XnatError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes one scan of a session with its files; `false` when it was gone already.
    pub fn delete_scan(&self, s: SessionRef<'_>, scan: &str) -> Result<bool, XnatError> {
        let path = format!("{}/scans/{}?removeFiles=true", self.at(s), enc(scan));
        let what = format!(
            "deleting scan {scan} of session {} in {}",
            s.session, s.project
        );
        self.delete_one(&path, &what)
    }

    /// Deletes one resource of a scan with its files; `false` when it was gone already.
    pub fn delete_scan_resource(
        &self,
        s: SessionRef<'_>,
        scan: &str,
        label: &str,
    ) -> Result<bool, XnatError> {
        let path = format!(
            "{}/scans/{}/resources/{}?removeFiles=true",
            self.at(s),
            enc(scan),
            enc(label)
        );
        let what = format!(
            "deleting resource {label} of scan {scan} of session {} in {}",
            s.session, s.project
        );
        self.delete_one(&path, &what)
    }

    /// Deletes one session resource with its files; `false` when it was gone already.
    pub fn delete_session_resource(
        &self,
        s: SessionRef<'_>,
        label: &str,
    ) -> Result<bool, XnatError> {
        let path = format!("{}/resources/{}?removeFiles=true", self.at(s), enc(label));
        let what = format!(
            "deleting resource {label} of session {} in {}",
            s.session, s.project
        );
        self.delete_one(&path, &what)
    }

    /// Deletes a subject of a project; `false` when it was gone already.
    pub fn delete_subject(&self, project: &str, subject: &str) -> Result<bool, XnatError> {
        let path = format!(
            "/data/projects/{}/subjects/{}?removeFiles=true",
            enc(project),
            enc(subject)
        );
        self.delete_one(&path, &format!("deleting subject {subject} of {project}"))
    }

    /// Sets fields of a subject by XNAT's shortcut names (`gender`, `group`, …).
    pub fn set_subject_fields(
        &self,
        project: &str,
        subject: &str,
        fields: &[(&str, &str)],
    ) -> Result<(), XnatError> {
        if fields.is_empty() {
            return Ok(());
        }
        let query: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect();
        let path = format!(
            "/data/projects/{}/subjects/{}?{}",
            enc(project),
            enc(subject),
            query.join("&")
        );
        let what = format!("setting fields of subject {subject} in {project}");
        self.http.send("PUT", &path, &what, Retry::Idempotent)?;
        Ok(())
    }

    /// Makes a session primary in `dest_project` under `dest_label` (XNAT's change of primary
    /// project: `primary=true`). Its accession ID, scans, resources and shares stay.
    pub fn relocate_session(
        &self,
        s: SessionRef<'_>,
        dest_project: &str,
        dest_label: &str,
    ) -> Result<(), XnatError> {
        let path = format!(
            "{}/projects/{}?primary=true&label={}&format=json",
            self.at(s),
            enc(dest_project),
            enc(dest_label)
        );
        let what = format!(
            "relocating session {} of {} into {dest_project}",
            s.session, s.project
        );
        self.http.send("PUT", &path, &what, Retry::Once)?;
        Ok(())
    }

    /// Sets fields of a session (`fields`: XNAT field name -> value) with xpath parameters of its
    /// data type.
    pub fn set_session_fields(
        &self,
        s: SessionRef<'_>,
        xsi_type: &str,
        fields: &[(&str, &str)],
    ) -> Result<(), XnatError> {
        if fields.is_empty() {
            return Ok(());
        }
        let path = format!("{}?{}", self.at(s), xpath_query(xsi_type, fields));
        let what = format!("setting fields of session {} in {}", s.session, s.project);
        self.http.send("PUT", &path, &what, Retry::Idempotent)?;
        Ok(())
    }

    /// Sets fields of a scan with xpath parameters of its data type.
    pub fn set_scan_fields(
        &self,
        s: SessionRef<'_>,
        scan: &str,
        xsi_type: &str,
        fields: &[(&str, &str)],
    ) -> Result<(), XnatError> {
        if fields.is_empty() {
            return Ok(());
        }
        let path = format!(
            "{}/scans/{}?{}",
            self.at(s),
            enc(scan),
            xpath_query(xsi_type, fields)
        );
        let what = format!(
            "setting fields of scan {scan} of session {} in {}",
            s.session, s.project
        );
        self.http.send("PUT", &path, &what, Retry::Idempotent)?;
        Ok(())
    }
}

/// `xsiType=T&T/field=value&…`, every part percent-encoded.
fn xpath_query(xsi_type: &str, fields: &[(&str, &str)]) -> String {
    let mut q = format!("xsiType={}", enc(xsi_type));
    for (k, v) in fields {
        q.push_str(&format!("&{}={}", enc(&format!("{xsi_type}/{k}")), enc(v)));
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xpath_parameters_name_the_data_type() {
        assert_eq!(
            xpath_query("xnat:mrScanData", &[("quality", "questionable"), ("note", "a b")]),
            "xsiType=xnat%3AmrScanData&xnat%3AmrScanData%2Fquality=questionable&xnat%3AmrScanData%2Fnote=a%20b"
        );
    }
}
