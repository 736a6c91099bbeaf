//! Reading what a project holds: subjects, sessions, scans, resources and files, with bounded
//! parallelism, into an [`Inventory`].

use super::{enc, Client, InventoryOptions, Progress, XnatError};
use crate::model::inventory::{
    Access, FileEntry, Inventory, PrearchiveEntry, Resource, Scan, Session, Subject,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The rows of an XNAT ResultSet.
pub(super) fn rows(v: &Value) -> Vec<&Value> {
    v["ResultSet"]["Result"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

pub(super) fn s(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

pub(super) fn opt(v: &Value, key: &str) -> Option<String> {
    Some(s(v, key)).filter(|x| !x.is_empty())
}

/// A file row of a listing (`Size`, `digest`), under the name given.
pub(super) fn file_entry(r: &Value, name: String) -> FileEntry {
    FileEntry {
        name,
        size: s(r, "Size").parse().unwrap_or(0),
        digest: opt(r, "digest"),
    }
}

/// A session row of the project listing, before its details are read.
struct SessionRow {
    id: String,
    label: String,
    subject: String,
    xsi_type: String,
    date: Option<String>,
    uid: Option<String>,
}

/// The scan ID in a file URI: `…/scans/{ID}/resources/…`.
pub(super) fn scan_of(uri: &str) -> Option<String> {
    let rest = uri.split("/scans/").nth(1)?;
    Some(rest.split('/').next()?.to_string())
}

impl Client {
    fn what(&self, s: impl Into<String>) -> String {
        s.into()
    }

    /// The account's role in a project, from `/xapi/access/projects`.
    fn access(&self, project: &str) -> Result<Access, XnatError> {
        let v = self
            .http
            .get_json("/xapi/access/projects", "reading your project roles")?;
        let role = v
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| s(p, "ID") == project)
            .map(|p| match s(p, "role").as_str() {
                "Owners" => "owner".to_string(),
                "Members" => "member".to_string(),
                "Collaborators" => "collaborator".to_string(),
                other => other.to_lowercase(),
            });
        let can_create_subjects = role.as_deref().map(|r| r == "owner" || r == "member");
        Ok(Access {
            role,
            can_create_subjects,
        })
    }

    /// Reads a project's inventory.
    pub fn inventory(
        &self,
        project: &str,
        opts: &InventoryOptions,
        progress: &dyn Progress,
    ) -> Result<Inventory, XnatError> {
        let p = enc(project);
        // Fails with 403/404 naming the project when it cannot be read; the listings do not depend on
        // each other, so they are asked for at once (the client's in-flight limit still applies).
        self.http.get_json(
            &format!("/data/projects/{p}?format=json"),
            &self.what(format!("reading project {project}")),
        )?;
        let (access, subjects_v, experiments_v, prearchive, types, settings) = std::thread::scope(
            |scope| {
                let access = scope.spawn(|| self.access(project));
                let subjects = scope.spawn(|| {
                    self.http.get_json(
                        &format!(
                            "/data/projects/{p}/subjects?format=json&columns=ID,label,project"
                        ),
                        &format!("listing the subjects of project {project}"),
                    )
                });
                let experiments = scope.spawn(|| {
                self.http.get_json(
                    &format!(
                        "/data/projects/{p}/experiments?format=json&columns=ID,label,xsiType,date,subject_label,subject_ID,UID"
                    ),
                    &format!("listing the sessions of project {project}"),
                )
            });
                let prearchive = scope.spawn(|| self.prearchive(project));
                let types = scope.spawn(|| self.data_types());
                let settings = scope.spawn(|| self.project_settings(project));
                let join = |what: &str| XnatError::BadResponse {
                    server: self.name().to_string(),
                    what: format!("{what} of project {project}"),
                    detail: "a reader thread failed".into(),
                };
                (
                    joined(access, || join("reading the roles")),
                    joined(subjects, || join("listing the subjects")),
                    joined(experiments, || join("listing the sessions")),
                    joined(prearchive, || join("listing the prearchive")),
                    joined(types, || join("listing the data types")),
                    joined(settings, || join("reading the settings")),
                )
            },
        );
        let (access, subjects_v, experiments_v, prearchive, data_types) =
            (access?, subjects_v?, experiments_v?, prearchive?, types?);
        let mut inv = Inventory {
            server_url: self.url().to_string(),
            project: project.to_string(),
            access,
            settings: settings?,
            ..Inventory::default()
        };
        for r in rows(&subjects_v) {
            let label = s(r, "label");
            let owner = s(r, "project");
            inv.subjects.insert(
                label.clone(),
                Subject {
                    id: s(r, "ID"),
                    label,
                    shared_from: (!owner.is_empty() && owner != project).then_some(owner),
                    ..Subject::default()
                },
            );
        }
        let mut sessions = Vec::new();
        for r in rows(&experiments_v) {
            let row = SessionRow {
                id: s(r, "ID"),
                label: s(r, "label"),
                subject: s(r, "subject_label"),
                xsi_type: s(r, "xsiType"),
                date: opt(r, "date"),
                uid: opt(r, "UID"),
            };
            let Some(subject) = inv.subjects.get_mut(&row.subject) else {
                continue;
            };
            if row.xsi_type.ends_with("SessionData") {
                sessions.push(row);
            } else {
                subject.other_experiments.insert(row.label, row.xsi_type);
            }
        }
        progress.total(sessions.len() as u64);
        let read = self.sessions(project, &sessions, opts, progress)?;
        let subject_of: std::collections::HashMap<&str, &str> = sessions
            .iter()
            .map(|r| (r.id.as_str(), r.subject.as_str()))
            .collect();
        for session in read {
            let subject = subject_of
                .get(session.id.as_str())
                .map(|s| s.to_string())
                .unwrap_or_default();
            if let Some(subj) = inv.subjects.get_mut(&subject) {
                subj.sessions.insert(session.label.clone(), session);
            }
        }
        inv.prearchive = prearchive;
        inv.data_types = data_types;
        Ok(inv)
    }

    /// The data types the server serves, from its search service; `None` when it will not say (an
    /// account without search rights, an older server): the planner then cannot check them.
    /// Transient failures (5xx after retries, network) are errors like any other listing's, so a
    /// flaky read never looks like a server that changed.
    fn data_types(&self) -> Result<Option<std::collections::BTreeSet<String>>, XnatError> {
        let v = match self.http.get_json(
            "/data/search/elements?format=json",
            "listing the data types the server serves",
        ) {
            Ok(v) => v,
            Err(
                XnatError::Forbidden { .. }
                | XnatError::NotFound { .. }
                | XnatError::Refused { .. }
                | XnatError::BadResponse { .. },
            ) => return Ok(None),
            Err(e) => return Err(e),
        };
        let types: std::collections::BTreeSet<String> = rows(&v)
            .into_iter()
            .map(|r| s(r, "ELEMENT_NAME"))
            .filter(|t| !t.is_empty())
            .collect();
        Ok((!types.is_empty()).then_some(types))
    }

    /// Reads many sessions' details with at most `max_in_flight` at once.
    fn sessions(
        &self,
        project: &str,
        rows: &[SessionRow],
        opts: &InventoryOptions,
        progress: &dyn Progress,
    ) -> Result<Vec<Session>, XnatError> {
        let next = AtomicUsize::new(0);
        let out = Mutex::new(Vec::with_capacity(rows.len()));
        let failed: Mutex<Option<XnatError>> = Mutex::new(None);
        let workers = self.opts.max_in_flight.max(1).min(rows.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    if failed.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(row) = rows.get(i) else { return };
                    match self.session_details(project, row, opts.headers) {
                        Ok(s) => {
                            out.lock().unwrap_or_else(|p| p.into_inner()).push(s);
                            progress.advance(1);
                        }
                        Err(e) => {
                            *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                            return;
                        }
                    }
                });
            }
        });
        if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(e);
        }
        Ok(out.into_inner().unwrap_or_else(|p| p.into_inner()))
    }

    fn session_details(
        &self,
        project: &str,
        row: &SessionRow,
        headers: bool,
    ) -> Result<Session, XnatError> {
        let base = format!("/data/experiments/{}", enc(&row.id));
        let what = |x: &str| format!("{x} of session {} in project {project}", row.label);
        // The three listings of a session are independent: ask for them at once.
        let (scans_v, files_v, res_v) = std::thread::scope(|scope| {
            let files = scope.spawn(|| {
                self.http.get_json(
                    &format!("{base}/scans/ALL/files?format=json"),
                    &what("listing the scan files"),
                )
            });
            let res = scope.spawn(|| {
                self.http.get_json(
                    &format!("{base}/resources?format=json"),
                    &what("listing the resources"),
                )
            });
            let scans = self.http.get_json(
                &format!("{base}/scans?format=json"),
                &what("listing the scans"),
            );
            let fail = || XnatError::BadResponse {
                server: self.name().to_string(),
                what: what("reading"),
                detail: "a reader thread failed".into(),
            };
            (scans, joined(files, fail), joined(res, fail))
        });
        let (scans_v, files_v, res_v) = (scans_v?, files_v?, res_v?);
        let mut session = Session {
            id: row.id.clone(),
            label: row.label.clone(),
            date: row.date.clone(),
            xsi_type: row.xsi_type.clone(),
            uid: row.uid.clone(),
            ..Session::default()
        };
        self.ownership(project, &mut session)?;
        for r in rows(&scans_v) {
            let id = s(r, "ID");
            session.scans.insert(
                id.clone(),
                Scan {
                    id,
                    scan_type: s(r, "type"),
                    series_description: s(r, "series_description"),
                    uid: opt(r, "UID"),
                    xsi_type: s(r, "xsiType"),
                    quality: s(r, "quality"),
                    note: s(r, "note"),
                    resources: BTreeMap::new(),
                },
            );
        }

        let mut first_dicom: Option<((String, String), String)> = None;
        for r in rows(&files_v) {
            let uri = s(r, "URI");
            let Some(scan_id) = scan_of(&uri) else {
                continue;
            };
            let Some(scan) = session.scans.get_mut(&scan_id) else {
                continue;
            };
            let label = s(r, "collection");
            let name = s(r, "Name");
            let res = scan
                .resources
                .entry(label.clone())
                .or_insert_with(|| Resource {
                    label: label.clone(),
                    format: s(r, "file_format"),
                    files: BTreeMap::new(),
                });
            res.files.insert(name.clone(), file_entry(r, name.clone()));
            if label == "DICOM" {
                let key = (scan_sort_key(&scan_id), name.clone());
                if first_dicom.as_ref().is_none_or(|(k, _)| key < *k) {
                    first_dicom = Some((key, uri.clone()));
                }
            }
        }

        for r in rows(&res_v) {
            let label = s(r, "label");
            let files = self.http.get_json(
                &format!("{base}/resources/{}/files?format=json", enc(&label)),
                &what(&format!("listing resource {label}")),
            )?;
            let mut res = Resource {
                label: label.clone(),
                format: s(r, "format"),
                files: BTreeMap::new(),
            };
            for f in rows(&files) {
                // Keyed by the path inside the resource: names repeat across sub-folders.
                let name = super::resources::resource_path_of(&s(f, "URI"))
                    .unwrap_or_else(|| s(f, "Name"));
                res.files.insert(name.clone(), file_entry(f, name));
            }
            session.resources.insert(label, res);
        }
        if headers {
            if let Some((_, uri)) = first_dicom {
                let (header, elements) =
                    self.first_header(&uri, &what("reading the first DICOM file"))?;
                session.header = header;
                session.elements = elements;
            }
        }
        Ok(session)
    }

    /// Who owns the session and where it is shared, its curated fields and its assessors, from the
    /// session's item (the project listing rewrites `project` of shared rows, so it cannot tell).
    fn ownership(&self, project: &str, session: &mut Session) -> Result<(), XnatError> {
        let item = self.experiment_item(&session.id)?;
        session.shared_from =
            (!item.project.is_empty() && item.project != project).then(|| item.project.clone());
        session.shares = item.shares;
        session.meta = item.meta;
        session.assessors = item.assessors;
        session.reconstructions = item.reconstructions;
        Ok(())
    }

    /// The first DICOM file's top-level keywords and every element at any depth.
    #[allow(clippy::type_complexity)]
    fn first_header(
        &self,
        uri: &str,
        what: &str,
    ) -> Result<(BTreeMap<String, String>, Vec<crate::dicom::Seen>), XnatError> {
        let path = if uri.starts_with("/data/") || uri.starts_with("/REST/") {
            uri.to_string()
        } else {
            format!("/data{uri}")
        };
        let bytes = self.http.exchange(
            "GET",
            &path,
            what,
            super::http::Retry::Idempotent,
            super::http::Payload::Empty,
            |resp| {
                resp.body_mut()
                    .with_config()
                    .limit(2 * 1024 * 1024 * 1024)
                    .read_to_vec()
                    .map_err(|e| self.http.read_error(what, &e))
            },
        )?;
        // A file the server calls DICOM that does not parse leaves the header empty; the planner
        // then reports that `dicom.*` values are unavailable for the session.
        Ok(crate::dicom::read_header_bytes(&bytes)
            .map(|h| (h.keywords, h.elements))
            .unwrap_or_default())
    }

    /// The project's prearchive entries.
    fn prearchive(&self, project: &str) -> Result<BTreeMap<String, PrearchiveEntry>, XnatError> {
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

    /// One session of a project by subject and session label, without headers; `None` when absent.
    pub fn session(
        &self,
        project: &str,
        subject: &str,
        session: &str,
    ) -> Result<Option<Session>, XnatError> {
        let path = format!(
            "/data/projects/{}/subjects/{}/experiments/{}?format=json",
            enc(project),
            enc(subject),
            enc(session)
        );
        let v = match self
            .http
            .get_json(&path, &format!("reading session {session} of {project}"))
        {
            Ok(v) => v,
            Err(XnatError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let item = &v["items"][0];
        let fields = &item["data_fields"];
        let row = SessionRow {
            id: s(fields, "ID"),
            label: s(fields, "label"),
            subject: subject.to_string(),
            xsi_type: s(&item["meta"], "xsi:type"),
            date: opt(fields, "date"),
            uid: opt(fields, "UID"),
        };
        if row.id.is_empty() {
            return Err(XnatError::BadResponse {
                server: self.name().to_string(),
                what: format!("reading session {session} of {project}"),
                detail: "the answer has no session ID".into(),
            });
        }
        self.session_details(project, &row, false).map(Some)
    }

    /// Whether a session exists under a subject, with its accession ID and StudyInstanceUID, in one
    /// request; `None` when absent.
    pub fn session_uid(
        &self,
        project: &str,
        subject: &str,
        session: &str,
    ) -> Result<Option<(String, Option<String>)>, XnatError> {
        let path = format!(
            "/data/projects/{}/subjects/{}/experiments/{}?format=json",
            enc(project),
            enc(subject),
            enc(session)
        );
        match self
            .http
            .get_json(&path, &format!("reading session {session} of {project}"))
        {
            Ok(v) => {
                let fields = &v["items"][0]["data_fields"];
                Ok(Some((s(fields, "ID"), opt(fields, "UID"))))
            }
            Err(XnatError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
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

/// The result of a reader thread; a thread that panicked becomes an error, never a panic here.
fn joined<T>(
    h: std::thread::ScopedJoinHandle<'_, Result<T, XnatError>>,
    err: impl FnOnce() -> XnatError,
) -> Result<T, XnatError> {
    h.join().unwrap_or_else(|_| Err(err()))
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

/// Numeric scan IDs sort numerically, others after them by text.
fn scan_sort_key(id: &str) -> String {
    match id.parse::<u64>() {
        Ok(n) => format!("0{n:020}"),
        Err(_) => format!("1{id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_ids_come_from_file_uris() {
        assert_eq!(
            scan_of("/data/experiments/E1/scans/12/resources/DICOM/files/a.dcm").as_deref(),
            Some("12")
        );
        assert_eq!(
            scan_of("/data/experiments/E1/resources/NOTES/files/a"),
            None
        );
        assert!(scan_sort_key("2") < scan_sort_key("10"));
        assert!(scan_sort_key("10") < scan_sort_key("A"));
    }
}
