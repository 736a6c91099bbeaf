//! The dispatcher between the pool and the steps: resolves a step ID to its plan objects, hands it to
//! the step kind's own file under [`super::steps`], and reports the end of each session. The pool
//! decides when a step runs; the step's file decides what it does.
//!
//! The rules that keep data safe live in the steps:
//! - an upload never goes into a destination session that appeared since the plan, or that holds
//!   another study (StudyInstanceUID), so it cannot merge into another subject's data
//!   ([`super::steps::upload`]);
//! - success is what verification reads back from the destination, never an HTTP status
//!   ([`super::steps::verify`]);
//! - a source session is deleted only when its verification passed, and the verification that allowed
//!   the deletion is written into the journal with it ([`super::steps::delete`]).

use super::pool::{StepContext, StepFailure, StepRunner};
use super::report::{Event, Reporter};
use super::steps::{self, local, Ctx, Env};
use super::throttle::Bandwidth;
use crate::plan::{Plan, StepKind};
use crate::xnat::Client;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Runs the steps of one plan.
pub struct Runner<'a> {
    env: Env<'a>,
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
            env: Env {
                plan,
                steps: plan.steps.iter().map(|s| (s.id.as_str(), s)).collect(),
                clients,
                staging,
                bandwidth,
                reporter,
                written: Default::default(),
                stash: Default::default(),
                unchanged: Default::default(),
            },
        }
    }

    /// The runner with `stash` holding small sessions' zips (the default holds up to
    /// [`super::stash::BUDGET`]).
    pub fn with_stash(mut self, stash: super::stash::Stash) -> Self {
        self.env.stash = stash;
        self
    }

    fn ctx(&self, id: &str) -> Result<Ctx<'a>, StepFailure> {
        let step = *self
            .env
            .steps
            .get(id)
            .ok_or_else(|| local(format!("step `{id}` is not in the plan")))?;
        let action_id = step
            .action
            .as_deref()
            .ok_or_else(|| local(format!("step `{id}` has no action")))?;
        let (transfer, action) = self
            .env
            .plan
            .action(action_id)
            .ok_or_else(|| local(format!("action `{action_id}` is not in the plan")))?;
        Ok(Ctx {
            step,
            transfer,
            action,
            dir: self.env.staging.join(steps::folder_name(action_id)),
        })
    }

    fn session_step(
        &self,
        c: &Ctx<'_>,
        resumed: bool,
        ctx: &StepContext<'_>,
    ) -> Result<Value, StepFailure> {
        let env = &self.env;
        match c.step.kind {
            StepKind::Download => steps::download::run(env, c),
            StepKind::Rewrite => steps::rewrite::run(env, c),
            StepKind::Upload => steps::upload::run(env, c, resumed, ctx),
            StepKind::Archive => steps::archive::run(env, c, resumed, ctx),
            StepKind::Verify => steps::verify::run(env, c, ctx),
            StepKind::DeleteSource => steps::delete::run(env, c, ctx),
            StepKind::ShareSession => steps::share::run(env, c),
            StepKind::Relocate => steps::relocate::run(env, c),
            StepKind::CreateSubject => steps::create_subject::run(env, c.step),
            StepKind::ShareSubject => steps::share_subject::run(env, c.step),
            StepKind::RemoveSubject => steps::remove_subject::run(env, c.step),
        }
    }

    /// Emits `SessionEnded` when a session's last step finished or any of its steps failed.
    fn report_session_end(&self, c: &Ctx<'_>, result: &Result<Value, StepFailure>) {
        let last = match c.step.kind {
            StepKind::DeleteSource => true,
            StepKind::Verify => !self.env.has_delete(c),
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
        let reporter = self.env.reporter;
        match result {
            Err(f) => reporter.event(Event::SessionEnded {
                session,
                ok: false,
                summary: f.message.clone(),
            }),
            Ok(d) if last => {
                let v = &d["verification"];
                let what = if d["staged"] == true {
                    "staged in the prearchive (READY) with"
                } else {
                    "verified"
                };
                let mut summary = match (v["files"].as_u64(), v["bytes"].as_u64()) {
                    (Some(f), Some(b)) => {
                        format!("{what} {f} files, {}", super::apply::human_bytes(b))
                    }
                    _ => what.to_string(),
                };
                if c.step.kind == StepKind::DeleteSource {
                    summary.push_str(", source deleted");
                }
                reporter.event(Event::SessionEnded {
                    session,
                    ok: true,
                    summary,
                });
            }
            Ok(_) => {}
        }
    }
}

impl StepRunner for Runner<'_> {
    fn changes_servers(&self, id: &str) -> bool {
        // A step the plan does not hold counts as one that does (it fails, but safely).
        self.env
            .steps
            .get(id)
            .is_none_or(|s| s.kind.changes_servers())
    }

    fn describe(&self, id: &str) -> String {
        let Some(step) = self.env.steps.get(id) else {
            return id.to_string();
        };
        let what = step.kind.as_str().replace('_', " ");
        match step.action.as_deref().and_then(|a| self.env.plan.action(a)) {
            Some((t, a)) => format!(
                "{what} {}/{} -> {}/{}",
                a.source.subject, a.source.session, t.to.project, a.dest.session
            ),
            None => format!("{what} {}", step.dest_subject),
        }
    }

    fn run(&self, id: &str, resumed: bool, ctx: &StepContext<'_>) -> Result<Value, StepFailure> {
        let step = *self
            .env
            .steps
            .get(id)
            .ok_or_else(|| local(format!("step `{id}` is not in the plan")))?;
        match step.kind {
            StepKind::CreateSubject => return steps::create_subject::run(&self.env, step),
            StepKind::ShareSubject => return steps::share_subject::run(&self.env, step),
            StepKind::RemoveSubject => return steps::remove_subject::run(&self.env, step),
            _ => {}
        }
        let c = self.ctx(id)?;
        let result = self.session_step(&c, resumed, ctx);
        if result.is_err() {
            // The session's later steps will not run in this run: its zips need not be held.
            self.env.stash.release(&c.dir);
        }
        self.report_session_end(&c, &result);
        result
    }
}
