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
}

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
        let q = DependencyQueue {
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
        if let Some(s) = self.state.get_mut(k) {
            *s = StepState::Done;
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
        self
    }

    /// How many sessions of the window are open.
    fn open_sessions(&self) -> usize {
        let state = |k: &K| self.state.get(k);
        self.window
            .0
            .iter()
            .filter(|(o, c)| {
                matches!(state(o), Some(StepState::Running | StepState::Done))
                    && matches!(state(c), Some(StepState::Pending | StepState::Running))
            })
            .count()
    }

    /// Lets the steps held back by [`DependencyQueue::with_gate`] be handed out.
    pub fn open_gate(&mut self) {
        self.gated.1 = true;
    }

    /// The next pending step whose dependencies are all done, now marked running: the lowest rank
    /// first, then the lowest order, then the smallest ID, so that runs are reproducible.
    pub fn next_ready(&mut self) -> Option<K> {
        let window_full = self.open_sessions() >= self.window.1;
        let k = match self.pick(window_full) {
            Some(k) => k,
            // The window never stalls a run: with nothing running and the gate open, nothing would
            // close a session (while the gate is closed, opening it is what the run waits for).
            None if window_full && self.gated.1 && !self.any_running() => self.pick(false)?,
            None => return None,
        };
        self.state.insert(k.clone(), StepState::Running);
        Some(k)
    }

    /// The step [`DependencyQueue::next_ready`] hands out, with the window's opening steps held
    /// back when `window_full`.
    fn pick(&self, window_full: bool) -> Option<K> {
        let running = |set: &BTreeSet<K>| {
            set.iter()
                .filter(|k| self.state.get(*k) == Some(&StepState::Running))
                .count()
        };
        let (members, limit) = &self.limited;
        let inside = running(members);
        let full = inside >= *limit;
        let all = self
            .state
            .values()
            .filter(|s| **s == StepState::Running)
            .count();
        let outside_full = all - inside >= self.outside;
        let early = &self.early.0;
        let early_full = !self.gated.1 && running(early) >= self.early.1;
        self.state
            .iter()
            .filter(|(_, s)| **s == StepState::Pending)
            .map(|(k, _)| k)
            .filter(|k| {
                if members.contains(*k) {
                    !full
                } else {
                    !outside_full
                }
            })
            .filter(|k| !(early_full && early.contains(*k)))
            .filter(|k| !(window_full && self.window.0.contains_key(*k)))
            .filter(|k| self.gated.1 || !self.gated.0.contains(*k))
            .filter(|k| {
                self.deps[*k]
                    .iter()
                    .all(|d| self.state.get(d) == Some(&StepState::Done))
            })
            .min_by_key(|k| {
                let rank = self.rank.get(*k).copied().unwrap_or(0);
                (rank, self.order.get(*k).copied().unwrap_or(0), *k)
            })
            .cloned()
    }

    /// Records the end of a running step. On failure every step downstream of it that has not run is
    /// marked skipped, and those steps are returned.
    pub fn finish(&mut self, k: &K, ok: bool) -> Vec<K> {
        if !ok {
            self.state.insert(k.clone(), StepState::Failed);
            return self.skip_downstream(k);
        }
        self.state.insert(k.clone(), StepState::Done);
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
                self.state.insert(
                    d.clone(),
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
        !self
            .state
            .values()
            .any(|s| matches!(s, StepState::Pending | StepState::Running))
    }

    /// Whether any step is running.
    pub fn any_running(&self) -> bool {
        self.state.values().any(|s| *s == StepState::Running)
    }

    /// The state of every step, by ID.
    pub fn states(&self) -> &BTreeMap<K, StepState<K>> {
        &self.state
    }
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
