//! What a plan touches, fingerprinted object by object, so that `apply` refuses a plan only when one of
//! those objects changed, and names it. Pure: the planner calls [`watched`] on the inventories it planned
//! from and writes the result into the plan; the drift check calls it again on the inventories as they
//! are now and compares with [`compare`].
//!
//! The objects of a runnable action (create, merge, share):
//! - in the source project: the session (`session SUBJECT/SESSION`: its ID, StudyInstanceUID, date,
//!   type, header, owner, shares, assessors and curated fields), each of its scans and session resources (files, sizes, digests);
//! - in the destination project: the subject the action writes into (`subject LABEL`: its ID and whether
//!   it is shared in, not its sessions), the session label (`session SUBJECT/LABEL`), the prearchive
//!   entries at that label (`prearchive LABEL`), and the destination sessions that hold the source's
//!   study under any label (`study of SUBJECT/SESSION`, by label, never by UID).
//!
//! Each value reads `absent`, or a short description (`12 file(s), 4096 B`) followed by a digest of the
//! object. No value holds a DICOM header value or a UID in clear.

use super::model::{Action, ActionKind, TransferPlan};
use crate::dicom::profile::{transfer_key, uid_digest, KeyUse};
use crate::model::inventory::{Inventory, Resource, Session};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The value of an object that is not there.
pub const ABSENT: &str = "absent";

fn digest<T: Serialize + ?Sized>(v: &T) -> String {
    let mut h = blake3::Hasher::new();
    // Plain structs and maps always serialise.
    let _ = serde_json::to_writer(&mut h, v);
    h.finalize().to_hex()[..16].to_string()
}

fn files_of<'a>(resources: impl Iterator<Item = &'a Resource>) -> (usize, u64) {
    resources.fold((0, 0), |(n, b), r| {
        (
            n + r.files.len(),
            b + r.files.values().map(|f| f.size).sum::<u64>(),
        )
    })
}

fn session_value(s: &Session) -> String {
    let (n, b) = files_of(s.scans.values().flat_map(|x| x.resources.values()));
    let own = (
        &s.id,
        &s.uid,
        &s.date,
        &s.xsi_type,
        &s.shared_from,
        &s.header,
        s.scans.keys().collect::<Vec<_>>(),
        s.resources.keys().collect::<Vec<_>>(),
        // Where it is shared, what else it holds and its curated fields decide what a move may
        // delete and what it carries.
        (&s.shares, s.assessors, s.reconstructions, &s.meta),
    );
    format!("{} {n} file(s), {b} B, {}", s.id, digest(&own))
}

fn source_objects(action: &Action, inv: &Inventory, out: &mut BTreeMap<String, String>) {
    let at = format!(
        "session {}/{}",
        action.source.subject, action.source.session
    );
    let Some(s) = inv
        .subjects
        .get(&action.source.subject)
        .and_then(|subj| subj.sessions.get(&action.source.session))
    else {
        out.insert(at, ABSENT.into());
        return;
    };
    out.insert(at.clone(), session_value(s));
    for (id, scan) in &s.scans {
        let (n, b) = files_of(scan.resources.values());
        out.insert(
            format!("{at} scan {id}"),
            format!("{n} file(s), {b} B, {}", digest(scan)),
        );
    }
    for (label, r) in &s.resources {
        let (n, b) = files_of(std::iter::once(r));
        out.insert(
            format!("{at} resource {label}"),
            format!("{n} file(s), {b} B, {}", digest(r)),
        );
    }
}

fn dest_objects(action: &Action, inv: &Inventory, out: &mut BTreeMap<String, String>) {
    let dest = &action.dest;
    let subject = inv.subjects.get(&dest.subject);
    out.insert(
        format!("subject {}", dest.subject),
        subject.map_or(ABSENT.into(), |s| {
            format!("{}, {}", s.id, digest(&(&s.id, &s.shared_from)))
        }),
    );
    out.insert(
        format!("session {}/{}", dest.subject, dest.session),
        subject
            .and_then(|s| s.sessions.get(&dest.session))
            .map_or(ABSENT.into(), session_value),
    );
    let staged: Vec<_> = inv
        .prearchive
        .values()
        .filter(|e| e.label == dest.session)
        .collect();
    out.insert(
        format!("prearchive {}", dest.session),
        if staged.is_empty() {
            ABSENT.into()
        } else {
            format!("{} entries, {}", staged.len(), digest(&staged))
        },
    );
    // The plan holds the study's keyed digest (see `dicom::profile::uid_digest`), under the
    // destination's key: the destination's UIDs are digested the same way to be compared.
    let key = transfer_key(KeyUse::Digest, (&inv.server_url, &inv.project));
    let holders: BTreeSet<String> = match action.dest_uid() {
        Some(uid) => inv
            .subjects
            .values()
            .flat_map(|s| s.sessions.values().map(move |e| (s, e)))
            .filter(|(_, e)| e.uid.as_deref().map(|u| uid_digest(&key, u)).as_deref() == Some(uid))
            .map(|(s, e)| format!("{}/{}", s.label, e.label))
            .collect(),
        None => BTreeSet::new(),
    };
    out.insert(
        format!(
            "study of {}/{}",
            action.source.subject, action.source.session
        ),
        if holders.is_empty() {
            ABSENT.into()
        } else {
            holders.into_iter().collect::<Vec<_>>().join(" ")
        },
    );
}

/// Whether the plan writes anything for an action.
pub fn runs(action: &Action) -> bool {
    matches!(
        action.kind,
        ActionKind::Create | ActionKind::Merge | ActionKind::Share | ActionKind::Relocate
    )
}

/// The objects of `inv` (project `project` on server `server`) that the runnable actions touch, each
/// with its value. `only`, when given, limits it to those action IDs.
pub fn watched(
    transfers: &[TransferPlan],
    server: &str,
    project: &str,
    inv: &Inventory,
    only: Option<&BTreeSet<String>>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for t in transfers {
        for a in t.actions.iter().filter(|a| runs(a)) {
            if only.is_some_and(|o| !o.contains(&a.id)) {
                continue;
            }
            if t.from.server == server && t.from.project == project {
                source_objects(a, inv, &mut out);
            }
            if t.to.server == server && t.to.project == project {
                dest_objects(a, inv, &mut out);
            }
        }
    }
    out
}

/// The sessions whose details (scans, files, header) the watched objects of `inv`'s project depend
/// on, as (subject label, session label): each runnable action's source session in its source
/// project and its destination session in its destination project. Every other watched value reads
/// only listing-level facts (subjects, session labels and StudyInstanceUIDs, prearchive entries), so
/// the drift check reads the rest of a project from its listings alone.
pub fn sessions_read(
    transfers: &[TransferPlan],
    server: &str,
    project: &str,
    only: Option<&BTreeSet<String>>,
) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for t in transfers {
        for a in t.actions.iter().filter(|a| runs(a)) {
            if only.is_some_and(|o| !o.contains(&a.id)) {
                continue;
            }
            if t.from.server == server && t.from.project == project {
                out.insert((a.source.subject.clone(), a.source.session.clone()));
            }
            if t.to.server == server && t.to.project == project {
                out.insert((a.dest.subject.clone(), a.dest.session.clone()));
            }
        }
    }
    out
}

/// One watched object that changed: its name and what changed, in one line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Changed {
    /// The object (`session SUB001/SUB001_MR1 scan 3`).
    pub object: String,
    /// What changed (`12 file(s), 4096 B -> 13 file(s), 4410 B`, `appeared`, `gone`).
    pub what: String,
}

fn describe(old: &str, new: &str) -> String {
    // Values are "[ID ]DESCRIPTION, DIGEST"; show the description's change, or say the content changed.
    let text = |v: &str| {
        v.rsplit_once(", ")
            .map_or(v.to_string(), |(d, _)| d.to_string())
    };
    match (old, new) {
        (ABSENT, _) => format!("appeared ({})", text(new)),
        (_, ABSENT) => format!("gone (was {})", text(old)),
        _ if text(old) != text(new) => format!("{} -> {}", text(old), text(new)),
        _ => format!("content changed ({})", text(new)),
    }
}

/// The objects whose value differs between the plan's record and now. An object only one side
/// names is compared with `absent`.
pub fn compare(planned: &BTreeMap<String, String>, now: &BTreeMap<String, String>) -> Vec<Changed> {
    let keys: BTreeSet<&String> = planned.keys().chain(now.keys()).collect();
    keys.into_iter()
        .filter_map(|k| {
            let old = planned.get(k).map_or(ABSENT, String::as_str);
            let new = now.get(k).map_or(ABSENT, String::as_str);
            (old != new).then(|| Changed {
                object: k.clone(),
                what: describe(old, new),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::inventory::{FileEntry, Scan, Subject};

    fn inv() -> Inventory {
        let mut r = Resource {
            label: "DICOM".into(),
            ..Default::default()
        };
        r.files.insert(
            "a.dcm".into(),
            FileEntry {
                name: "a.dcm".into(),
                size: 10,
                digest: None,
            },
        );
        let mut scan = Scan {
            id: "2".into(),
            ..Default::default()
        };
        scan.resources.insert("DICOM".into(), r);
        let mut sess = Session {
            id: "E1".into(),
            label: "S1_MR1".into(),
            uid: Some("1.2.3".into()),
            ..Default::default()
        };
        sess.scans.insert("2".into(), scan);
        let mut subj = Subject {
            id: "S_1".into(),
            label: "S1".into(),
            ..Default::default()
        };
        subj.sessions.insert("S1_MR1".into(), sess);
        let mut inv = Inventory::default();
        inv.subjects.insert("S1".into(), subj);
        inv
    }

    fn action() -> Action {
        // Plans hold the study's digest under the destination's key (here: the default inventory's).
        let uid = uid_digest(&transfer_key(KeyUse::Digest, ("", "")), "1.2.3");
        crate::manifest::yaml::from_str(&format!(
            "id: t/S1/S1_MR1\nkind: create\nreason: r\nsource: {{subject: S1, subject_id: S_1, session: S1_MR1, session_id: E1, xsi_type: x, uid: '{uid}'}}\ndest: {{subject: D1, session: D1_MR1, subject_exists: false, session_exists: false}}\nscans: []\nresources: []\ndicom_set: {{}}\nphi: []\nfiles: 1\nbytes: 10\n",
        ))
        .unwrap()
    }

    #[test]
    fn a_change_to_a_watched_scan_is_named_and_an_unrelated_one_is_not() {
        let a = action();
        let mut before = BTreeMap::new();
        source_objects(&a, &inv(), &mut before);
        dest_objects(&a, &Inventory::default(), &mut before);
        // Unrelated: another subject appears in the source project.
        let mut other = inv();
        other.subjects.insert("S9".into(), Subject::default());
        let mut after = BTreeMap::new();
        source_objects(&a, &other, &mut after);
        dest_objects(&a, &Inventory::default(), &mut after);
        assert!(compare(&before, &after).is_empty());
        // Related: a file is added to scan 2.
        let mut grown = inv();
        let r = grown
            .subjects
            .get_mut("S1")
            .unwrap()
            .sessions
            .get_mut("S1_MR1")
            .unwrap();
        r.scans
            .get_mut("2")
            .unwrap()
            .resources
            .get_mut("DICOM")
            .unwrap()
            .files
            .insert(
                "b.dcm".into(),
                FileEntry {
                    name: "b.dcm".into(),
                    size: 5,
                    digest: None,
                },
            );
        let mut after = BTreeMap::new();
        source_objects(&a, &grown, &mut after);
        dest_objects(&a, &Inventory::default(), &mut after);
        let changed = compare(&before, &after);
        let objects: Vec<&str> = changed.iter().map(|c| c.object.as_str()).collect();
        assert_eq!(objects, ["session S1/S1_MR1", "session S1/S1_MR1 scan 2"]);
        assert_eq!(changed[1].what, "1 file(s), 10 B -> 2 file(s), 15 B");
    }

    #[test]
    fn the_destination_study_is_watched_by_label_never_by_uid() {
        let a = action();
        let mut before = BTreeMap::new();
        dest_objects(&a, &Inventory::default(), &mut before);
        let mut after = BTreeMap::new();
        dest_objects(&a, &inv(), &mut after);
        let changed = compare(&before, &after);
        let study = changed
            .iter()
            .find(|c| c.object == "study of S1/S1_MR1")
            .unwrap();
        assert_eq!(study.what, "appeared (S1/S1_MR1)");
        assert!(after.values().all(|v| !v.contains("1.2.3")));
    }
}
