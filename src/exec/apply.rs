//! `ferry apply` as a library call: read the plan, refuse what must be refused (a blocked plan, servers
//! that drifted since the plan), open the journal, run the graph, and write the verification report.

use super::drift;
use super::journal::{self, JournalError, Last};
use super::pool::{self, RunSummary, StepFailure};
use super::queue::{DependencyQueue, QueueError};
use super::report::{Event, Reporter};
use super::runner::Runner;
use super::schedule::{graph, rewrites_at_once};
pub use super::servers::connect;
use super::servers::logout;
use super::throttle::{Bandwidth, SystemClock};
pub use super::verification_report::{
    render_report, verification_report, RunInfo, SessionResult, VerificationReport,
};
use crate::plan::{self, Plan, StepKind};
use crate::xnat::{Client, ClientOptions, XnatError};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// How to apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Steps run at once.
    pub jobs: usize,
    /// Bytes per second over all transfers, if capped.
    pub bwlimit: Option<u64>,
    /// Apply the runnable part of a blocked plan instead of refusing it.
    pub skip_blocked: bool,
    /// Options of every server connection.
    pub client: ClientOptions,
    /// Bytes of small sessions' zips held in memory at once instead of in the staging folder (see
    /// [`super::stash`]); 0 stages everything on disk.
    pub staging_memory: u64,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            jobs: 4,
            bwlimit: None,
            skip_blocked: false,
            client: ClientOptions::default(),
            staging_memory: super::stash::BUDGET,
        }
    }
}

/// Why `apply` did not run or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The plan file cannot be used.
    #[error("cannot use the plan `{path}`: {detail}")]
    Plan {
        /// The plan's path.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The plan has blocked actions and `--skip-blocked` was not given.
    #[error("the plan has {0} blocked session(s); nothing was changed")]
    Blocked(usize),
    /// Objects the plan touches changed since the plan was made.
    #[error("{} object(s) the plan touches changed since it was made; nothing was changed:\n{}", .0.changes.len(), .0.render().trim_end())]
    Drift(drift::DriftReport),
    /// A server cannot be reached or refuses the account.
    #[error(transparent)]
    Connect(#[from] XnatError),
    /// The journal cannot be used.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The graph is malformed (a hand-edited plan).
    #[error("the plan's execution graph is malformed: {0}")]
    Graph(#[from] QueueError),
    /// Writing the verification report failed.
    #[error("cannot write the verification report `{path}`: {source}")]
    Report {
        /// The report's path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// How a run ended.
#[derive(Debug)]
pub struct ApplyOutcome {
    /// Step totals.
    pub summary: RunSummary,
    /// The verification report.
    pub report: VerificationReport,
    /// Where the report was written.
    pub report_path: PathBuf,
    /// Whether this run resumed an earlier one.
    pub resumed: bool,
    /// Sessions left out because they are blocked.
    pub blocked: usize,
}

impl ApplyOutcome {
    /// Whether a verification failed.
    pub fn verification_failed(&self) -> bool {
        self.summary.failed.values().any(|f| f.verification)
    }
}

/// `blake3:<hex>` of the plan file's bytes.
pub fn plan_hash(bytes: &[u8]) -> String {
    format!("blake3:{}", blake3::hash(bytes).to_hex())
}

/// Reads and parses a plan.
pub fn read_plan(path: &Path) -> Result<(Plan, String), ApplyError> {
    let bytes = std::fs::read(path).map_err(|e| ApplyError::Plan {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let text = String::from_utf8(bytes.clone()).map_err(|_| ApplyError::Plan {
        path: path.to_path_buf(),
        detail: "it is not UTF-8 text".into(),
    })?;
    let plan = plan::from_yaml(&text, path).map_err(|e| ApplyError::Plan {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    Ok((plan, plan_hash(&bytes)))
}

/// The folder beside the plan where downloads and upload zips are staged.
pub fn staging_for(plan: &Path) -> PathBuf {
    let mut p = plan.as_os_str().to_owned();
    p.push(".staging");
    PathBuf::from(p)
}

/// The verification report's path for a plan.
pub fn report_for(plan: &Path) -> PathBuf {
    let mut p = plan.as_os_str().to_owned();
    p.push(".verification.json");
    PathBuf::from(p)
}

/// Refuses a plan when an object it touches changed since it was made, naming each changed object.
/// On a resumed run only the sessions where no step that changes a server started are checked (the
/// others are guarded by their steps; downloads and rewrites change nothing), and destination
/// subjects this plan created itself are not drift.
pub fn check_drift(
    plan: &Plan,
    clients: &BTreeMap<String, Arc<Client>>,
    prior: &BTreeMap<String, Last>,
) -> Result<(), ApplyError> {
    let started: Vec<&crate::plan::Step> = plan
        .steps
        .iter()
        .filter(|s| s.kind.changes_servers() && prior.contains_key(&s.id))
        .collect();
    let scope = if started.is_empty() {
        drift::Scope::default()
    } else {
        let mut touched = BTreeSet::new();
        let mut ours = BTreeSet::new();
        for s in started {
            match &s.action {
                Some(a) => {
                    touched.insert(a.clone());
                }
                None => {
                    ours.insert(format!("subject {}", s.dest_subject));
                }
            }
        }
        let untouched = plan
            .transfers
            .iter()
            .flat_map(|t| &t.actions)
            .filter(|a| !touched.contains(&a.id))
            .map(|a| a.id.clone())
            .collect();
        drift::Scope {
            actions: Some(untouched),
            ours,
        }
    };
    let report = drift::check_scope(plan, clients, &scope).map_err(|e| match e {
        drift::DriftError::Read(e) => ApplyError::Connect(e),
        other => ApplyError::Plan {
            path: PathBuf::new(),
            detail: other.to_string(),
        },
    })?;
    if report.is_empty() {
        return Ok(());
    }
    Err(ApplyError::Drift(report))
}

/// Applies a plan. `stop` is set by Ctrl-C; the run then finishes the steps in progress and returns.
pub fn apply(
    path: &Path,
    opts: &ApplyOptions,
    reporter: &dyn Reporter,
    stop: &AtomicBool,
) -> Result<ApplyOutcome, ApplyError> {
    apply_read(path, read_plan(path)?, opts, reporter, stop)
}

/// [`apply`] of a plan already read from `path` with [`read_plan`] (the plan and the hash of the
/// bytes it was parsed from), so the plan is read and parsed once.
pub fn apply_read(
    path: &Path,
    (plan, hash): (Plan, String),
    opts: &ApplyOptions,
    reporter: &dyn Reporter,
    stop: &AtomicBool,
) -> Result<ApplyOutcome, ApplyError> {
    let blocked = plan.blocked_count();
    if blocked > 0 && !opts.skip_blocked {
        return Err(ApplyError::Blocked(blocked));
    }
    let rewrites = rewrites_at_once();
    let queue = graph(&plan, (opts.jobs, rewrites))?;
    // Held until the run ends: a second apply of this plan stops here, before reading anything.
    let _lock = journal::lock(path)?;
    let started = journal::utc_now();
    let journal_path = journal::path_for(path);
    let prior = journal::read(&journal_path, &hash)?;
    let resumed = !prior.is_empty();
    let clients = connect(&plan, &opts.client)?;
    let mut journal = journal::Journal::open(&journal_path, &hash)?;
    let mut run = RunInfo {
        started,
        resumed,
        ..run_record(&plan)
    };
    journal.append(&journal::Record::Run {
        user: run.user.clone(),
        host: run.host.clone(),
        ferry_version: run.ferry_version.clone(),
        servers: run.servers.clone(),
        resumed,
    })?;
    let bandwidth = opts
        .bwlimit
        .map(|r| Bandwidth::new(r, Box::new(SystemClock::default())));
    let staging = staging_for(path);
    let runner = Runner::new(
        &plan,
        &clients,
        staging.clone(),
        bandwidth.as_ref(),
        reporter,
    )
    .with_stash(super::stash::Stash::new(opts.staging_memory));
    begin(&plan, reporter);
    let gated = (queue, journal, &prior);
    let workers = (opts.jobs + rewrites, reporter, stop);
    let summary = run_checked(&plan, &clients, &runner, gated, workers);
    logout(&clients);
    let summary = summary?;
    let after = journal::read(&journal_path, &hash)?;
    let mut report = verification_report(&plan, &hash, &after);
    run.finished = journal::utc_now();
    report.run = Some(run);
    let report_path = report_for(path);
    write_report(&report_path, &report)?;
    if summary.complete() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    Ok(ApplyOutcome {
        summary,
        report,
        report_path,
        resumed,
        blocked,
    })
}

/// Who runs what against which servers; the times and the resumed flag are filled in by the run.
fn run_record(plan: &Plan) -> RunInfo {
    let (user, host) = journal::who();
    RunInfo {
        user,
        host,
        ferry_version: env!("CARGO_PKG_VERSION").to_string(),
        servers: plan
            .servers
            .iter()
            .map(|(name, s)| (name.clone(), s.url.clone()))
            .collect(),
        started: String::new(),
        finished: String::new(),
        resumed: false,
    }
}

/// Tells the reporter how much work the run holds.
fn begin(plan: &Plan, reporter: &dyn Reporter) {
    reporter.event(Event::Begin {
        steps: plan.steps.len(),
        sessions: plan
            .steps
            .iter()
            .filter(|s| s.kind == StepKind::Verify)
            .count(),
        bytes: plan.summary.bytes,
    });
}

/// The graph, the journal it writes to, and what an earlier run of the plan did.
type Gated<'a> = (
    DependencyQueue<String>,
    journal::Journal,
    &'a BTreeMap<String, Last>,
);

/// Runs the graph with the drift check as its gate. The check runs beside the first downloads and
/// rewrites, which change nothing on a server; every step that does waits for it, and none starts
/// when it fails. On a resumed run the destination holds this plan's own partial work, and a move
/// has deleted sources: the sessions where a step that changes a server started are guarded by
/// their steps, the others are checked.
fn run_checked(
    plan: &Plan,
    clients: &BTreeMap<String, Arc<Client>>,
    runner: &Runner,
    (queue, journal, prior): Gated,
    (workers, reporter, stop): (usize, &dyn Reporter, &AtomicBool),
) -> Result<RunSummary, ApplyError> {
    let drifted = std::sync::Mutex::new(None);
    let check = || match check_drift(plan, clients, prior) {
        Ok(()) => true,
        Err(e) => {
            *drifted.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
            false
        }
    };
    let summary = pool::run_gated(
        queue,
        journal,
        prior,
        (runner, Some(&check)),
        workers,
        reporter,
        stop,
    )?;
    match drifted.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}

fn write_report(path: &Path, report: &VerificationReport) -> Result<(), ApplyError> {
    let err = |source| ApplyError::Report {
        path: path.to_path_buf(),
        source,
    };
    let mut text =
        serde_json::to_string_pretty(report).map_err(|e| err(std::io::Error::other(e)))?;
    text.push('\n');
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// Bytes as people read them (`1.2 MB`).
pub use crate::plan::human_bytes;

/// The first failure of a run, for the CLI's error line.
pub fn first_failure(summary: &RunSummary) -> Option<(&String, &StepFailure)> {
    summary
        .failed
        .iter()
        .find(|(_, f)| f.verification)
        .or_else(|| summary.failed.iter().next())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_like_people_write_them() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500), "1.5 kB");
        assert_eq!(human_bytes(2_000_000_000), "2.0 GB");
    }

    #[test]
    fn sidecar_paths_sit_beside_the_plan() {
        let p = Path::new("/x/plan.yaml");
        assert_eq!(staging_for(p), PathBuf::from("/x/plan.yaml.staging"));
        assert_eq!(
            report_for(p),
            PathBuf::from("/x/plan.yaml.verification.json")
        );
    }
}
