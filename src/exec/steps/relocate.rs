//! The `relocate` step and its verification: XNAT's own change of primary project on one server
//! (`primary=true` with `label=`). No bytes move; the session keeps its accession ID, scans, resources,
//! assessors and shares. Success is what a fresh read says: the session, by its accession ID, is
//! primary in the destination under the planned label, with every planned scan and its files.
//!
//! XNAT may answer an error and still have moved the session (xnat-api.md §10.2), so after any
//! failure, and on a resumed run, the session is read back before deciding.

use super::{local, xnat, Ctx, Env};
use crate::exec::pool::StepFailure;
use crate::model::inventory::Session;
use crate::plan::{Action, TransferPlan};
use crate::xnat::{Client, SessionRef, XnatError};
use serde_json::{json, Value};

/// Where the session is now: `Some(true)` primary in the destination under the planned label,
/// `Some(false)` still primary in the source, `None` anywhere else.
fn whereabouts(client: &Client, t: &TransferPlan, a: &Action) -> Result<Option<bool>, StepFailure> {
    let item = client.experiment_item(&a.source.session_id).map_err(xnat)?;
    if item.project == t.to.project && item.label == a.dest.session {
        return Ok(Some(true));
    }
    Ok((item.project == t.from.project).then_some(false))
}

/// Runs the relocation of one session.
pub fn run(env: &Env<'_>, c: &Ctx<'_>) -> Result<Value, StepFailure> {
    let (t, a) = (c.transfer, c.action);
    let client = env.client(&t.from.server)?;
    match whereabouts(client, t, a)? {
        Some(true) => return Ok(json!({ "id": a.source.session_id, "resumed": true })),
        Some(false) => {}
        None => {
            return Err(StepFailure::fatal(format!(
                "{}: the session is no longer primary in {}; plan again",
                a.source.session, t.from.project
            )))
        }
    }
    let at = SessionRef {
        project: &t.from.project,
        subject: &a.source.subject,
        session: &a.source.session,
    };
    let sent = client.relocate_session(at, &t.to.project, &a.dest.session);
    match (sent, whereabouts(client, t, a)?) {
        (_, Some(true)) => Ok(json!({ "id": a.source.session_id })),
        (Err(e), _) => Err(xnat(e)),
        (Ok(()), _) => Err(local(format!(
            "{}: the server accepted the relocation but the session is not primary in {} under {}",
            a.source.session, t.to.project, a.dest.session
        ))),
    }
}

/// DICOM files and bytes of a scan of a read session.
fn dicom_counts(s: &Session, scan: &str) -> Option<(u64, u64)> {
    let scan = s.scans.get(scan)?;
    Some(
        scan.resources
            .values()
            .filter(|r| {
                r.label.eq_ignore_ascii_case("DICOM") || r.format.eq_ignore_ascii_case("DICOM")
            })
            .flat_map(|r| r.files.values())
            .fold((0, 0), |(n, b), f| (n + 1, b + f.size)),
    )
}

/// Verifies a relocation: primary in the destination, same accession ID, every planned scan with
/// its planned files and bytes.
pub fn verify(env: &Env<'_>, c: &Ctx<'_>) -> Result<Value, StepFailure> {
    let (t, a) = (c.transfer, c.action);
    let client = env.client(&t.to.server)?;
    let to = &t.to;
    let fail = |why: String| {
        StepFailure::verification(format!("{}/{}: {why}", to.project, a.dest.session))
    };
    if whereabouts(client, t, a)? != Some(true) {
        return Err(fail(format!(
            "session {} is not primary in {} under this label",
            a.source.session_id, to.project
        )));
    }
    let seen = match client.session(&to.project, &a.dest.subject, &a.dest.session) {
        Ok(Some(s)) => s,
        Ok(None) | Err(XnatError::NotFound { .. }) => {
            return Err(fail(format!(
                "not visible under subject {} in {}",
                a.dest.subject, to.project
            )))
        }
        Err(e) => return Err(xnat(e)),
    };
    if seen.id != a.source.session_id {
        return Err(fail(format!(
            "the accession ID is {}, expected {} (relocation keeps it)",
            seen.id, a.source.session_id
        )));
    }
    let mut problems = Vec::new();
    let (mut files, mut bytes) = (0u64, 0u64);
    for s in &a.scans {
        match dicom_counts(&seen, &s.id) {
            None => problems.push(format!("scan `{}` is missing", s.id)),
            Some((n, b)) if (n, b) != (s.files, s.bytes) => problems.push(format!(
                "scan `{}` has {n} files ({b} bytes), expected {} ({} bytes)",
                s.id, s.files, s.bytes
            )),
            Some((n, b)) => {
                files += n;
                bytes += b;
            }
        }
    }
    if !problems.is_empty() {
        return Err(fail(format!(
            "verification failed ({} problem(s)): {}",
            problems.len(),
            problems.join("; ")
        )));
    }
    Ok(json!({
        "verification": { "scans": a.scans.len(), "files": files, "bytes": bytes, "problems": [], "notes": [] },
        "id": seen.id,
    }))
}
