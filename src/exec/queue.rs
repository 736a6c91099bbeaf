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

    /// Lets the steps held back by [`DependencyQueue::with_gate`] be handed out.
    pub fn open_gate(&mut self) {
        self.gated.1 = true;
    }

    /// The next pending step whose dependencies are all done, now marked running: the lowest rank
    /// first, then the lowest order, then the smallest ID, so that runs are reproducible.
    pub fn next_ready(&mut self) -> Option<K> {
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
        let k = self
            .state
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
            .filter(|k| self.gated.1 || !self.gated.0.contains(*k))
            .filter(|k| {
                self.deps[*k]
                    .iter()
                    .all(|d| self.state.get(d) == Some(&StepState::Done))
            })
            .min_by_key(|k| {
                let rank = self.rank.get(*k).copied().unwrap_or(0);
                (rank, self.order.get(*k).copied().unwrap_or(0), *k)
            })?
            .clone();
        self.state.insert(k.clone(), StepState::Running);
        Some(k)
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
mod tests {
    use super::*;

    fn q(edges: &[(&str, &[&str])]) -> Result<DependencyQueue<String>, QueueError> {
        DependencyQueue::new(
            edges
                .iter()
                .map(|(k, d)| (k.to_string(), d.iter().map(|s| s.to_string()).collect())),
        )
    }

    #[test]
    fn hands_out_steps_in_dependency_order() {
        let mut q = q(&[("a", &[]), ("b", &["a"]), ("c", &["b"]), ("x", &[])]).unwrap();
        assert_eq!(q.next_ready().as_deref(), Some("a"));
        assert_eq!(q.next_ready().as_deref(), Some("x"));
        assert_eq!(q.next_ready(), None, "b waits for a");
        assert!(q.any_running());
        q.finish(&"a".into(), true);
        assert_eq!(q.next_ready().as_deref(), Some("b"));
        q.finish(&"b".into(), true);
        q.finish(&"x".into(), true);
        assert_eq!(q.next_ready().as_deref(), Some("c"));
        q.finish(&"c".into(), true);
        assert!(q.is_finished());
    }

    #[test]
    fn among_ready_steps_the_lowest_rank_goes_first() {
        // a -> b; c and d ready from the start. By ID alone: a, c, d, then b.
        let mut q = q(&[("a", &[]), ("b", &["a"]), ("c", &[]), ("d", &[])])
            .unwrap()
            .with_ranks(|k| match k.as_str() {
                "b" => 0,
                "d" => 1,
                _ => 2,
            });
        assert_eq!(q.next_ready().as_deref(), Some("d"), "d outranks a and c");
        assert_eq!(q.next_ready().as_deref(), Some("a"), "then the smallest ID");
        q.finish(&"a".to_string(), true);
        assert_eq!(
            q.next_ready().as_deref(),
            Some("b"),
            "b, ready now, outranks c"
        );
        assert_eq!(q.next_ready().as_deref(), Some("c"));
    }

    #[test]
    fn limited_steps_wait_while_the_limit_runs() {
        let mut q = q(&[("r1", &[]), ("r2", &[]), ("x", &[])])
            .unwrap()
            .with_limit(|k| k.starts_with('r'), 1);
        assert_eq!(q.next_ready().as_deref(), Some("r1"));
        assert_eq!(q.next_ready().as_deref(), Some("x"), "r2 waits for r1");
        assert_eq!(q.next_ready(), None);
        q.finish(&"r1".to_string(), true);
        assert_eq!(q.next_ready().as_deref(), Some("r2"));
    }

    #[test]
    fn limited_steps_have_room_beside_the_outside_limit() {
        let mut q = q(&[("r1", &[]), ("r2", &[]), ("x", &[]), ("y", &[])])
            .unwrap()
            .with_limit(|k| k.starts_with('r'), 1)
            .with_outside_limit(1);
        assert_eq!(q.next_ready().as_deref(), Some("r1"));
        assert_eq!(q.next_ready().as_deref(), Some("x"), "r1 leaves room for x");
        assert_eq!(q.next_ready(), None, "r2 waits for r1, y for x");
        q.finish(&"x".to_string(), true);
        assert_eq!(q.next_ready().as_deref(), Some("y"));
        q.finish(&"r1".to_string(), true);
        assert_eq!(
            q.next_ready().as_deref(),
            Some("r2"),
            "y does not hold r2 back"
        );
    }

    #[test]
    fn gated_steps_wait_for_the_gate() {
        let mut q = q(&[("a", &[]), ("b", &["a"]), ("c", &[])])
            .unwrap()
            .with_gate(|k| k != "a");
        assert_eq!(q.next_ready().as_deref(), Some("a"));
        q.finish(&"a".to_string(), true);
        assert_eq!(q.next_ready(), None, "b and c wait for the gate");
        assert!(!q.is_finished());
        q.open_gate();
        assert_eq!(q.next_ready().as_deref(), Some("b"));
        assert_eq!(q.next_ready().as_deref(), Some("c"));
    }

    #[test]
    fn before_the_gate_opens_the_early_limit_holds_and_after_it_does_not() {
        let mut q = q(&[("d1", &[]), ("d2", &[]), ("d3", &[]), ("u", &["d1"])])
            .unwrap()
            .with_gate(|k| k == "u")
            .with_early_limit(|k| k.starts_with('d'), 1);
        assert_eq!(q.next_ready().as_deref(), Some("d1"));
        assert_eq!(q.next_ready(), None, "one download at a time while gated");
        q.finish(&"d1".to_string(), true);
        assert_eq!(q.next_ready().as_deref(), Some("d2"));
        assert_eq!(q.next_ready(), None, "u waits for the gate, d3 for d2");
        q.open_gate();
        assert_eq!(q.next_ready().as_deref(), Some("d3"));
        assert_eq!(q.next_ready().as_deref(), Some("u"));
    }

    #[test]
    fn within_a_rank_the_lower_order_goes_first() {
        let mut q = q(&[("a", &[]), ("b", &[]), ("c", &[])])
            .unwrap()
            .with_order(|k| if k == "c" { 1 } else { 2 });
        assert_eq!(q.next_ready().as_deref(), Some("c"));
        assert_eq!(q.next_ready().as_deref(), Some("a"));
        assert_eq!(q.next_ready().as_deref(), Some("b"));
    }

    #[test]
    fn failure_skips_everything_downstream_only() {
        let mut q = q(&[("a", &[]), ("b", &["a"]), ("c", &["b"]), ("d", &[])]).unwrap();
        let a = q.next_ready().unwrap();
        let skipped = q.finish(&a, false);
        assert_eq!(skipped, vec!["b".to_string(), "c".to_string()]);
        assert_eq!(
            q.states()["c"],
            StepState::Skipped {
                upstream: "a".into()
            }
        );
        assert_eq!(q.next_ready().as_deref(), Some("d"));
        q.finish(&"d".into(), true);
        assert!(q.is_finished());
    }

    #[test]
    fn resumed_steps_are_not_handed_out_again() {
        let mut q = q(&[("a", &[]), ("b", &["a"])]).unwrap();
        q.mark_done(&"a".into());
        assert_eq!(q.next_ready().as_deref(), Some("b"));
    }

    #[test]
    fn refuses_bad_graphs() {
        assert_eq!(
            q(&[("a", &["zz"])]).unwrap_err(),
            QueueError::UnknownDependency {
                step: "a".into(),
                dep: "zz".into()
            }
        );
        assert!(matches!(
            q(&[("a", &["b"]), ("b", &["a"])]).unwrap_err(),
            QueueError::Cycle(_)
        ));
        assert_eq!(
            q(&[("a", &[]), ("a", &[])]).unwrap_err(),
            QueueError::Duplicate("a".into())
        );
    }
}
