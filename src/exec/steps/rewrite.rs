//! The `rewrite` step: the downloaded zip becomes the upload zip (the de-identification profile, the
//! destination's anonymization scripts the plan recorded, then headers per `dicom.set`, then the anonymization gate on every file), and the facts verification will compare are kept beside it (in memory with a zip held in memory, else in the staging folder).
//! A session whose download is held in memory gets its upload zip in memory too, when the run's
//! stash has room for it. [`upload_zip`] gives later steps the upload zip, rebuilt when the staging
//! folder lost it.

use super::{download, file_blake3, io, local, Ctx, Env};
use crate::exec::localanon::LocalScripts;
use crate::exec::pool::{StepContext, StepFailure};
use crate::exec::stash::{Bytes, Staged};
use crate::exec::verify::SessionFacts;
use crate::exec::zipfacts::{self, FactsError, Rewritten};
use crate::plan::StepKind;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;

/// Rewrites the downloaded zip into the upload zip. When the staging folder was lost since an
/// earlier run, downloads again first.
pub fn run(env: &Env<'_>, c: &Ctx<'_>) -> Result<Value, StepFailure> {
    let source = match env.staged(c, "source.zip") {
        Some(s) => s,
        None => {
            download::run(env, c)?;
            env.staged(c, "source.zip")
                .ok_or_else(|| local("the download left no zip in the staging folder"))?
        }
    };
    let upload = c.dir.join("upload.zip");
    let mut rules = env.file_rules(c);
    rules.scripts = LocalScripts::for_action(c.transfer, c.action).map_err(local)?;
    rules.element_key = env.element_key()?;
    let failed = |e: FactsError| match e {
        FactsError::Phi { .. } | FactsError::Unexpected { .. } => {
            StepFailure::new(format!("{}: {e}", c.action.source.session))
        }
        other => local(other),
    };
    let (r, hash) = match &source {
        Staged::Memory(path, bytes) => {
            // The upload zip refers to the download's buffer for each file's data.
            let base = bytes.buffer();
            let (r, layout) =
                zipfacts::rewrite_zip_in_memory(&base, (path, &upload), &rules).map_err(failed)?;
            env.stash.drop_file(path);
            let held = env.stash.hold(&upload, Bytes::composed(base, layout));
            // The room the upload zip does not use goes to the next session.
            env.stash.settle(&c.dir);
            match held {
                // Held for this run only: a later run finds no zip and rebuilds it.
                Ok(_) => (r, Value::Null),
                Err(zip) => {
                    super::write_durably(&upload, &zip.slices())?;
                    (r, disk_hash(env, &upload)?)
                }
            }
        }
        Staged::Disk(path) => {
            let r = zipfacts::rewrite_zip(path, &upload, &rules).map_err(failed)?;
            (r, disk_hash(env, &upload)?)
        }
    };
    check_count(c, &r)?;
    let facts = serde_json::to_vec(&r.facts).map_err(local)?;
    let facts_hash = blake3::hash(&facts).to_hex().to_string();
    let facts_path = c.dir.join("facts.json");
    let keyless = keyless_hash(&r.facts)?;
    // A zip held in memory has no hash on disk.
    if hash.is_null() {
        // Beside the zip in memory, gone with it: a later run rebuilds both.
        let _ = std::fs::remove_file(&facts_path);
        env.stash
            .keep_facts(&upload, facts_hash.clone(), Arc::new(r.facts));
    } else {
        // The facts of a zip on disk stay on disk beside it, not in the journal or in memory: the
        // journal records their hash, so memory does not grow with the files of a run.
        let tmp = c.dir.join("facts.json.tmp");
        std::fs::write(&tmp, &facts).map_err(|e| io("write", &tmp, e))?;
        std::fs::rename(&tmp, &facts_path).map_err(|e| io("write", &facts_path, e))?;
    }
    Ok(json!({
        "files": r.files,
        "bytes": r.bytes,
        "zip_blake3": hash,
        "facts_blake3": facts_hash,
        "facts_keyless_blake3": keyless,
        "not_dicom": r.not_dicom,
        "phi": r.phi,
    }))
}

/// Fails when the source sent fewer DICOM files than the plan expects.
fn check_count(c: &Ctx<'_>, r: &Rewritten) -> Result<(), StepFailure> {
    let expected: u64 = c.action.scans.iter().map(|s| s.files).sum();
    if (r.files as u64) < expected {
        return Err(local(format!(
            "{}: the source sent {} DICOM file(s), the plan expects {expected}",
            c.action.source.session, r.files
        )));
    }
    Ok(())
}

/// blake3 of an upload zip written to disk, recorded so later steps of this run trust it unread.
fn disk_hash(env: &Env<'_>, upload: &Path) -> Result<Value, StepFailure> {
    let hash = file_blake3(upload)?;
    env.written.record(upload, &hash);
    Ok(Value::String(hash))
}

/// The upload zip and the facts it was built with, rebuilt if the staging folder lost them.
pub fn upload_zip(
    env: &Env<'_>,
    c: &Ctx<'_>,
    ctx: &StepContext<'_>,
) -> Result<(Staged, Arc<SessionFacts>), StepFailure> {
    let upload = c.dir.join("upload.zip");
    let facts_path = c.dir.join("facts.json");
    let recorded = ctx.detail(&env.sibling(c, StepKind::Rewrite));
    if let Some(d) = &recorded {
        if let Some((b, hash, facts)) = env.stash.with_facts(&upload) {
            if d["facts_blake3"].as_str() == Some(hash.as_str()) {
                return Ok((Staged::Memory(upload, b), facts));
            }
        }
        let facts_hash = || -> Result<Option<String>, StepFailure> {
            Ok(match facts_path.exists() {
                true => Some(file_blake3(&facts_path)?),
                false => None,
            })
        };
        let zip_hash = match env.written.hash(&upload) {
            Some(h) => Some(h),
            None if upload.exists() => Some(file_blake3(&upload)?),
            None => None,
        };
        if zip_hash.is_some()
            && d["zip_blake3"].as_str() == zip_hash.as_deref()
            && d["facts_blake3"].as_str() == facts_hash()?.as_deref()
        {
            return Ok((
                Staged::Disk(upload),
                Arc::new(read_facts_file(&facts_path)?),
            ));
        }
    }
    // Rebuild. The facts of the rebuilt zip must equal the recorded ones, or the source changed. A
    // lost staging folder took the run's fingerprint key with it, so header hashes are keyed anew:
    // the facts are compared without them (the MD5 of every rewritten file still covers its header).
    let d = run(env, c)?;
    if let Some(r) = recorded {
        let field = if r.get("facts_keyless_blake3").is_some() {
            "facts_keyless_blake3"
        } else {
            "facts_blake3"
        };
        if r[field] != d[field] {
            return Err(local(format!(
                "{}: the source session changed since it was first downloaded; plan again",
                c.action.source.session
            )));
        }
    }
    if let Some((b, _, facts)) = env.stash.with_facts(&upload) {
        return Ok((Staged::Memory(upload, b), facts));
    }
    let zip = env
        .staged(c, "upload.zip")
        .ok_or_else(|| local("the rewrite left no upload zip"))?;
    Ok((zip, Arc::new(read_facts_file(&facts_path)?)))
}

/// blake3 of the facts without their keyed header hashes.
fn keyless_hash(facts: &SessionFacts) -> Result<String, StepFailure> {
    let mut f = facts.clone();
    for file in f.scans.values_mut().flat_map(|m| m.values_mut()) {
        file.header.clear();
    }
    let bytes = serde_json::to_vec(&f).map_err(local)?;
    Ok(blake3::hash(&bytes).to_hex().to_string())
}

fn read_facts_file(path: &Path) -> Result<SessionFacts, StepFailure> {
    let bytes = std::fs::read(path).map_err(|e| io("read", path, e))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| local(format!("`{}` is unreadable: {e}", path.display())))
}
