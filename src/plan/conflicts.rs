//! Conflict analysis of one source session against the destination project: new, already transferred
//! (so that re-running a manifest is a no-op), or an existing session handled per `conflict` policy
//! (fail, skip, merge only the missing scans of the same study, rename to the first free `_N` label).

use super::model::{ResourcePlan, ScanPlan};
use super::select::{scan_counts, Picked};
use crate::manifest::model::Conflict;
use crate::model::inventory::{Inventory, PrearchiveEntry, Session, Subject};
use std::collections::{BTreeMap, BTreeSet};

/// The destination project, indexed by session label (labels are unique within a project).
pub(crate) struct DestIndex<'a> {
    /// The destination inventory.
    pub inv: &'a Inventory,
    sessions: BTreeMap<&'a str, (&'a Subject, &'a Session)>,
    prearchive: BTreeMap<&'a str, Vec<&'a PrearchiveEntry>>,
}

/// What holds a destination label.
enum Found<'a> {
    Nothing,
    Archived(&'a Subject, &'a Session),
    Prearchived(Vec<&'a PrearchiveEntry>),
}

/// The outcome for one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// A new destination session under this label.
    Create { session: String, reason: String },
    /// Missing scans and resources added to the existing session.
    Merge {
        scans: Vec<ScanPlan>,
        resources: Vec<ResourcePlan>,
        reason: String,
    },
    /// Shared under this label.
    Share { session: String, reason: String },
    /// Nothing to do; `session` is the destination label that holds it or was asked for.
    Skip {
        session: String,
        reason: String,
        /// The destination holds this copy already (not a `conflict: skip`).
        done: bool,
    },
    /// Cannot run.
    Blocked(String),
}

/// What one session asks of the destination.
pub(crate) struct Request<'x, 'a> {
    /// The selected source session.
    pub picked: &'x Picked<'a>,
    /// Its mapped destination subject.
    pub dest_subject: &'x str,
    /// Its mapped destination session.
    pub dest_session: &'x str,
    /// Share mode.
    pub share: bool,
    /// The conflict policy.
    pub conflict: Conflict,
    /// The StudyInstanceUID the destination copy carries (the source's, or its replacement when the
    /// de-identification profile remaps UIDs).
    pub study_uid: Option<&'x str>,
}

fn ids<'s>(it: impl Iterator<Item = &'s str>) -> String {
    it.collect::<Vec<_>>().join(", ")
}

impl<'a> DestIndex<'a> {
    /// Indexes a destination inventory.
    pub fn new(inv: &'a Inventory) -> Self {
        let mut sessions = BTreeMap::new();
        for (subj, sess) in inv.sessions() {
            sessions.insert(sess.label.as_str(), (subj, sess));
        }
        let mut prearchive: BTreeMap<&str, Vec<&PrearchiveEntry>> = BTreeMap::new();
        for e in inv.prearchive.values() {
            prearchive.entry(e.label.as_str()).or_default().push(e);
        }
        DestIndex {
            inv,
            sessions,
            prearchive,
        }
    }

    /// The destination subject with this label.
    pub fn subject(&self, label: &str) -> Option<&'a Subject> {
        self.inv.subjects.get(label)
    }

    /// Whether a destination session (archived or in the prearchive) has this label.
    pub fn holds(&self, label: &str) -> bool {
        !matches!(self.find(label), Found::Nothing)
    }

    fn find(&self, label: &str) -> Found<'a> {
        if let Some((s, e)) = self.sessions.get(label) {
            return Found::Archived(s, e);
        }
        match self.prearchive.get(label) {
            Some(v) => Found::Prearchived(v.clone()),
            None => Found::Nothing,
        }
    }

    /// Whether the session already holds what `req` would put there under `label`.
    fn done(&self, req: &Request<'_, '_>, label: &str) -> bool {
        match self.find(label) {
            Found::Nothing => false,
            Found::Archived(subj, sess) if req.share => {
                subj.label == req.dest_subject && sess.id == req.picked.session.id
            }
            Found::Archived(subj, sess) => same_copy(req, subj, sess),
            Found::Prearchived(entries) => {
                !req.share
                    && entries.iter().any(|e| {
                        e.subject == req.dest_subject && Some(e.uid.as_str()) == req.study_uid
                    })
            }
        }
    }

    /// Decides what happens to one session. `claimed` holds the destination labels other actions
    /// of the plan use in this project; a rename never picks one of them.
    pub fn decide(&self, req: &Request<'_, '_>, claimed: &BTreeSet<String>) -> Decision {
        let label = req.dest_session;
        let project = &self.inv.project;
        match self.find(label) {
            Found::Nothing => return fresh(req, label.to_string(), None),
            _ if self.done(req, label) => {
                let what = if req.share {
                    "already shared"
                } else {
                    "already transferred"
                };
                return Decision::Skip {
                    session: label.to_string(),
                    reason: format!("{what}: {project}/{label} holds it"),
                    done: true,
                };
            }
            _ => {}
        }
        let (head, detail) = self.describe(label, req);
        let holder = format!("{head} ({detail})");
        match (req.conflict, req.share) {
            (Conflict::Fail, _) => Decision::Blocked(format!("{head} (conflict: fail): {detail}")),
            (Conflict::Skip, _) => Decision::Skip {
                session: label.to_string(),
                reason: format!("{head} (conflict: skip): {detail}"),
                done: false,
            },
            (Conflict::Merge, true) => Decision::Blocked(format!(
                "{holder} (conflict: merge does not apply to shares)"
            )),
            (Conflict::Merge, false) => self.merge(req, &holder),
            (Conflict::Rename, _) => self.rename(req, claimed, &holder),
        }
    }

    /// What holds a label, as a head line and details.
    fn describe(&self, label: &str, req: &Request<'_, '_>) -> (String, String) {
        let project = &self.inv.project;
        match self.find(label) {
            Found::Archived(subj, sess) => {
                let study = match (sess.uid.as_deref(), req.study_uid) {
                    (Some(a), Some(b)) if a == b => "the same StudyInstanceUID",
                    (Some(_), Some(_)) => "another StudyInstanceUID",
                    _ => "an unknown StudyInstanceUID",
                };
                (
                    format!("destination session {project}/{label} exists"),
                    format!(
                        "subject {}, {study}, scans {}",
                        subj.label,
                        ids(sess.scans.keys().map(String::as_str))
                    ),
                )
            }
            Found::Prearchived(entries) => (
                format!("a session labelled {label} waits in the {project} prearchive"),
                format!("status {}", ids(entries.iter().map(|e| e.status.as_str()))),
            ),
            Found::Nothing => (
                format!("destination session {project}/{label} is free"),
                String::new(),
            ),
        }
    }

    fn merge(&self, req: &Request<'_, '_>, holder: &str) -> Decision {
        let (subj, sess) = match self.find(req.dest_session) {
            Found::Archived(s, e) => (s, e),
            _ => {
                return Decision::Blocked(format!(
                    "{holder}: merge only adds to archived sessions; archive or delete it first"
                ))
            }
        };
        if subj.label != req.dest_subject {
            return Decision::Blocked(format!(
                "{holder}: it belongs to subject {}, not {}; merge refused",
                subj.label, req.dest_subject
            ));
        }
        if req.study_uid.is_none() || sess.uid.as_deref() != req.study_uid {
            return Decision::Blocked(format!(
                "{holder}: StudyInstanceUIDs differ or are unknown; merge refused"
            ));
        }
        let mut scans = Vec::new();
        let mut clash = Vec::new();
        for s in &req.picked.scans {
            match sess.scans.get(&s.id) {
                None => scans.push(s.clone()),
                Some(d) if scan_counts(d).0 == s.files => {}
                Some(_) => clash.push(s.id.as_str()),
            }
        }
        let mut resources = Vec::new();
        for r in &req.picked.resources {
            match sess.resources.get(&r.label) {
                None => resources.push(r.clone()),
                Some(d) if d.files.len() as u64 == r.files => {}
                Some(_) => clash.push(r.label.as_str()),
            }
        }
        if !clash.is_empty() {
            return Decision::Blocked(format!(
                "{holder}: {} exist there with other file counts; merge never replaces files",
                clash.join(", ")
            ));
        }
        let reason = format!(
            "adds scans {} to {}/{} (same StudyInstanceUID; conflict: merge)",
            ids(scans.iter().map(|s| s.id.as_str())),
            self.inv.project,
            req.dest_session
        );
        Decision::Merge {
            scans,
            resources,
            reason,
        }
    }

    fn rename(&self, req: &Request<'_, '_>, claimed: &BTreeSet<String>, holder: &str) -> Decision {
        for n in 2..10_000u32 {
            let label = format!("{}_{n}", req.dest_session);
            if self.done(req, &label) {
                let what = if req.share {
                    "already shared"
                } else {
                    "already transferred"
                };
                let reason = format!(
                    "{what}: {}/{label} holds it (conflict: rename)",
                    self.inv.project
                );
                return Decision::Skip {
                    session: label,
                    reason,
                    done: true,
                };
            }
            if claimed.contains(&label) || !matches!(self.find(&label), Found::Nothing) {
                continue;
            }
            return fresh(req, label, Some(holder));
        }
        Decision::Blocked(format!(
            "{holder}: no free `_N` label left (conflict: rename)"
        ))
    }
}

fn fresh(req: &Request<'_, '_>, session: String, renamed_from: Option<&str>) -> Decision {
    let reason = match renamed_from {
        Some(holder) => format!("{holder}: renamed to {session} (conflict: rename)"),
        None if req.share => "new share".to_string(),
        None => "new session".to_string(),
    };
    if req.share {
        Decision::Share { session, reason }
    } else {
        Decision::Create { session, reason }
    }
}

/// Whether an archived destination session holds exactly this copy: same subject, same study, every
/// selected scan and resource present with the same file count.
fn same_copy(req: &Request<'_, '_>, subj: &Subject, sess: &Session) -> bool {
    let p = req.picked;
    subj.label == req.dest_subject
        && req.study_uid.is_some()
        && sess.uid.as_deref() == req.study_uid
        && p.scans.iter().all(|s| {
            sess.scans
                .get(&s.id)
                .is_some_and(|d| scan_counts(d).0 == s.files)
        })
        && p.resources.iter().all(|r| {
            sess.resources
                .get(&r.label)
                .is_some_and(|d| d.files.len() as u64 == r.files)
        })
}
