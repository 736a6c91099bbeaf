//! Reading one session in two requests asked at once, plus one header read:
//! - its item (`GET /data/experiments/{ID}?format=json`): owning project, shares, curated fields,
//!   scans with type, quality, UID, series description and note, and every resource with its numeric
//!   ID;
//! - one listing of every file of the session (`GET /data/experiments/{ID}/files?format=json&all=true`:
//!   session, scan, reconstruction and assessor resources), each row naming its resource by `cat_ID`;
//! - when templates or PHI findings need it, the header of the session's first DICOM file.
//!
//! [`assemble`] turns the two answers into a [`Session`] without I/O; nothing is read twice.

use super::item_doc::ItemDoc;
use super::items::{experiment_of, CatalogRef, ExperimentItem};
use super::json::{file_entry, joined, scan_of, FileRow, Listing};
use super::resources::{resource_path_of, safe_relative};
use super::{enc, Client, XnatError};
use crate::model::inventory::{Resource, Scan, Session};
use std::collections::{BTreeMap, HashMap};

/// A session row of the project listing (its label there, which for a shared session is the label
/// in the listing's project), before its details are read.
#[derive(Debug, Clone, Default)]
pub(super) struct SessionRow {
    pub id: String,
    pub label: String,
    pub subject: String,
    pub xsi_type: String,
    pub date: Option<String>,
    pub uid: Option<String>,
}

impl SessionRow {
    /// The session as the project listing describes it, without details.
    pub(super) fn listed(&self) -> Session {
        Session {
            id: self.id.clone(),
            label: self.label.clone(),
            date: self.date.clone(),
            xsi_type: self.xsi_type.clone(),
            uid: self.uid.clone(),
            ..Session::default()
        }
    }
}

/// Where a file row belongs: the scan (`None` for a session resource) and the resource label. The
/// resource ID of the row (`cat_ID`) decides when the item lists it; otherwise the URI does, and files
/// of assessors and reconstructions belong nowhere.
fn home_of(r: &FileRow, by_id: &HashMap<&str, &CatalogRef>) -> Option<(Option<String>, String)> {
    if let Some(c) = by_id.get(r.cat_id.as_str()) {
        return Some((c.scan.clone(), c.label.clone()));
    }
    let uri = r.uri.as_str();
    let label = r.collection.0.clone();
    match scan_of(uri) {
        Some(scan) => Some((Some(scan), label)),
        None if !uri.contains("/assessors/") && !uri.contains("/reconstructions/") => {
            Some((None, label))
        }
        None => None,
    }
}

/// The path of a file row inside its resource: what follows `/{cat_ID}/files/` in its URI (or
/// `/resources/{R}/files/`), decoded and checked to be a safe relative path.
fn path_in_resource(r: &FileRow) -> Option<String> {
    let uri = r.uri.as_str();
    let cat = r.cat_id.as_str();
    let marker = format!("/{cat}/files/");
    match uri.find(&marker).filter(|_| !cat.is_empty()) {
        Some(at) => safe_relative(&uri[at + marker.len()..]),
        None => resource_path_of(uri),
    }
}

/// The request path of one scan file, built from IDs (the documented route), whatever form of URI
/// the listing gave.
fn scan_file_path(session: &str, scan: &str, r: &FileRow) -> String {
    let resource = r
        .cat_id
        .nonempty()
        .unwrap_or_else(|| r.collection.0.clone());
    let inside = path_in_resource(r).unwrap_or_else(|| r.name.0.clone());
    let inside: Vec<String> = inside.split('/').map(enc).collect();
    format!(
        "/data/experiments/{}/scans/{}/resources/{}/files/{}",
        enc(session),
        enc(scan),
        enc(&resource),
        inside.join("/")
    )
}

/// Numeric scan IDs sort numerically, others after them by text.
fn scan_sort_key(id: &str) -> String {
    match id.parse::<u64>() {
        Ok(n) => format!("0{n:020}"),
        Err(_) => format!("1{id}"),
    }
}

/// The session a project listing row, its item and its file listing describe, and the request path
/// of its first DICOM file (lowest scan, then name), if it has one.
///
/// Scan files are keyed by file name, a scan resource's format is its first file's and a scan's UID is
/// left out, as the planner and the drift watch have always recorded them; session resources come from the item (empty ones
/// included) and their files are keyed by their path inside the resource.
pub(super) fn assemble(
    project: &str,
    row: &SessionRow,
    item: &ExperimentItem,
    files: &[FileRow],
) -> (Session, Option<String>) {
    let mut session = Session {
        shared_from: (!item.project.is_empty() && item.project != project)
            .then(|| item.project.clone()),
        shares: item.shares.clone(),
        meta: item.meta.clone(),
        assessors: item.assessors,
        reconstructions: item.reconstructions,
        ..row.listed()
    };
    for (id, m) in &item.scans {
        let scan = Scan {
            id: id.clone(),
            scan_type: m.scan_type.clone(),
            series_description: m.series_description.clone(),
            // The scan listing ferry read before (default columns) never carried the
            // SeriesInstanceUID, so plans and the drift watch have always recorded none; the item
            // does carry it (`UID`), and filling it in would change every scan's recorded digest.
            uid: None,
            xsi_type: m.xsi_type.clone(),
            quality: m.quality.clone(),
            note: m.note.clone(),
            resources: BTreeMap::new(),
        };
        session.scans.insert(id.clone(), scan);
    }
    for c in item.catalogs.iter().filter(|c| c.scan.is_none()) {
        let res = Resource {
            label: c.label.clone(),
            format: c.format.clone(),
            files: BTreeMap::new(),
        };
        session.resources.insert(c.label.clone(), res);
    }
    let first = place_files(&mut session, item, files);
    (session, first)
}

/// Puts every file row of `files` into its scan's or session resource of `session` (see
/// [`home_of`]); the request path of the first DICOM file (lowest scan, then name), if any.
fn place_files(session: &mut Session, item: &ExperimentItem, files: &[FileRow]) -> Option<String> {
    let by_id: HashMap<&str, &CatalogRef> = item
        .catalogs
        .iter()
        .filter(|c| !c.id.is_empty())
        .map(|c| (c.id.as_str(), c))
        .collect();
    let mut first: Option<((String, String), String)> = None;
    for r in files {
        let Some((scan_id, label)) = home_of(r, &by_id) else {
            continue;
        };
        let Some(scan_id) = scan_id else {
            let res = session
                .resources
                .entry(label.clone())
                .or_insert_with(|| Resource {
                    label: label.clone(),
                    ..Resource::default()
                });
            let name = path_in_resource(r).unwrap_or_else(|| r.name.0.clone());
            res.files.insert(name.clone(), file_entry(r, name));
            continue;
        };
        let Some(scan) = session.scans.get_mut(&scan_id) else {
            continue;
        };
        let name = r.name.0.clone();
        let res = scan
            .resources
            .entry(label.clone())
            .or_insert_with(|| Resource {
                label: label.clone(),
                format: r.file_format.0.clone(),
                files: BTreeMap::new(),
            });
        res.files.insert(name.clone(), file_entry(r, name.clone()));
        if label == "DICOM" {
            let key = (scan_sort_key(&scan_id), name);
            if first.as_ref().is_none_or(|(k, _)| key < *k) {
                first = Some((key, scan_file_path(&session.id, &scan_id, r)));
            }
        }
    }
    first.map(|(_, path)| path)
}

impl Client {
    /// Reads a session's details: its item (unless the caller already has it) and its file listing
    /// at once, then, with `headers`, its first DICOM file's header.
    pub(super) fn session_details(
        &self,
        project: &str,
        row: &SessionRow,
        item: Option<ExperimentItem>,
        headers: bool,
    ) -> Result<Session, XnatError> {
        let what = |x: &str| format!("{x} of session {} in project {project}", row.label);
        let files_path = format!(
            "/data/experiments/{}/files?format=json&all=true",
            enc(&row.id)
        );
        let (item, files) = std::thread::scope(|scope| {
            let files = scope.spawn(|| {
                self.http
                    .get_json_as::<Listing<FileRow>>(&files_path, &what("listing the files"))
                    .map(Listing::rows)
            });
            let item = match item {
                Some(i) => Ok(i),
                None => self.experiment_item(&row.id),
            };
            let fail = || XnatError::BadResponse {
                server: self.name().to_string(),
                what: what("reading"),
                detail: "a reader thread failed".into(),
            };
            (item, joined(files, fail))
        });
        let (item, files) = (item?, files?);
        let (mut session, first) = assemble(project, row, &item, &files);
        if let Some(path) = first.filter(|_| headers) {
            let (header, elements) =
                self.first_header(&path, &what("reading the first DICOM file"))?;
            session.header = header;
            session.elements = elements;
        }
        Ok(session)
    }

    /// The first DICOM file's top-level keywords and every element at any depth.
    #[allow(clippy::type_complexity)]
    fn first_header(
        &self,
        path: &str,
        what: &str,
    ) -> Result<(BTreeMap<String, String>, Vec<crate::dicom::Seen>), XnatError> {
        // Only the header is read (the part before PixelData), never the whole file.
        let header = self.http.exchange(
            "GET",
            path,
            what,
            super::http::Retry::Idempotent,
            super::http::Payload::Empty,
            |resp| {
                let mut body = resp.body_mut().with_config().limit(u64::MAX).reader();
                crate::dicom::read_header_stream(&mut body)
                    .map_err(|e| self.http.read_error(what, &e))
            },
        )?;
        // A file the server calls DICOM that does not parse leaves the header empty; the planner
        // then reports that `dicom.*` values are unavailable for the session.
        Ok(header.map(|h| (h.keywords, h.elements)).unwrap_or_default())
    }

    /// One session of a project by subject and session label, without headers, in two requests;
    /// `None` when absent.
    pub fn session(
        &self,
        project: &str,
        subject: &str,
        session: &str,
    ) -> Result<Option<Session>, XnatError> {
        let what = format!("reading session {session} of {project}");
        let doc: ItemDoc = match self
            .http
            .get_json_as(&self.session_item_path(project, subject, session), &what)
        {
            Ok(v) => v,
            Err(XnatError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let first = doc.first();
        let fields = first.fields();
        let row = SessionRow {
            id: fields.id.0.clone(),
            label: fields.label.0.clone(),
            subject: subject.to_string(),
            xsi_type: first.xsi_type().to_string(),
            date: fields.date.nonempty(),
            uid: fields.uid.nonempty(),
        };
        let item = experiment_of(&doc).filter(|_| !row.id.is_empty());
        let Some(item) = item else {
            return Err(XnatError::BadResponse {
                server: self.name().to_string(),
                what,
                detail: "the answer has no session ID".into(),
            });
        };
        self.session_details(project, &row, Some(item), false)
            .map(Some)
    }

    /// Whether a session exists under a subject, with its accession ID and StudyInstanceUID, in one
    /// request; `None` when absent.
    pub fn session_uid(
        &self,
        project: &str,
        subject: &str,
        session: &str,
    ) -> Result<Option<(String, Option<String>)>, XnatError> {
        match self.http.get_json_as::<ItemDoc>(
            &self.session_item_path(project, subject, session),
            &format!("reading session {session} of {project}"),
        ) {
            Ok(doc) => {
                let fields = doc.first().fields();
                Ok(Some((fields.id.0.clone(), fields.uid.nonempty())))
            }
            Err(XnatError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn session_item_path(&self, project: &str, subject: &str, session: &str) -> String {
        format!(
            "/data/projects/{}/subjects/{}/experiments/{}?format=json",
            enc(project),
            enc(subject),
            enc(session)
        )
    }
}

#[cfg(test)]
#[path = "session_reader_tests.rs"]
mod tests;
