//! `build`: (manifest, inventories) -> plan. Pure: the same inputs give the same plan, whatever order
//! the servers listed things in.

use super::model::*;
use super::select::Selection;
use crate::inventory::{Inventory, Session, Subject};
use crate::manifest::model::{Anonymization, Archive, Destination, Manifest, Mode, Transfer};
use crate::template::{Table, Templates};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// Everything the planner reads.
pub struct PlanInput<'a> {
    /// The manifest.
    pub manifest: &'a Manifest,
    /// The manifest's path as given.
    pub manifest_path: &'a str,
    /// blake3 of the manifest file, hex.
    pub manifest_hash: &'a str,
    /// The manifest's tables.
    pub tables: &'a BTreeMap<String, Table>,
    /// Inventories by (server name, project).
    pub inventories: &'a BTreeMap<(String, String), Inventory>,
    /// The version of ferry planning.
    pub ferry_version: &'a str,
}

/// Why no plan could be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// An inventory the manifest needs was not read.
    #[error("transfer `{transfer}`: no inventory of project `{project}` on server `{server}`")]
    MissingInventory {
        /// The transfer.
        transfer: String,
        /// The server.
        server: String,
        /// The project.
        project: String,
    },
    /// A template failed for one session.
    #[error("transfer `{transfer}`, session `{session}`: the {which} template failed: {message}")]
    Template {
        /// The transfer.
        transfer: String,
        /// The source session.
        session: String,
        /// Which template (`map.subject`, `dicom.set.PatientID`, …).
        which: String,
        /// The template error.
        message: String,
    },
    /// A glob of the selection does not compile.
    #[error("transfer `{transfer}`: {message}")]
    Select {
        /// The transfer.
        transfer: String,
        /// What is wrong.
        message: String,
    },
}

/// Whether a label is acceptable to XNAT: letters, digits, `_` and `-`, at most 64 characters.
pub fn valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 64
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A session picked for transfer, with its mapped labels, before conflicts are decided.
struct Candidate<'i> {
    subject: &'i Subject,
    session: &'i Session,
    dest_subject: String,
    dest_session: String,
    dicom_set: BTreeMap<String, String>,
    scans: Vec<ScanPlan>,
    blocked: Option<String>,
    phi: Vec<PhiFinding>,
}

fn inventory<'i>(
    input: &PlanInput<'i>,
    t: &Transfer,
    server: &str,
    project: &str,
) -> Result<&'i Inventory, PlanError> {
    input
        .inventories
        .get(&(server.to_string(), project.to_string()))
        .ok_or_else(|| PlanError::MissingInventory {
            transfer: t.name.clone(),
            server: server.to_string(),
            project: project.to_string(),
        })
}

/// Builds the plan.
pub fn build(input: &PlanInput<'_>) -> Result<Plan, PlanError> {
    let templates = Templates::new(input.tables);
    let mut transfers = Vec::new();
    let mut checklist = Vec::new();
    for t in &input.manifest.transfers {
        transfers.push(plan_transfer(input, &templates, t)?);
    }
    block_collisions(&mut transfers);
    for (t, tp) in input.manifest.transfers.iter().zip(&transfers) {
        let src = inventory(input, t, &t.from.server, &t.from.project)?;
        let dst = inventory(input, t, &t.to.server, &t.to.project)?;
        checklist.extend(super::checklist::items(
            t,
            &tp.policy,
            src,
            dst,
            &tp.actions,
        ));
    }
    let steps = super::graph::steps(&transfers);
    let summary = summarize(&transfers, &steps);
    let mut inventories: Vec<InventoryRef> = input
        .inventories
        .iter()
        .map(|((server, project), inv)| InventoryRef {
            server: server.clone(),
            project: project.clone(),
            fingerprint: inv.fingerprint(),
        })
        .collect();
    inventories.sort();
    Ok(Plan {
        format: FORMAT.to_string(),
        ferry_version: input.ferry_version.to_string(),
        manifest: ManifestRef {
            path: input.manifest_path.to_string(),
            hash: input.manifest_hash.to_string(),
        },
        servers: input.manifest.servers.clone(),
        inventories,
        summary,
        checklist,
        transfers,
        steps,
    })
}

fn plan_transfer(
    input: &PlanInput<'_>,
    templates: &Templates,
    t: &Transfer,
) -> Result<TransferPlan, PlanError> {
    let src = inventory(input, t, &t.from.server, &t.from.project)?;
    let dst = inventory(input, t, &t.to.server, &t.to.project)?;
    let policy = t.policy.resolve(&input.manifest.defaults.policy, t.mode);
    let sel = Selection::new(&t.select).map_err(|message| PlanError::Select {
        transfer: t.name.clone(),
        message,
    })?;
    let mut skipped = Vec::new();
    let mut candidates = Vec::new();
    for subject in src.subjects.values() {
        if !sel.subject(&subject.label) {
            skipped.push(skip(
                format!("subject {}", subject.label),
                "not selected by select.subjects",
            ));
            continue;
        }
        if let Some(p) = &subject.shared_from {
            skipped.push(skip(
                format!("subject {}", subject.label),
                &format!(
                    "shared into {} from project {p}; transfer it from its own project",
                    t.from.project
                ),
            ));
            continue;
        }
        for (label, xsi) in &subject.other_experiments {
            skipped.push(skip(
                format!("experiment {label} ({xsi}) of {}", subject.label),
                "not an imaging session (assessors and other data types are not transferred)",
            ));
        }
        for session in subject.sessions.values() {
            if let Some(c) = candidate(input, templates, t, &sel, subject, session, &mut skipped)? {
                candidates.push(c);
            }
        }
    }
    for e in src.prearchive.values() {
        skipped.push(skip(
            format!("prearchive entry {}", e.url),
            "not archived in the source project; archive or delete it there first",
        ));
    }
    let actions = decide(t, &policy, dst, candidates);
    skipped.sort();
    Ok(TransferPlan {
        name: t.name.clone(),
        mode: t.mode,
        from: t.from.clone(),
        to: t.to.clone(),
        policy,
        actions,
        skipped,
    })
}

fn skip(object: String, reason: &str) -> Skipped {
    Skipped {
        object,
        reason: reason.to_string(),
    }
}

/// Selects scans, maps labels, renders `dicom.set` and checks PHI for one source session.
#[allow(clippy::too_many_arguments)]
fn candidate<'i>(
    input: &PlanInput<'_>,
    templates: &Templates,
    t: &Transfer,
    sel: &Selection,
    subject: &'i Subject,
    session: &'i Session,
    skipped: &mut Vec<Skipped>,
) -> Result<Option<Candidate<'i>>, PlanError> {
    if !sel.session(&session.label) {
        skipped.push(skip(
            format!("session {}", session.label),
            "not selected by select.sessions",
        ));
        return Ok(None);
    }
    if let Some(p) = &session.shared_from {
        skipped.push(skip(
            format!("session {}", session.label),
            &format!(
                "shared into {} from project {p}; transfer it from its own project",
                t.from.project
            ),
        ));
        return Ok(None);
    }
    let mut scans = Vec::new();
    for scan in session.scans.values() {
        let object = format!(
            "session {} scan {} ({})",
            session.label, scan.id, scan.scan_type
        );
        if !sel.scan_type(&scan.scan_type) {
            skipped.push(skip(object, "excluded by select.scan_types"));
            continue;
        }
        for r in scan.resources.keys().filter(|r| r.as_str() != "DICOM") {
            skipped.push(skip(
                format!("{object} resource {r}"),
                "only the DICOM resource of a scan is transferred",
            ));
        }
        match scan.resources.get("DICOM") {
            Some(d) if !d.files.is_empty() => scans.push(ScanPlan {
                id: scan.id.clone(),
                scan_type: scan.scan_type.clone(),
                files: d.files.len() as u64,
                bytes: d.files.values().map(|f| f.size).sum(),
            }),
            _ => skipped.push(skip(object, "no DICOM files")),
        }
    }
    for r in session.resources.keys() {
        let reason = if t.select.resources.iter().any(|x| x == r) {
            "selected, but session resources are not transferred by this version of ferry; copy them by hand"
        } else {
            "session resource not selected by select.resources"
        };
        skipped.push(skip(
            format!("resource {r} of session {}", session.label),
            reason,
        ));
    }
    if scans.is_empty() {
        skipped.push(skip(
            format!("session {}", session.label),
            "no scan left to transfer after selection",
        ));
        return Ok(None);
    }
    let err = |which: &str, e: crate::template::TemplateError| PlanError::Template {
        transfer: t.name.clone(),
        session: session.label.clone(),
        which: which.to_string(),
        message: e.message,
    };
    let mut ctx = json!({
        "source": { "project": t.from.project },
        "dest": { "project": t.to.project },
        "subject": { "label": subject.label, "id": subject.id },
        "session": {
            "label": session.label, "id": session.id,
            "date": session.date.clone().unwrap_or_default(),
            "xsi_type": session.xsi_type, "uid": session.uid.clone().unwrap_or_default(),
        },
        "dicom": session.header,
    });
    let dest_subject = templates
        .render(t.map.subject_template(), &ctx)
        .map_err(|e| err("map.subject", e))?;
    ctx["dest"]["subject"] = json!(dest_subject);
    let dest_session = templates
        .render(t.map.session_template(), &ctx)
        .map_err(|e| err("map.session", e))?;
    ctx["dest"]["session"] = json!(dest_session);
    let mut dicom_set = BTreeMap::new();
    for (k, v) in &t.dicom.set {
        let value = templates
            .render(v, &ctx)
            .map_err(|e| err(&format!("dicom.set.{k}"), e))?;
        dicom_set.insert(k.clone(), value);
    }
    let mut blocked = None;
    for (what, label) in [("subject", &dest_subject), ("session", &dest_session)] {
        if !valid_label(label) && blocked.is_none() {
            blocked = Some(format!(
                "destination {what} label `{label}` is not a valid XNAT label (letters, digits, `_` and `-`, at most 64)"
            ));
        }
    }
    let policy = t.policy.resolve(&input.manifest.defaults.policy, t.mode);
    let mut phi = Vec::new();
    if policy.anonymization != Anonymization::Off && t.mode != Mode::Share {
        let set_keys: BTreeSet<String> = dicom_set.keys().cloned().collect();
        let found = crate::dicom::phi_findings(&session.header, &set_keys);
        phi = found
            .iter()
            .map(|k| PhiFinding {
                keyword: k.clone(),
                files: 1,
            })
            .collect();
        if policy.anonymization == Anonymization::Require && !found.is_empty() && blocked.is_none()
        {
            blocked = Some(format!(
                "identifying DICOM keywords filled in: {} (anonymization: require; overwrite them with dicom.set or anonymize the source)",
                found.join(", ")
            ));
        }
    }
    Ok(Some(Candidate {
        subject,
        session,
        dest_subject,
        dest_session,
        dicom_set,
        scans,
        blocked,
        phi,
    }))
}

/// The destination session holding a label, with its subject.
fn dest_session<'i>(dst: &'i Inventory, label: &str) -> Option<(&'i Subject, &'i Session)> {
    dst.sessions().find(|(_, s)| s.label == label)
}

/// Whether the destination session holds exactly what would be sent.
fn identical(existing: &Session, c: &Candidate<'_>) -> bool {
    existing.uid.is_some()
        && existing.uid == c.session.uid
        && c.scans.iter().all(|s| {
            existing
                .scans
                .get(&s.id)
                .and_then(|e| e.resources.get("DICOM"))
                .is_some_and(|d| d.files.len() as u64 == s.files)
        })
}

/// Decides each candidate's action against the destination and the conflict policy.
fn decide(
    t: &Transfer,
    policy: &crate::manifest::model::ResolvedPolicy,
    dst: &Inventory,
    mut candidates: Vec<Candidate<'_>>,
) -> Vec<Action> {
    use crate::manifest::model::Conflict;
    candidates.sort_by(|a, b| {
        (&a.subject.label, &a.session.label).cmp(&(&b.subject.label, &b.session.label))
    });
    let mut used: BTreeSet<String> = candidates.iter().map(|c| c.dest_session.clone()).collect();
    let mut out = Vec::new();
    for c in candidates {
        let subject_exists = dst.subjects.contains_key(&c.dest_subject);
        let mut a = Action {
            id: format!("{}/{}/{}", t.name, c.subject.label, c.session.label),
            kind: if t.mode == Mode::Share {
                ActionKind::Share
            } else {
                ActionKind::Create
            },
            reason: String::new(),
            source: SourceRef {
                subject: c.subject.label.clone(),
                subject_id: c.subject.id.clone(),
                session: c.session.label.clone(),
                session_id: c.session.id.clone(),
                xsi_type: c.session.xsi_type.clone(),
                uid: c.session.uid.clone(),
            },
            dest: DestRef {
                subject: c.dest_subject.clone(),
                session: c.dest_session.clone(),
                subject_exists,
                session_exists: false,
            },
            scans: c.scans.clone(),
            resources: Vec::new(),
            dicom_set: if t.mode == Mode::Share {
                BTreeMap::new()
            } else {
                c.dicom_set.clone()
            },
            phi: c.phi.clone(),
            files: 0,
            bytes: 0,
        };
        if let Some(why) = &c.blocked {
            a.kind = ActionKind::Blocked;
            a.reason = why.clone();
        } else if let Some((owner, existing)) = dest_session(dst, &c.dest_session) {
            a.dest.session_exists = true;
            if owner.label != c.dest_subject {
                a.kind = ActionKind::Blocked;
                a.reason = format!(
                    "{}/{} exists under another subject ({}); ferry never uploads into another subject's session",
                    t.to.project, c.dest_session, owner.label
                );
            } else if identical(existing, &c) {
                a.kind = ActionKind::Skip;
                a.reason =
                    "already transferred (the destination holds the same study and files)".into();
            } else {
                match policy.conflict {
                    Conflict::Fail => {
                        a.kind = ActionKind::Blocked;
                        a.reason = format!(
                            "{}/{} exists (conflict: fail)",
                            t.to.project, c.dest_session
                        );
                    }
                    Conflict::Skip => {
                        a.kind = ActionKind::Skip;
                        a.reason = format!(
                            "{}/{} exists (conflict: skip)",
                            t.to.project, c.dest_session
                        );
                    }
                    Conflict::Merge if existing.uid != c.session.uid || existing.uid.is_none() => {
                        a.kind = ActionKind::Blocked;
                        a.reason = format!(
                            "{}/{} holds another study (StudyInstanceUID differs); merge refused",
                            t.to.project, c.dest_session
                        );
                    }
                    Conflict::Merge => {
                        a.scans.retain(|s| !existing.scans.contains_key(&s.id));
                        if a.scans.is_empty() {
                            a.kind = ActionKind::Skip;
                            a.reason = "already transferred (every selected scan is there)".into();
                        } else {
                            a.kind = ActionKind::Merge;
                            a.reason = format!(
                                "adds {} missing scan(s) to {}/{}",
                                a.scans.len(),
                                t.to.project,
                                c.dest_session
                            );
                        }
                    }
                    Conflict::Rename => {
                        let fresh = (2..)
                            .map(|n| format!("{}_{n}", c.dest_session))
                            .find(|l| dest_session(dst, l).is_none() && !used.contains(l))
                            .unwrap_or_default();
                        used.insert(fresh.clone());
                        a.reason = format!(
                            "{}/{} exists (conflict: rename)",
                            t.to.project, c.dest_session
                        );
                        for v in a.dicom_set.values_mut() {
                            *v = v.replace(&c.dest_session, &fresh);
                        }
                        a.dest.session = fresh;
                        a.dest.session_exists = false;
                    }
                }
            }
        }
        if matches!(a.kind, ActionKind::Create | ActionKind::Share)
            && !subject_exists
            && dst.access.can_create_subjects == Some(false)
        {
            a.kind = ActionKind::Blocked;
            a.reason = format!(
                "subject {} must be created in {}, and your role there ({}) cannot create subjects",
                c.dest_subject,
                t.to.project,
                dst.access.role.as_deref().unwrap_or("none")
            );
        }
        if a.reason.is_empty() {
            a.reason = match a.kind {
                ActionKind::Share => "shared under the planned label".into(),
                _ => "new session".into(),
            };
        }
        a.files = a.scans.iter().map(|s| s.files).sum();
        a.bytes = a.scans.iter().map(|s| s.bytes).sum();
        out.push(a);
    }
    out
}

/// Two source sessions mapped onto one destination label block each other, in every transfer.
fn block_collisions(transfers: &mut [TransferPlan]) {
    let mut by_label: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
    for t in transfers.iter() {
        for a in &t.actions {
            by_label
                .entry((
                    t.to.server.clone(),
                    t.to.project.clone(),
                    a.dest.session.clone(),
                ))
                .or_default()
                .push(format!("{}/{}", a.source.subject, a.source.session));
        }
    }
    for t in transfers.iter_mut() {
        for a in &mut t.actions {
            let key = (
                t.to.server.clone(),
                t.to.project.clone(),
                a.dest.session.clone(),
            );
            let sources = &by_label[&key];
            if sources.len() > 1 {
                a.kind = ActionKind::Blocked;
                a.reason = format!(
                    "collision: {} map onto the same label {}/{}",
                    sources.join(" and "),
                    t.to.project,
                    a.dest.session
                );
            }
        }
    }
}

fn summarize(transfers: &[TransferPlan], steps: &[Step]) -> Summary {
    let mut s = Summary::default();
    for t in transfers {
        for a in &t.actions {
            match a.kind {
                ActionKind::Create => s.sessions_created += 1,
                ActionKind::Merge => s.sessions_merged += 1,
                ActionKind::Share => s.shares += 1,
                ActionKind::Skip => s.sessions_skipped += 1,
                ActionKind::Blocked => s.sessions_blocked += 1,
            }
            if matches!(a.kind, ActionKind::Create | ActionKind::Merge) {
                s.scans += a.scans.len() as u64;
                s.files += a.files;
                s.bytes += a.bytes;
            }
        }
    }
    for step in steps {
        match step.kind {
            StepKind::CreateSubject => s.subjects_created += 1,
            StepKind::DeleteSource => s.deletions += 1,
            _ => {}
        }
    }
    s
}

/// Whether a transfer's uploads go to the archive in the end (directly, or by `archive: auto`).
pub fn archives(p: &crate::manifest::model::ResolvedPolicy) -> bool {
    p.destination == Destination::Archive || p.archive == Archive::Auto
}
