//! XFT item documents for projects, subjects, experiments, scans and resources, in the shape xnatpy reads
//! (`items[0].meta`, `data_fields`, `children`), and their XML form for `format=xml`.

use super::Ctx;
use crate::sim::http::Response;
use crate::sim::model::{Experiment, Project, Resource, Scan, Subject};
use crate::sim::render::{json_value, Item};
use crate::sim::store::Store;
use crate::sim::xmldoc;

/// The item of a project.
pub fn project(p: &Project) -> Item {
    Item::new("xnat:projectData")
        .field("ID", &p.id)
        .field("secondary_ID", &p.secondary_id)
        .field("name", &p.name)
        .field("description", &p.description)
}

/// The item of a subject.
pub fn subject(s: &Subject) -> Item {
    let shares = s
        .shares
        .iter()
        .map(|(p, l)| {
            Item::new("xnat:projectParticipant")
                .field("project", p)
                .field("label", l)
                .field("subject_ID", &s.id)
        })
        .collect();
    let mut item = Item::new("xnat:subjectData")
        .field("ID", &s.id)
        .field("label", &s.label)
        .field("project", &s.project)
        .field("insert_date", &s.insert_date)
        .field("insert_user", &s.insert_user);
    // Sub-elements are flattened into `/` paths, as XNAT's item JSON does.
    for (k, v) in &s.fields {
        let key = if k == "group" {
            k.clone()
        } else {
            format!("demographics/{k}")
        };
        item = item.field(&key, v);
    }
    item.child("sharing/share", shares)
}

/// The item of a resource; `catalog` is the absolute catalog path.
pub fn resource(r: &Resource, catalog: &str) -> Item {
    Item::new("xnat:resourceCatalog")
        .field("xnat_abstractresource_id", r.id.to_string())
        .field("label", &r.label)
        .field("format", &r.format)
        .field("content", &r.content)
        .field("URI", catalog)
        .field("file_count", r.files.len().to_string())
        .field("file_size", r.total_size().to_string())
}

/// The item of a scan.
pub fn scan(store: &Store, e: &Experiment, s: &Scan) -> Item {
    let files = s
        .resources
        .iter()
        .map(|r| {
            let dir = store
                .root()
                .join(&e.dir)
                .join("SCANS")
                .join(&s.id)
                .join(&r.label);
            resource(
                r,
                &dir.join(format!("{}_catalog.xml", r.label))
                    .display()
                    .to_string(),
            )
        })
        .collect();
    Item::new(&s.xsi_type)
        .field("ID", &s.id)
        .field("type", &s.scan_type)
        .field("UID", &s.uid)
        .field("series_description", &s.series_description)
        .field("quality", &s.quality)
        .field("note", &s.note)
        .field("frames", s.frames.to_string())
        .field("modality", &s.modality)
        .field("image_session_ID", &e.id)
        .field("project", &e.project)
        .field("xnat_imagescandata_id", s.db_id.to_string())
        .child("file", files)
}

/// The item of an experiment with its scans, shares and resources.
pub fn experiment(store: &Store, e: &Experiment) -> Item {
    let scans = e.scans.iter().map(|s| scan(store, e, s)).collect();
    let shares = e
        .shares
        .iter()
        .map(|(p, l)| {
            Item::new("xnat:experimentData_share")
                .field("project", p)
                .field("label", l)
        })
        .collect();
    let resources = e
        .resources
        .iter()
        .map(|r| {
            let dir = store.root().join(&e.dir).join("RESOURCES").join(&r.label);
            resource(
                r,
                &dir.join(format!("{}_catalog.xml", r.label))
                    .display()
                    .to_string(),
            )
        })
        .collect();
    Item::new(&e.xsi_type)
        .field("ID", &e.id)
        .field("label", &e.label)
        .field("project", &e.project)
        .field("subject_ID", &e.subject_id)
        .field("date", &e.date)
        .field("time", &e.time)
        .field("note", &e.note)
        .field("visit_id", &e.visit)
        .field("UID", &e.uid)
        .field("modality", &e.modality)
        .field("dcmPatientId", &e.dcm_patient_id)
        .field("dcmPatientName", &e.dcm_patient_name)
        .field("insert_date", &e.insert_date)
        .child("sharing/share", shares)
        .child("scans/scan", scans)
        .child("resources/resource", resources)
}

/// Answers with an item in the requested format: JSON, or with `format=xml` the schema's XML document
/// that `xml` builds (see [`crate::sim::xmldoc`]).
pub fn respond(ctx: &Ctx, item: &Item, xml: impl FnOnce() -> String) -> Response {
    if ctx.format() == "xml" {
        Response::bytes(200, "text/xml", xml().into_bytes())
    } else {
        json_value(200, &item.document())
    }
}

fn catalog_path(dir: std::path::PathBuf, r: &Resource) -> String {
    dir.join(&r.label)
        .join(format!("{}_catalog.xml", r.label))
        .display()
        .to_string()
}

/// The XML document of a scan.
pub fn scan_xml(store: &Store, e: &Experiment, s: &Scan) -> String {
    let dir = store.root().join(&e.dir).join("SCANS").join(&s.id);
    xmldoc::scan(e, s, &|r| catalog_path(dir.clone(), r))
}

/// The XML document of an imaging session.
pub fn experiment_xml(store: &Store, e: &Experiment) -> String {
    let root = store.root().join(&e.dir);
    xmldoc::experiment(
        e,
        &|s, r| catalog_path(root.join("SCANS").join(&s.id), r),
        &|r| catalog_path(root.join("RESOURCES"), r),
    )
}
