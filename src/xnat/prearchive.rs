//! Reading a project's prearchive: its entries, one entry, and the files per scan of an entry.

use super::json::{rows, s};
use super::{enc, Client, XnatError};
use crate::model::inventory::PrearchiveEntry;
use serde_json::Value;
use std::collections::BTreeMap;

impl Client {
    /// The project's prearchive entries, keyed by their URL.
    pub(super) fn prearchive(
        &self,
        project: &str,
    ) -> Result<BTreeMap<String, PrearchiveEntry>, XnatError> {
        let v = self.http.get_json(
            &format!("/data/prearchive/projects/{}?format=json", enc(project)),
            &format!("listing the prearchive of project {project}"),
        )?;
        Ok(rows(&v)
            .into_iter()
            .map(|r| {
                let e = entry_of(r);
                (e.url.clone(), e)
            })
            .collect())
    }

    /// The project's prearchive entries, in one request.
    pub fn prearchive_entries(&self, project: &str) -> Result<Vec<PrearchiveEntry>, XnatError> {
        Ok(self.prearchive(project)?.into_values().collect())
    }

    /// The DICOM files of each scan of a prearchive entry, counted: scan ID -> files.
    pub fn prearchive_file_counts(&self, uri: &str) -> Result<BTreeMap<String, usize>, XnatError> {
        let path = uri.strip_prefix("/data").unwrap_or(uri);
        let scans = self.http.get_json(
            &format!("/data{path}/scans?format=json"),
            &format!("listing the scans of prearchive entry {path}"),
        )?;
        let mut out = BTreeMap::new();
        for r in rows(&scans) {
            let id = s(r, "ID");
            let files = match self.http.get_json(
                &format!(
                    "/data{path}/scans/{}/resources/DICOM/files?format=json",
                    enc(&id)
                ),
                &format!("listing the files of scan {id} of prearchive entry {path}"),
            ) {
                Ok(v) => rows(&v).len(),
                Err(XnatError::NotFound { .. }) => 0,
                Err(e) => return Err(e),
            };
            out.insert(id, files);
        }
        Ok(out)
    }

    /// One prearchive entry by its URI (`/prearchive/projects/P/TS/NAME`, with or without `/data`).
    pub fn prearchive_entry(&self, uri: &str) -> Result<PrearchiveEntry, XnatError> {
        let path = uri.strip_prefix("/data").unwrap_or(uri);
        let v = self.http.get_json(
            &format!("/data{path}?format=json"),
            &format!("reading prearchive entry {path}"),
        )?;
        let row = rows(&v).into_iter().next().cloned().unwrap_or(v);
        Ok(entry_of(&row))
    }
}

fn entry_of(r: &Value) -> PrearchiveEntry {
    PrearchiveEntry {
        url: s(r, "url"),
        subject: s(r, "subject"),
        label: s(r, "name"),
        uid: s(r, "tag"),
        status: s(r, "status"),
    }
}
