//! The request log of `ferry sim --log FILE` / `-v`: one line per request with the time, method, path,
//! status and how long the answer took to prepare, e.g.
//! `2026-11-29 10:11:12.345 GET /data/projects/MAIN/subjects 200 3ms`.
//!
//! No secrets: query strings are never written (they may carry passwords or tokens), nor are headers or
//! bodies; the secret part of alias-token paths (`/data/services/tokens/validate/ALIAS/SECRET`) is
//! replaced by `***`.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where request lines go; cheap to clone, shared by every worker.
#[derive(Clone)]
pub struct RequestLog {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl std::fmt::Debug for RequestLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestLog")
    }
}

impl RequestLog {
    /// A log writing to any sink (a file, standard error).
    pub fn new(out: Box<dyn Write + Send>) -> RequestLog {
        RequestLog {
            out: Arc::new(Mutex::new(out)),
        }
    }

    /// Writes one line for a finished request; a failing sink is ignored (logging never breaks serving).
    pub fn record(&self, method: &str, raw_path: &str, status: u16, took: Duration) {
        let line = format!(
            "{} {} {} {} {}ms\n",
            super::util::now_sql(),
            clean(method),
            redact(raw_path),
            status,
            took.as_millis()
        );
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }
}

/// Keeps a logged value on one line.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() || c == ' ' { '_' } else { c })
        .collect()
}

/// The path as sent (still percent-encoded, without the query), with token secrets hidden.
fn redact(raw_path: &str) -> String {
    let segs: Vec<&str> = raw_path.split('/').collect();
    let mut out = Vec::with_capacity(segs.len());
    let mut hide_from = usize::MAX;
    for (i, s) in segs.iter().enumerate() {
        if *s == "tokens" && i + 1 < segs.len() {
            // `tokens/{op}/...`: everything after the operation may be a secret.
            hide_from = i + 2;
        }
        if i >= hide_from && !s.is_empty() && *s != "user" {
            out.push("***".to_string());
        } else {
            out.push(clean(s));
        }
    }
    out.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_name_method_path_status_and_time_without_secrets() {
        let sink = Sink::default();
        let log = RequestLog::new(Box::new(sink.clone()));
        log.record(
            "GET",
            "/data/services/tokens/validate/abc/s3cret",
            200,
            Duration::from_millis(7),
        );
        log.record("PUT", "/data/projects/A B\n", 403, Duration::ZERO);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].ends_with(" GET /data/services/tokens/validate/***/*** 200 7ms"),
            "{}",
            lines[0]
        );
        assert!(!text.contains("s3cret"));
        assert!(
            lines[1].ends_with(" PUT /data/projects/A_B_ 403 0ms"),
            "{}",
            lines[1]
        );
    }
}
