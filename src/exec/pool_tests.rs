//! Tests of the worker pool: order, limits, failures, resumption and when the journal is flushed.
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

/// Runs `a -> b` and `c`, where `b` changes a server: `b` may start only once the journal is on disk
/// through its own start, while `a` and `c` do not flush it.
#[test]
fn a_step_that_changes_a_server_starts_only_once_the_journal_is_on_disk() {
    struct Durable {
        path: std::path::PathBuf,
        syncer: Syncer,
        seen: Mutex<Vec<(String, u64, u64)>>,
    }
    impl StepRunner for Durable {
        fn describe(&self, step: &str) -> String {
            step.to_string()
        }
        fn changes_servers(&self, step: &str) -> bool {
            step == "b"
        }
        fn run(
            &self,
            step: &str,
            _resumed: bool,
            _ctx: &StepContext<'_>,
        ) -> Result<serde_json::Value, StepFailure> {
            // Where this step's own start line ends in the journal.
            let text = std::fs::read_to_string(&self.path).unwrap();
            let started = format!(r#""event":"started","step":"{step}""#);
            let at = text
                .find(&started)
                .expect("the start is written before the step runs");
            let end = (at + text[at..].find('\n').unwrap() + 1) as u64;
            lock(&self.seen).push((step.to_string(), end, self.syncer.durable()));
            Ok(serde_json::json!({}))
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let (path, j) = open(dir.path());
    let s = |x: &str| x.to_string();
    let q = DependencyQueue::new(vec![
        (s("a"), vec![]),
        (s("b"), vec![s("a")]),
        (s("c"), vec![]),
    ])
    .unwrap();
    let runner = Durable {
        path: path.clone(),
        syncer: j.syncer().unwrap(),
        seen: Mutex::new(Vec::new()),
    };
    let on_disk_at_open = runner.syncer.durable();
    let stop = AtomicBool::new(false);
    run(q, j, &BTreeMap::new(), &runner, 1, &Silent, &stop).unwrap();
    let seen = runner.seen.into_inner().unwrap();
    assert_eq!(seen.len(), 3);
    for (step, end, durable) in &seen {
        if step == "b" {
            assert!(durable >= end, "b started before its start was on disk");
        } else if step == "a" {
            assert_eq!(
                *durable, on_disk_at_open,
                "a read or local step waits for no flush"
            );
        }
    }
    let len = std::fs::metadata(&path).unwrap().len();
    assert_eq!(
        runner.syncer.durable(),
        len,
        "the end of the run is on disk"
    );
}

/// Gated steps wait for the check that runs beside the others: a passing check lets them run, a
/// failing one starts nothing more.
#[test]
fn gated_steps_run_only_after_the_check_passes() {
    for passes in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let (_, j) = open(dir.path());
        let fake = Fake::new(None);
        let s = |x: &str| x.to_string();
        let q = DependencyQueue::new(vec![(s("d"), vec![]), (s("u"), vec![s("d")])])
            .unwrap()
            .with_gate(|k| k == "u");
        let checked = AtomicBool::new(false);
        let check = || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            checked.store(true, Ordering::SeqCst);
            passes
        };
        let stop = AtomicBool::new(false);
        let summary = run_gated(
            q,
            j,
            &BTreeMap::new(),
            (&fake, Some(&check)),
            2,
            &Silent,
            &stop,
        )
        .unwrap();
        assert!(checked.load(Ordering::SeqCst));
        let ran = lock(&fake.ran).clone();
        assert_eq!(ran[0], "d", "the ungated step ran without waiting");
        if passes {
            assert_eq!(ran, vec!["d", "u"]);
            assert!(summary.complete());
        } else {
            assert_eq!(ran, vec!["d"], "nothing gated starts after a failed check");
            assert_eq!(summary.not_started, 1);
        }
    }
}
