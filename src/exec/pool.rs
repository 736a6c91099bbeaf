//! The worker pool: runs the steps of a [`DependencyQueue`] on a bounded number of threads, journals
//! each step before and after it runs, and stops handing out work when asked (Ctrl-C, a fatal error).
//!
//! What a step does is the [`StepRunner`]'s business; the pool only guarantees the order (a step
//! starts after its dependencies are done and journaled) and the bookkeeping (every end is in the
//! journal, flushed to disk, before any dependent starts).

use super::journal::{Journal, JournalError, Last, Record};
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
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs the graph with `jobs` workers. `prior` is what the journal said before this run: steps done
/// then are not redone; steps started and never finished, or failed, are run again with `resumed` set.
pub fn run(
    mut queue: DependencyQueue<String>,
    journal: Journal,
    prior: &BTreeMap<String, Last>,
    runner: &dyn StepRunner,
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
    let shared = Mutex::new(Shared {
        queue,
        journal,
        journal_error: None,
        summary,
    });
    let details = Mutex::new(details);
    let wake = Condvar::new();
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| worker(&shared, &wake, &details, prior, runner, reporter, stop));
        }
    });
    let mut shared = shared.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = shared.journal_error.take() {
        return Err(e);
    }
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
    shared: &Mutex<Shared>,
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
                let stopping = stop.load(Ordering::SeqCst) || g.journal_error.is_some();
                if g.queue.is_finished() || (stopping && !g.queue.any_running()) {
                    wake.notify_all();
                    return;
                }
                if !stopping {
                    if let Some(step) = g.queue.next_ready() {
                        let record = Record::Started { step: step.clone() };
                        if let Err(e) = g.journal.append(&record) {
                            g.journal_error = Some(e);
                            g.queue.finish(&step, false);
                            continue;
                        }
                        break step;
                    }
                }
                g = wake.wait(g).unwrap_or_else(|p| p.into_inner());
            }
        };
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
    // The end of a step is on disk before any dependent can start.
    if let Err(e) = g.journal.append(&record) {
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
mod tests {
    use super::*;
    use crate::exec::journal;
    use crate::exec::report::Recording;
    use std::sync::atomic::AtomicUsize;

    struct Fake {
        fail: Option<&'static str>,
        fatal: bool,
        ran: Mutex<Vec<String>>,
        running: AtomicUsize,
        max_running: AtomicUsize,
    }

    impl Fake {
        fn new(fail: Option<&'static str>) -> Self {
            Fake {
                fail,
                fatal: false,
                ran: Mutex::new(Vec::new()),
                running: AtomicUsize::new(0),
                max_running: AtomicUsize::new(0),
            }
        }
    }

    impl StepRunner for Fake {
        fn describe(&self, step: &str) -> String {
            format!("do {step}")
        }
        fn run(
            &self,
            step: &str,
            _resumed: bool,
            ctx: &StepContext<'_>,
        ) -> Result<serde_json::Value, StepFailure> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_running.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(5));
            // A dependent sees its dependency's detail.
            if step == "b" {
                assert_eq!(ctx.detail("a"), Some(serde_json::json!({"step": "a"})));
            }
            lock(&self.ran).push(step.to_string());
            self.running.fetch_sub(1, Ordering::SeqCst);
            match self.fail {
                Some(f) if f == step && self.fatal => Err(StepFailure::fatal("boom")),
                Some(f) if f == step => Err(StepFailure::new("boom")),
                _ => Ok(serde_json::json!({ "step": step })),
            }
        }
    }

    fn graph() -> DependencyQueue<String> {
        // a -> b -> c ; d, e, f independent
        let s = |x: &str| x.to_string();
        DependencyQueue::new(vec![
            (s("a"), vec![]),
            (s("b"), vec![s("a")]),
            (s("c"), vec![s("b")]),
            (s("d"), vec![]),
            (s("e"), vec![]),
            (s("f"), vec![]),
        ])
        .unwrap()
    }

    fn open(dir: &std::path::Path) -> (std::path::PathBuf, Journal) {
        let path = dir.join("p.journal");
        let j = Journal::open(&path, "h").unwrap();
        (path, j)
    }

    #[test]
    fn runs_everything_in_dependency_order_within_the_job_limit() {
        let dir = tempfile::tempdir().unwrap();
        let (path, j) = open(dir.path());
        let fake = Fake::new(None);
        let stop = AtomicBool::new(false);
        let s = run(
            graph(),
            j,
            &BTreeMap::new(),
            &fake,
            2,
            &Recording::default(),
            &stop,
        )
        .unwrap();
        assert!(s.complete(), "{s:?}");
        assert_eq!(s.done, 6);
        let ran = lock(&fake.ran).clone();
        let pos = |x: &str| ran.iter().position(|r| r == x).unwrap();
        assert!(pos("a") < pos("b") && pos("b") < pos("c"));
        assert!(fake.max_running.load(Ordering::SeqCst) <= 2);
        let read = journal::read(&path, "h").unwrap();
        assert!(read.values().all(|l| matches!(l, Last::Done(_))));
        assert_eq!(read.len(), 6);
    }

    #[test]
    fn a_failure_skips_downstream_only() {
        let dir = tempfile::tempdir().unwrap();
        let (_, j) = open(dir.path());
        let fake = Fake::new(Some("a"));
        let stop = AtomicBool::new(false);
        let s = run(graph(), j, &BTreeMap::new(), &fake, 3, &Silent, &stop).unwrap();
        assert_eq!(s.failed.len(), 1);
        assert_eq!(s.skipped, 2);
        assert_eq!(s.done, 3);
        assert!(!lock(&fake.ran).contains(&"b".to_string()));
    }

    #[test]
    fn a_fatal_failure_stops_new_work() {
        let dir = tempfile::tempdir().unwrap();
        let (_, j) = open(dir.path());
        let mut fake = Fake::new(Some("a"));
        fake.fatal = true;
        let stop = AtomicBool::new(false);
        let s = run(graph(), j, &BTreeMap::new(), &fake, 1, &Silent, &stop).unwrap();
        assert!(s.interrupted);
        assert_eq!(lock(&fake.ran).as_slice(), ["a"]);
        assert!(s.not_started >= 3);
    }

    #[test]
    fn resumes_without_redoing_finished_steps() {
        let dir = tempfile::tempdir().unwrap();
        let (path, j) = open(dir.path());
        let fake = Fake::new(Some("c"));
        let stop = AtomicBool::new(false);
        run(graph(), j, &BTreeMap::new(), &fake, 2, &Silent, &stop).unwrap();
        let prior = journal::read(&path, "h").unwrap();
        let j = Journal::open(&path, "h").unwrap();
        let again = Fake::new(None);
        let s = run(graph(), j, &prior, &again, 2, &Silent, &stop).unwrap();
        assert!(s.complete());
        assert_eq!(s.already_done, 5);
        assert_eq!(lock(&again.ran).as_slice(), ["c"]);
    }

    #[test]
    fn a_stopped_run_starts_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (_, j) = open(dir.path());
        let fake = Fake::new(None);
        let stop = AtomicBool::new(true);
        let s = run(graph(), j, &BTreeMap::new(), &fake, 2, &Silent, &stop).unwrap();
        assert!(s.interrupted);
        assert_eq!(s.not_started, 6);
        assert!(lock(&fake.ran).is_empty());
    }

    use crate::exec::report::Silent;
}
