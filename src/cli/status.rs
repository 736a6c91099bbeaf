//! `ferry status`: what a plan's journal says, per transfer and session.

use super::{Exit, Failure};
use crate::exec::apply::{self, read_plan};
use crate::exec::journal::{self, Last};
use std::path::PathBuf;

/// Arguments of `ferry status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The plan whose journal to read.
    pub plan: PathBuf,
}

/// Runs `ferry status`.
pub fn run(args: Args) -> Result<(), Failure> {
    let (plan, hash) = read_plan(&args.plan).map_err(super::apply::failure)?;
    let path = journal::path_for(&args.plan);
    let entries = journal::read(&path, &hash).map_err(|e| Failure::new(Exit::Runtime, e))?;
    print!("{}", render(&plan, &hash, &entries));
    Ok(())
}

/// The status table: one line per session, grouped by transfer, then totals.
pub fn render(
    plan: &crate::plan::Plan,
    hash: &str,
    entries: &std::collections::BTreeMap<String, Last>,
) -> String {
    let report = apply::verification_report(plan, hash, entries);
    let mut out = String::new();
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    let mut current = String::new();
    for s in &report.sessions {
        if s.transfer != current {
            out.push_str(&format!("{}:\n", s.transfer));
            current = s.transfer.clone();
        }
        let state = match s.status.as_str() {
            "verified" => "done",
            "failed" => "failed",
            "incomplete" => "running",
            _ => "pending",
        };
        *counts.entry(state).or_default() += 1;
        out.push_str(&format!("  {state:<8} {} -> {}\n", s.source, s.dest));
        for p in &s.problems {
            out.push_str(&format!("           ! {p}\n"));
        }
    }
    let blocked = plan.blocked_count();
    out.push_str(&format!(
        "sessions: {} done, {} running or interrupted, {} failed, {} pending; {} blocked in the plan\n",
        counts.get("done").unwrap_or(&0),
        counts.get("running").unwrap_or(&0),
        counts.get("failed").unwrap_or(&0),
        counts.get("pending").unwrap_or(&0),
        blocked
    ));
    if entries.is_empty() {
        out.push_str("no journal yet: `ferry apply` has not run for this plan\n");
    }
    out
}
