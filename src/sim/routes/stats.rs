//! Traffic counters of the emulator, for tests that must show what did (or did not) move over the
//! wire: the bytes of file and archive bodies served (single files, zips) and of request bodies
//! received, counted as they are read, and the API requests answered (`requests`, for tests and bench
//! figures that count round trips). `GET /sim/stats` answers
//! `{"file_bytes_served": N, "bytes_received": N, "requests": N}`; control routes themselves are not
//! counted, nor are requests answered with an injected fault.

use crate::sim::http::{Body, Response};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The counters.
#[derive(Debug, Default)]
pub struct Stats {
    /// Bytes of file and archive bodies written to clients.
    pub file_bytes_served: Arc<AtomicU64>,
    /// Bytes of request bodies received.
    pub bytes_received: AtomicU64,
    /// API requests answered.
    pub requests: AtomicU64,
}

struct Counting<R> {
    inner: R,
    counter: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl Stats {
    /// Counts a request body and wraps a response's streamed body so its bytes are counted as sent.
    pub fn count(&self, received: usize, mut resp: Response) -> Response {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes_received
            .fetch_add(received as u64, Ordering::Relaxed);
        let counter = self.file_bytes_served.clone();
        resp.body = match resp.body {
            Body::Sized(r, n) => Body::Sized(Box::new(Counting { inner: r, counter }), n),
            Body::Stream(r) => Body::Stream(Box::new(Counting { inner: r, counter })),
            b => b,
        };
        resp
    }

    /// The counters as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "file_bytes_served": self.file_bytes_served.load(Ordering::Relaxed),
            "bytes_received": self.bytes_received.load(Ordering::Relaxed),
            "requests": self.requests.load(Ordering::Relaxed),
        })
    }
}
