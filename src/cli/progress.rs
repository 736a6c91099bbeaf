//! How progress looks: indicatif bars on a terminal (bytes with rate and ETA, sessions done), one line
//! per finished session otherwise. The executor only emits [`Event`]s; this is the only place that
//! draws them.

use crate::exec::report::{Event, Reporter, StepOutcome};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::Mutex;

/// Picks the reporter for standard error: bars on a terminal, lines otherwise.
pub fn reporter() -> Box<dyn Reporter> {
    if std::io::stderr().is_terminal() {
        Box::new(Bars::new())
    } else {
        Box::new(Lines::default())
    }
}

/// One line per finished session and per failed step, on standard error.
#[derive(Debug, Default)]
pub struct Lines {
    out: Mutex<()>,
}

impl Lines {
    fn line(&self, s: &str) {
        let _guard = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(std::io::stderr(), "{s}");
    }
}

impl Reporter for Lines {
    fn event(&self, event: Event) {
        match event {
            Event::SessionEnded {
                session,
                ok,
                summary,
            } => self.line(&format!(
                "{} {session}: {summary}",
                if ok { "ok  " } else { "FAIL" }
            )),
            Event::StepEnded {
                what,
                outcome: StepOutcome::Failed(e),
                ..
            } => self.line(&format!("failed: {what}: {e}")),
            _ => {}
        }
    }
}

/// Two bars: bytes moved (rate, ETA) and sessions finished; finished sessions print above them.
pub struct Bars {
    multi: MultiProgress,
    bytes: ProgressBar,
    sessions: ProgressBar,
}

impl Bars {
    fn new() -> Bars {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let bytes = multi.add(ProgressBar::new(0));
        bytes.set_style(
            ProgressStyle::with_template(
                "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let sessions = multi.add(ProgressBar::new(0));
        sessions.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} sessions {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Bars {
            multi,
            bytes,
            sessions,
        }
    }
}

impl Reporter for Bars {
    fn event(&self, event: Event) {
        match event {
            Event::Begin {
                sessions, bytes, ..
            } => {
                self.bytes.set_length(bytes);
                self.sessions.set_length(sessions as u64);
            }
            Event::Bytes(n) => self.bytes.inc(n),
            Event::StepStarted { what, .. } => self.sessions.set_message(what),
            Event::StepEnded {
                what,
                outcome: StepOutcome::Failed(e),
                ..
            } => {
                let _ = self.multi.println(format!("failed: {what}: {e}"));
            }
            Event::StepEnded { .. } => {}
            Event::SessionEnded {
                session,
                ok,
                summary,
            } => {
                self.sessions.inc(1);
                let _ = self.multi.println(format!(
                    "{} {session}: {summary}",
                    if ok { "ok  " } else { "FAIL" }
                ));
            }
        }
    }
}

impl Drop for Bars {
    fn drop(&mut self) {
        self.bytes.finish_and_clear();
        self.sessions.finish_and_clear();
    }
}
