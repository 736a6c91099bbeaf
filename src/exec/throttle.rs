//! Throttling that admins ask for: a limit on requests in flight per server, shared by every transfer
//! of a run, and an optional bandwidth cap (`--bwlimit 50M`) shared by every transfer too.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A counting semaphore: at most `limit` permits out at once.
#[derive(Debug)]
pub struct Slots {
    limit: usize,
    used: Mutex<usize>,
    freed: Condvar,
}

/// A held slot; released on drop.
#[derive(Debug)]
pub struct Slot<'a> {
    slots: &'a Slots,
}

impl Slots {
    /// A semaphore with `limit` permits (at least one).
    pub fn new(limit: usize) -> Slots {
        Slots {
            limit: limit.max(1),
            used: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// Waits for a free slot.
    pub fn acquire(&self) -> Slot<'_> {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        while *used >= self.limit {
            used = self.freed.wait(used).unwrap_or_else(|p| p.into_inner());
        }
        *used += 1;
        Slot { slots: self }
    }

    /// Slots currently held.
    pub fn in_use(&self) -> usize {
        *self.used.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut used = self.slots.used.lock().unwrap_or_else(|p| p.into_inner());
        *used = used.saturating_sub(1);
        self.slots.freed.notify_one();
    }
}

/// One [`Slots`] per server name.
#[derive(Debug, Clone, Default)]
pub struct ServerSlots {
    by_server: BTreeMap<String, Arc<Slots>>,
}

impl ServerSlots {
    /// A limit of `per_server` requests in flight for each of `servers`.
    pub fn new<'a>(servers: impl IntoIterator<Item = &'a str>, per_server: usize) -> Self {
        ServerSlots {
            by_server: servers
                .into_iter()
                .map(|s| (s.to_string(), Arc::new(Slots::new(per_server))))
                .collect(),
        }
    }

    /// The slots of a server; a server not declared gets a limit of one.
    pub fn get(&self, server: &str) -> Arc<Slots> {
        self.by_server
            .get(server)
            .cloned()
            .unwrap_or_else(|| Arc::new(Slots::new(1)))
    }
}

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
    use std::sync::atomic::{AtomicU64, Ordering};

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

    #[test]
    fn slots_bound_concurrency() {
        let slots = Arc::new(Slots::new(2));
        let peak = Arc::new(AtomicU64::new(0));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (slots, peak) = (slots.clone(), peak.clone());
                std::thread::spawn(move || {
                    let _s = slots.acquire();
                    peak.fetch_max(slots.in_use() as u64, Ordering::SeqCst);
                    std::thread::yield_now();
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert!(peak.load(Ordering::SeqCst) <= 2);
        assert_eq!(slots.in_use(), 0);
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
