//! Selection: which subjects, sessions, scans and resources of the source project a transfer takes, and
//! the skip report of everything in scope that it leaves behind. Pure: reads an inventory, returns
//! values.

use super::error::PlanError;
use super::model::{ResourcePlan, ScanPlan, Skipped};
use crate::manifest::model::Transfer;
use crate::model::inventory::{Inventory, Resource, Scan, Session, Subject};
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::collections::BTreeSet;

/// The compiled `select` block of one transfer.
pub(crate) struct Selector {
    subjects: Option<GlobSet>,
    sessions: Option<GlobSet>,
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
    resources: BTreeSet<String>,
    /// Share mode: XNAT shares whole sessions, so scan and resource selection does not apply.
    whole_sessions: bool,
    /// Whether copied sessions end up archived: resources attach to archived sessions only.
    archived: bool,
    /// `select.shared: include`: data the source only shares is selected too.
    shared: bool,
}

/// One selected source session with what it carries.
pub(crate) struct Picked<'a> {
    /// The source subject.
    pub subject: &'a Subject,
    /// The source session.
    pub session: &'a Session,
    /// Selected scans, by scan ID.
    pub scans: Vec<ScanPlan>,
    /// Selected session resources, by label.
    pub resources: Vec<ResourcePlan>,
}

fn compile(transfer: &str, field: &str, globs: &[String]) -> Result<Option<GlobSet>, PlanError> {
    if globs.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for g in globs {
        let glob = Glob::new(g).map_err(|e| PlanError::Glob {
            transfer: transfer.to_string(),
            field: field.to_string(),
            pattern: g.clone(),
            message: e.kind().to_string(),
        })?;
        b.add(glob);
    }
    b.build().map(Some).map_err(|e| PlanError::Glob {
        transfer: transfer.to_string(),
        field: field.to_string(),
        pattern: globs.join(", "),
        message: e.to_string(),
    })
}

/// Whether a resource holds DICOM files (the `DICOM` resource of a scan).
pub(crate) fn is_dicom(r: &Resource) -> bool {
    r.label.eq_ignore_ascii_case("DICOM") || r.format.eq_ignore_ascii_case("DICOM")
}

/// DICOM files and bytes of a scan.
pub(crate) fn scan_counts(scan: &Scan) -> (u64, u64) {
    scan.resources
        .values()
        .filter(|r| is_dicom(r))
        .flat_map(|r| r.files.values())
        .fold((0, 0), |(n, b), f| (n + 1, b + f.size))
}

fn matches(set: &Option<GlobSet>, s: &str) -> bool {
    set.as_ref().is_none_or(|g| g.is_match(s))
}

fn skip(object: String, reason: impl Into<String>) -> Skipped {
    Skipped {
        object,
        reason: reason.into(),
    }
}

/// The skip reason of data the source project only shares.
fn shared_in(project: &str, owner: &str) -> String {
    format!(
        "shared into {project} from {owner}: transfer it from its owning project, or select it with select.shared: include (a move never deletes it)"
    )
}

/// What ferry never carries from a selected session, with counts: assessors and reconstructions.
fn not_carried(session: &Session, skipped: &mut Vec<Skipped>) {
    for (n, what) in [
        (session.assessors, "assessors"),
        (session.reconstructions, "reconstructions"),
    ] {
        if n > 0 {
            skipped.push(skip(
                format!("{n} {what} of {}", session.label),
                format!("{what} are not transferred (they stay in the source)"),
            ));
        }
    }
}

impl Selector {
    /// Compiles a transfer's globs.
    pub fn new(t: &Transfer, whole_sessions: bool, archived: bool) -> Result<Selector, PlanError> {
        let s = &t.select;
        Ok(Selector {
            subjects: compile(&t.name, "select.subjects", &s.subjects)?,
            sessions: compile(&t.name, "select.sessions", &s.sessions)?,
            include: compile(&t.name, "select.scan_types.include", &s.scan_types.include)?,
            exclude: compile(&t.name, "select.scan_types.exclude", &s.scan_types.exclude)?,
            resources: s.resources.iter().cloned().collect(),
            whole_sessions,
            archived,
            shared: s.shared == Some(crate::manifest::model::Shared::Include),
        })
    }

    /// The selected sessions of a source project, sorted by subject then session label, and the skip
    /// report of the selected scope.
    pub fn pick<'a>(&self, inv: &'a Inventory) -> (Vec<Picked<'a>>, Vec<Skipped>) {
        let mut picked = Vec::new();
        let mut skipped = Vec::new();
        for subject in inv.subjects.values() {
            if !matches(&self.subjects, &subject.label) {
                skipped.push(skip(
                    format!("subject {}", subject.label),
                    "not matched by select.subjects",
                ));
                continue;
            }
            let owned = subject.sessions.values().any(|s| s.shared_from.is_none());
            if let (Some(from), false, false) = (&subject.shared_from, owned, self.shared) {
                skipped.push(skip(
                    format!("subject {}", subject.label),
                    shared_in(&inv.project, from),
                ));
                continue;
            }
            self.pick_subject(inv, subject, &mut picked, &mut skipped);
        }
        self.skip_prearchive(inv, &mut skipped);
        (picked, skipped)
    }

    fn pick_subject<'a>(
        &self,
        inv: &'a Inventory,
        subject: &'a Subject,
        picked: &mut Vec<Picked<'a>>,
        skipped: &mut Vec<Skipped>,
    ) {
        for session in subject.sessions.values() {
            if !matches(&self.sessions, &session.label) {
                skipped.push(skip(
                    format!("session {}", session.label),
                    "not matched by select.sessions",
                ));
                continue;
            }
            if let (Some(from), false) = (&session.shared_from, self.shared) {
                skipped.push(skip(
                    format!("session {}", session.label),
                    shared_in(&inv.project, from),
                ));
                continue;
            }
            not_carried(session, skipped);
            let scans = self.pick_scans(session, skipped);
            let resources = self.pick_resources(session, skipped);
            picked.push(Picked {
                subject,
                session,
                scans,
                resources,
            });
        }
        for (label, xsi) in &subject.other_experiments {
            skipped.push(skip(
                format!("experiment {label} ({xsi}) of {}", subject.label),
                "not an imaging session: assessors and other experiments are not transferred",
            ));
        }
    }

    fn pick_scans(&self, session: &Session, skipped: &mut Vec<Skipped>) -> Vec<ScanPlan> {
        let mut out = Vec::new();
        for scan in session.scans.values() {
            let what = || {
                format!(
                    "session {} scan {} ({})",
                    session.label, scan.id, scan.scan_type
                )
            };
            if !self.whole_sessions {
                if !matches(&self.include, &scan.scan_type) {
                    skipped.push(skip(
                        what(),
                        "scan type not matched by select.scan_types.include",
                    ));
                    continue;
                }
                if self
                    .exclude
                    .as_ref()
                    .is_some_and(|g| g.is_match(&scan.scan_type))
                {
                    skipped.push(skip(
                        what(),
                        "scan type excluded by select.scan_types.exclude",
                    ));
                    continue;
                }
            }
            if !scan.resources.values().any(is_dicom) {
                skipped.push(skip(what(), "no DICOM resource: nothing to transfer"));
                continue;
            }
            if !self.whole_sessions {
                for r in scan.resources.values().filter(|r| !is_dicom(r)) {
                    skipped.push(skip(
                        format!("resource {} of {} scan {}", r.label, session.label, scan.id),
                        "non-DICOM scan resource: not carried",
                    ));
                }
            }
            let (files, bytes) = scan_counts(scan);
            out.push(ScanPlan {
                id: scan.id.clone(),
                scan_type: scan.scan_type.clone(),
                files,
                bytes,
            });
        }
        out
    }

    /// Session resources listed in `select.resources`, copied file by file after the session is
    /// archived. Everything else lands in the skip report with why.
    fn pick_resources(&self, session: &Session, skipped: &mut Vec<Skipped>) -> Vec<ResourcePlan> {
        let mut out = Vec::new();
        for r in session.resources.values() {
            if self.whole_sessions {
                continue;
            }
            let object = || format!("resource {} of {}", r.label, session.label);
            if !self.resources.contains(&r.label) {
                skipped.push(skip(
                    object(),
                    "session resource not listed in select.resources",
                ));
            } else if !self.archived {
                skipped.push(skip(
                    object(),
                    "selected, but resources attach to archived sessions and this transfer leaves \
                     sessions in the prearchive (archive: manual): copy it after archiving",
                ));
            } else if r.files.is_empty() {
                skipped.push(skip(object(), "selected, but empty: nothing to copy"));
            } else {
                out.push(ResourcePlan {
                    label: r.label.clone(),
                    files: r.files.len() as u64,
                    bytes: r.files.values().map(|f| f.size).sum(),
                });
            }
        }
        out
    }

    fn skip_prearchive(&self, inv: &Inventory, skipped: &mut Vec<Skipped>) {
        for e in inv.prearchive.values() {
            if matches(&self.subjects, &e.subject) && matches(&self.sessions, &e.label) {
                skipped.push(skip(
                    format!("prearchive session {}/{}", e.subject, e.label),
                    format!(
                        "waiting in the source prearchive (status {}): archive it in {} first",
                        e.status, inv.project
                    ),
                ));
            }
        }
    }
}
