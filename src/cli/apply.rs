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
    /// Steps run at once, besides the header rewrites (at most half as many as the cores).
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// Requests in flight per server, shared by all transfers of the run.
    #[arg(long, default_value_t = 4)]
    pub per_server: usize,
    /// Cap on transfer bandwidth over all transfers, bytes per second (`50M`, `500k`).
    #[arg(long)]
    pub bwlimit: Option<String>,
    /// Memory for small sessions' zips, MiB: a session of at most 16 MiB is held in memory between
    /// its steps instead of written to the staging folder, while this much is free (0: always the
    /// staging folder).
    #[arg(long, default_value_t = 64, value_name = "MIB")]
    pub staging_memory: u64,
    /// Apply the runnable part of a blocked plan (blocked sessions are left alone).
    #[arg(long)]
    pub skip_blocked: bool,
    /// When a server changed since the plan, plan the same manifest again, show the new diff and
    /// write it beside the plan for review (nothing is applied).
    #[arg(long)]
    pub allow_drift: bool,
}

/// The path of a re-planned plan: `plan.yaml` -> `plan.replanned.yaml`.
pub fn replanned_path(plan: &std::path::Path) -> PathBuf {
    let stem = plan
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "plan".into());
    plan.with_file_name(format!("{stem}.replanned.yaml"))
}

/// Plans the plan's manifest again against the servers as they are now, and shows the new diff.
fn replan(args: &Args, drift: crate::exec::drift::DriftReport) -> Result<(), Failure> {
    let (old, _) = apply::read_plan(&args.plan).map_err(failure)?;
    let manifest = PathBuf::from(&old.manifest.path);
    let loaded = super::plan::load_manifest(&manifest).map_err(|f| {
        f.with_hint(format!(
            "the plan was made from `{}`; run `ferry plan` with that manifest",
            old.manifest.path
        ))
    })?;
    if loaded.hash != old.manifest.hash {
        eprintln!(
            "note: `{}` changed since the plan was made; the new plan follows the manifest as it is now",
            old.manifest.path
        );
    }
    let fresh = super::plan::make_plan(&manifest, &crate::xnat::ClientOptions::default())?;
    let out = replanned_path(&args.plan);
    super::plan::write_plan(&out, &fresh)?;
    println!(
        "{} object(s) the plan touches changed since it was made:",
        drift.changes.len()
    );
    print!("{}", drift.render());
    let changes = crate::exec::drift::compare_plans(&old, &fresh);
    if changes.is_empty() {
        println!("the new plan does the same as the reviewed one.");
    } else {
        println!("the new plan against the reviewed one:");
        for c in changes {
            println!("  {c}");
        }
    }
    println!("planned again:");
    print!("{}", crate::plan::render_diff(&fresh, false));
    Err(Failure::msg(
        Exit::Blocked,
        format!(
            "the servers drifted; the new plan is `{}` and nothing was applied",
            out.display()
        ),
    )
    .with_hint(format!("review it, then `ferry apply {}`", out.display())))
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
            Some("run `ferry plan` again (or `ferry apply PLAN --allow-drift` to see the new diff), review it, and apply the new plan".into()),
        ),
        ApplyError::Connect(x) => (super::plan::xnat_exit(x), x.hint()),
        ApplyError::Journal(crate::exec::journal::JournalError::Locked { .. }) => (
            Exit::Blocked,
            Some("wait for the other run to end (`ferry status PLAN` shows its progress), then apply again if it did not finish".into()),
        ),
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

/// glibc gives each thread that allocates its own malloc arena, and memory freed in one arena is not
/// reused by another; as `apply`'s workers and readers come and go, peak memory then grows with the
/// amount of work instead of staying flat. Two arenas keep it flat with no measurable cost to
/// throughput (`ferry bench`, figure 4; docs/performance.md). Buffers of up to 32 MiB (a zip held in
/// memory) come from the heap and are reused rather than mapped and unmapped per session: fresh
/// pages cost a fault and a zeroing each (about a tenth of `apply`'s CPU on small sessions;
/// docs/performance.md). Called before any thread starts, by `apply` and by the bench's plain copy.
pub fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator; no thread of this process is allocating yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 * 1024 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 * 1024 * 1024);
    }
}

/// Runs `ferry apply`.
pub fn run(args: Args) -> Result<(), Failure> {
    tune_malloc();
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
    let (plan, hash) = super::show::load_plan(&args.plan, "apply")?;
    let blocked = plan.blocked_count() as u64;
    if args.skip_blocked && blocked > 0 && plan.steps.is_empty() {
        return Err(Failure::msg(
            Exit::Blocked,
            format!(
                "nothing to apply: the plan's runnable part is empty and {} blocked",
                crate::plan::plural(blocked, "session is", "sessions are")
            ),
        )
        .with_hint("fix the manifest or the servers and plan again"));
    }
    let mut opts = ApplyOptions {
        jobs: args.jobs,
        bwlimit,
        skip_blocked: args.skip_blocked,
        staging_memory: args.staging_memory.saturating_mul(1024 * 1024),
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
    let outcome = apply::apply_read(&args.plan, (plan, hash), &opts, reporter.as_ref(), &stop);
    drop(reporter);
    let outcome = match outcome {
        Err(ApplyError::Drift(d)) if args.allow_drift => return replan(&args, d),
        other => other.map_err(failure)?,
    };
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
