//! Throttling that admins ask for: an optional bandwidth cap (`--bwlimit 50M`) shared by every
//! transfer of a run. (The limit on requests in flight per server lives in the client, `xnat::http`.)

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Why a `--bwlimit` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid bandwidth `{0}`: expected bytes per second with an optional K, M or G suffix, e.g. `50M`")]
pub struct BadRate(pub String);

/// Parses `50M`, `500K`, `1G`, `123456` into bytes per second (binary multiples).
pub fn parse_rate(s: &str) -> Result<u64, BadRate> {
    let t = s.trim();
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m' | 'M') => (&t[..t.len() - 1], 1 << 20),
        Some('g' | 'G') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let n: f64 = num.parse().map_err(|_| BadRate(s.to_string()))?;
    if !n.is_finite() || n <= 0.0 {
        return Err(BadRate(s.to_string()));
    }
    Ok(((n * mult as f64) as u64).max(1))
}

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
/// total rate stays at or below the cap (a token bucket holding at most one second of burst).
pub struct Bandwidth {
    rate: u64,
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
    /// A cap of `rate` bytes per second.
    pub fn new(rate: u64, clock: Box<dyn Clock>) -> Bandwidth {
        let now = clock.now();
        Bandwidth {
            rate: rate.max(1),
            clock,
            state: Mutex::new((rate as f64, now)),
        }
    }

    /// Accounts for `n` bytes, sleeping as long as the cap requires.
    pub fn consume(&self, n: u64) {
        let wait = {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let now = self.clock.now();
            let elapsed = now.saturating_sub(st.1).as_secs_f64();
            st.0 = (st.0 + elapsed * self.rate as f64).min(self.rate as f64);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn parses_rates() {
        assert_eq!(parse_rate("50M"), Ok(50 << 20));
        assert_eq!(parse_rate("1.5k"), Ok(1536));
        assert_eq!(parse_rate("2G"), Ok(2 << 30));
        assert_eq!(parse_rate("1000"), Ok(1000));
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("-5M").is_err());
        assert!(parse_rate("").is_err());
    }

    /// A clock that only moves when someone sleeps.
    #[derive(Default)]
    struct FakeClock(Mutex<Duration>);
    impl Clock for Arc<FakeClock> {
        fn now(&self) -> Duration {
            *self.0.lock().unwrap()
        }
        fn sleep(&self, d: Duration) {
            *self.0.lock().unwrap() += d;
        }
    }

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
}
