//! Single-object reads (`GET /data/experiments/{ID}?format=json`, the XFT item): who owns a session
//! and where it is shared, what people curate in XNAT about it, and what it holds besides scans.
//!
//! XNAT's project experiment listing shows a session shared into a project under that project
//! (ProjSubExptList rewrites `project` and `label`), so ownership is read here, from the item, never
//! from a listing row.

use super::json::{rows, s};
use super::{enc, Client, XnatError};
use crate::model::inventory::SessionMeta;
use serde_json::Value;
use std::collections::BTreeMap;

/// What the item of an experiment says about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExperimentItem {
    /// The accession ID.
    pub id: String,
    /// The data type (`xnat:mrSessionData`).
    pub xsi_type: String,
    /// The primary (owning) project.
    pub project: String,
    /// The label in the primary project.
    pub label: String,
    /// The subject's accession ID.
    pub subject_id: String,
    /// Projects it is shared into, with the label there.
    pub shares: BTreeMap<String, String>,
    /// Note, visit and time as set in XNAT.
    pub meta: SessionMeta,
    /// Scan ID -> (type, quality, note, series description), as stored in XNAT.
    pub scans: BTreeMap<String, ScanMeta>,
    /// Session resources by label with their file counts.
    pub resources: BTreeMap<String, u64>,
    /// Every resource of the session and of its scans, with the numeric ID file listings name it by.
    pub catalogs: Vec<CatalogRef>,
    /// Image assessors.
    pub assessors: u64,
    /// Reconstructions.
    pub reconstructions: u64,
}

/// A resource of a session or of one of its scans, as the session's item lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogRef {
    /// XNAT's numeric resource ID (`xnat_abstractresource_id`), the `cat_ID` of file rows.
    pub id: String,
    /// The scan the resource belongs to; `None` for a session resource.
    pub scan: Option<String>,
    /// The resource label (`DICOM`, `NOTES`, ...).
    pub label: String,
    /// The resource format as stored in XNAT.
    pub format: String,
}

impl CatalogRef {
    fn of(r: &Value, scan: Option<&str>) -> CatalogRef {
        let d = &r["data_fields"];
        CatalogRef {
            id: s(d, "xnat_abstractresource_id"),
            scan: scan.map(str::to_string),
            label: s(d, "label"),
            format: s(d, "format"),
        }
    }
}

/// The curated fields of a scan.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScanMeta {
    /// The scan's data type (`xnat:mrScanData`).
    pub xsi_type: String,
    /// Scan type.
    pub scan_type: String,
    /// `usable`, `questionable`, `unusable` (empty when unset).
    pub quality: String,
    /// The note.
    pub note: String,
    /// The series description.
    pub series_description: String,
}

/// The children of an item whose field path is `path`.
fn children<'v>(item: &'v Value, path: &str) -> Vec<&'v Value> {
    item["children"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["field"].as_str() == Some(path))
        .flat_map(|c| c["items"].as_array().into_iter().flatten())
        .collect()
}

/// How many children an item has under paths starting with `prefix`.
fn count_under(item: &Value, prefix: &str) -> u64 {
    item["children"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["field"].as_str().is_some_and(|f| f.starts_with(prefix)))
        .map(|c| c["items"].as_array().map_or(0, |a| a.len() as u64))
        .sum()
}

/// The carried subject fields found in an item's data fields (`group`, `demographics/NAME`).
fn fields_of(f: &Value) -> BTreeMap<String, String> {
    SUBJECT_FIELDS
        .iter()
        .filter_map(|k| {
            let v = match *k {
                "group" => s(f, "group"),
                _ => s(f, &format!("demographics/{k}")),
            };
            (!v.is_empty()).then(|| (k.to_string(), v))
        })
        .collect()
}

/// Reads an experiment document (`{"items": [...]}`) into an [`ExperimentItem`].
pub fn parse_experiment(doc: &Value) -> Option<ExperimentItem> {
    let item = doc["items"]
        .as_array()?
        .iter()
        .find(|i| i["meta"]["isHistory"].as_bool() != Some(true))?;
    let f = &item["data_fields"];
    let mut out = ExperimentItem {
        id: s(f, "ID"),
        xsi_type: s(&item["meta"], "xsi:type"),
        project: s(f, "project"),
        label: s(f, "label"),
        subject_id: s(f, "subject_ID"),
        meta: SessionMeta {
            note: s(f, "note"),
            visit: s(f, "visit_id"),
            time: s(f, "time"),
        },
        assessors: count_under(item, "assessors/"),
        reconstructions: count_under(item, "reconstructions/"),
        ..ExperimentItem::default()
    };
    if out.id.is_empty() {
        return None;
    }
    for sh in children(item, "sharing/share") {
        let d = &sh["data_fields"];
        let p = s(d, "project");
        if !p.is_empty() {
            out.shares.insert(p, s(d, "label"));
        }
    }
    for sc in children(item, "scans/scan") {
        let d = &sc["data_fields"];
        let id = s(d, "ID");
        // A scan's resources are its `file` children (xnat:imageScanData/file).
        for r in children(sc, "file") {
            out.catalogs.push(CatalogRef::of(r, Some(&id)));
        }
        out.scans.insert(
            id,
            ScanMeta {
                xsi_type: s(&sc["meta"], "xsi:type"),
                scan_type: s(d, "type"),
                quality: s(d, "quality"),
                note: s(d, "note"),
                series_description: s(d, "series_description"),
            },
        );
    }
    for r in children(item, "resources/resource") {
        let d = &r["data_fields"];
        let n = s(d, "file_count").parse().unwrap_or(0);
        out.resources.insert(s(d, "label"), n);
        out.catalogs.push(CatalogRef::of(r, None));
    }
    Some(out)
}

/// What a subject still holds in a project, read before removing it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectHoldings {
    /// The subject's owning project.
    pub owner: String,
    /// Projects it is shared into.
    pub shares: Vec<String>,
    /// Experiments of it visible in the project.
    pub experiments: u64,
    /// Its subject-level resources.
    pub resources: u64,
}

/// The subject fields ferry carries when it creates a subject, by XNAT's shortcut name. Date of birth
/// (`dob`) is never carried: it identifies the patient.
pub const SUBJECT_FIELDS: &[&str] = &[
    "group",
    "gender",
    "handedness",
    "yob",
    "age",
    "education",
    "ses",
    "race",
    "ethnicity",
    "weight",
    "height",
];

impl Client {
    /// A subject's `group` and demographics (see [`SUBJECT_FIELDS`]) that are set, by accession ID.
    pub fn subject_fields(&self, id: &str) -> Result<BTreeMap<String, String>, XnatError> {
        let v = self.http.get_json(
            &format!("/data/subjects/{}?format=json", enc(id)),
            &format!("reading subject {id}"),
        )?;
        Ok(fields_of(&v["items"][0]["data_fields"]))
    }

    /// The same fields of a subject by project and label.
    pub fn subject_fields_at(
        &self,
        project: &str,
        subject: &str,
    ) -> Result<BTreeMap<String, String>, XnatError> {
        let v = self.http.get_json(
            &format!(
                "/data/projects/{}/subjects/{}?format=json",
                enc(project),
                enc(subject)
            ),
            &format!("reading subject {subject} of {project}"),
        )?;
        Ok(fields_of(&v["items"][0]["data_fields"]))
    }

    /// What a subject of `project` holds, or `None` when it is gone.
    pub fn subject_holdings(
        &self,
        project: &str,
        subject: &str,
    ) -> Result<Option<SubjectHoldings>, XnatError> {
        let base = format!("/data/projects/{}/subjects/{}", enc(project), enc(subject));
        let what = |x: &str| format!("{x} of subject {subject} in {project}");
        let doc = match self
            .http
            .get_json(&format!("{base}?format=json"), &what("reading"))
        {
            Ok(v) => v,
            Err(XnatError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let item = &doc["items"][0];
        let mut out = SubjectHoldings {
            owner: s(&item["data_fields"], "project"),
            shares: children(item, "sharing/share")
                .into_iter()
                .map(|c| s(&c["data_fields"], "project"))
                .filter(|p| !p.is_empty())
                .collect(),
            ..SubjectHoldings::default()
        };
        let exps = self.http.get_json(
            &format!("{base}/experiments?format=json"),
            &what("listing the experiments"),
        )?;
        out.experiments = rows(&exps).len() as u64;
        let res = self.http.get_json(
            &format!("{base}/resources?format=json"),
            &what("listing the resources"),
        )?;
        out.resources = rows(&res).len() as u64;
        Ok(Some(out))
    }

    /// The item of an experiment by accession ID.
    pub fn experiment_item(&self, id: &str) -> Result<ExperimentItem, XnatError> {
        self.item_at(
            &format!("/data/experiments/{}?format=json", enc(id)),
            format!("reading experiment {id}"),
        )
    }

    /// The item of a session by project, subject and session label.
    pub fn session_item(
        &self,
        project: &str,
        subject: &str,
        session: &str,
    ) -> Result<ExperimentItem, XnatError> {
        self.item_at(
            &format!(
                "{}?format=json",
                self.session_path(project, subject, session)
            ),
            format!("reading session {session} of {project}"),
        )
    }

    fn item_at(&self, path: &str, what: String) -> Result<ExperimentItem, XnatError> {
        let v = self.http.get_json(path, &what)?;
        parse_experiment(&v).ok_or_else(|| XnatError::BadResponse {
            server: self.name().to_string(),
            what,
            detail: "the answer is not an experiment item".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn owner_shares_and_curated_fields_come_from_the_item() {
        let doc = json!({"items": [{
        "meta": {"isHistory": false, "xsi:type": "xnat:mrSessionData"},
        "data_fields": {"ID": "E1", "project": "OWNER", "label": "S_MR1", "subject_ID": "S1",
                        "note": "moved scanner", "visit_id": "V2", "time": "09:30:00"},
        "children": [
            {"field": "sharing/share", "items": [
                {"data_fields": {"project": "COLLAB", "label": "C_MR1"}}]},
            {"field": "scans/scan", "items": [
                {"data_fields": {"ID": "2", "type": "T1w", "quality": "questionable",
                                 "note": "motion", "series_description": "T1_MPRAGE"}}]},
            {"field": "assessors/assessor", "items": [{}, {}]}
        ]}]});
        let i = parse_experiment(&doc).unwrap();
        assert_eq!(i.project, "OWNER");
        assert_eq!(i.shares["COLLAB"], "C_MR1");
        assert_eq!(i.meta.visit, "V2");
        assert_eq!(i.scans["2"].quality, "questionable");
        assert_eq!(i.scans["2"].scan_type, "T1w");
        assert_eq!(i.assessors, 2);
        assert_eq!(i.reconstructions, 0);
        assert!(parse_experiment(&json!({"items": []})).is_none());
    }
}
