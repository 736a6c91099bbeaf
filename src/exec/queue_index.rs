//! The queue's index of what can go next, kept up to date as steps change state: the steps ready to
//! go by class, the counters of what runs, and the open sessions of the window (see
//! [`DependencyQueue`]).

use super::{Class, DependencyQueue, Ready, StepState};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

impl<K: Ord + Clone + fmt::Display> DependencyQueue<K> {
    /// The limits `k` is under.
    pub(super) fn class(&self, k: &K) -> Class {
        Class {
            limited: self.limited.0.contains(k),
            early: self.early.0.contains(k),
            opens: self.window.0.contains_key(k),
            gated: self.gated.0.contains(k),
        }
    }

    /// Where `k` stands among the ready steps.
    pub(super) fn ready_key(&self, k: &K) -> Ready<K> {
        let rank = self.rank.get(k).copied().unwrap_or(0);
        (rank, self.order.get(k).copied().unwrap_or(0), k.clone())
    }

    /// The ready steps as the states and unmet dependencies stand.
    pub(super) fn build_ready(&self) -> BTreeMap<Class, BTreeSet<Ready<K>>> {
        let mut ready: BTreeMap<Class, BTreeSet<Ready<K>>> = BTreeMap::new();
        for (k, s) in &self.state {
            if *s == StepState::Pending && self.unmet.get(k) == Some(&0) {
                ready
                    .entry(self.class(k))
                    .or_default()
                    .insert(self.ready_key(k));
            }
        }
        ready
    }

    /// Moves `k` to `new`, keeping the counters, the ready steps and the open sessions right.
    pub(super) fn set_state(&mut self, k: &K, new: StepState<K>) {
        let Some(old) = self.state.insert(k.clone(), new.clone()) else {
            return;
        };
        let settled = |s: &StepState<K>| !matches!(s, StepState::Pending | StepState::Running);
        match (settled(&old), settled(&new)) {
            (false, true) => self.unsettled -= 1,
            (true, false) => self.unsettled += 1,
            _ => {}
        }
        let class = self.class(k);
        let by: isize = match (old == StepState::Running, new == StepState::Running) {
            (true, false) => -1,
            (false, true) => 1,
            _ => 0,
        };
        if by != 0 {
            let add = |n: &mut usize| *n = n.saturating_add_signed(by);
            add(&mut self.running.all);
            if class.limited {
                add(&mut self.running.limited);
            }
            if class.early {
                add(&mut self.running.early);
            }
        }
        if old == StepState::Pending && new != StepState::Pending {
            let key = self.ready_key(k);
            if let Some(set) = self.ready.as_mut().and_then(|r| r.get_mut(&class)) {
                set.remove(&key);
            }
        }
        if new == StepState::Done && old != StepState::Done {
            let dependents: Vec<K> = self
                .dependents
                .get(k)
                .into_iter()
                .flatten()
                .cloned()
                .collect();
            for d in dependents {
                let Some(n) = self.unmet.get_mut(&d) else {
                    continue;
                };
                *n = n.saturating_sub(1);
                if *n == 0 && self.state.get(&d) == Some(&StepState::Pending) {
                    let (c, key) = (self.class(&d), self.ready_key(&d));
                    if let Some(r) = self.ready.as_mut() {
                        r.entry(c).or_default().insert(key);
                    }
                }
            }
        }
        self.update_window(k);
    }

    /// Whether the session `k` opens or closes is open now, recorded in `open`.
    pub(super) fn update_window(&mut self, k: &K) {
        let opener = if self.window.0.contains_key(k) {
            Some(k.clone())
        } else {
            self.opener_of.get(k).cloned()
        };
        let Some(o) = opener else { return };
        let state = |k: &K| self.state.get(k);
        let is_open = self.window.0.get(&o).is_some_and(|c| {
            matches!(state(&o), Some(StepState::Running | StepState::Done))
                && matches!(state(c), Some(StepState::Pending | StepState::Running))
        });
        if is_open {
            self.open.insert(o);
        } else {
            self.open.remove(&o);
        }
    }
}
