//! A shared rate limit on bytes (a token bucket): ferry's `--bwlimit` and the emulator's modelled link
//! (`ferry sim --bandwidth`) both use it. Pure apart from the injectable clock; no I/O.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where a [`Bandwidth`] reads time and sleeps; injectable for tests.
pub trait Clock: Send + Sync {
    /// Time since an arbitrary origin.
    fn now(&self) -> Duration;
    /// Sleeps for a while.
    fn sleep(&self, d: Duration);
}

/// The real clock.
#[derive(Debug)]
pub struct SystemClock(Instant);

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock(Instant::now())
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d)
    }
}

/// A shared bandwidth cap: callers report bytes as they move them and are made to wait so that the
/// total rate stays at or below the cap (a token bucket).
pub struct Bandwidth {
    rate: u64,
    burst: f64,
    clock: Box<dyn Clock>,
    state: Mutex<(f64, Duration)>, // (tokens available, time of last refill)
}

impl std::fmt::Debug for Bandwidth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bandwidth")
            .field("rate", &self.rate)
            .finish()
    }
}

impl Bandwidth {
    /// A cap of `rate` bytes per second with a burst of one second.
    pub fn new(rate: u64, clock: Box<dyn Clock>) -> Bandwidth {
        Bandwidth::with_burst(rate, rate, clock)
    }

    /// A cap of `rate` bytes per second that lets at most `burst` bytes through at once after a
    /// pause (a modelled link wants a small burst; a politeness cap a generous one).
    pub fn with_burst(rate: u64, burst: u64, clock: Box<dyn Clock>) -> Bandwidth {
        let now = clock.now();
        let burst = burst.max(1) as f64;
        Bandwidth {
            rate: rate.max(1),
            burst,
            clock,
            state: Mutex::new((burst, now)),
        }
    }

    /// The cap, bytes per second.
    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// Accounts for `n` bytes, sleeping as long as the cap requires.
    pub fn consume(&self, n: u64) {
        let wait = {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let now = self.clock.now();
            let elapsed = now.saturating_sub(st.1).as_secs_f64();
            st.0 = (st.0 + elapsed * self.rate as f64).min(self.burst);
            st.1 = now;
            st.0 -= n as f64;
            if st.0 < 0.0 {
                Duration::from_secs_f64(-st.0 / self.rate as f64)
            } else {
                Duration::ZERO
            }
        };
        if !wait.is_zero() {
            self.clock.sleep(wait);
        }
    }
}

/// A clock that only moves when someone sleeps (tests here and of the emulator's link).
#[cfg(test)]
#[derive(Default)]
pub(crate) struct FakeClock(Mutex<Duration>);

#[cfg(test)]
impl Clock for std::sync::Arc<FakeClock> {
    fn now(&self) -> Duration {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn sleep(&self, d: Duration) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) += d;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn bandwidth_cap_holds_the_average_rate() {
        let clock = Arc::new(FakeClock::default());
        let bw = Bandwidth::new(1000, Box::new(clock.clone()));
        for _ in 0..50 {
            bw.consume(100);
        }
        // 5000 bytes at 1000 B/s with a one-second burst: at least 4 seconds must have passed.
        let t = clock.now().as_secs_f64();
        assert!((4.0..=4.01).contains(&t), "elapsed {t}");
    }

    #[test]
    fn a_small_burst_paces_from_the_first_byte() {
        let clock = Arc::new(FakeClock::default());
        let bw = Bandwidth::with_burst(1000, 100, Box::new(clock.clone()));
        for _ in 0..10 {
            bw.consume(100);
        }
        // 1000 bytes at 1000 B/s with a 100-byte burst: at least 0.9 s.
        let t = clock.now().as_secs_f64();
        assert!((0.9..=0.91).contains(&t), "elapsed {t}");
    }
}
