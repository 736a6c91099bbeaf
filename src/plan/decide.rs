//! Deciding each selected session: its conflict outcome against the destination, then the access,
//! subject-creation and anonymization gates, into one [`Action`]. Blocked actions list every reason
//! found, so a reviewer sees all problems of a session at once.

use super::build::Draft;
use super::checklist::Tally;
use super::conflicts::{Decision, DestIndex, Request};
use super::error::PlanError;
use super::labels::Mapper;
use super::model::{
    Action, ActionKind, DestRef, DicomRules, PhiFinding, ResourcePlan, ScanPlan, SourceRef,
    TransferPlan,
};
use super::moves;
use super::select::Picked;
use crate::dicom::profile::uid_digest;
use crate::manifest::model::{Anonymization, Mode};
use crate::model::inventory::Inventory;
use crate::template::Templates;
use std::collections::{BTreeMap, BTreeSet};

/// One selected session with its mapped labels, before the decision.
pub(crate) struct Cand<'a> {
    /// `TRANSFER/SOURCE_SUBJECT/SOURCE_SESSION`.
    pub id: String,
    /// The session and what it carries.
    pub picked: Picked<'a>,
    /// The mapped destination subject label.
    pub dest_subject: String,
    /// The mapped destination session label.
    pub dest_session: String,
    /// `dicom.set` rendered for the mapped labels.
    pub dicom_set: BTreeMap<String, String>,
    /// Label problems and collisions found before the decision.
    pub problems: Vec<String>,
    /// Where identifying data remains after the rewrite (never values).
    pub phi: Vec<String>,
    /// The StudyInstanceUID the destination copy will carry.
    pub dest_uid: Option<String>,
}

impl Cand<'_> {
    /// Whether nothing at all was selected in the session.
    pub fn is_empty(&self) -> bool {
        self.picked.scans.is_empty() && self.picked.resources.is_empty()
    }
}

fn role(inv: &Inventory) -> Option<String> {
    inv.access.role.as_ref().map(|r| r.to_ascii_lowercase())
}

fn totals(scans: &[ScanPlan], resources: &[ResourcePlan]) -> (u64, u64) {
    let s = scans.iter().map(|s| (s.files, s.bytes));
    let r = resources.iter().map(|r| (r.files, r.bytes));
    s.chain(r).fold((0, 0), |(f, b), (x, y)| (f + x, b + y))
}

/// The gates after the conflict decision: write access, subject creation, share identity, source
/// deletion for moves, and PHI under `require`.
fn gates(d: &Draft<'_>, cand: &Cand<'_>, subject_exists: bool, tally: &mut Tally) -> Vec<String> {
    let mut out = Vec::new();
    let (src, dest) = (&d.src.project, &d.dest.project);
    if role(d.dest).as_deref() == Some("collaborator") {
        out.push(format!(
            "the account is a collaborator in {dest}: read-only, it may not add data there"
        ));
        tally.access_blocked += 1;
    }
    if !subject_exists && d.dest.access.can_create_subjects == Some(false) {
        out.push(format!(
            "subject {} must be created in {dest}, but the account cannot create subjects there (role {})",
            cand.dest_subject,
            role(d.dest).as_deref().unwrap_or("unknown")
        ));
        tally.create_blocked += 1;
    }
    if moves::native(d.t.mode) {
        if let Some(s) = d.dest.subjects.get(&cand.dest_subject) {
            if s.id != cand.picked.subject.id {
                out.push(format!(
                    "subject label {} in {dest} belongs to another subject ({}); a {} needs the source subject itself",
                    cand.dest_subject,
                    s.id,
                    if d.t.mode == Mode::Share { "share" } else { "relocation" }
                ));
                tally.conflict_blocked += 1;
            }
        }
    }
    if d.t.mode == Mode::Relocate {
        out.extend(relocate_gates(d, cand, tally));
    }
    if let Some(why) = moves::shared_gate(d, cand.picked.session) {
        out.push(why);
        tally.shared_blocked += 1;
    }
    if moves::deletes(d) && role(d.src).as_deref() == Some("collaborator") {
        out.push(format!(
            "move deletes the source session, but the account is a collaborator in {src}"
        ));
        tally.access_blocked += 1;
    }
    out.extend(super::destscripts::gates(&super::destscripts::Dest::of(d)));
    // Shares and relocations rewrite nothing: what the source carries is what the destination
    // project shows, so under `require` their findings block like a copy's.
    if !cand.phi.is_empty() && d.policy.anonymization == Anonymization::Require {
        let shown: Vec<&str> = cand.phi.iter().take(8).map(String::as_str).collect();
        let more = match cand.phi.len().saturating_sub(shown.len()) {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        let fix = if d.t.mode == Mode::Share {
            "a share rewrites nothing; copy with dicom.deidentify instead"
        } else if d.t.mode == Mode::Relocate {
            "a relocation rewrites nothing; move with dicom.deidentify instead"
        } else {
            "not removed or replaced by dicom.deidentify, dicom.private or a clean dicom.set"
        };
        out.push(format!(
            "identifying data under anonymization: require (PS3.15 Annex E): {}{more}; {fix}",
            shown.join(", ")
        ));
        tally.phi_blocked += 1;
    }
    out
}

/// The gates of a relocation: only the owning project relocates a session, and XNAT asks for delete
/// rights there.
fn relocate_gates(d: &Draft<'_>, cand: &Cand<'_>, tally: &mut Tally) -> Vec<String> {
    let mut out = Vec::new();
    let src = &d.src.project;
    if let Some(owner) = &cand.picked.session.shared_from {
        out.push(format!(
            "shared into {src} from {owner}: only its owning project can relocate it"
        ));
        tally.access_blocked += 1;
    }
    if matches!(role(d.src).as_deref(), Some("member" | "collaborator")) {
        out.push(format!(
            "relocation needs delete rights on the session in {src} (owner), the account is a {}",
            role(d.src).unwrap_or_default()
        ));
        tally.access_blocked += 1;
    }
    out
}

struct Outcome {
    kind: ActionKind,
    session: String,
    reason: String,
    scans: Vec<ScanPlan>,
    resources: Vec<ResourcePlan>,
}

/// Decides one session: skipped when nothing was selected, else its conflict outcome against the
/// destination, then the gates; blocked with every reason found.
fn outcome(
    d: &Draft<'_>,
    idx: &DestIndex<'_>,
    cand: &Cand<'_>,
    claimed: &BTreeSet<String>,
    tally: &mut Tally,
) -> Outcome {
    let mut o = Outcome {
        kind: ActionKind::Blocked,
        session: cand.dest_session.clone(),
        reason: String::new(),
        scans: cand.picked.scans.clone(),
        resources: cand.picked.resources.clone(),
    };
    if cand.is_empty() {
        o.kind = ActionKind::Skip;
        o.reason = "nothing selected: every scan was filtered out".into();
        tally.empty += 1;
        return o;
    }
    let mut reasons = cand.problems.clone();
    if reasons.is_empty() {
        match against_destination(d, (idx, claimed), cand, &mut o, tally) {
            Conflict::Open => {}
            Conflict::Settled => return o,
            Conflict::Blocked(r) => reasons.push(r),
        }
    }
    let subject_exists = idx.subject(&cand.dest_subject).is_some();
    reasons.extend(gates(d, cand, subject_exists, tally));
    if !reasons.is_empty() {
        o.kind = ActionKind::Blocked;
        o.reason = reasons.join("; ");
    } else if !subject_exists {
        o.reason = format!("{}; new subject {}", o.reason, cand.dest_subject);
    }
    o
}

/// Where the conflict decision against the destination leaves a session.
enum Conflict {
    /// Created, shared, relocated or merged: the gates decide the rest.
    Open,
    /// Skipped (already there, or done by an earlier run): nothing more to decide.
    Settled,
    /// Blocked by the destination's holdings, with why.
    Blocked(String),
}

/// Decides a session against what the destination project holds (and the labels other sessions of
/// the plan claimed there), and writes the decision into its outcome.
fn against_destination(
    d: &Draft<'_>,
    (idx, claimed): (&DestIndex<'_>, &BTreeSet<String>),
    cand: &Cand<'_>,
    o: &mut Outcome,
    tally: &mut Tally,
) -> Conflict {
    let req = Request {
        picked: &cand.picked,
        dest_subject: &cand.dest_subject,
        dest_session: &cand.dest_session,
        share: moves::native(d.t.mode),
        conflict: d.policy.conflict,
        study_uid: cand.dest_uid.as_deref(),
    };
    match idx.decide(&req, claimed) {
        Decision::Create { session, reason } | Decision::Share { session, reason } => {
            if session != cand.dest_session {
                tally.renamed += 1;
            }
            o.kind = if d.t.mode == Mode::Relocate {
                ActionKind::Relocate
            } else if req.share {
                ActionKind::Share
            } else {
                ActionKind::Create
            };
            o.session = session;
            o.reason = reason;
            Conflict::Open
        }
        Decision::Merge {
            scans,
            resources,
            reason,
        } => {
            tally.merged += 1;
            o.kind = ActionKind::Merge;
            o.scans = scans;
            o.resources = resources;
            o.reason = reason;
            Conflict::Open
        }
        Decision::Skip {
            session,
            reason,
            done,
        } => {
            if done {
                tally.done += 1;
            } else {
                tally.existing_skipped += 1;
            }
            o.kind = ActionKind::Skip;
            o.session = session;
            o.reason = reason;
            Conflict::Settled
        }
        Decision::Blocked(r) => {
            tally.conflict_blocked += 1;
            Conflict::Blocked(r)
        }
    }
}

fn action(
    d: &Draft<'_>,
    idx: &DestIndex<'_>,
    mapper: &Mapper<'_>,
    cand: &Cand<'_>,
    o: Outcome,
) -> Result<Action, PlanError> {
    let p = &cand.picked;
    let dicom_set = if o.session != cand.dest_session && !moves::native(d.t.mode) {
        mapper.dicom_set(p.subject, p.session, &cand.dest_subject, &o.session)?
    } else {
        cand.dicom_set.clone()
    };
    let phi = match o.kind {
        ActionKind::Skip => Vec::new(),
        _ => cand
            .phi
            .iter()
            .map(|k| PhiFinding {
                keyword: k.clone(),
                files: 1,
            })
            .collect(),
    };
    let (files, bytes) = match o.kind {
        ActionKind::Create | ActionKind::Merge | ActionKind::Blocked => {
            totals(&o.scans, &o.resources)
        }
        ActionKind::Share | ActionKind::Skip | ActionKind::Relocate => (0, 0),
    };
    let session_exists = match o.kind {
        ActionKind::Merge => true,
        ActionKind::Create | ActionKind::Share | ActionKind::Relocate => false,
        ActionKind::Skip | ActionKind::Blocked => idx.holds(&o.session),
    };
    let (delete, source_kept) = moves::source_delete(d, o.kind, p.session, &o.scans, &o.resources);
    Ok(Action {
        id: cand.id.clone(),
        kind: o.kind,
        reason: o.reason,
        source: SourceRef {
            subject: p.subject.label.clone(),
            subject_id: p.subject.id.clone(),
            session: p.session.label.clone(),
            session_id: p.session.id.clone(),
            xsi_type: p.session.xsi_type.clone(),
            uid: p.session.uid.as_deref().map(|u| uid_digest(&d.uid_key, u)),
        },
        dest: DestRef {
            subject: cand.dest_subject.clone(),
            session: o.session,
            subject_exists: idx.subject(&cand.dest_subject).is_some(),
            uid: match (&cand.dest_uid, &p.session.uid) {
                (Some(a), Some(b)) if a != b => Some(uid_digest(&d.uid_key, a)),
                _ => None,
            },
            session_exists,
        },
        scans: o.scans,
        resources: o.resources,
        dicom_set,
        phi,
        files,
        bytes,
        delete,
        source_kept,
    })
}

fn dicom_rules(d: &Draft<'_>) -> DicomRules {
    if matches!(d.t.mode, Mode::Share | Mode::Relocate) {
        return DicomRules::default();
    }
    let x = &d.t.dicom;
    let mut r = DicomRules {
        deidentify: x.deidentify.clone(),
        private: x.private,
        burned_in_acknowledged: x.burned_in_acknowledged.clone(),
        ..DicomRules::default()
    };
    if !r.is_empty() {
        r.annex_e_edition = crate::dicom::profile::edition().to_string();
    }
    r
}

/// Decides every session of every transfer, in order. Labels other sessions of the plan map onto
/// are reserved in each destination project, so a rename never takes one.
pub(crate) fn transfers(
    drafts: &mut [Draft<'_>],
    templates: &Templates,
) -> Result<Vec<TransferPlan>, PlanError> {
    let mut claimed: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for d in drafts.iter() {
        let key = (d.t.to.server.clone(), d.t.to.project.clone());
        let set = claimed.entry(key).or_default();
        set.extend(d.cands.iter().map(|c| c.dest_session.clone()));
    }
    let mut out = Vec::new();
    for d in drafts.iter_mut() {
        let key = (d.t.to.server.clone(), d.t.to.project.clone());
        let idx = DestIndex::new(d.dest);
        let mapper = Mapper::new(templates, d.t);
        let mut tally = std::mem::take(&mut d.tally);
        let mut actions = Vec::new();
        for cand in &d.cands {
            let here = claimed.entry(key.clone()).or_default();
            let o = outcome(d, &idx, cand, here, &mut tally);
            here.insert(o.session.clone());
            actions.push(action(d, &idx, &mapper, cand, o)?);
        }
        tally.scan_metadata(d);
        d.tally = tally;
        out.push(TransferPlan {
            name: d.t.name.clone(),
            mode: d.t.mode,
            from: d.t.from.clone(),
            to: d.t.to.clone(),
            policy: d.policy,
            dicom: dicom_rules(d),
            actions,
            skipped: d.skipped.clone(),
            destination_scripts: super::destscripts::planned(&super::destscripts::Dest::of(d)),
            empty_subjects: Vec::new(),
        });
        let last = out.len() - 1;
        out[last].empty_subjects = moves::empty_subjects(&out[last], d.src);
    }
    Ok(out)
}
