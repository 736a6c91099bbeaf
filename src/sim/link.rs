//! A modelled network link (`ferry sim --bandwidth BYTES_PER_S`): every byte the emulator reads from
//! or writes to any connection passes one shared token bucket, so all connections together, in both
//! directions, move at most the given rate, as over one site's uplink. `--latency-ms` (in
//! [`super::faults`]) adds the per-request delay; together they model a WAN between two sites.
//!
//! It must never know about requests or XNAT: it only meters bytes on sockets.

use crate::rate::{Bandwidth, Clock, SystemClock};
use std::io::{self, Read, Write};
use std::sync::Arc;

/// Bytes written to the socket per metered step, so a large write is paced rather than let through
/// at once and then waited for.
const STEP: usize = 16 * 1024;

/// The link of one emulator: unlimited, or a shared rate.
#[derive(Debug, Default)]
pub struct Link {
    bucket: Option<Bandwidth>,
}

impl Link {
    /// A link of `rate` bytes per second shared by every connection; 0 means unlimited.
    pub fn new(rate: u64) -> Link {
        Link::with_clock(rate, Box::new(SystemClock::default()))
    }

    /// [`Link::new`] with another clock (tests).
    pub fn with_clock(rate: u64, clock: Box<dyn Clock>) -> Link {
        // A burst of 10 ms of traffic (at least one step) keeps the rate even at small time scales.
        let burst = (rate / 100).max(STEP as u64);
        Link {
            bucket: (rate > 0).then(|| Bandwidth::with_burst(rate, burst, clock)),
        }
    }

    fn pass(&self, n: usize) {
        if let Some(b) = &self.bucket {
            b.consume(n as u64);
        }
    }

    /// Whether the link is limited.
    pub fn limited(&self) -> bool {
        self.bucket.is_some()
    }
}

/// A socket (or anything that reads and writes) whose traffic goes through a [`Link`].
#[derive(Debug)]
pub struct Metered<S> {
    inner: S,
    link: Arc<Link>,
}

impl<S> Metered<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, link: Arc<Link>) -> Metered<S> {
        Metered { inner, link }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: Read> Read for Metered<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.link.pass(n);
        Ok(n)
    }
}

impl<S: Write> Write for Metered<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let step = if self.link.limited() {
            buf.len().min(STEP)
        } else {
            buf.len()
        };
        self.link.pass(step);
        self.inner.write(&buf[..step])
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate::FakeClock;

    #[test]
    fn both_directions_share_the_rate() {
        let clock = Arc::new(FakeClock::default());
        let link = Arc::new(Link::with_clock(1_000_000, Box::new(clock.clone())));
        let mut w = Metered::new(Vec::new(), link.clone());
        w.write_all(&vec![1u8; 150_000]).unwrap();
        let mut r = Metered::new(io::Cursor::new(vec![2u8; 150_000]), link);
        io::copy(&mut r, &mut io::sink()).unwrap();
        assert_eq!(w.get_ref().len(), 150_000);
        // 300 kB at 1 MB/s with a 16 kB burst: 0.3 s less the burst.
        let t = clock.now().as_secs_f64();
        assert!((0.28..=0.30).contains(&t), "{t}");
    }

    #[test]
    fn an_unlimited_link_passes_whole_writes() {
        let mut w = Metered::new(Vec::new(), Arc::new(Link::new(0)));
        assert_eq!(w.write(&[0u8; 100_000]).unwrap(), 100_000);
    }
}
