//! Fault injection for reliability tests: a delay before every answer, a rate of `500` answers given
//! before doing anything, a rate of responses whose body is cut off part way, and one-shot counters
//! ("fail the next N requests"). Decisions come from one seeded generator so a single client sees a
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
    /// Probability of cutting a response body off part way.
    pub drop_rate: f64,
    /// The next this many requests answer `500`.
    pub fail_next: u64,
    /// The next this many responses are cut off part way.
    pub drop_next: u64,
}

/// What to do to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Decision {
    /// Answer `500` at once.
    pub fail: bool,
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

    /// Decides the fate of one request (and sleeps for the latency).
    pub fn decide(&self) -> Decision {
        let (latency, d) = {
            let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            let (s, rng) = &mut *g;
            let mut d = Decision::default();
            if s.fail_next > 0 {
                s.fail_next -= 1;
                d.fail = true;
            } else if s.error_rate > 0.0 && rng.f64() < s.error_rate {
                d.fail = true;
            }
            if !d.fail {
                if s.drop_next > 0 {
                    s.drop_next -= 1;
                    d.drop = true;
                } else if s.drop_rate > 0.0 && rng.f64() < s.drop_rate {
                    d.drop = true;
                }
            }
            (s.latency_ms, d)
        };
        if latency > 0 {
            std::thread::sleep(Duration::from_millis(latency));
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
        (0..50).map(|_| f.decide()).collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_faults() {
        let a = run(7);
        assert_eq!(a, run(7));
        assert!(a.iter().any(|d| d.fail));
        assert!(a.iter().any(|d| d.drop));
        assert!(a.iter().any(|d| !d.fail && !d.drop));
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
        let v: Vec<bool> = (0..4).map(|_| f.decide().fail).collect();
        assert_eq!(v, vec![true, true, false, false]);
    }
}
