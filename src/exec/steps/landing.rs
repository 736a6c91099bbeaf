//! Exactly-once imports. An import or archive request whose answer was lost (a 5xx, a cut body, a
//! broken connection) may or may not have done its work. Before trying again, ferry looks at the
//! destination, in the archive and in the prearchive, by StudyInstanceUID and label:
//!
//! - the session is there with every file ferry sends: the step is done;
//! - it is there in part: the import is repeated with `overwrite=append`, which adds the missing files
//!   and never replaces one;
//! - it is absent: the import is repeated after a pause that grows with each attempt.
//!
//! Prearchive entries of this study and label that are incomplete, or that duplicate what the archive
//! holds in full, are ferry's own leftovers and are removed, so a run leaves no prearchive debris.
//! A resumed run (the step started or failed in an earlier run) looks first, with the same rules.

use super::{local, xnat, Ctx, Env};
use crate::dicom::profile::{transfer_key, uid_digest, KeyUse};
use crate::exec::pool::StepFailure;
use crate::exec::stash::Staged;
use crate::exec::verify::SessionFacts;
use crate::manifest::model::Destination;
use crate::model::inventory::PrearchiveEntry;
use crate::plan::ActionKind;
use crate::xnat::{Client, ImportTarget, Overwrite, XnatError};
use std::collections::BTreeMap;
use std::time::Duration;

/// Import attempts in one step, the first included.
pub const ATTEMPTS: u32 = 6;

/// What a look at the destination found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Every file ferry sends is there, at this URI (archive or prearchive).
    Complete(String),
    /// Part of the files are there; an append completes them.
    Partial,
    /// Nothing of this session.
    Absent,
}

/// How an import ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landed {
    /// The archive or prearchive URI, without `/data`.
    pub uri: String,
    /// Import requests sent.
    pub attempts: u32,
    /// Whether the destination was found complete after a lost answer (nothing re-sent).
    pub found_complete: bool,
    /// Prearchive entries removed as leftovers of earlier attempts.
    pub leftovers_removed: usize,
}

/// Whether a failed request may have done its work on the server: the answer was lost, not refused.
pub fn may_have_landed(e: &XnatError) -> bool {
    matches!(
        e,
        XnatError::Server { .. } | XnatError::Network { .. } | XnatError::BadResponse { .. }
    )
}

/// The pause before attempt `n + 1`: 0.25 s, doubling, at most 4 s.
pub fn pause(n: u32) -> Duration {
    Duration::from_millis((250u64 << n.saturating_sub(1).min(4)).min(4_000))
}

/// Files per scan ferry sends.
fn expected(facts: &SessionFacts) -> BTreeMap<&str, usize> {
    facts
        .scans
        .iter()
        .map(|(scan, files)| (scan.as_str(), files.len()))
        .collect()
}

/// Whether `found` (files per scan) holds at least what ferry sends.
pub fn holds_all(facts: &SessionFacts, found: &BTreeMap<String, usize>) -> bool {
    expected(facts)
        .into_iter()
        .all(|(scan, n)| found.get(scan).copied().unwrap_or(0) >= n)
}

fn archive_uri(c: &Ctx<'_>) -> String {
    format!(
        "/archive/projects/{}/subjects/{}/experiments/{}",
        c.transfer.to.project, c.action.dest.subject, c.action.dest.session
    )
}

/// The archived session at the planned label, as files per scan; `None` when there is none. A session
/// of another study there is refused.
fn archived(
    client: &Client,
    c: &Ctx<'_>,
    facts: &SessionFacts,
) -> Result<Option<BTreeMap<String, usize>>, StepFailure> {
    let to = &c.transfer.to;
    let Some(s) = client
        .session(&to.project, &c.action.dest.subject, &c.action.dest.session)
        .map_err(xnat)?
    else {
        return Ok(None);
    };
    // Facts hold the digest of the StudyInstanceUID (see `exec::gate`), under the destination's key.
    let key = transfer_key(KeyUse::Digest, (client.url(), &to.project));
    let found = s.uid.as_deref().map(|u| uid_digest(&key, u));
    if found.is_some() && facts.study_uid.is_some() && found != facts.study_uid {
        return Err(local(format!(
            "{}/{}: a session with another StudyInstanceUID holds this label on {}; refusing to upload into it",
            to.project, c.action.dest.session, to.server
        )));
    }
    Ok(Some(
        s.scans
            .iter()
            .map(|(id, scan)| {
                let n = scan.resources.get("DICOM").map_or(0, |r| r.files.len());
                (id.clone(), n)
            })
            .collect(),
    ))
}

/// The prearchive entries of the destination project for this study and label.
fn staged(
    client: &Client,
    c: &Ctx<'_>,
    facts: &SessionFacts,
) -> Result<Vec<PrearchiveEntry>, StepFailure> {
    let Some(uid) = facts.study_uid.as_deref() else {
        return Ok(Vec::new());
    };
    // Facts hold the digest of the StudyInstanceUID (see `exec::gate`), under the destination's key.
    let key = transfer_key(KeyUse::Digest, (client.url(), &c.transfer.to.project));
    Ok(client
        .prearchive_entries(&c.transfer.to.project)
        .map_err(xnat)?
        .into_iter()
        .filter(|e| uid_digest(&key, &e.uid) == uid && e.label == c.action.dest.session)
        .filter(|e| e.subject.is_empty() || e.subject == c.action.dest.subject)
        .collect())
}

/// Looks at the destination for an import into `dest`, removing prearchive leftovers on the way.
/// Returns what is there and how many leftovers were removed.
pub fn look(
    client: &Client,
    c: &Ctx<'_>,
    facts: &SessionFacts,
    dest: Destination,
) -> Result<(Found, usize), StepFailure> {
    let in_archive = archived(client, c, facts)?;
    let mut found = match (dest, in_archive) {
        (Destination::Archive, Some(files)) if holds_all(facts, &files) => {
            Found::Complete(archive_uri(c))
        }
        (Destination::Archive, Some(_)) => Found::Partial,
        // An upload into the prearchive is judged by the prearchive alone.
        _ => Found::Absent,
    };
    let mut removed = 0;
    for e in staged(client, c, facts)? {
        if matches!(e.status.as_str(), "RECEIVING" | "BUILDING" | "QUEUED") {
            return Err(local(format!(
                "{}: the prearchive is still receiving an earlier upload at {} ({}); run apply again shortly",
                c.action.dest.session, e.url, e.status
            )));
        }
        let keep = dest == Destination::Prearchive
            && e.status == "READY"
            && !matches!(found, Found::Complete(_))
            && holds_all(facts, &client.prearchive_file_counts(&e.url).map_err(xnat)?);
        if keep {
            found = Found::Complete(e.url.trim_start_matches("/data").to_string());
            continue;
        }
        // The plan saw no session at this label in the prearchive (it would be a conflict), so an
        // entry of this study here is an earlier attempt's: incomplete, or a second copy.
        client.delete_prearchive(&e.url).map_err(xnat)?;
        removed += 1;
    }
    Ok((found, removed))
}

/// Imports the upload zip exactly once: repeats it after a lost answer only when a look at the
/// destination shows it did not land in full. `look_first` is set on a resumed step.
pub fn import(
    env: &Env<'_>,
    c: &Ctx<'_>,
    zip: &Staged,
    facts: &SessionFacts,
    dest: Destination,
    look_first: bool,
) -> Result<Landed, StepFailure> {
    let to = &c.transfer.to;
    let client = env.client(&to.server)?;
    let mut overwrite = if c.action.kind == ActionKind::Merge {
        Overwrite::Append
    } else {
        Overwrite::None
    };
    let mut landed = Landed {
        uri: String::new(),
        attempts: 0,
        found_complete: false,
        leftovers_removed: 0,
    };
    let mut looking = look_first;
    loop {
        if looking {
            let (found, removed) = look(client, c, facts, dest)?;
            landed.leftovers_removed += removed;
            match found {
                Found::Complete(uri) => {
                    landed.uri = uri;
                    landed.found_complete = true;
                    return Ok(landed);
                }
                Found::Partial => overwrite = Overwrite::Append,
                Found::Absent => {}
            }
        }
        landed.attempts += 1;
        let target = ImportTarget {
            project: to.project.clone(),
            subject: c.action.dest.subject.clone(),
            session: c.action.dest.session.clone(),
            destination: dest,
            overwrite,
            // Under `local` ferry ran the destination's scripts in the rewrite step.
            prevent_anon: c.transfer.policy.destination_anonymization.is_local(),
        };
        match client.import_zip(zip.body(), &target, &mut env.on_bytes()) {
            Ok(out) => {
                landed.uri = out.uri;
                return Ok(landed);
            }
            Err(e) if may_have_landed(&e) && landed.attempts < ATTEMPTS => {
                std::thread::sleep(pause(landed.attempts));
                looking = true;
            }
            Err(e) => return Err(xnat(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::verify::FileFacts;

    fn facts(scans: &[(&str, usize)]) -> SessionFacts {
        let mut f = SessionFacts::default();
        for (scan, n) in scans {
            let files = (0..*n)
                .map(|i| (format!("1.2.{i}"), FileFacts::default()))
                .collect();
            f.scans.insert(scan.to_string(), files);
        }
        f
    }

    #[test]
    fn a_session_holds_all_only_with_every_file_of_every_scan() {
        let f = facts(&[("2", 3), ("3", 1)]);
        let found = |v: &[(&str, usize)]| -> BTreeMap<String, usize> {
            v.iter().map(|(s, n)| (s.to_string(), *n)).collect()
        };
        assert!(holds_all(&f, &found(&[("2", 3), ("3", 1)])));
        assert!(holds_all(&f, &found(&[("2", 3), ("3", 1), ("9", 4)])));
        assert!(!holds_all(&f, &found(&[("2", 2), ("3", 1)])));
        assert!(!holds_all(&f, &found(&[("2", 3)])));
        assert!(!holds_all(&f, &BTreeMap::new()));
    }

    #[test]
    fn only_lost_answers_may_have_landed() {
        let server = XnatError::Server {
            server: "s".into(),
            status: 500,
            what: "w".into(),
            attempts: 1,
        };
        assert!(may_have_landed(&server));
        let refused = XnatError::Refused {
            server: "s".into(),
            status: 409,
            what: "w".into(),
            message: "m".into(),
        };
        assert!(!may_have_landed(&refused));
        assert!(pause(1) < pause(2) && pause(30) == Duration::from_secs(4));
    }
}
