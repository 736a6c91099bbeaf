//! The one renderer for errors: `error: …`, then each cause as `Caused by: …`, then an optional `hint: …`.
//! Every command returns a [`Failure`] instead of printing errors itself.

use super::exit::Exit;
use std::fmt::Write as _;

/// A command that did not succeed: the exit code it maps to, the error, and an optional hint.
#[derive(Debug)]
pub struct Failure {
    /// The process exit code for this failure.
    pub exit: Exit,
    /// The error; its `source()` chain is printed as causes.
    pub error: Box<dyn std::error::Error + Send + Sync>,
    /// What the user can do about it.
    pub hint: Option<String>,
}

impl Failure {
    /// A failure with an exit code and an error.
    pub fn new(exit: Exit, error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Failure {
            exit,
            error: error.into(),
            hint: None,
        }
    }

    /// A failure whose error is only a message.
    pub fn msg(exit: Exit, message: impl Into<String>) -> Self {
        Failure::new(exit, message.into())
    }

    /// Adds a hint line.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Renders the failure as the lines printed to standard error.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "error: {}", self.error);
        let mut cause = self.error.source();
        while let Some(c) = cause {
            let _ = writeln!(out, "Caused by: {c}");
            cause = c.source();
        }
        if let Some(h) = &self.hint {
            let _ = writeln!(out, "hint: {h}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer failed")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn renders_error_causes_and_hint() {
        let f = Failure::new(Exit::Runtime, Outer(std::io::Error::other("disk full")))
            .with_hint("free some space");
        assert_eq!(
            f.render(),
            "error: outer failed\nCaused by: disk full\nhint: free some space\n"
        );
    }
}
