//! `ferry status`: what a plan's journal says, per transfer and session, as a table or as JSON.

use super::{Exit, Failure};
use crate::exec::apply;
use crate::exec::journal::{self, Last};
use crate::plan::Plan;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Arguments of `ferry status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The plan whose journal to read.
    pub plan: PathBuf,
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// One session's state in [`Status`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionState {
    /// The transfer.
    pub transfer: String,
    /// `SUBJECT/SESSION` in the source.
    pub source: String,
    /// `PROJECT/SUBJECT/SESSION` in the destination.
    pub dest: String,
    /// `done`, `running` (or interrupted), `failed` or `pending`.
    pub state: &'static str,
    /// Problems the journal recorded.
    pub problems: Vec<String>,
}

/// Totals of [`Status`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    /// Sessions verified.
    pub done: usize,
    /// Sessions started and not finished.
    pub running: usize,
    /// Sessions with a failed step.
    pub failed: usize,
    /// Sessions not started.
    pub pending: usize,
    /// Sessions blocked in the plan (never run).
    pub blocked: usize,
}

/// What `ferry status --json` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// The plan file's hash, which the journal is keyed by.
    pub plan_hash: String,
    /// Whether `ferry apply` has run for this plan.
    pub journal: bool,
    /// One entry per runnable session, in plan order.
    pub sessions: Vec<SessionState>,
    /// Counts by state.
    pub totals: Totals,
}

/// Runs `ferry status`.
pub fn run(args: Args) -> Result<(), Failure> {
    let (plan, hash) = super::show::load_plan(&args.plan, "status")?;
    let path = journal::path_for(&args.plan);
    let entries = journal::read(&path, &hash).map_err(|e| Failure::new(Exit::Runtime, e))?;
    let status = status(&plan, &hash, &entries);
    if args.json {
        println!("{}", super::json(&status));
    } else {
        print!("{}", render(&status));
    }
    Ok(())
}

/// The state of every session of a plan, from its journal.
pub fn status(plan: &Plan, hash: &str, entries: &BTreeMap<String, Last>) -> Status {
    let report = apply::verification_report(plan, hash, entries);
    let mut totals = Totals {
        blocked: plan.blocked_count(),
        ..Totals::default()
    };
    let sessions = report
        .sessions
        .into_iter()
        .map(|s| {
            let state = match s.status.as_str() {
                "verified" | "staged" => "done",
                "failed" => "failed",
                "incomplete" => "running",
                _ => "pending",
            };
            *match state {
                "done" => &mut totals.done,
                "failed" => &mut totals.failed,
                "running" => &mut totals.running,
                _ => &mut totals.pending,
            } += 1;
            SessionState {
                transfer: s.transfer,
                source: s.source,
                dest: s.dest,
                state,
                problems: s.problems,
            }
        })
        .collect();
    Status {
        plan_hash: hash.to_string(),
        journal: !entries.is_empty(),
        sessions,
        totals,
    }
}

/// The status table: one line per session, grouped by transfer, then totals.
pub fn render(status: &Status) -> String {
    let mut out = String::new();
    let mut current = "";
    for s in &status.sessions {
        if s.transfer != current {
            out.push_str(&format!("{}:\n", s.transfer));
            current = &s.transfer;
        }
        out.push_str(&format!("  {:<8} {} -> {}\n", s.state, s.source, s.dest));
        for p in &s.problems {
            out.push_str(&format!("           ! {p}\n"));
        }
    }
    let t = &status.totals;
    out.push_str(&format!(
        "sessions: {} done, {} running or interrupted, {} failed, {} pending; {} blocked in the plan\n",
        t.done, t.running, t.failed, t.pending, t.blocked
    ));
    if !status.journal {
        out.push_str("no journal yet: `ferry apply` has not run for this plan\n");
    }
    out
}
