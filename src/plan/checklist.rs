//! The pre-transfer checklist of the site guide (access, conflicts, label mapping, DICOM metadata,
//! project settings, anonymization), each item checked per transfer, and the plan's totals.

use super::build::Draft;
use super::model::{ActionKind, CheckItem, CheckStatus, Step, StepKind, Summary, TransferPlan};
use crate::manifest::model::{Archive, Destination, Mode};
use std::collections::{BTreeMap, BTreeSet};

/// Counts gathered while deciding one transfer.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tally {
    /// Sessions whose labels collide (with another session or, for shares, another subject).
    pub collisions: usize,
    /// Sessions already transferred.
    pub done: usize,
    /// Existing destination sessions left alone under `conflict: skip`.
    pub existing_skipped: usize,
    /// Sessions merged into existing ones.
    pub merged: usize,
    /// Sessions renamed to a free `_N` label.
    pub renamed: usize,
    /// Sessions blocked by an existing destination session.
    pub conflict_blocked: usize,
    /// Sessions blocked because the account lacks rights.
    pub access_blocked: usize,
    /// Sessions blocked because their subject cannot be created.
    pub create_blocked: usize,
    /// Sessions blocked by PHI findings.
    pub phi_blocked: usize,
    /// Move: sessions blocked because they are shared into other projects.
    pub shared_blocked: usize,
    /// Sessions with nothing selected.
    pub empty: usize,
    /// Selected sessions without a StudyInstanceUID.
    pub missing_uid: usize,
    /// Header keywords carrying routing strings that `dicom.set` leaves as they are.
    pub routing_left: BTreeSet<String>,
}

/// Keywords where sites keep routing strings (`xnat://…` or `Project: … Subject: …`).
const ROUTING_KEYWORDS: &[&str] = &["StudyDescription", "PatientComments", "StudyComments"];

impl Tally {
    /// Looks at the selected sessions' headers for missing UIDs and routing strings left unrewritten.
    /// Records keywords only, never values.
    pub fn scan_metadata(&mut self, d: &Draft<'_>) {
        for c in &d.cands {
            if c.picked.session.uid.is_none() {
                self.missing_uid += 1;
            }
            for k in ROUTING_KEYWORDS {
                let routed = c.picked.session.header.get(*k).is_some_and(|v| {
                    v.contains("xnat://") || (v.contains("Project:") && v.contains("Subject:"))
                });
                if routed && (super::moves::native(d.t.mode) || !d.t.dicom.set.contains_key(*k)) {
                    self.routing_left.insert(k.to_string());
                }
            }
        }
    }
}

fn item(t: &TransferPlan, name: &str, status: CheckStatus, detail: String) -> CheckItem {
    CheckItem {
        transfer: t.name.clone(),
        item: name.to_string(),
        status,
        detail,
    }
}

fn status(blocked: bool, warn: bool) -> CheckStatus {
    if blocked {
        CheckStatus::Blocked
    } else if warn {
        CheckStatus::Warn
    } else {
        CheckStatus::Ok
    }
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn role_text(r: &Option<String>) -> &str {
    r.as_deref().unwrap_or("role unknown")
}

fn access(d: &Draft<'_>, t: &TransferPlan) -> CheckItem {
    let detail = format!(
        "source {}: {}; destination {}: {}{}",
        d.src.project,
        role_text(&d.src.access.role),
        d.dest.project,
        role_text(&d.dest.access.role),
        match d.tally.access_blocked {
            0 => String::new(),
            n => format!("; {n} sessions blocked for lack of rights"),
        }
    );
    let warn = d.dest.access.role.is_none();
    item(
        t,
        "access",
        status(d.tally.access_blocked > 0, warn),
        detail,
    )
}

fn conflicts(d: &Draft<'_>, t: &TransferPlan) -> CheckItem {
    let tl = &d.tally;
    let existing = tl.done + tl.existing_skipped + tl.merged + tl.renamed + tl.conflict_blocked;
    let detail = if existing == 0 {
        format!("no selected session exists in {}", d.dest.project)
    } else {
        format!(
            "{} in {}: {} already transferred, {} skipped, {} merged, {} renamed, {} blocked",
            count(
                existing,
                "destination session exists",
                "destination sessions exist"
            ),
            d.dest.project,
            tl.done,
            tl.existing_skipped,
            tl.merged,
            tl.renamed,
            tl.conflict_blocked
        )
    };
    let warn = tl.existing_skipped + tl.merged + tl.renamed > 0;
    item(
        t,
        "conflicts",
        status(tl.conflict_blocked > 0, warn),
        detail,
    )
}

fn label_mapping(d: &Draft<'_>, t: &TransferPlan) -> CheckItem {
    let mut sources: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for a in &t.actions {
        sources
            .entry(a.dest.subject.as_str())
            .or_default()
            .insert(a.source.subject.as_str());
    }
    let merged: Vec<String> = sources
        .iter()
        .filter(|(_, s)| s.len() > 1)
        .map(|(d, s)| format!("{d} <- {}", s.iter().copied().collect::<Vec<_>>().join("+")))
        .collect();
    let invalid = d
        .cands
        .iter()
        .filter(|c| {
            c.problems
                .iter()
                .any(|p| p.contains("not a valid XNAT label"))
        })
        .count();
    let mut detail = format!(
        "{} onto {}; subject `{}`, session `{}`",
        count(t.actions.len(), "session maps", "sessions map"),
        count(sources.len(), "destination subject", "destination subjects"),
        d.t.map.subject_template(),
        d.t.map.session_template()
    );
    if d.tally.collisions > 0 {
        detail.push_str(&format!("; {} sessions collide", d.tally.collisions));
    }
    if invalid > 0 {
        detail.push_str(&format!("; {invalid} invalid labels"));
    }
    if !merged.is_empty() {
        detail.push_str(&format!(
            "; several source subjects into one: {}",
            merged.join(", ")
        ));
    }
    let blocked = d.tally.collisions > 0 || invalid > 0;
    item(
        t,
        "label_mapping",
        status(blocked, !merged.is_empty()),
        detail,
    )
}

fn dicom_metadata(d: &Draft<'_>, t: &TransferPlan) -> CheckItem {
    let tl = &d.tally;
    let mut parts = Vec::new();
    let mut warn = false;
    if super::moves::native(d.t.mode) {
        let mode = if d.t.mode == Mode::Share {
            "share"
        } else {
            "relocate"
        };
        parts.push(format!("{mode} mode: headers stay as they are"));
        if !d.t.dicom.set.is_empty() {
            parts.push(format!("dicom.set is ignored in {mode} mode"));
            warn = true;
        }
    } else if d.t.dicom.set.is_empty() && t.dicom.deidentify.is_none() {
        parts.push("dicom.set rewrites nothing: Patient IDs stay as in the source".into());
        warn = true;
    } else if !d.t.dicom.set.is_empty() {
        let keys: Vec<&str> = d.t.dicom.set.keys().map(String::as_str).collect();
        parts.push(format!("dicom.set rewrites {}", keys.join(", ")));
    }
    if let Some(deid) = &t.dicom.deidentify {
        parts.insert(
            0,
            super::render::deidentify_line(deid, &t.dicom.annex_e_edition),
        );
    }
    match t.dicom.private {
        Some(crate::manifest::model::PrivateData::Remove) => {
            parts.push("private elements removed".into())
        }
        Some(crate::manifest::model::PrivateData::Keep) => {
            parts.push("private elements kept (private_reason given)".into())
        }
        None => {}
    }
    if tl.missing_uid > 0 {
        parts.push(format!(
            "{} sessions without a StudyInstanceUID",
            tl.missing_uid
        ));
        warn = true;
    }
    if !tl.routing_left.is_empty() {
        let keys: Vec<&str> = tl.routing_left.iter().map(String::as_str).collect();
        parts.push(format!(
            "routing strings left unrewritten in {}",
            keys.join(", ")
        ));
        warn = true;
    }
    item(t, "dicom_metadata", status(false, warn), parts.join("; "))
}

fn project_settings(d: &Draft<'_>, t: &TransferPlan) -> CheckItem {
    let p = &t.policy;
    let landing = match (t.mode, p.destination, p.archive) {
        (Mode::Share, _, _) => "shares need no upload".to_string(),
        (Mode::Relocate, _, _) => {
            "relocation needs no upload: XNAT moves the session's files itself".to_string()
        }
        (_, Destination::Archive, _) => "uploads go straight to the archive".into(),
        (_, Destination::Prearchive, Archive::Auto) => {
            "uploads go to the prearchive and are archived after checks".into()
        }
        (_, Destination::Prearchive, Archive::Manual) => {
            "uploads stay in the prearchive for manual review (archive: manual)".into()
        }
    };
    let new: BTreeSet<&str> = t
        .actions
        .iter()
        .filter(|a| {
            !a.dest.subject_exists
                && matches!(
                    a.kind,
                    ActionKind::Create | ActionKind::Merge | ActionKind::Share
                )
        })
        .map(|a| a.dest.subject.as_str())
        .collect();
    let creation = match d.dest.access.can_create_subjects {
        Some(true) => "subject creation allowed".to_string(),
        Some(false) => "subject creation not allowed".into(),
        None => "subject creation rights unknown".into(),
    };
    let detail = format!(
        "{landing}; {}; {creation}; {}",
        count(new.len(), "new subject", "new subjects"),
        super::destscripts::prearchive_setting(&super::destscripts::Dest::of(d))
    );
    let auto_blocked = matches!(t.mode, Mode::Copy | Mode::Move)
        && p.destination == Destination::Prearchive
        && p.archive == Archive::Manual
        && d.dest.settings.auto_archives();
    let warn = p.archive == Archive::Manual
        && !super::moves::native(t.mode)
        && p.destination == Destination::Prearchive
        || (!new.is_empty() && d.dest.access.can_create_subjects.is_none());
    item(
        t,
        "project_settings",
        status(d.tally.create_blocked > 0 || auto_blocked, warn),
        detail,
    )
}

fn anonymization(d: &Draft<'_>, t: &TransferPlan) -> CheckItem {
    use crate::manifest::model::Anonymization as A;
    let with: Vec<_> = t.actions.iter().filter(|a| !a.phi.is_empty()).collect();
    let keywords: BTreeSet<&str> = with
        .iter()
        .flat_map(|a| a.phi.iter().map(|f| f.keyword.as_str()))
        .collect();
    let kw = keywords.into_iter().collect::<Vec<_>>().join(", ");
    let (st, detail) = match (t.policy.anonymization, with.len()) {
        (A::Off, _) => (
            CheckStatus::Warn,
            "not checked (anonymization: off)".to_string(),
        ),
        (_, 0) => (
            CheckStatus::Ok,
            "no identifying keyword left unrewritten in the first file of each session".into(),
        ),
        (_, n) if super::moves::native(t.mode) => (
            CheckStatus::Warn,
            format!(
                "shares rewrite nothing: {} {kw}, visible in {} as they are",
                count(n, "session carries", "sessions carry"),
                t.to.project
            ),
        ),
        (A::Require, n) => (
            status(d.tally.phi_blocked > 0, true),
            format!(
                "{} {kw}: blocked under require",
                count(n, "session carries", "sessions carry")
            ),
        ),
        (A::Warn, n) => (
            CheckStatus::Warn,
            format!(
                "{} {kw}: transferred anyway under warn",
                count(n, "session carries", "sessions carry")
            ),
        ),
    };
    match super::destscripts::check(&super::destscripts::Dest::of(d), t) {
        Some((st2, more)) => item(t, "anonymization", st.max(st2), format!("{detail}; {more}")),
        None => item(t, "anonymization", st, detail),
    }
}

/// The checklist items of one transfer, in the guide's order.
pub(crate) fn items(d: &Draft<'_>, t: &TransferPlan) -> Vec<CheckItem> {
    vec![
        access(d, t),
        conflicts(d, t),
        label_mapping(d, t),
        dicom_metadata(d, t),
        project_settings(d, t),
        anonymization(d, t),
    ]
}

/// The totals of a plan.
pub(crate) fn summary(transfers: &[TransferPlan], steps: &[Step]) -> Summary {
    let mut s = Summary::default();
    for t in transfers {
        for a in &t.actions {
            match a.kind {
                ActionKind::Create => s.sessions_created += 1,
                ActionKind::Merge => s.sessions_merged += 1,
                ActionKind::Share => s.shares += 1,
                ActionKind::Skip => s.sessions_skipped += 1,
                ActionKind::Blocked => s.sessions_blocked += 1,
                ActionKind::Relocate => s.relocations += 1,
            }
            if matches!(a.kind, ActionKind::Create | ActionKind::Merge) {
                s.scans += a.scans.len() as u64;
                s.files += a.files;
                s.bytes += a.bytes;
            }
        }
    }
    let by_transfer: BTreeMap<&str, &TransferPlan> =
        transfers.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut subjects = BTreeSet::new();
    for step in steps {
        match step.kind {
            StepKind::CreateSubject => {
                if let Some(t) = by_transfer.get(step.transfer.as_str()) {
                    subjects.insert((&t.to.server, &t.to.project, &step.dest_subject));
                }
            }
            StepKind::DeleteSource => s.deletions += 1,
            _ => {}
        }
    }
    s.subjects_created = subjects.len() as u64;
    for t in transfers.iter().filter(|t| !t.policy.remove_empty_subjects) {
        s.empty_subjects.extend(
            t.empty_subjects
                .iter()
                .map(|x| format!("{}/{x}", t.from.project)),
        );
    }
    s
}
