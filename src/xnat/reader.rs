//! Reading what a project holds into an [`Inventory`]: the project-level listings (roles, subjects,
//! sessions, prearchive, data types, settings) at once, then every imaging session through
//! [`super::session_reader`], with at most `max_in_flight` sessions read at a time.

/// The columns of the project's experiment listing that a session row needs.
const SESSION_COLUMNS: &str = "ID,label,xsiType,date,subject_label,subject_ID,UID";

use super::json::{joined, opt, rows, s};
use super::session_reader::SessionRow;
use super::{enc, Client, InventoryOptions, Progress, XnatError};
use crate::model::inventory::{
    Access, Inventory, PrearchiveEntry, ProjectSettings, Session, Subject,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Which project-level facts are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Extent {
    /// Everything an inventory holds (for planning).
    Full,
    /// What watched objects depend on: subjects, sessions, prearchive (for the drift check).
    Watched,
}

/// The answer of a listing that was perhaps not asked for; the default when it was not.
fn optional<T: Default>(
    h: Option<std::thread::ScopedJoinHandle<'_, Result<T, XnatError>>>,
    err: impl FnOnce() -> XnatError,
) -> Result<T, XnatError> {
    h.map_or_else(|| Ok(T::default()), |h| joined(h, err))
}

/// The project-level answers an inventory starts from, read at once.
struct Listings {
    access: Access,
    subjects: Value,
    experiments: Value,
    prearchive: BTreeMap<String, PrearchiveEntry>,
    data_types: Option<BTreeSet<String>>,
    settings: ProjectSettings,
}

/// The subjects of a project listing, keyed by their label there; a subject owned elsewhere is
/// marked as shared from its owner (the subject listing keeps the owning `project`).
fn subjects_of(project: &str, listing: &Value) -> BTreeMap<String, Subject> {
    rows(listing)
        .into_iter()
        .map(|r| {
            let label = s(r, "label");
            let owner = s(r, "project");
            let subject = Subject {
                id: s(r, "ID"),
                label: label.clone(),
                shared_from: (!owner.is_empty() && owner != project).then_some(owner),
                ..Subject::default()
            };
            (label, subject)
        })
        .collect()
}

/// The imaging sessions of a project's experiment listing whose subject is known; other experiments
/// are noted on their subject, by label and type, as skipped.
fn session_rows(listing: &Value, subjects: &mut BTreeMap<String, Subject>) -> Vec<SessionRow> {
    let mut sessions = Vec::new();
    for r in rows(listing) {
        let row = SessionRow {
            id: s(r, "ID"),
            label: s(r, "label"),
            subject: s(r, "subject_label"),
            xsi_type: s(r, "xsiType"),
            date: opt(r, "date"),
            uid: opt(r, "UID"),
        };
        let Some(subject) = subjects.get_mut(&row.subject) else {
            continue;
        };
        if row.xsi_type.ends_with("SessionData") {
            sessions.push(row);
        } else {
            subject.other_experiments.insert(row.label, row.xsi_type);
        }
    }
    sessions
}

impl Client {
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

    /// Reads a project's inventory: a constant number of project-level requests, then each imaging
    /// session in two requests (its item and its file listing) plus, with `opts.headers`, one header.
    pub fn inventory(
        &self,
        project: &str,
        opts: &InventoryOptions,
        progress: &dyn Progress,
    ) -> Result<Inventory, XnatError> {
        self.inventory_of(project, opts, None, progress)
    }

    /// [`Client::inventory`], reading the details (scans, resources, files, header, owner, shares) of
    /// only the sessions `only` names by (subject label, session label) when it is given; the other
    /// sessions keep what the project listing says of them (ID, label, date, type, StudyInstanceUID).
    /// For checks that compare some sessions only, such as the drift check.
    pub fn inventory_of(
        &self,
        project: &str,
        opts: &InventoryOptions,
        only: Option<&BTreeSet<(String, String)>>,
        progress: &dyn Progress,
    ) -> Result<Inventory, XnatError> {
        let l = self.listings(project, Extent::Full)?;
        self.assemble(project, l, opts, only, progress)
    }

    /// What the objects a plan watches are read from (see [`crate::plan::watch`]): the project's
    /// subjects, sessions and prearchive, and the details of the sessions `only` names. The roles,
    /// data types and upload settings of a full inventory are not read (they stay at their defaults):
    /// no watched object depends on them. Four project-level requests, sent at once.
    pub fn watched_inventory(
        &self,
        project: &str,
        opts: &InventoryOptions,
        only: &BTreeSet<(String, String)>,
    ) -> Result<Inventory, XnatError> {
        let l = self.listings(project, Extent::Watched)?;
        self.assemble(project, l, opts, Some(only), &super::NoProgress)
    }

    /// Reads the sessions of the listings and builds the inventory.
    fn assemble(
        &self,
        project: &str,
        l: Listings,
        opts: &InventoryOptions,
        only: Option<&BTreeSet<(String, String)>>,
        progress: &dyn Progress,
    ) -> Result<Inventory, XnatError> {
        let mut subjects = subjects_of(project, &l.subjects);
        let sessions = session_rows(&l.experiments, &mut subjects);
        let wanted =
            |r: &SessionRow| only.is_none_or(|o| o.contains(&(r.subject.clone(), r.label.clone())));
        let (sessions, listed): (Vec<SessionRow>, Vec<SessionRow>) =
            sessions.into_iter().partition(|r| wanted(r));
        progress.total(sessions.len() as u64);
        let mut read = self.sessions(project, &sessions, opts, progress)?;
        read.extend(listed.iter().map(SessionRow::listed));
        let sessions: Vec<SessionRow> = sessions.into_iter().chain(listed).collect();
        let subject_of: HashMap<&str, &str> = sessions
            .iter()
            .map(|r| (r.id.as_str(), r.subject.as_str()))
            .collect();
        for session in read {
            let subject = subject_of.get(session.id.as_str()).copied();
            if let Some(subj) = subject.and_then(|s| subjects.get_mut(s)) {
                subj.sessions.insert(session.label.clone(), session);
            }
        }
        Ok(Inventory {
            server_url: self.url().to_string(),
            project: project.to_string(),
            access: l.access,
            subjects,
            prearchive: l.prearchive,
            data_types: l.data_types,
            settings: l.settings,
        })
    }

    /// The project and its listings, asked for at once: they do not depend on each other (the
    /// client's in-flight limit still applies). When the project cannot be read, its own error
    /// (403/404 naming the project) is the one returned.
    fn listings(&self, project: &str, extent: Extent) -> Result<Listings, XnatError> {
        let p = enc(project);
        let full = extent == Extent::Full;
        let list = |path: String, what: &str| {
            self.http
                .get_json(&path, &format!("listing the {what} of project {project}"))
        };
        let join = |what: &str| XnatError::BadResponse {
            server: self.name().to_string(),
            what: format!("{what} of project {project}"),
            detail: "a reader thread failed".into(),
        };
        std::thread::scope(|scope| {
            let item = scope.spawn(|| {
                self.http.get_json(
                    &format!("/data/projects/{p}?format=json"),
                    &format!("reading project {project}"),
                )
            });
            let access = full.then(|| scope.spawn(|| self.access(project)));
            let subjects = scope.spawn(|| {
                list(
                    format!("/data/projects/{p}/subjects?format=json&columns=ID,label,project"),
                    "subjects",
                )
            });
            let experiments = scope.spawn(|| {
                list(
                    format!("/data/projects/{p}/experiments?format=json&columns={SESSION_COLUMNS}"),
                    "sessions",
                )
            });
            let prearchive = scope.spawn(|| self.prearchive(project));
            let types = full.then(|| scope.spawn(|| self.data_types()));
            let settings = full.then(|| scope.spawn(|| self.project_settings(project)));
            joined(item, || join("reading the project"))?;
            Ok(Listings {
                access: optional(access, || join("reading the roles"))?,
                subjects: joined(subjects, || join("listing the subjects"))?,
                experiments: joined(experiments, || join("listing the sessions"))?,
                prearchive: joined(prearchive, || join("listing the prearchive"))?,
                data_types: optional(types, || join("listing the data types"))?,
                settings: optional(settings, || join("reading the settings"))?,
            })
        })
    }

    /// The data types the server serves, from its search service; `None` when it will not say (an
    /// account without search rights, an older server): the planner then cannot check them.
    /// Transient failures (5xx after retries, network) are errors like any other listing's, so a
    /// flaky read never looks like a server that changed.
    fn data_types(&self) -> Result<Option<BTreeSet<String>>, XnatError> {
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
        let types: BTreeSet<String> = rows(&v)
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
                    match self.session_details(project, row, None, opts.headers) {
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
}
