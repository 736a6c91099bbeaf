//! What each step of a plan does, against the servers, through [`crate::xnat`]. The pool decides when a
//! step runs; this file decides what it does and how it finds out, on a resumed run, what an earlier
//! attempt left behind.
//!
//! The rules that keep data safe live here:
//! - an upload never goes into a destination session that appeared since the plan, or that holds
//!   another study (StudyInstanceUID), so it cannot merge into another subject's data;
//! - success is what verification reads back from the destination, never an HTTP status;
//! - a source session is deleted only when its verification passed, and the verification that allowed
//!   the deletion is written into the journal with it.

use super::facts::{self, Gate};
use super::gate::FileRules;
use super::pool::{StepContext, StepFailure, StepRunner};
use super::report::{Event, Reporter};
use super::resources;
use super::throttle::Bandwidth;
use super::verify::{self, Depth, SessionFacts};
use crate::manifest::model::{Anonymization, Destination, Verify};
use crate::plan::{Action, ActionKind, Plan, Step, StepKind, TransferPlan};
use crate::xnat::{Client, ImportTarget, Overwrite, XnatError};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Runs the steps of one plan.
pub struct Runner<'a> {
    plan: &'a Plan,
    steps: BTreeMap<&'a str, &'a Step>,
    clients: &'a BTreeMap<String, Arc<Client>>,
    staging: PathBuf,
    bandwidth: Option<&'a Bandwidth>,
    reporter: &'a dyn Reporter,
}

/// Everything a session step needs, resolved from the plan.
struct Ctx<'p> {
    step: &'p Step,
    transfer: &'p TransferPlan,
    action: &'p Action,
    dir: PathBuf,
}

pub(super) fn xnat(e: XnatError) -> StepFailure {
    let mut message = e.to_string();
    if let Some(h) = e.hint() {
        message = format!("{message} (hint: {h})");
    }
    match &e {
        XnatError::Forbidden { .. } => StepFailure::fatal(message),
        XnatError::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull => {
            StepFailure::fatal(format!("{message} (the staging disk is full)"))
        }
        _ => StepFailure::new(message),
    }
}

pub(super) fn local(e: impl std::fmt::Display) -> StepFailure {
    StepFailure::new(e.to_string())
}

pub(super) fn io(action: &str, path: &Path, e: std::io::Error) -> StepFailure {
    let message = format!("cannot {action} `{}`: {e}", path.display());
    if e.kind() == std::io::ErrorKind::StorageFull {
        StepFailure::fatal(format!("{message} (the staging disk is full)"))
    } else {
        StepFailure::new(message)
    }
}

/// A name for an action's staging folder (below `PLAN.staging/`) that is safe on every file system and unique per action.
pub fn folder_name(action_id: &str) -> String {
    let readable: String = action_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    let h = blake3::hash(action_id.as_bytes()).to_hex();
    format!("{readable}-{}", &h.as_str()[..10])
}

impl<'a> Runner<'a> {
    /// A runner for a plan, with one client per server name and a staging folder.
    pub fn new(
        plan: &'a Plan,
        clients: &'a BTreeMap<String, Arc<Client>>,
        staging: PathBuf,
        bandwidth: Option<&'a Bandwidth>,
        reporter: &'a dyn Reporter,
    ) -> Self {
        Runner {
            plan,
            steps: plan.steps.iter().map(|s| (s.id.as_str(), s)).collect(),
            clients,
            staging,
            bandwidth,
            reporter,
        }
    }

    fn client(&self, server: &str) -> Result<&Client, StepFailure> {
        self.clients
            .get(server)
            .map(|c| c.as_ref())
            .ok_or_else(|| StepFailure::fatal(format!("no connection to server `{server}`")))
    }

    fn ctx(&self, id: &str) -> Result<Ctx<'a>, StepFailure> {
        let step = *self
            .steps
            .get(id)
            .ok_or_else(|| local(format!("step `{id}` is not in the plan")))?;
        let action_id = step
            .action
            .as_deref()
            .ok_or_else(|| local(format!("step `{id}` has no action")))?;
        let (transfer, action) = self
            .plan
            .action(action_id)
            .ok_or_else(|| local(format!("action `{action_id}` is not in the plan")))?;
        Ok(Ctx {
            step,
            transfer,
            action,
            dir: self.staging.join(folder_name(action_id)),
        })
    }

    fn sibling(&self, c: &Ctx<'_>, kind: StepKind) -> String {
        format!(
            "{}/{}/{}/{}",
            c.transfer.name,
            c.action.dest.subject,
            c.action.dest.session,
            kind.as_str()
        )
    }

    /// A byte counter for transfers: feeds the bandwidth cap and the progress display.
    fn on_bytes(&self) -> impl FnMut(u64) + '_ {
        move |n| {
            if let Some(b) = self.bandwidth {
                b.consume(n);
            }
            self.reporter.event(Event::Bytes(n));
        }
    }

    /// The anonymization rules of the session's files.
    fn file_rules(&self, c: &Ctx<'_>) -> FileRules {
        FileRules::for_action(self.plan, c.transfer, c.action, Self::gate(c))
    }

    fn gate(c: &Ctx<'_>) -> Gate {
        match c.transfer.policy.anonymization {
            Anonymization::Require => Gate::Require,
            Anonymization::Warn => Gate::Warn,
            Anonymization::Off => Gate::Off,
        }
    }

    /// The selected session resources in the staging folder, fetched from the source when missing.
    fn staged_resources(&self, c: &Ctx<'_>) -> Result<Vec<resources::StagedFile>, StepFailure> {
        let labels: Vec<String> = c.action.resources.iter().map(|r| r.label.clone()).collect();
        let from = &c.transfer.from;
        let src = resources::Place {
            project: &from.project,
            subject: &c.action.source.subject,
            session: &c.action.source.session,
        };
        resources::stage(
            self.client(&from.server)?,
            src,
            &labels,
            &c.dir,
            &mut self.on_bytes(),
        )
    }

    fn dest_place<'c>(c: &'c Ctx<'_>) -> resources::Place<'c> {
        resources::Place {
            project: &c.transfer.to.project,
            subject: &c.action.dest.subject,
            session: &c.action.dest.session,
        }
    }

    /// Adds the selected resources to the archived destination session.
    fn attach_resources(&self, c: &Ctx<'_>) -> Result<usize, StepFailure> {
        let staged = self.staged_resources(c)?;
        resources::attach(
            self.client(&c.transfer.to.server)?,
            Self::dest_place(c),
            &staged,
            &c.dir,
            &mut self.on_bytes(),
        )
    }

    fn download(&self, c: &Ctx<'_>) -> Result<Value, StepFailure> {
        std::fs::create_dir_all(&c.dir).map_err(|e| io("create", &c.dir, e))?;
        let dest = c.dir.join("source.zip");
        let scans: Vec<String> = c.action.scans.iter().map(|s| s.id.clone()).collect();
        let from = &c.transfer.from;
        let d = self
            .client(&from.server)?
            .download_session(
                &from.project,
                &c.action.source.subject,
                &c.action.source.session,
                &scans,
                &dest,
                &mut self.on_bytes(),
            )
            .map_err(xnat)?;
        let staged = self.staged_resources(c)?;
        Ok(json!({ "bytes": d.bytes, "blake3": d.blake3, "resource_files": staged.len() }))
    }

    /// Rewrites the downloaded zip into the upload zip. When the staging folder was lost since an
    /// earlier run, downloads again first.
    fn rewrite(&self, c: &Ctx<'_>) -> Result<Value, StepFailure> {
        let source = c.dir.join("source.zip");
        if !source.exists() {
            self.download(c)?;
        }
        let upload = c.dir.join("upload.zip");
        let r = facts::rewrite_zip(&source, &upload, &self.file_rules(c)).map_err(|e| match e {
            facts::FactsError::Phi { .. } => {
                StepFailure::new(format!("{}: {e}", c.action.source.session))
            }
            other => local(other),
        })?;
        let expected: u64 = c.action.scans.iter().map(|s| s.files).sum();
        if (r.files as u64) < expected {
            return Err(local(format!(
                "{}: the source sent {} DICOM file(s), the plan expects {expected}",
                c.action.source.session, r.files
            )));
        }
        let hash = file_blake3(&upload)?;
        // The facts verification will compare stay on disk beside the zip, not in the journal or in
        // memory: the journal records their hash, so memory does not grow with the files of a run.
        let facts = serde_json::to_vec(&r.facts).map_err(local)?;
        let facts_path = c.dir.join("facts.json");
        let tmp = c.dir.join("facts.json.tmp");
        std::fs::write(&tmp, &facts).map_err(|e| io("write", &tmp, e))?;
        std::fs::rename(&tmp, &facts_path).map_err(|e| io("write", &facts_path, e))?;
        Ok(json!({
            "files": r.files,
            "bytes": r.bytes,
            "zip_blake3": hash,
            "facts_blake3": blake3::hash(&facts).to_hex().to_string(),
            "not_dicom": r.not_dicom,
            "phi": r.phi,
        }))
    }

    /// The upload zip and the facts it was built with, rebuilt if the staging folder lost them.
    fn upload_zip(
        &self,
        c: &Ctx<'_>,
        ctx: &StepContext<'_>,
    ) -> Result<(PathBuf, SessionFacts), StepFailure> {
        let upload = c.dir.join("upload.zip");
        let facts_path = c.dir.join("facts.json");
        let rewrite_id = self.sibling(c, StepKind::Rewrite);
        let recorded = ctx.detail(&rewrite_id);
        if let Some(d) = &recorded {
            if upload.exists()
                && facts_path.exists()
                && d["zip_blake3"].as_str() == Some(file_blake3(&upload)?.as_str())
                && d["facts_blake3"].as_str() == Some(file_blake3(&facts_path)?.as_str())
            {
                return Ok((upload, read_facts_file(&facts_path)?));
            }
        }
        // Rebuild. The facts of the rebuilt zip must equal the recorded ones, or the source changed.
        let d = self.rewrite(c)?;
        if let Some(r) = recorded {
            if r["facts_blake3"] != d["facts_blake3"] {
                return Err(local(format!(
                    "{}: the source session changed since it was first downloaded; plan again",
                    c.action.source.session
                )));
            }
        }
        Ok((upload, read_facts_file(&facts_path)?))
    }

    /// Refuses to upload into a destination session that is not the one the plan expects.
    fn check_destination(&self, c: &Ctx<'_>, resumed: bool) -> Result<(), StepFailure> {
        let to = &c.transfer.to;
        let dest = &c.action.dest;
        let existing = self
            .client(&to.server)?
            .session_uid(&to.project, &dest.subject, &dest.session)
            .map_err(xnat)?;
        let Some((_, existing_uid)) = existing else {
            if c.action.kind == ActionKind::Merge {
                return Err(local(format!(
                    "{}/{}: the session to merge into is gone from {}; plan again",
                    to.project, dest.session, to.server
                )));
            }
            return Ok(());
        };
        let digest = existing_uid.map(|u| self.file_rules(c).digest(&u));
        let same_study = digest.is_some() && digest.as_deref() == c.action.dest_uid();
        match c.action.kind {
            ActionKind::Merge if same_study => Ok(()),
            ActionKind::Create if resumed && same_study => Ok(()),
            ActionKind::Create if same_study => Err(local(format!(
                "{}/{}: the session appeared on {} since the plan (same study); plan again to see it as already transferred or to merge",
                to.project, dest.session, to.server
            ))),
            _ => Err(local(format!(
                "{}/{}: a session with another StudyInstanceUID holds this label on {}; refusing to upload into it",
                to.project, dest.session, to.server
            ))),
        }
    }

    fn upload(
        &self,
        c: &Ctx<'_>,
        resumed: bool,
        ctx: &StepContext<'_>,
    ) -> Result<Value, StepFailure> {
        self.check_destination(c, resumed)?;
        let (zip, _) = self.upload_zip(c, ctx)?;
        let to = &c.transfer.to;
        let target = ImportTarget {
            project: to.project.clone(),
            subject: c.action.dest.subject.clone(),
            session: c.action.dest.session.clone(),
            destination: c.transfer.policy.destination,
            overwrite: if c.action.kind == ActionKind::Merge || resumed {
                Overwrite::Append
            } else {
                Overwrite::None
            },
        };
        let out = self
            .client(&to.server)?
            .import_zip(&zip, &target, &mut self.on_bytes())
            .map_err(xnat)?;
        if c.transfer.policy.destination == Destination::Archive {
            let n = self.attach_resources(c)?;
            return Ok(json!({ "uri": out.uri, "resource_files_uploaded": n }));
        }
        Ok(json!({ "uri": out.uri }))
    }

    fn archive(
        &self,
        c: &Ctx<'_>,
        resumed: bool,
        ctx: &StepContext<'_>,
    ) -> Result<Value, StepFailure> {
        let to = &c.transfer.to;
        let client = self.client(&to.server)?;
        let upload = ctx
            .detail(&self.sibling(c, StepKind::Upload))
            .unwrap_or_default();
        let uri = upload["uri"].as_str().unwrap_or_default().to_string();
        if uri.is_empty() {
            return Err(local("the upload step recorded no prearchive location"));
        }
        let entry = match client.prearchive_entry(&uri) {
            Ok(e) => e,
            Err(XnatError::NotFound { .. }) if resumed => {
                // An earlier attempt archived it; verification will say whether that is so.
                let n = self.attach_resources(c)?;
                return Ok(json!({ "uri": uri, "resumed": true, "resource_files_uploaded": n }));
            }
            Err(e) => return Err(xnat(e)),
        };
        if entry.status != "READY" {
            return Err(local(format!(
                "{}: the prearchive holds the upload in state {} at {uri}; resolve it there (see the guide's prearchive section) and run apply again",
                c.action.dest.session, entry.status
            )));
        }
        let overwrite = if c.action.kind == ActionKind::Merge {
            Overwrite::Append
        } else {
            Overwrite::None
        };
        let archived = client
            .archive(
                &uri,
                &to.project,
                &c.action.dest.subject,
                &c.action.dest.session,
                overwrite,
            )
            .map_err(xnat)?;
        let n = self.attach_resources(c)?;
        Ok(json!({ "uri": archived, "resource_files_uploaded": n }))
    }

    fn verify(&self, c: &Ctx<'_>, ctx: &StepContext<'_>) -> Result<Value, StepFailure> {
        let to = &c.transfer.to;
        let (_, expected) = self.upload_zip(c, ctx)?;
        let back = c.dir.join("readback.zip");
        let scans: Vec<String> = c.action.scans.iter().map(|s| s.id.clone()).collect();
        let client = self.client(&to.server)?;
        if !c.transfer.policy.archives() {
            // Left in the prearchive for review: check the entry is there and ready.
            let upload = ctx
                .detail(&self.sibling(c, StepKind::Upload))
                .unwrap_or_default();
            let uri = upload["uri"].as_str().unwrap_or_default();
            let entry = client.prearchive_entry(uri).map_err(xnat)?;
            return Ok(json!({ "prearchive": uri, "status": entry.status }));
        }
        client
            .download_session(
                &to.project,
                &c.action.dest.subject,
                &c.action.dest.session,
                &scans,
                &back,
                &mut self.on_bytes(),
            )
            .map_err(xnat)?;
        let (found, phi) = facts::read_facts(&back, &self.file_rules(c)).map_err(local)?;
        let _ = std::fs::remove_file(&back);
        let depth = match c.transfer.policy.verify {
            Verify::Full => Depth::Full,
            Verify::Counts => Depth::Counts,
        };
        let mut v = verify::compare(&expected, &found, depth);
        let staged = self.staged_resources(c)?;
        v.problems.extend(resources::check(
            client,
            Self::dest_place(c),
            &staged,
            &c.dir,
        )?);
        v.files += staged.len();
        v.bytes += staged.iter().map(|f| f.size).sum::<u64>();
        let report = json!({ "verification": v, "phi": phi });
        if !v.passed() {
            let first: Vec<String> = v.problems.iter().take(3).map(|p| p.to_string()).collect();
            return Err(StepFailure::verification(format!(
                "{}/{}: verification failed ({} problem(s)): {}",
                to.project,
                c.action.dest.session,
                v.problems.len(),
                first.join("; ")
            )));
        }
        if Self::gate(c) == Gate::Require && !phi.is_empty() {
            let keys: Vec<&String> = phi.keys().collect();
            return Err(StepFailure::verification(format!(
                "{}/{}: the destination copy carries identifying keywords {keys:?} (anonymization: require)",
                to.project, c.action.dest.session
            )));
        }
        if !self.has_delete(c) {
            let _ = std::fs::remove_dir_all(&c.dir);
        }
        Ok(report)
    }

    fn delete_source(&self, c: &Ctx<'_>, ctx: &StepContext<'_>) -> Result<Value, StepFailure> {
        let verify_id = self.sibling(c, StepKind::Verify);
        let verified = ctx.detail(&verify_id).ok_or_else(|| {
            local(format!(
                "{}: not verified; the source is kept",
                c.action.source.session
            ))
        })?;
        let passed = verified["verification"]["problems"]
            .as_array()
            .is_some_and(|p| p.is_empty());
        if !passed {
            return Err(local(format!(
                "{}: verification did not pass; the source is kept",
                c.action.source.session
            )));
        }
        let from = &c.transfer.from;
        let client = self.client(&from.server)?;
        match client.delete_session(
            &from.project,
            &c.action.source.subject,
            &c.action.source.session,
        ) {
            Ok(()) | Err(XnatError::NotFound { .. }) => {}
            Err(e) => return Err(xnat(e)),
        }
        let _ = std::fs::remove_dir_all(&c.dir);
        Ok(json!({ "verified_by": verify_id, "verification": verified["verification"] }))
    }

    fn share_session(&self, c: &Ctx<'_>) -> Result<Value, StepFailure> {
        let (from, to) = (&c.transfer.from, &c.transfer.to);
        self.client(&from.server)?
            .share_session(
                &from.project,
                &c.action.source.subject,
                &c.action.source.session,
                &to.project,
                &c.action.dest.session,
            )
            .map_err(xnat)?;
        Ok(json!({}))
    }

    fn verify_share(&self, c: &Ctx<'_>) -> Result<Value, StepFailure> {
        let to = &c.transfer.to;
        let seen = self
            .client(&to.server)?
            .session(&to.project, &c.action.dest.subject, &c.action.dest.session)
            .map_err(xnat)?;
        match seen {
            Some(s)
                if s.uid.as_deref().map(|u| self.file_rules(c).digest(u))
                    == c.action.source.uid =>
            {
                Ok(json!({ "visible": true, "id": s.id }))
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

    fn subject_step(&self, step: &Step) -> Result<Value, StepFailure> {
        let t = self
            .plan
            .transfer(&step.transfer)
            .ok_or_else(|| local(format!("transfer `{}` is not in the plan", step.transfer)))?;
        match step.kind {
            StepKind::CreateSubject => {
                self.client(&t.to.server)?
                    .create_subject(&t.to.project, &step.dest_subject)
                    .map_err(xnat)?;
            }
            _ => {
                let source = step.source_subject.as_deref().unwrap_or(&step.dest_subject);
                self.client(&t.from.server)?
                    .share_subject(&t.from.project, source, &t.to.project, &step.dest_subject)
                    .map_err(xnat)?;
            }
        }
        Ok(json!({ "subject": step.dest_subject }))
    }
}

fn read_facts_file(path: &Path) -> Result<SessionFacts, StepFailure> {
    let bytes = std::fs::read(path).map_err(|e| io("read", path, e))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| local(format!("`{}` is unreadable: {e}", path.display())))
}

fn file_blake3(path: &Path) -> Result<String, StepFailure> {
    let mut h = blake3::Hasher::new();
    let f = std::fs::File::open(path).map_err(|e| io("read", path, e))?;
    h.update_reader(f).map_err(|e| io("read", path, e))?;
    Ok(h.finalize().to_hex().to_string())
}

impl StepRunner for Runner<'_> {
    fn describe(&self, id: &str) -> String {
        let Some(step) = self.steps.get(id) else {
            return id.to_string();
        };
        let what = step.kind.as_str().replace('_', " ");
        match step.action.as_deref().and_then(|a| self.plan.action(a)) {
            Some((t, a)) => format!(
                "{what} {}/{} -> {}/{}",
                a.source.subject, a.source.session, t.to.project, a.dest.session
            ),
            None => format!("{what} {}", step.dest_subject),
        }
    }

    fn run(&self, id: &str, resumed: bool, ctx: &StepContext<'_>) -> Result<Value, StepFailure> {
        let step = *self
            .steps
            .get(id)
            .ok_or_else(|| local(format!("step `{id}` is not in the plan")))?;
        if matches!(step.kind, StepKind::CreateSubject | StepKind::ShareSubject) {
            return self.subject_step(step);
        }
        let c = self.ctx(id)?;
        let result = self.session_step(&c, resumed, ctx);
        self.report_session_end(&c, &result);
        result
    }
}

impl Runner<'_> {
    fn session_step(
        &self,
        c: &Ctx<'_>,
        resumed: bool,
        ctx: &StepContext<'_>,
    ) -> Result<Value, StepFailure> {
        let share = c.action.kind == ActionKind::Share;
        match c.step.kind {
            StepKind::Download => self.download(c),
            StepKind::Rewrite => self.rewrite(c),
            StepKind::Upload => self.upload(c, resumed, ctx),
            StepKind::Archive => self.archive(c, resumed, ctx),
            StepKind::Verify if share => self.verify_share(c),
            StepKind::Verify => self.verify(c, ctx),
            StepKind::DeleteSource => self.delete_source(c, ctx),
            StepKind::ShareSession => self.share_session(c),
            StepKind::CreateSubject | StepKind::ShareSubject => self.subject_step(c.step),
        }
    }

    fn has_delete(&self, c: &Ctx<'_>) -> bool {
        self.steps
            .contains_key(self.sibling(c, StepKind::DeleteSource).as_str())
    }

    /// Emits `SessionEnded` when a session's last step finished or any of its steps failed.
    fn report_session_end(&self, c: &Ctx<'_>, result: &Result<Value, StepFailure>) {
        let last = match c.step.kind {
            StepKind::DeleteSource => true,
            StepKind::Verify => !self.has_delete(c),
            _ => false,
        };
        let session = format!(
            "{}: {}/{} -> {}/{}",
            c.transfer.name,
            c.action.source.subject,
            c.action.source.session,
            c.transfer.to.project,
            c.action.dest.session
        );
        match result {
            Err(f) => self.reporter.event(Event::SessionEnded {
                session,
                ok: false,
                summary: f.message.clone(),
            }),
            Ok(d) if last => {
                let v = &d["verification"];
                let mut summary = match (v["files"].as_u64(), v["bytes"].as_u64()) {
                    (Some(f), Some(b)) => {
                        format!("verified {f} files, {}", super::apply::human_bytes(b))
                    }
                    _ => "verified".to_string(),
                };
                if c.step.kind == StepKind::DeleteSource {
                    summary.push_str(", source deleted");
                }
                self.reporter.event(Event::SessionEnded {
                    session,
                    ok: true,
                    summary,
                });
            }
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_folders_are_safe_and_distinct() {
        let a = folder_name("t/SUB001/SUB001_MR1");
        let b = folder_name("t/SUB001/SUB001_MR1 ");
        assert_ne!(a, b);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)));
        assert!(folder_name(&"x".repeat(500)).len() < 80);
    }
}
