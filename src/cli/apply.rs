//! `ferry apply`.

use super::{Exit, Failure};
use crate::exec::apply::{self, ApplyError, ApplyOptions};
use crate::exec::throttle::parse_rate;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Arguments of `ferry apply`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The reviewed plan, written by `ferry plan`.
    pub plan: PathBuf,
    /// Steps run at once.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// Requests in flight per server, shared by all transfers of the run.
    #[arg(long, default_value_t = 4)]
    pub per_server: usize,
    /// Cap on transfer bandwidth over all transfers, bytes per second (`50M`, `500k`).
    #[arg(long)]
    pub bwlimit: Option<String>,
    /// Apply the runnable part of a blocked plan (blocked sessions are left alone).
    #[arg(long)]
    pub skip_blocked: bool,
}

/// Maps an apply error to its exit code and hint.
pub fn failure(e: ApplyError) -> Failure {
    let (exit, hint) = match &e {
        ApplyError::Plan { .. } | ApplyError::Graph(_) => (
            Exit::Usage,
            Some("write the plan again with `ferry plan MANIFEST --out PLAN`".to_string()),
        ),
        ApplyError::Blocked(_) => (
            Exit::Blocked,
            Some(
                "fix the manifest and plan again, or apply the clean part with `--skip-blocked`"
                    .into(),
            ),
        ),
        ApplyError::Drift(_) => (
            Exit::Blocked,
            Some("run `ferry plan` again, review the new diff, and apply the new plan".into()),
        ),
        ApplyError::Connect(x) => (Exit::Runtime, x.hint()),
        ApplyError::Journal(_) => (
            Exit::Runtime,
            Some(
                "the journal sits beside the plan as PLAN.journal; `ferry status PLAN` reads it"
                    .into(),
            ),
        ),
        ApplyError::Report { .. } => (Exit::Runtime, None),
    };
    let f = Failure::new(exit, e);
    match hint {
        Some(h) => f.with_hint(h),
        None => f,
    }
}

/// Runs `ferry apply`.
pub fn run(args: Args) -> Result<(), Failure> {
    let bwlimit = match &args.bwlimit {
        Some(s) => Some(parse_rate(s).map_err(|e| Failure::msg(Exit::Usage, e.0))?),
        None => None,
    };
    if args.jobs == 0 || args.per_server == 0 {
        return Err(Failure::msg(
            Exit::Usage,
            "--jobs and --per-server must be at least 1",
        ));
    }
    let mut opts = ApplyOptions {
        jobs: args.jobs,
        bwlimit,
        skip_blocked: args.skip_blocked,
        ..ApplyOptions::default()
    };
    opts.client.max_in_flight = args.per_server;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // A second Ctrl-C ends the process at once; the journal makes that safe too.
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("stopping: finishing the steps in progress (Ctrl-C again to quit now)");
    });
    let reporter = super::progress::reporter();
    let outcome = apply::apply(&args.plan, &opts, reporter.as_ref(), &stop);
    drop(reporter);
    let outcome = outcome.map_err(failure)?;
    finish(&args, &outcome)
}

/// Prints the summary of a run and picks the exit code.
pub fn finish(args: &Args, outcome: &apply::ApplyOutcome) -> Result<(), Failure> {
    let s = &outcome.summary;
    println!("verification report: {}", outcome.report_path.display());
    print!("{}", apply::render_report(&outcome.report));
    println!(
        "steps: {} done, {} already done{}, {} failed, {} skipped, {} not started{}",
        s.done,
        s.already_done,
        if outcome.resumed { " (resumed)" } else { "" },
        s.failed.len(),
        s.skipped,
        s.not_started,
        if outcome.blocked > 0 {
            format!("; {} blocked session(s) left alone", outcome.blocked)
        } else {
            String::new()
        }
    );
    if s.complete() {
        return Ok(());
    }
    let plan = args.plan.display();
    if s.interrupted && s.failed.is_empty() {
        return Err(Failure::msg(Exit::Runtime, "interrupted; nothing is lost")
            .with_hint(format!("run `ferry apply {plan}` again to continue")));
    }
    let (step, f) = apply::first_failure(s)
        .map(|(k, f)| (k.clone(), f.message.clone()))
        .unwrap_or_default();
    let exit = if outcome.verification_failed() {
        Exit::Verify
    } else {
        Exit::Runtime
    };
    Err(Failure::msg(
        exit,
        format!("{} step(s) failed; first: {step}: {f}", s.failed.len()),
    )
    .with_hint(format!(
        "no source data was deleted for a session that did not verify; fix the cause and run `ferry apply {plan}` again to continue"
    )))
}
