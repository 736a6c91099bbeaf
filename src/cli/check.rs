//! `ferry check PLAN`: does a committed plan still apply as reviewed? Compares the objects the plan
//! touches with the servers (the executor's drift check, [`crate::exec::drift`], the same one
//! `apply` makes) and changes nothing: exit 0 when the plan is current, 3 naming each changed object
//! and what changed. A change elsewhere in the projects is not drift.

use super::{Exit, Failure};
use crate::exec::apply::connect;
use crate::exec::drift::{self, DriftError, DriftReport};
use serde::Serialize;
use std::path::PathBuf;

/// Arguments of `ferry check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The committed plan, written by `ferry plan`.
    pub plan: PathBuf,
    /// Print the result as JSON (the exit code is the same).
    #[arg(long)]
    pub json: bool,
    /// Requests in flight per server.
    #[arg(long, default_value_t = 4)]
    pub per_server: usize,
}

/// What `ferry check --json` prints.
#[derive(Debug, Serialize)]
struct CheckResult<'a> {
    /// The plan checked.
    plan: String,
    /// Whether the plan still applies as reviewed.
    current: bool,
    /// What changed since the plan was made.
    #[serde(flatten)]
    report: &'a DriftReport,
}

/// Runs `ferry check`.
pub fn run(args: Args) -> Result<(), Failure> {
    let opts = super::plan::client_options(args.per_server)?;
    let (plan, _) = super::show::load_plan(&args.plan, "check")?;
    let clients = connect(&plan, &opts).map_err(super::plan::xnat_failure)?;
    let checked = drift::check(&plan, &clients);
    for c in clients.values() {
        c.logout();
    }
    let report = checked.map_err(|e| match e {
        DriftError::Read(x) => super::plan::xnat_failure(x),
        other => Failure::new(Exit::Usage, other)
            .with_hint("write the plan again with `ferry plan MANIFEST --out PLAN`"),
    })?;
    let shown = args.plan.display().to_string();
    if args.json {
        println!(
            "{}",
            super::json(&CheckResult {
                plan: shown.clone(),
                current: report.is_empty(),
                report: &report,
            })
        );
    } else if report.is_empty() {
        println!("{shown}: current: nothing the plan touches changed since it was made");
    } else {
        print!(
            "{shown}: stale: changed since the plan was made:\n{}",
            report.render()
        );
    }
    if report.is_empty() {
        return Ok(());
    }
    let n = report.changes.len() as u64;
    Err(Failure::msg(
        Exit::Blocked,
        format!(
            "the plan is stale: {} since it was made",
            crate::plan::plural(n, "object changed", "objects changed")
        ),
    )
    .with_hint(format!(
        "plan the manifest again (`ferry plan {} --out {shown}`), review the new diff and commit it",
        plan.manifest.path
    )))
}
