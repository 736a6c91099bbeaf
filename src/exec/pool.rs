//! The worker pool: runs the steps of a [`DependencyQueue`] on a bounded number of threads, journals
//! each step before and after it runs, and stops handing out work when asked (Ctrl-C, a fatal error).
//!
//! What a step does is the [`StepRunner`]'s business; the pool only guarantees the order (a step
//! starts after its dependencies are done and journaled) and the bookkeeping (every end is in the
//! journal, flushed to disk, before any dependent starts).

use super::journal::{Journal, JournalError, Last, Record, Syncer};
use super::queue::{DependencyQueue, StepState};
use super::report::{Event, Reporter, StepOutcome};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

/// Why a step failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepFailure {
    /// What went wrong, in one line that names the object.
    pub message: String,
    /// Whether the whole run should stop handing out new steps (lost access, full disk).
    pub fatal: bool,
    /// Whether the failure is a verification failure (exit code 4) rather than a runtime one.
    pub verification: bool,
}

impl StepFailure {
    /// An ordinary failure of one step.
    pub fn new(message: impl Into<String>) -> Self {
        StepFailure {
            message: message.into(),
            fatal: false,
            verification: false,
        }
    }

    /// A failure after which no new step should start.
    pub fn fatal(message: impl Into<String>) -> Self {
        StepFailure {
            fatal: true,
            ..StepFailure::new(message)
        }
    }

    /// A verification failure.
    pub fn verification(message: impl Into<String>) -> Self {
        StepFailure {
            verification: true,
            ..StepFailure::new(message)
        }
    }
}

/// What a step may read while it runs.
pub struct StepContext<'a> {
    /// Set when the run is being stopped; long steps should check it between chunks of work.
    pub interrupted: &'a AtomicBool,
    details: &'a Mutex<BTreeMap<String, serde_json::Value>>,
}

impl StepContext<'_> {
    /// The detail a finished step recorded (in this run or an earlier one).
    pub fn detail(&self, step: &str) -> Option<serde_json::Value> {
        lock(self.details).get(step).cloned()
    }
}

/// Runs steps.
pub trait StepRunner: Sync {
    /// What the step does, for people (`download SUB001_MR1 from central/PILOT`).
    fn describe(&self, step: &str) -> String;
    /// Runs a step. `resumed` is true when an earlier run started this step and never finished it, or
    /// failed it: the runner must then find out what the earlier attempt left on the servers before
    /// acting.
    fn run(
        &self,
        step: &str,
        resumed: bool,
        ctx: &StepContext<'_>,
    ) -> Result<serde_json::Value, StepFailure>;
    /// Whether the step may change something on a server. Such a step starts only once the journal,
    /// its own start included, is on disk; a step that only reads or works on local files does not
    /// wait for the disk.
    fn changes_servers(&self, _step: &str) -> bool {
        true
    }
}

/// How a run ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Steps finished in this run.
    pub done: usize,
    /// Steps that had finished in an earlier run.
    pub already_done: usize,
    /// Steps that failed, with their errors, by step ID.
    pub failed: BTreeMap<String, StepFailure>,
    /// Steps not run because an upstream step failed.
    pub skipped: usize,
    /// Steps not started because the run was stopped.
    pub not_started: usize,
    /// Whether the run was stopped before the graph was finished.
    pub interrupted: bool,
}

impl RunSummary {
    /// Whether every step is done.
    pub fn complete(&self) -> bool {
        self.failed.is_empty() && self.skipped == 0 && self.not_started == 0 && !self.interrupted
    }
}

struct Shared {
    queue: DependencyQueue<String>,
    journal: Journal,
    journal_error: Option<JournalError>,
    summary: RunSummary,
    /// The gate's check failed: no new step starts.
    halted: bool,
}

/// A check that runs beside the first steps; the queue's gated steps wait for it, and a failed check
/// starts nothing more (see [`run_gated`]).
pub type GateCheck<'a> = &'a (dyn Fn() -> bool + Sync);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs the graph with `jobs` workers. `prior` is what the journal said before this run: steps done
/// then are not redone; steps started and never finished, or failed, are run again with `resumed` set.
pub fn run(
    queue: DependencyQueue<String>,
    journal: Journal,
    prior: &BTreeMap<String, Last>,
    runner: &dyn StepRunner,
    jobs: usize,
    reporter: &dyn Reporter,
    stop: &AtomicBool,
) -> Result<RunSummary, JournalError> {
    run_gated(queue, journal, prior, (runner, None), jobs, reporter, stop)
}

/// [`run`], with `check` run in its own thread beside the first steps: when it returns true the
/// queue's gate opens (see [`DependencyQueue::with_gate`]); when it returns false no step starts
/// after it, and the steps running finish.
pub fn run_gated(
    mut queue: DependencyQueue<String>,
    journal: Journal,
    prior: &BTreeMap<String, Last>,
    (runner, check): (&dyn StepRunner, Option<GateCheck<'_>>),
    jobs: usize,
    reporter: &dyn Reporter,
    stop: &AtomicBool,
) -> Result<RunSummary, JournalError> {
    let mut details = BTreeMap::new();
    let mut summary = RunSummary::default();
    let known: Vec<String> = queue.states().keys().cloned().collect();
    for step in known {
        if let Some(Last::Done(detail)) = prior.get(&step) {
            queue.mark_done(&step);
            details.insert(step.clone(), detail.clone());
            summary.already_done += 1;
            let what = runner.describe(&step);
            reporter.event(Event::StepEnded {
                step,
                what,
                outcome: StepOutcome::AlreadyDone,
            });
        }
    }
    let syncer = journal.syncer()?;
    let shared = Mutex::new(Shared {
        queue,
        journal,
        journal_error: None,
        summary,
        halted: false,
    });
    let details = Mutex::new(details);
    let wake = Condvar::new();
    std::thread::scope(|scope| {
        if let Some(check) = check {
            scope.spawn(|| {
                let passed = check();
                let mut g = lock(&shared);
                if passed {
                    g.queue.open_gate();
                } else {
                    g.halted = true;
                }
                drop(g);
                wake.notify_all();
            });
        }
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                worker(
                    (&shared, &syncer),
                    &wake,
                    &details,
                    prior,
                    runner,
                    reporter,
                    stop,
                )
            });
        }
    });
    let mut shared = shared.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = shared.journal_error.take() {
        return Err(e);
    }
    // The run's last lines (ends of steps that changed nothing since) go to disk too.
    syncer.sync_through(shared.journal.written())?;
    for state in shared.queue.states().values() {
        match state {
            StepState::Pending | StepState::Running => shared.summary.not_started += 1,
            StepState::Skipped { .. } => shared.summary.skipped += 1,
            StepState::Done | StepState::Failed => {}
        }
    }
    shared.summary.interrupted = stop.load(Ordering::SeqCst) && shared.summary.not_started > 0;
    Ok(shared.summary)
}

fn worker(
    (shared, syncer): (&Mutex<Shared>, &Syncer),
    wake: &Condvar,
    details: &Mutex<BTreeMap<String, serde_json::Value>>,
    prior: &BTreeMap<String, Last>,
    runner: &dyn StepRunner,
    reporter: &dyn Reporter,
    stop: &AtomicBool,
) {
    let ctx = StepContext {
        interrupted: stop,
        details,
    };
    loop {
        let step = {
            let mut g = lock(shared);
            loop {
                let stopping = stop.load(Ordering::SeqCst) || g.journal_error.is_some() || g.halted;
                if g.queue.is_finished() || (stopping && !g.queue.any_running()) {
                    wake.notify_all();
                    return;
                }
                if !stopping {
                    if let Some(step) = g.queue.next_ready() {
                        let record = Record::Started { step: step.clone() };
                        match g.journal.write(&record) {
                            Ok(end) => break (step, end),
                            Err(e) => {
                                g.journal_error = Some(e);
                                g.queue.finish(&step, false);
                                continue;
                            }
                        }
                    }
                }
                g = wake.wait(g).unwrap_or_else(|p| p.into_inner());
            }
        };
        let (step, end) = step;
        // Flushed outside the lock: workers flushing at once share the disk's wait.
        if runner.changes_servers(&step) {
            if let Err(e) = syncer.sync_through(end) {
                let mut g = lock(shared);
                g.journal_error = Some(e);
                g.queue.finish(&step, false);
                drop(g);
                wake.notify_all();
                continue;
            }
        }
        let what = runner.describe(&step);
        reporter.event(Event::StepStarted {
            step: step.clone(),
            what: what.clone(),
        });
        // A step that started or failed in an earlier run may have done part of its work.
        let resumed = matches!(prior.get(&step), Some(Last::Started | Last::Failed(_)));
        let result = runner.run(&step, resumed, &ctx);
        finish(shared, details, reporter, stop, step, what, result);
        wake.notify_all();
    }
}

fn finish(
    shared: &Mutex<Shared>,
    details: &Mutex<BTreeMap<String, serde_json::Value>>,
    reporter: &dyn Reporter,
    stop: &AtomicBool,
    step: String,
    what: String,
    result: Result<serde_json::Value, StepFailure>,
) {
    let mut g = lock(shared);
    let (record, ok) = match &result {
        Ok(detail) => (
            Record::Done {
                step: step.clone(),
                detail: detail.clone(),
            },
            true,
        ),
        Err(f) => (
            Record::Failed {
                step: step.clone(),
                error: f.message.clone(),
            },
            false,
        ),
    };
    // Written before any dependent can start; on disk before anything changes on a server (a
    // dependent that does flushes it with its own start).
    if let Err(e) = g.journal.write(&record) {
        g.journal_error = Some(e);
        g.queue.finish(&step, false);
        return;
    }
    if let Ok(detail) = &result {
        lock(details).insert(step.clone(), detail.clone());
    }
    let skipped = g.queue.finish(&step, ok);
    let outcome = match result {
        Ok(_) => {
            g.summary.done += 1;
            StepOutcome::Done
        }
        Err(f) => {
            if f.fatal {
                stop.store(true, Ordering::SeqCst);
            }
            let message = f.message.clone();
            g.summary.failed.insert(step.clone(), f);
            StepOutcome::Failed(message)
        }
    };
    drop(g);
    reporter.event(Event::StepEnded {
        step: step.clone(),
        what,
        outcome,
    });
    for s in skipped {
        reporter.event(Event::StepEnded {
            what: s.clone(),
            step: s,
            outcome: StepOutcome::Skipped {
                upstream: step.clone(),
            },
        });
    }
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
