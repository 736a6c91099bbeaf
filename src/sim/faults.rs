//! Fault injection for reliability tests: a delay before every answer, a rate of `500` answers given
//! before doing anything, a rate of `500` answers given *after* doing the work (as a server that fails
//! late, or a proxy that times out on a slow upload, does), a rate of responses whose body is cut off
//! part way (also after the work), and one-shot counters ("fail the next N requests"). Decisions come from one seeded generator so a single client sees a
//! repeatable sequence. Settings can be changed at run time through the `/sim/faults` control route.

use std::sync::Mutex;
use std::time::Duration;

/// Fault settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultSettings {
    /// Delay before every answer, in milliseconds.
    pub latency_ms: u64,
    /// Probability of a `500` before doing anything.
    pub error_rate: f64,
    /// Probability of a `500` after the request's work was done (the change is kept, the answer lost).
    pub late_error_rate: f64,
    /// Probability of cutting a response body off part way (after the work was done).
    pub drop_rate: f64,
    /// The next this many requests answer `500`.
    pub fail_next: u64,
    /// The next this many responses are cut off part way.
    pub drop_next: u64,
    /// The next this many requests do their work, then answer `500`.
    pub late_fail_next: u64,
    /// When not empty, faults (not the latency) touch only requests whose path contains this text,
    /// e.g. `/services/import`, so a test can aim at one kind of request.
    pub only: String,
}

/// What to do to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Decision {
    /// Answer `500` at once.
    pub fail: bool,
    /// Do the work, then answer `500` instead of the real answer.
    pub fail_late: bool,
    /// Cut the response body.
    pub drop: bool,
}

/// Live fault settings with their random generator.
#[derive(Debug)]
pub struct Faults {
    inner: Mutex<(FaultSettings, fastrand::Rng)>,
}

impl Faults {
    /// Faults with initial settings and a generator seed.
    pub fn new(settings: FaultSettings, seed: u64) -> Faults {
        Faults {
            inner: Mutex::new((settings, fastrand::Rng::with_seed(seed))),
        }
    }

    /// The current settings.
    pub fn settings(&self) -> FaultSettings {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone()
    }

    /// Replaces the settings; a given seed restarts the generator.
    pub fn set(&self, settings: FaultSettings, seed: Option<u64>) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.0 = settings;
        if let Some(s) = seed {
            g.1 = fastrand::Rng::with_seed(s);
        }
    }

    /// Decides the fate of one request to `path` (and sleeps for the latency).
    pub fn decide(&self, path: &str) -> Decision {
        let (latency, d) = {
            let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            let (s, rng) = &mut *g;
            let aimed = s.only.is_empty() || path.contains(s.only.as_str());
            let d = if aimed {
                Self::draw(s, rng)
            } else {
                Decision::default()
            };
            (s.latency_ms, d)
        };
        if latency > 0 {
            std::thread::sleep(Duration::from_millis(latency));
        }
        d
    }

    fn draw(s: &mut FaultSettings, rng: &mut fastrand::Rng) -> Decision {
        let mut d = Decision::default();
        if s.fail_next > 0 {
            s.fail_next -= 1;
            d.fail = true;
        } else if s.error_rate > 0.0 && rng.f64() < s.error_rate {
            d.fail = true;
        }
        if !d.fail {
            if s.late_fail_next > 0 {
                s.late_fail_next -= 1;
                d.fail_late = true;
            } else if s.late_error_rate > 0.0 && rng.f64() < s.late_error_rate {
                d.fail_late = true;
            }
        }
        if !d.fail && !d.fail_late {
            if s.drop_next > 0 {
                s.drop_next -= 1;
                d.drop = true;
            } else if s.drop_rate > 0.0 && rng.f64() < s.drop_rate {
                d.drop = true;
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seed: u64) -> Vec<Decision> {
        let f = Faults::new(
            FaultSettings {
                error_rate: 0.3,
                drop_rate: 0.3,
                ..FaultSettings::default()
            },
            seed,
        );
        (0..50).map(|_| f.decide("/data/x")).collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_faults() {
        let a = run(7);
        assert_eq!(a, run(7));
        assert!(a.iter().any(|d| d.fail));
        assert!(a.iter().any(|d| d.drop));
        assert!(a.iter().any(|d| !d.fail && !d.drop));
        assert!(a.iter().all(|d| !d.fail_late));
    }

    #[test]
    fn late_failures_are_decided_apart_from_early_ones() {
        let f = Faults::new(
            FaultSettings {
                late_error_rate: 0.5,
                late_fail_next: 1,
                ..FaultSettings::default()
            },
            3,
        );
        let v: Vec<Decision> = (0..40).map(|_| f.decide("/data/x")).collect();
        assert!(v[0].fail_late && !v[0].fail && !v[0].drop);
        assert!(v.iter().all(|d| !d.fail));
        assert!(v[1..].iter().any(|d| d.fail_late));
        assert!(v[1..].iter().any(|d| !d.fail_late));
    }

    #[test]
    fn faults_aimed_at_a_path_leave_other_requests_alone() {
        let f = Faults::new(
            FaultSettings {
                fail_next: 1,
                late_fail_next: 1,
                only: "/services/import".into(),
                ..FaultSettings::default()
            },
            1,
        );
        assert_eq!(f.decide("/data/projects/P"), Decision::default());
        assert!(f.decide("/data/services/import").fail);
        assert!(f.decide("/data/services/import").fail_late);
        assert_eq!(f.decide("/data/services/import"), Decision::default());
    }

    #[test]
    fn one_shot_counters_run_out() {
        let f = Faults::new(
            FaultSettings {
                fail_next: 2,
                ..FaultSettings::default()
            },
            1,
        );
        let v: Vec<bool> = (0..4).map(|_| f.decide("/data/x").fail).collect();
        assert_eq!(v, vec![true, true, false, false]);
    }
}
