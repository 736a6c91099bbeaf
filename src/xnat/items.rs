//! Single-object reads (`GET /data/experiments/{ID}?format=json`, the XFT item): who owns a session
//! and where it is shared, what people curate in XNAT about it, and what it holds besides scans.
//!
//! XNAT's project experiment listing shows a session shared into a project under that project
//! (ProjSubExptList rewrites `project` and `label`), so ownership is read here, from the item, never
//! from a listing row.

use super::item_doc::{Item, ItemDoc};
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
    fn of(r: &Item, scan: Option<&str>) -> CatalogRef {
        let d = r.fields();
        CatalogRef {
            id: d.xnat_abstractresource_id.0.clone(),
            scan: scan.map(str::to_string),
            label: d.label.0.clone(),
            format: d.format.0.clone(),
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

/// Reads an experiment document already parsed (`{"items": [...]}`) into an [`ExperimentItem`].
#[cfg(test)]
pub(super) fn parse_experiment(doc: &serde_json::Value) -> Option<ExperimentItem> {
    use serde::Deserialize;
    experiment_of(&ItemDoc::deserialize(doc).ok()?)
}

/// The [`ExperimentItem`] of a typed experiment document; `None` without an item or an ID.
pub(super) fn experiment_of(doc: &ItemDoc) -> Option<ExperimentItem> {
    let item = doc.current()?;
    let f = item.fields();
    let mut out = ExperimentItem {
        id: f.id.0.clone(),
        xsi_type: item.xsi_type().to_string(),
        project: f.project.0.clone(),
        label: f.label.0.clone(),
        subject_id: f.subject_id.0.clone(),
        meta: SessionMeta {
            note: f.note.0.clone(),
            visit: f.visit_id.0.clone(),
            time: f.time.0.clone(),
        },
        assessors: item.count_under("assessors/"),
        reconstructions: item.count_under("reconstructions/"),
        ..ExperimentItem::default()
    };
    if out.id.is_empty() {
        return None;
    }
    for sh in item.children("sharing/share") {
        let d = sh.fields();
        if !d.project.0.is_empty() {
            out.shares.insert(d.project.0.clone(), d.label.0.clone());
        }
    }
    for sc in item.children("scans/scan") {
        let d = sc.fields();
        let id = d.id.0.clone();
        // A scan's resources are its `file` children (xnat:imageScanData/file).
        for r in sc.children("file") {
            out.catalogs.push(CatalogRef::of(r, Some(&id)));
        }
        out.scans.insert(
            id,
            ScanMeta {
                xsi_type: sc.xsi_type().to_string(),
                scan_type: d.scan_type.0.clone(),
                quality: d.quality.0.clone(),
                note: d.note.0.clone(),
                series_description: d.series_description.0.clone(),
            },
        );
    }
    for r in item.children("resources/resource") {
        let d = r.fields();
        let n = d.file_count.0.parse().unwrap_or(0);
        out.resources.insert(d.label.0.clone(), n);
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
        let doc: ItemDoc = match self
            .http
            .get_json_as(&format!("{base}?format=json"), &what("reading"))
        {
            Ok(v) => v,
            Err(XnatError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let item = doc.first();
        let mut out = SubjectHoldings {
            owner: item.fields().project.0.clone(),
            shares: item
                .children("sharing/share")
                .map(|c| c.fields().project.0.clone())
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
        let doc: ItemDoc = self.http.get_json_as(path, &what)?;
        experiment_of(&doc).ok_or_else(|| XnatError::BadResponse {
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

    /// The typed reading keeps the tree's leniency: history versions are passed over, numbers read as
    /// text, values of another kind and null parts read as empty, never as a refused document.
    #[test]
    fn odd_values_in_an_item_read_as_empty_not_as_an_error() {
        let doc = json!({"items": [
            {"meta": {"isHistory": true}, "data_fields": {"ID": "OLD"}},
            {"meta": {"isHistory": "no", "xsi:type": null},
             "data_fields": {"ID": 7, "project": ["x"], "label": {"a": 1}, "time": 9.5},
             "children": [
                {"field": "scans/scan", "items": null},
                {"field": 3, "items": [{}]},
                {"field": "sharing/share", "items": [{"data_fields": null}]},
                {"field": "assessors/assessor", "items": [{"children": null}, {}]}]}]});
        let i = parse_experiment(&doc).unwrap();
        assert_eq!((i.id.as_str(), i.meta.time.as_str()), ("7", "9.5"));
        assert_eq!(
            (i.project.as_str(), i.label.as_str(), i.xsi_type.as_str()),
            ("", "", "")
        );
        assert!(i.scans.is_empty() && i.shares.is_empty() && i.catalogs.is_empty());
        assert_eq!(i.assessors, 2);
        assert!(parse_experiment(&json!({"items": null})).is_none());
        assert!(parse_experiment(&json!([1, 2])).is_none());
    }
}
