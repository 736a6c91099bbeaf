//! The pre-transfer checklist of the site guide, done by the planner: access, conflicts, label mapping,
//! DICOM metadata, project settings and anonymization, each checked and shown.

use super::model::*;
use crate::inventory::Inventory;
use crate::manifest::model::{Anonymization, Mode, ResolvedPolicy, Transfer};

fn item(t: &Transfer, name: &str, status: CheckStatus, detail: String) -> CheckItem {
    CheckItem {
        transfer: t.name.clone(),
        item: name.to_string(),
        status,
        detail,
    }
}

/// An enum value as the manifest writes it.
fn word(v: impl serde::Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn count(actions: &[Action], f: impl Fn(&Action) -> bool) -> usize {
    actions.iter().filter(|a| f(a)).count()
}

/// The checklist of one transfer.
pub fn items(
    t: &Transfer,
    policy: &ResolvedPolicy,
    src: &Inventory,
    dst: &Inventory,
    actions: &[Action],
) -> Vec<CheckItem> {
    let role = |i: &Inventory| i.access.role.clone().unwrap_or_else(|| "unknown".into());
    let writes = |r: &str| matches!(r, "owner" | "member");
    let (sr, dr) = (role(src), role(dst));
    let mut access = if writes(&dr) || t.mode == Mode::Share {
        CheckStatus::Ok
    } else {
        CheckStatus::Blocked
    };
    let mut detail = format!(
        "source {}: {sr}; destination {}: {dr}",
        t.from.project, t.to.project
    );
    if t.mode == Mode::Move && sr != "owner" {
        access = access.max(CheckStatus::Warn);
        detail.push_str("; deleting sources usually needs Owner");
    }
    let existing = count(actions, |a| a.dest.session_exists);
    let blocked = count(actions, |a| a.kind == ActionKind::Blocked);
    let collisions = count(actions, |a| a.reason.starts_with("collision"));
    let phi = count(actions, |a| !a.phi.is_empty());
    let new_subjects: std::collections::BTreeSet<&str> = actions
        .iter()
        .filter(|a| !a.dest.subject_exists && a.kind != ActionKind::Blocked)
        .map(|a| a.dest.subject.as_str())
        .collect();
    let set_keys: Vec<&String> = actions
        .iter()
        .flat_map(|a| a.dicom_set.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    vec![
        item(t, "access", access, detail),
        item(
            t,
            "conflicts",
            if count(actions, |a| {
                a.dest.session_exists && a.kind == ActionKind::Blocked
            }) > 0
            {
                CheckStatus::Blocked
            } else if existing > 0 {
                CheckStatus::Warn
            } else {
                CheckStatus::Ok
            },
            format!(
                "{existing} planned label(s) exist in {} (conflict: {})",
                t.to.project,
                word(policy.conflict)
            ),
        ),
        item(
            t,
            "label mapping",
            if collisions > 0 {
                CheckStatus::Blocked
            } else {
                CheckStatus::Ok
            },
            format!(
                "{} session(s) mapped; {collisions} in label collisions",
                actions.len()
            ),
        ),
        item(
            t,
            "dicom metadata",
            CheckStatus::Ok,
            if set_keys.is_empty() {
                "no header rewritten; StudyInstanceUIDs kept".to_string()
            } else {
                format!(
                    "rewrites {}; StudyInstanceUIDs and pixel data kept",
                    set_keys
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        ),
        item(
            t,
            "project settings",
            if dst.access.can_create_subjects == Some(false) && !new_subjects.is_empty() {
                CheckStatus::Blocked
            } else {
                CheckStatus::Ok
            },
            format!(
                "destination: {}, archive: {}; {} subject(s) to create",
                word(policy.destination),
                word(policy.archive),
                new_subjects.len()
            ),
        ),
        item(
            t,
            "anonymization",
            match (policy.anonymization, phi) {
                (_, 0) => CheckStatus::Ok,
                (Anonymization::Require, _) => CheckStatus::Blocked,
                _ => CheckStatus::Warn,
            },
            format!(
                "anonymization: {}: {phi} session(s) with identifying keywords{}",
                word(policy.anonymization),
                if blocked > 0 {
                    format!("; {blocked} session(s) blocked in all")
                } else {
                    String::new()
                }
            ),
        ),
    ]
}
