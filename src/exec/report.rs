//! Progress events of a run. The executor emits them through [`Reporter`]; the CLI decides how they
//! look (bars on a terminal, one line per finished session otherwise). Reporters must be cheap: they
//! are called from worker threads.

/// What happened to a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// It finished now.
    Done,
    /// It had finished in an earlier run (resumed).
    AlreadyDone,
    /// It failed with this error.
    Failed(String),
    /// It was not run because an upstream step failed.
    Skipped {
        /// The failed step.
        upstream: String,
    },
}

/// A progress event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The run begins: how much work there is.
    Begin {
        /// Steps in the graph.
        steps: usize,
        /// Sessions in the plan that will be worked on.
        sessions: usize,
        /// Bytes the plan expects to move (downloads and uploads).
        bytes: u64,
    },
    /// A step started.
    StepStarted {
        /// Step ID.
        step: String,
        /// What it does, for people.
        what: String,
    },
    /// A step ended.
    StepEnded {
        /// Step ID.
        step: String,
        /// What it does, for people.
        what: String,
        /// How it ended.
        outcome: StepOutcome,
    },
    /// Bytes moved over the network (either way).
    Bytes(u64),
    /// Every step of a session ended.
    SessionEnded {
        /// `transfer: source -> destination` for people.
        session: String,
        /// Whether all its steps succeeded.
        ok: bool,
        /// One-line summary (verified counts, or the first error).
        summary: String,
    },
}

/// Receives progress events.
pub trait Reporter: Send + Sync {
    /// Handles one event.
    fn event(&self, event: Event);
}

/// A reporter that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Reporter for Silent {
    fn event(&self, _event: Event) {}
}

/// A reporter that keeps every event, for tests.
#[derive(Debug, Default)]
pub struct Recording(pub std::sync::Mutex<Vec<Event>>);

impl Reporter for Recording {
    fn event(&self, event: Event) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(event);
    }
}
