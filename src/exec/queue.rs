//! The scheduler: a pure dependency queue over step IDs. It hands out steps whose dependencies are all
//! done, in a deterministic order, and when a step fails it marks everything downstream as skipped.
//! No threads, no I/O, no clock: the executor's worker loop drives it and it is unit-tested alone.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Where a step stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepState<K> {
    /// Waiting for its dependencies or for a worker.
    Pending,
    /// Handed out, not finished.
    Running,
    /// Finished successfully (now or in an earlier run).
    Done,
    /// Finished with an error.
    Failed,
    /// Not run because an upstream step failed.
    Skipped {
        /// The failed step that caused it.
        upstream: K,
    },
}

/// Why a graph cannot be scheduled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// A step depends on a step that is not in the graph.
    #[error("step `{step}` depends on `{dep}`, which is not in the plan")]
    UnknownDependency {
        /// The dependent step.
        step: String,
        /// The missing dependency.
        dep: String,
    },
    /// Two steps share an ID.
    #[error("step `{0}` appears twice in the plan")]
    Duplicate(String),
    /// The graph has a cycle through this step.
    #[error("the steps form a cycle through `{0}`")]
    Cycle(String),
}

/// A dependency queue over step IDs of type `K`.
///
/// Handing out a step costs a few ordered-set operations, not a pass over every step: the queue keeps
/// per pending step how many of its dependencies are not done, the steps ready to go sorted in
/// hand-out order and grouped by the limits that apply to them, counters of what runs,
/// and the set of open sessions of the window. A run of thousands of sessions otherwise spends
/// minutes choosing its steps.
#[derive(Debug, Clone)]
pub struct DependencyQueue<K: Ord + Clone> {
    deps: BTreeMap<K, BTreeSet<K>>,
    dependents: BTreeMap<K, BTreeSet<K>>,
    state: BTreeMap<K, StepState<K>>,
    /// Which ready step goes first: the lowest rank (0 when not given), then the smallest ID.
    rank: BTreeMap<K, u8>,
    /// Among ready steps of one rank, a lower order goes first (0 when not given).
    order: BTreeMap<K, u64>,
    /// Steps of which at most `.1` run at once.
    limited: (BTreeSet<K>, usize),
    /// How many of the other steps (those outside `limited`) run at once.
    outside: usize,
    /// Steps handed out only once `.1` is true (see [`DependencyQueue::with_gate`]).
    gated: (BTreeSet<K>, bool),
    /// Steps of which at most `.1` run at once while the gate is closed.
    early: (BTreeSet<K>, usize),
    /// Steps that open a session (key) and the step that closes it (value); at most `.1` sessions
    /// are open at once (see [`DependencyQueue::with_window`]).
    window: (BTreeMap<K, K>, usize),
    /// The opening step of each closing step of the window.
    opener_of: BTreeMap<K, K>,
    /// The opening steps of the sessions that are open.
    open: BTreeSet<K>,
    /// Per step, how many of its dependencies are not done.
    unmet: BTreeMap<K, usize>,
    /// What runs: in all, of `limited`, of `early`.
    running: Running,
    /// How many steps are pending or running.
    unsettled: usize,
    /// The ready steps (pending, every dependency done) by class, in hand-out order; built when the
    /// first step is handed out (the builders set what the classes and the order depend on).
    ready: Option<BTreeMap<Class, BTreeSet<Ready<K>>>>,
}

/// How many steps run: in all, of the limited ones, of the early ones.
#[derive(Debug, Clone, Copy, Default)]
struct Running {
    all: usize,
    limited: usize,
    early: usize,
}

/// The limits a step is under: whether it is limited, early, opens a session, waits for the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Class {
    limited: bool,
    early: bool,
    opens: bool,
    gated: bool,
}

/// A ready step in hand-out order: rank, order, ID.
type Ready<K> = (u8, u64, K);

impl<K: Ord + Clone + fmt::Display> DependencyQueue<K> {
    /// Builds a queue from `(step, dependencies)` pairs, refusing duplicates, unknown dependencies
    /// and cycles.
    pub fn new(steps: impl IntoIterator<Item = (K, Vec<K>)>) -> Result<Self, QueueError> {
        let mut deps: BTreeMap<K, BTreeSet<K>> = BTreeMap::new();
        for (k, d) in steps {
            if deps.insert(k.clone(), d.into_iter().collect()).is_some() {
                return Err(QueueError::Duplicate(k.to_string()));
            }
        }
        let mut dependents: BTreeMap<K, BTreeSet<K>> = BTreeMap::new();
        for (k, ds) in &deps {
            for d in ds {
                if !deps.contains_key(d) {
                    return Err(QueueError::UnknownDependency {
                        step: k.to_string(),
                        dep: d.to_string(),
                    });
                }
                dependents.entry(d.clone()).or_default().insert(k.clone());
            }
        }
        let state = deps
            .keys()
            .map(|k| (k.clone(), StepState::Pending))
            .collect();
        let unmet = deps.iter().map(|(k, d)| (k.clone(), d.len())).collect();
        let q = DependencyQueue {
            unsettled: deps.len(),
            deps,
            dependents,
            state,
            rank: BTreeMap::new(),
            order: BTreeMap::new(),
            limited: (BTreeSet::new(), usize::MAX),
            outside: usize::MAX,
            gated: (BTreeSet::new(), true),
            early: (BTreeSet::new(), usize::MAX),
            window: (BTreeMap::new(), usize::MAX),
            opener_of: BTreeMap::new(),
            open: BTreeSet::new(),
            unmet,
            running: Running::default(),
            ready: None,
        };
        q.check_acyclic()?;
        Ok(q)
    }

    fn check_acyclic(&self) -> Result<(), QueueError> {
        // Kahn's algorithm: whatever cannot be ordered sits on a cycle.
        let mut indeg: BTreeMap<&K, usize> = self.deps.iter().map(|(k, d)| (k, d.len())).collect();
        let mut ready: Vec<&K> = indeg
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(k, _)| *k)
            .collect();
        let mut seen = 0;
        while let Some(k) = ready.pop() {
            seen += 1;
            for d in self.dependents.get(k).into_iter().flatten() {
                if let Some(n) = indeg.get_mut(d) {
                    *n -= 1;
                    if *n == 0 {
                        ready.push(d);
                    }
                }
            }
        }
        if seen == self.deps.len() {
            return Ok(());
        }
        let stuck = indeg
            .iter()
            .find(|(_, n)| **n > 0)
            .map(|(k, _)| k.to_string());
        Err(QueueError::Cycle(stuck.unwrap_or_default()))
    }

    /// Marks a step as done before the run starts (it finished in an earlier, interrupted run).
    pub fn mark_done(&mut self, k: &K) {
        if self.state.contains_key(k) {
            self.set_state(k, StepState::Done);
        }
    }

    /// Ranks the steps: among the ready ones, a lower rank is handed out first.
    pub fn with_ranks(mut self, rank: impl Fn(&K) -> u8) -> Self {
        self.rank = self.deps.keys().map(|k| (k.clone(), rank(k))).collect();
        self
    }

    /// Orders the ready steps of one rank: a lower order is handed out first, then the smaller ID.
    pub fn with_order(mut self, order: impl Fn(&K) -> u64) -> Self {
        self.order = self.deps.keys().map(|k| (k.clone(), order(k))).collect();
        self
    }

    /// Lets at most `limit` of the steps `member` picks run at once (the others wait while they do).
    pub fn with_limit(mut self, member: impl Fn(&K) -> bool, limit: usize) -> Self {
        let members = self.deps.keys().filter(|k| member(k)).cloned().collect();
        self.limited = (members, limit.max(1));
        self
    }

    /// Lets at most `limit` of the steps outside the [`DependencyQueue::with_limit`] set run at once,
    /// so that the limited steps have room of their own beside them.
    pub fn with_outside_limit(mut self, limit: usize) -> Self {
        self.outside = limit.max(1);
        self
    }

    /// Holds back the steps `member` picks until [`DependencyQueue::open_gate`] is called.
    pub fn with_gate(mut self, member: impl Fn(&K) -> bool) -> Self {
        let members = self.deps.keys().filter(|k| member(k)).cloned().collect();
        self.gated = (members, false);
        self
    }

    /// While the gate is closed, lets at most `limit` of the steps `member` picks run at once (the
    /// gate's check then keeps the rest of the servers' request slots).
    pub fn with_early_limit(mut self, member: impl Fn(&K) -> bool, limit: usize) -> Self {
        let members = self.deps.keys().filter(|k| member(k)).cloned().collect();
        self.early = (members, limit.max(1));
        self
    }

    /// Keeps at most `limit` sessions open at once: each pair is the step that opens a session and
    /// the step that closes it. An opening step waits while `limit` sessions have started their
    /// opening step and not yet finished their closing one (a session whose closing step failed or
    /// was skipped is closed). The steps between the two never wait for the window, so the open
    /// sessions can always finish, and when nothing runs, the gate is open and only held opening steps
    /// are ready, one of them goes (a closing step that waits on a held opening step cannot stall the run). Pairs naming a step not in the
    /// graph are ignored.
    pub fn with_window(mut self, pairs: impl IntoIterator<Item = (K, K)>, limit: usize) -> Self {
        let pairs = pairs
            .into_iter()
            .filter(|(o, c)| self.deps.contains_key(o) && self.deps.contains_key(c))
            .collect();
        self.window = (pairs, limit.max(1));
        self.opener_of = self
            .window
            .0
            .iter()
            .map(|(o, c)| (c.clone(), o.clone()))
            .collect();
        let openers: Vec<K> = self.window.0.keys().cloned().collect();
        for o in &openers {
            self.update_window(o);
        }
        self
    }

    /// Lets the steps held back by [`DependencyQueue::with_gate`] be handed out.
    pub fn open_gate(&mut self) {
        self.gated.1 = true;
    }

    /// The next pending step whose dependencies are all done, now marked running: the lowest rank
    /// first, then the lowest order, then the smallest ID, so that runs are reproducible.
    pub fn next_ready(&mut self) -> Option<K> {
        if self.ready.is_none() {
            self.ready = Some(self.build_ready());
        }
        let window_full = self.open.len() >= self.window.1;
        let k = match self.pick(window_full) {
            Some(k) => k,
            // The window never stalls a run: with nothing running and the gate open, nothing would
            // close a session (while the gate is closed, opening it is what the run waits for).
            None if window_full && self.gated.1 && !self.any_running() => self.pick(false)?,
            None => return None,
        };
        self.set_state(&k, StepState::Running);
        Some(k)
    }

    /// The step [`DependencyQueue::next_ready`] hands out, with the window's opening steps held
    /// back when `window_full`: the first ready step of each class the limits let through, the
    /// first of those.
    fn pick(&self, window_full: bool) -> Option<K> {
        let r = self.running;
        let full = r.limited >= self.limited.1;
        let outside_full = r.all - r.limited >= self.outside;
        let early_full = !self.gated.1 && r.early >= self.early.1;
        let allowed = |c: &Class| {
            (if c.limited { !full } else { !outside_full })
                && !(early_full && c.early)
                && !(window_full && c.opens)
                && (self.gated.1 || !c.gated)
        };
        self.ready
            .as_ref()?
            .iter()
            .filter(|(c, _)| allowed(c))
            .filter_map(|(_, steps)| steps.first())
            .min()
            .map(|(_, _, k)| k.clone())
    }

    /// Records the end of a running step. On failure every step downstream of it that has not run is
    /// marked skipped, and those steps are returned.
    pub fn finish(&mut self, k: &K, ok: bool) -> Vec<K> {
        if !ok {
            self.set_state(k, StepState::Failed);
            return self.skip_downstream(k);
        }
        self.set_state(k, StepState::Done);
        Vec::new()
    }

    fn skip_downstream(&mut self, failed: &K) -> Vec<K> {
        let mut skipped = Vec::new();
        let mut stack: Vec<K> = self
            .dependents
            .get(failed)
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        while let Some(d) = stack.pop() {
            if self.state.get(&d) == Some(&StepState::Pending) {
                self.set_state(
                    &d,
                    StepState::Skipped {
                        upstream: failed.clone(),
                    },
                );
                skipped.push(d.clone());
                stack.extend(self.dependents.get(&d).into_iter().flatten().cloned());
            }
        }
        skipped.sort();
        skipped
    }

    /// Whether nothing is pending or running any more.
    pub fn is_finished(&self) -> bool {
        self.unsettled == 0
    }

    /// Whether any step is running.
    pub fn any_running(&self) -> bool {
        self.running.all > 0
    }

    /// The state of every step, by ID.
    pub fn states(&self) -> &BTreeMap<K, StepState<K>> {
        &self.state
    }
}

#[path = "queue_index.rs"]
mod index;

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
