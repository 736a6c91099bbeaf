//! The `verify` step: compares what the destination holds with what ferry uploaded, by the MD5s the
//! destination lists where they vouch for a scan ([`crate::exec::digest`]) and by reading back the
//! rest. Success is what that comparison says, never an HTTP status. A shared session is verified by being visible
//! in the destination project with its StudyInstanceUID.

use super::{gate, local, resources, rewrite, xnat, Ctx, Env};
use crate::exec::digest;
use crate::exec::pool::{StepContext, StepFailure};
use crate::exec::resources as res;
use crate::exec::stash::Staged;
use crate::exec::verify::elements::{ServerScripts, ZipHeaders};
use crate::exec::verify::{self, Depth, SessionFacts, Verification};
use crate::exec::zipfacts::{self, Gate};
use crate::manifest::model::Verify;
use crate::plan::{ActionKind, StepKind};
use crate::xnat::Landing;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// What a note says of a destination script ferry could not read.
const UNREAD: &str = "could not be read";

/// Verifies one session: a copy by content, a share by visibility.
pub fn run(env: &Env<'_>, c: &Ctx<'_>, ctx: &StepContext<'_>) -> Result<Value, StepFailure> {
    if c.action.kind == ActionKind::Share {
        return share(env, c);
    }
    if c.action.kind == ActionKind::Relocate {
        return super::relocate::verify(env, c);
    }
    let to = &c.transfer.to;
    let (upload, expected) = rewrite::upload_zip(env, c, ctx)?;
    let client = env.client(&to.server)?;
    if !c.transfer.policy.archives() {
        return staged(env, c, ctx, &expected);
    }
    let depth = match c.transfer.policy.verify {
        Verify::Full if !c.transfer.policy.destination_anonymization.is_local() => {
            Depth::PixelsAndUids
        }
        Verify::Full => Depth::Full,
        Verify::Counts => Depth::Counts,
    };
    // The curated fields (and the destination's accession ID) are read while the files are
    // compared: neither read depends on the other.
    let (compared, curated) = std::thread::scope(|scope| {
        let curated = scope.spawn(|| super::metadata::check(env, c));
        let compared = compare_session(env, c, (&upload, &expected), depth);
        let curated = curated
            .join()
            .unwrap_or_else(|_| Err(local("reading the curated fields failed")));
        (compared, curated)
    });
    // The upload zip is read no more: its memory can serve a later download.
    drop(upload);
    let (mut v, phi) = compared?;
    let (curated, dest_id) = curated?;
    let staged = resources::staged(env, c)?;
    v.problems.extend(res::check(
        client,
        resources::dest_place(c),
        &staged,
        &c.dir,
    )?);
    v.files += staged.len();
    v.bytes += staged.iter().map(|f| f.size).sum::<u64>();
    v.problems.extend(curated);
    let dest_id = Some(dest_id);
    let report = json!({ "verification": v, "phi": phi, "accession": accession(c, dest_id) });
    if !v.passed() {
        let mut first: Vec<String> = verify::summary(&v.problems).into_iter().take(5).collect();
        // Why a change could not be told the destination's own (its scripts could not be read).
        first.extend(v.notes.iter().filter(|n| n.contains(UNREAD)).cloned());
        return Err(StepFailure::verification(format!(
            "{}/{}: verification failed ({} problem(s)): {}",
            to.project,
            c.action.dest.session,
            v.problems.len(),
            first.join("; ")
        )));
    }
    if gate(c) == Gate::Require && !phi.is_empty() {
        let keys: Vec<&String> = phi.keys().collect();
        return Err(StepFailure::verification(format!(
            "{}/{}: the destination copy carries identifying keywords {keys:?} (anonymization: require)",
            to.project, c.action.dest.session
        )));
    }
    // Nothing later reads the session's zips.
    env.stash.release(&c.dir);
    if !env.has_delete(c) {
        let _ = std::fs::remove_dir_all(&c.dir);
    }
    Ok(report)
}

/// Compares the destination's copy with what was uploaded: first by the digests the destination
/// lists (one request), then by reading back only the scans those do not vouch for. A scan the
/// digests vouch for holds exactly the bytes the rewrite step wrote and already passed through the
/// anonymization gate, so identifying values are looked for only in what is read back. Where a file
/// read back has another header hash than the one uploaded, both are read again element by element
/// (the upload zip is still staged) to name what changed.
fn compare_session(
    env: &Env<'_>,
    c: &Ctx<'_>,
    (upload, expected): (&Staged, &SessionFacts),
    depth: Depth,
) -> Result<(Verification, BTreeMap<String, usize>), StepFailure> {
    let to = &c.transfer.to;
    let dest = &c.action.dest;
    let client = env.client(&to.server)?;
    let scans: Vec<String> = expected.scans.keys().cloned().collect();
    let listed = client
        .scan_digests(&to.project, &dest.subject, &dest.session, &scans)
        .map_err(xnat)?;
    let mut split = digest::split(expected, &listed);
    if split.read_back.scans.is_empty() {
        return Ok((split.verified, BTreeMap::new()));
    }
    zipfacts::fill_pixel_hashes(upload, &mut split.read_back).map_err(local)?;
    let back = c.dir.join("readback.zip");
    let scans: Vec<String> = split.read_back.scans.keys().cloned().collect();
    client
        .download_session(
            &to.project,
            &dest.subject,
            &dest.session,
            &scans,
            Landing::disk(&back),
            &mut env.on_bytes(),
        )
        .map_err(xnat)?;
    let key = env.element_key()?;
    let mut rules = env.file_rules(c);
    rules.element_key = key;
    let (found, phi) = zipfacts::read_facts(&back, &rules).map_err(local)?;
    // What the destination's own scripts may change, when it runs them.
    let server = if depth == Depth::PixelsAndUids {
        let settings = client.project_settings(&to.project).map_err(xnat)?;
        ServerScripts::of(&settings)
    } else {
        ServerScripts::default()
    };
    let headers = ZipHeaders::open(upload, &back, key).map_err(local)?;
    let touches = |path: &[dicom_core::Tag]| server.touches(path);
    let judge = verify::Judge {
        depth,
        headers: Some(&headers),
        server_touches: &touches,
    };
    let read = verify::compare_with(&split.read_back, &found, &judge);
    drop(headers);
    let _ = std::fs::remove_file(&back);
    let mut read = read.map_err(|e| local(format!("cannot read back a header: {e}")))?;
    if depth == Depth::PixelsAndUids && !server.unknown.is_empty() {
        read.notes.push(format!(
            "the destination's anonymization scripts {UNREAD}: {}; changes they make count as changes ferry did not make",
            server.unknown.join(", ")
        ));
    }
    Ok((digest::merge(read, &split.verified), phi))
}

/// A shared session must be visible in the destination project, with the source's study.
fn share(env: &Env<'_>, c: &Ctx<'_>) -> Result<Value, StepFailure> {
    let to = &c.transfer.to;
    let seen = env
        .client(&to.server)?
        .session(&to.project, &c.action.dest.subject, &c.action.dest.session)
        .map_err(xnat)?;
    match seen {
        Some(s) if s.uid.as_deref().map(|u| env.file_rules(c).digest(u)) == c.action.source.uid => {
            Ok(json!({
                "visible": true,
                "id": s.id,
                "accession": accession(c, Some(s.id.clone())),
            }))
        }
        Some(_) => Err(StepFailure::verification(format!(
            "{}/{}: the shared session shows another StudyInstanceUID",
            to.project, c.action.dest.session
        ))),
        None => Err(StepFailure::verification(format!(
            "{}/{}: the share is not visible in the destination project",
            to.project, c.action.dest.session
        ))),
    }
}

/// The accession IDs of a session's source and destination, for the journal and the report.
fn accession(c: &Ctx<'_>, dest_session: Option<String>) -> Value {
    json!({
        "source_subject": c.action.source.subject_id,
        "source_session": c.action.source.session_id,
        "dest_session": dest_session,
    })
}

/// Under `archive: manual` the session stays in the prearchive for review: it must be there, READY,
/// with every file ferry sent. That is "staged", not "verified": the archive has not been read back,
/// and a move never deletes a source on it. ERROR and CONFLICT are failures.
fn staged(
    env: &Env<'_>,
    c: &Ctx<'_>,
    ctx: &StepContext<'_>,
    expected: &verify::SessionFacts,
) -> Result<Value, StepFailure> {
    let client = env.client(&c.transfer.to.server)?;
    let upload = ctx
        .detail(&env.sibling(c, StepKind::Upload))
        .unwrap_or_default();
    let uri = upload["uri"].as_str().unwrap_or_default();
    let entry = client.prearchive_entry(uri).map_err(xnat)?;
    let at = format!("{}/{}", c.transfer.to.project, c.action.dest.session);
    match entry.status.as_str() {
        "READY" => {}
        "ERROR" | "CONFLICT" => {
            return Err(StepFailure::verification(format!(
                "{at}: the prearchive holds the upload in state {} at {uri}; it will not archive as it is (see the guide's prearchive section)",
                entry.status
            )))
        }
        other => {
            return Err(local(format!(
                "{at}: the prearchive holds the upload in state {other} at {uri}; run apply again when it is READY"
            )))
        }
    }
    let counts = client.prearchive_file_counts(uri).map_err(xnat)?;
    let files: usize = expected.scans.values().map(|f| f.len()).sum();
    let found: usize = expected
        .scans
        .keys()
        .map(|s| counts.get(s).copied().unwrap_or(0))
        .sum();
    if !super::landing::holds_all(expected, &counts) {
        return Err(StepFailure::verification(format!(
            "{at}: the prearchive entry {uri} holds {found} of the {files} file(s) ferry sent"
        )));
    }
    let bytes: u64 = expected
        .scans
        .values()
        .flat_map(|f| f.values())
        .map(|f| f.size)
        .sum();
    Ok(json!({
        "staged": true,
        "prearchive": uri,
        "status": entry.status,
        "verification": { "scans": expected.scans.len(), "files": files, "bytes": bytes, "problems": [], "notes": [] },
        "accession": accession(c, None),
    }))
}
