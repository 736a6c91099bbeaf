//! The shallow audit, pure: every selected source session against its destination counterpart, by
//! scans (ID and type), DICOM file counts and sizes, Study- and SeriesInstanceUIDs and the files of
//! selected session resources; then duplicate copies (a destination session holding a selected
//! session's study under another label).
//!
//! The counterpart is where the plan of the same manifest puts the session: the manifest's mapping,
//! or the `_N` label of an earlier copy under `conflict: rename`. What the manifest rewrites is not
//! compared here (file sizes change when headers do; a rewritten UID differs by design).

use super::{AuditReport, Extra, Outcome, SessionAudit, TransferAudit};
use crate::manifest::model::{Manifest, Mode, Transfer};
use crate::model::inventory::{Inventory, Resource, Session};
use crate::plan::{is_dicom, Action, ActionKind, Inventories, Picked, Plan, PlanError, Selector};
use std::collections::{BTreeMap, BTreeSet};

/// DICOM files and bytes of a scan's DICOM resources.
fn dicom_counts(resources: &BTreeMap<String, Resource>) -> (u64, u64) {
    resources
        .values()
        .filter(|r| is_dicom(r))
        .flat_map(|r| r.files.values())
        .fold((0, 0), |(n, b), f| (n + 1, b + f.size))
}

/// The destination session under a label: under the expected subject, or else under any subject.
fn find<'i>(dest: &'i Inventory, subject: &str, label: &str) -> Option<(&'i str, &'i Session)> {
    if let Some((k, s)) = dest
        .subjects
        .get_key_value(subject)
        .and_then(|(k, s)| s.sessions.get(label).map(|x| (k, x)))
    {
        return Some((k.as_str(), s));
    }
    dest.subjects
        .values()
        .find_map(|s| s.sessions.get(label).map(|x| (s.label.as_str(), x)))
}

/// What a comparison found.
#[derive(Default)]
struct Found {
    problems: Vec<String>,
    notes: Vec<String>,
    scans: u64,
    files: u64,
}

fn compare_resources(p: &Picked<'_>, dest: &Session, f: &mut Found) {
    for r in &p.resources {
        let Some(src) = p.session.resources.get(&r.label) else {
            continue;
        };
        let Some(dst) = dest.resources.get(&r.label) else {
            f.problems
                .push(format!("session resource `{}` is missing", r.label));
            continue;
        };
        let (mut missing, mut differ) = (0, 0);
        for (name, s) in &src.files {
            match dst.files.get(name) {
                None => missing += 1,
                Some(d) => {
                    let digests = matches!((&s.digest, &d.digest), (Some(a), Some(b)) if a != b);
                    if d.size != s.size || digests {
                        differ += 1;
                    }
                }
            }
        }
        let extra = dst
            .files
            .keys()
            .filter(|n| !src.files.contains_key(*n))
            .count();
        f.files += src.files.len() as u64;
        if missing + differ + extra > 0 {
            f.problems.push(format!(
                "session resource `{}`: of its files {missing} missing, {differ} differ, {extra} extra",
                r.label
            ));
        }
    }
}

/// Compares a copied session with its counterpart.
fn compare_copy(p: &Picked<'_>, a: &Action, dest: &Session, uid: &dyn Fn(&str) -> String) -> Found {
    let rewritten: BTreeSet<&str> = a.dicom_set.keys().map(String::as_str).collect();
    let mut f = Found::default();
    // A source UID is compared as the destination carries it (replaced, when the profile remaps).
    let differs = |x: &Option<String>, y: &Option<String>| matches!((x, y), (Some(x), Some(y)) if &uid(x) != y);
    if !rewritten.contains("StudyInstanceUID") && differs(&p.session.uid, &dest.uid) {
        f.problems
            .push("StudyInstanceUID differs from the source session's".into());
    }
    for want in &p.scans {
        let Some(src) = p.session.scans.get(&want.id) else {
            continue;
        };
        let Some(got) = dest.scans.get(&want.id) else {
            f.problems.push(format!(
                "scan `{}` ({}) is missing",
                want.id, want.scan_type
            ));
            continue;
        };
        f.scans += 1;
        let (src_files, src_bytes) = dicom_counts(&src.resources);
        let (files, bytes) = dicom_counts(&got.resources);
        f.files += files;
        if got.scan_type != src.scan_type {
            f.problems.push(format!(
                "scan `{}`: type `{}`, the source's is `{}`",
                want.id, got.scan_type, src.scan_type
            ));
        }
        if files != src_files {
            f.problems.push(format!(
                "scan `{}`: {files} DICOM files, the source has {src_files}",
                want.id
            ));
        } else if bytes != src_bytes && rewritten.is_empty() {
            f.problems.push(format!(
                "scan `{}`: DICOM files hold {bytes} bytes, the source's {src_bytes}",
                want.id
            ));
        }
        if !rewritten.contains("SeriesInstanceUID") && differs(&src.uid, &got.uid) {
            f.problems.push(format!(
                "scan `{}`: SeriesInstanceUID differs from the source scan's",
                want.id
            ));
        }
    }
    if !rewritten.is_empty() {
        let keys: Vec<&str> = rewritten.iter().copied().collect();
        f.notes.push(format!(
            "file sizes not compared: the manifest rewrites {}; `--deep` compares pixel data and those fields",
            keys.join(", ")
        ));
    }
    let selected: BTreeSet<&str> = p.scans.iter().map(|s| s.id.as_str()).collect();
    let others = dest
        .scans
        .keys()
        .filter(|k| !selected.contains(k.as_str()))
        .count();
    if others > 0 {
        f.notes.push(format!(
            "{} in the destination session, not selected here",
            crate::plan::plural(others as u64, "other scan", "other scans")
        ));
    }
    compare_resources(p, dest, &mut f);
    f
}

/// Audits one action of the plan against the destination inventory.
fn audit_action(
    uid: &dyn Fn(&str) -> String,
    t: &Transfer,
    p: &Picked<'_>,
    a: &Action,
    dest: &Inventory,
    archives: bool,
) -> SessionAudit {
    let mut s = SessionAudit {
        source: format!("{}/{}", a.source.subject, a.source.session),
        dest: format!("{}/{}", a.dest.subject, a.dest.session),
        outcome: Outcome::Match,
        problems: Vec::new(),
        notes: Vec::new(),
        scans: 0,
        files: 0,
        scan_ids: p.scans.iter().map(|x| x.id.clone()).collect(),
    };
    let found = find(dest, &a.dest.subject, &a.dest.session);
    let Some((subject, session)) = found else {
        s.outcome = Outcome::Missing;
        let waiting = dest
            .prearchive
            .values()
            .find(|e| e.label == a.dest.session && e.subject == a.dest.subject);
        match (waiting, archives) {
            (Some(e), false) => {
                s.outcome = Outcome::Match;
                s.notes.push(format!(
                    "waiting in the destination prearchive ({}) as the policy leaves it; scans not compared",
                    e.status
                ));
            }
            (Some(e), true) => s.problems.push(format!(
                "not archived: waiting in the destination prearchive ({})",
                e.status
            )),
            (None, _) => s.problems.push(format!(
                "no session `{}` in {}",
                a.dest.session, t.to.project
            )),
        }
        if a.kind == ActionKind::Blocked {
            s.notes.push(format!("the plan blocks it: {}", a.reason));
        }
        return s;
    };
    let mut f = if t.mode == Mode::Share {
        let mut f = Found::default();
        if session.id != a.source.session_id {
            f.problems.push(format!(
                "the destination session is {}, not the shared source session {}",
                session.id, a.source.session_id
            ));
        }
        f
    } else {
        compare_copy(p, a, session, uid)
    };
    if subject != a.dest.subject {
        f.problems.push(format!(
            "it belongs to destination subject `{subject}`, not `{}`",
            a.dest.subject
        ));
    }
    s.outcome = if f.problems.is_empty() {
        Outcome::Match
    } else {
        Outcome::Different
    };
    (s.problems, s.notes, s.scans, s.files) = (f.problems, f.notes, f.scans, f.files);
    s
}

/// Duplicate copies: destination sessions other than the counterparts that hold the study of a
/// selected source session (only where the manifest keeps StudyInstanceUIDs).
fn extras(
    dest: &Inventory,
    counterparts: &BTreeSet<(String, String)>,
    studies: &BTreeMap<String, (String, String)>,
) -> Vec<Extra> {
    let mut out = Vec::new();
    for subj in dest.subjects.values() {
        for sess in subj.sessions.values() {
            let key = (subj.label.clone(), sess.label.clone());
            if counterparts.contains(&key) {
                continue;
            }
            let Some((source, mapped)) = sess.uid.as_deref().and_then(|u| studies.get(u)) else {
                continue;
            };
            out.push(Extra {
                dest: format!("{}/{}", subj.label, sess.label),
                why: format!(
                    "holds the study of source session {source}, whose counterpart is {mapped}"
                ),
            });
        }
    }
    out.sort();
    out
}

/// Audits every transfer of a manifest from its plan and the inventories the plan was built from.
pub fn compare(
    manifest: &Manifest,
    plan: &Plan,
    inventories: &Inventories,
) -> Result<AuditReport, PlanError> {
    let mut report = AuditReport {
        deep: false,
        transfers: Vec::new(),
        totals: Default::default(),
    };
    // Counterparts per destination project, over all transfers, so that one transfer's copy is not
    // another's duplicate.
    let mut counterparts: BTreeMap<(String, String), BTreeSet<(String, String)>> = BTreeMap::new();
    for (t, tp) in manifest.transfers.iter().zip(&plan.transfers) {
        let key = (t.to.server.clone(), t.to.project.clone());
        for a in &tp.actions {
            counterparts
                .entry(key.clone())
                .or_default()
                .insert((a.dest.subject.clone(), a.dest.session.clone()));
        }
    }
    for (t, tp) in manifest.transfers.iter().zip(&plan.transfers) {
        let get = |server: &str, project: &str| {
            inventories
                .get(&(server.to_string(), project.to_string()))
                .ok_or_else(|| PlanError::MissingInventory {
                    server: server.to_string(),
                    project: project.to_string(),
                })
        };
        let src = get(&t.from.server, &t.from.project)?;
        let dest = get(&t.to.server, &t.to.project)?;
        let archives = tp.policy.archives();
        let (picked, _) = Selector::new(t, t.mode == Mode::Share, archives)?.pick(src);
        let by_label: BTreeMap<(&str, &str), &Picked<'_>> = picked
            .iter()
            .map(|p| ((p.subject.label.as_str(), p.session.label.as_str()), p))
            .collect();
        let mut ta = TransferAudit {
            name: t.name.clone(),
            from: format!("{}/{}", t.from.server, t.from.project),
            to: format!("{}/{}", t.to.server, t.to.project),
            sessions: Vec::new(),
            extra: Vec::new(),
        };
        let uid = |u: &str| crate::manifest::deidentify::destination_uid(t, &manifest.servers, u);
        let mut studies = BTreeMap::new();
        for a in &tp.actions {
            let key = (a.source.subject.as_str(), a.source.session.as_str());
            let Some(p) = by_label.get(&key) else {
                continue;
            };
            if p.scans.is_empty() && p.resources.is_empty() {
                continue;
            }
            if t.mode != Mode::Share && !a.dicom_set.contains_key("StudyInstanceUID") {
                if let Some(src_uid) = p.session.uid.as_deref() {
                    let source = format!("{}/{}", a.source.subject, a.source.session);
                    let mapped = format!("{}/{}", a.dest.subject, a.dest.session);
                    studies.insert(uid(src_uid), (source, mapped));
                }
            }
            ta.sessions
                .push(audit_action(&uid, t, p, a, dest, archives));
        }
        let key = (t.to.server.clone(), t.to.project.clone());
        let none = BTreeSet::new();
        ta.extra = extras(dest, counterparts.get(&key).unwrap_or(&none), &studies);
        report.transfers.push(ta);
    }
    report.tally();
    Ok(report)
}
