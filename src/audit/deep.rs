//! The deep audit: for every session whose counterpart matched the shallow comparison, both sides are
//! downloaded and compared file by file (matched by SOPInstanceUID): pixel data by blake3, and the
//! header fields the manifest sets against the values the plan rendered. Files go to a temporary
//! folder and are removed after each session; nothing is written to a server.
//!
//! Differences are reported by scan and count, never with a UID or a header value.

use super::{AuditReport, Outcome, SessionAudit};
use crate::exec::gate::FileRules;
use crate::exec::stash::Staged;
use crate::exec::verify::{self, Depth, Problem, SessionFacts};
use crate::exec::zipfacts::{self, Gate};
use crate::manifest::model::Mode;
use crate::plan::{Action, Plan, TransferPlan};
use crate::xnat::{Client, Landing, XnatError};
use std::collections::BTreeMap;
use std::path::Path;

/// Why the deep audit could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DeepError {
    /// A server could not be read.
    #[error(transparent)]
    Read(#[from] XnatError),
    /// A downloaded zip could not be read.
    #[error(transparent)]
    Local(#[from] zipfacts::FactsError),
    /// The plan names a server with no connection.
    #[error("no connection to server `{0}`")]
    Server(String),
}

/// Problems as lines without UIDs: per scan and kind, with counts.
fn summarise(problems: &[Problem]) -> Vec<String> {
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut out = Vec::new();
    for p in problems {
        let (scan, what) = match p {
            Problem::MissingFile { scan, .. } => (scan, "missing".to_string()),
            Problem::UnexpectedFile { scan, .. } => (scan, "not in the source".to_string()),
            Problem::PixelData { scan, .. } => (scan, "with other pixel data".to_string()),
            Problem::Field { scan, keyword, .. } => (
                scan,
                format!("where `{keyword}` is not what the manifest sets"),
            ),
            Problem::StudyUid { .. } => {
                out.push("the StudyInstanceUID in the files differs from the source's".into());
                continue;
            }
            other => {
                out.push(other.to_string());
                continue;
            }
        };
        *counts.entry((scan.clone(), what)).or_default() += 1;
    }
    for ((scan, what), n) in counts {
        out.push(format!(
            "scan `{scan}`: {} {what}",
            crate::plan::plural(n as u64, "file", "files")
        ));
    }
    out
}

/// Downloads one side of a session and reads its facts, reading back the fields `rules` set. With
/// `as_sent`, the facts are those of the files as the rewrite step would send them (the
/// de-identification profile and `dicom.set` applied; UIDs replaced as the transfer replaces them).
fn facts(
    client: &Client,
    (project, subject, session): (&str, &str, &str),
    scans: &[String],
    rules: &FileRules,
    as_sent: bool,
    zip: &Path,
) -> Result<SessionFacts, DeepError> {
    client.download_session(
        project,
        subject,
        session,
        scans,
        Landing::disk(zip),
        &mut |_| {},
    )?;
    let facts = if as_sent {
        let sent = zip.with_extension("sent.zip");
        let r = zipfacts::rewrite_zip(zip, &sent, rules).and_then(|mut r| {
            let staged = Staged::Disk(sent.clone());
            zipfacts::fill_pixel_hashes(&staged, &mut r.facts)?;
            Ok(r)
        });
        let _ = std::fs::remove_file(&sent);
        r?.facts
    } else {
        zipfacts::read_facts(zip, rules)?.0
    };
    let _ = std::fs::remove_file(zip);
    Ok(facts)
}

fn deepen_session(
    plan: &Plan,
    clients: &BTreeMap<String, Client>,
    t: &TransferPlan,
    a: &Action,
    s: &mut SessionAudit,
    dir: &Path,
) -> Result<(), DeepError> {
    let client = |name: &str| {
        clients
            .get(name)
            .ok_or_else(|| DeepError::Server(name.into()))
    };
    let rules = FileRules::for_action(plan, t, a, Gate::Off);
    let mut expected = facts(
        client(&t.from.server)?,
        (&t.from.project, &a.source.subject, &a.source.session),
        &s.scan_ids,
        &rules,
        true,
        &dir.join("source.zip"),
    )?;
    // What the destination should hold: the source's pixel data, with the fields the manifest sets.
    for file in expected.scans.values_mut().flat_map(|m| m.values_mut()) {
        file.set_fields = a.dicom_set.clone();
    }
    if a.dicom_set.contains_key("StudyInstanceUID") {
        expected.study_uid = None;
    }
    let mut found = facts(
        client(&t.to.server)?,
        (&t.to.project, &a.dest.subject, &a.dest.session),
        &s.scan_ids,
        &rules,
        false,
        &dir.join("dest.zip"),
    )?;
    if a.dicom_set.contains_key("StudyInstanceUID") {
        found.study_uid = None;
    }
    let v = verify::compare(&expected, &found, Depth::Full);
    s.problems.extend(summarise(&v.problems));
    s.notes.extend(v.notes);
    s.notes
        .retain(|n| !n.starts_with("file sizes not compared"));
    if !s.problems.is_empty() {
        s.outcome = Outcome::Different;
    }
    Ok(())
}

/// Compares pixel data and set fields of every matched, archived copy in `report`, in place.
pub fn deepen(
    report: &mut AuditReport,
    plan: &Plan,
    clients: &BTreeMap<String, Client>,
    dir: &Path,
) -> Result<(), DeepError> {
    report.deep = true;
    for (ta, t) in report.transfers.iter_mut().zip(&plan.transfers) {
        if t.mode == Mode::Share {
            continue; // a share is the source session itself
        }
        let actions: BTreeMap<String, &Action> = t
            .actions
            .iter()
            .map(|a| (format!("{}/{}", a.source.subject, a.source.session), a))
            .collect();
        for s in ta
            .sessions
            .iter_mut()
            .filter(|s| s.outcome == Outcome::Match)
        {
            let Some(a) = actions.get(&s.source) else {
                continue;
            };
            if s.scan_ids.is_empty() {
                continue; // only session resources, compared file by file already
            }
            if s.notes
                .iter()
                .any(|n| n.starts_with("waiting in the destination prearchive"))
            {
                continue;
            }
            deepen_session(plan, clients, t, a, s, dir)?;
        }
    }
    report.tally();
    Ok(())
}
