//! A subset of DicomEdit 6, the language of XNAT's anonymization scripts: parse a script, say what it
//! would do to which tags, and run it on a data set. Pure: no I/O, no clock, no randomness.
//!
//! The subset: `version "6.x"`; `(gggg,eeee) := value` where the value is a string or number literal,
//! another element's value, or one of the variables XNAT binds (`project`, `subject`, `session`,
//! `modalityLabel`); `- (gggg,eeee)` with `x`/`X` (any), `@` (even) and `#` (odd) digits for ranges of
//! tags; `removeAllPrivateTags`; `condition ? action [: action]` where the condition compares two
//! values with `=`, `!=`, `~` or `!~` (a regular expression that must match the whole value). One
//! statement per line, `//` starts a comment. Everything else DicomEdit 6 knows (functions such as
//! `hashUID[...]`, `new UID`, `?=`, `echo`, `describe`, sequence paths, private tags by creator)
//! is refused at parse time as [`ScriptError::Unsupported`] with its line, never skipped.
//!
//! Both ferry (before upload) and the emulator (on import) run scripts through this module; it is
//! the only code they share.

mod eval;
mod inmem;
mod lexer;
mod parser;
mod pattern;

pub use inmem::Recorded;
pub use parser::{Action, Op, Statement, Value, Variable};
pub use pattern::TagPattern;

use dicom_core::Tag;

/// XNAT's default site-wide script (`defaults/id.das` in xnat-web), on by default.
pub const XNAT_DEFAULT_SCRIPT: &str = "//\n// Default XNAT anonymization script\n//\nversion \"6.1\"\nproject != \"Unassigned\" ? (0008,1030) := project\n(0010,0010) := subject\n(0010,0020) := session\n";

/// Why a script cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// A DicomEdit construct outside the subset.
    #[error("unsupported construct at line {line}: {construct}")]
    Unsupported {
        /// 1-based line.
        line: usize,
        /// What was found.
        construct: String,
    },
    /// Text that is not DicomEdit 6.
    #[error("syntax error at line {line}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A statement that parsed but could not be applied to a data set.
    #[error("line {line} cannot be applied: {message}")]
    Apply {
        /// 1-based line.
        line: usize,
        /// Why.
        message: String,
    },
}

/// The values XNAT binds to a script's variables for one upload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars {
    /// The project ID.
    pub project: String,
    /// The subject label.
    pub subject: String,
    /// The session label.
    pub session: String,
    /// The modality label (ferry and the emulator bind the object's Modality).
    pub modality_label: String,
}

/// What a script works on: the top level of a DICOM data set, without the file meta group.
pub trait DataSet {
    /// The tags present at the top level.
    fn tags(&self) -> Vec<Tag>;
    /// An element's value as text (multiple values joined with `\`), trimmed; `None` when absent or
    /// not text.
    fn value(&self, tag: Tag) -> Option<String>;
    /// Sets an element to a text value (creating it when absent); whether the value changed, or why
    /// the value cannot be set.
    fn set(&mut self, tag: Tag, value: &str) -> Result<bool, String>;
    /// Removes an element if present.
    fn remove(&mut self, tag: Tag);
    /// Removes every private element (odd group), also inside sequences; how many were removed.
    fn remove_private(&mut self) -> usize;
}

/// What a statement may do to a tag, for showing a script's effect before it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    /// 1-based line.
    pub line: usize,
    /// The action.
    pub action: Action,
    /// Whether it depends on a condition.
    pub conditional: bool,
}

impl Effect {
    /// Whether this effect can touch `tag`.
    pub fn touches(&self, tag: Tag) -> bool {
        match &self.action {
            Action::Assign(t, _) => *t == tag,
            Action::Delete(p) => p.matches(tag),
            Action::RemovePrivate => tag.group() % 2 == 1,
        }
    }
}

/// A parsed script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    statements: Vec<(usize, Statement)>,
}

impl Script {
    /// Parses a script. A script without a `version` statement (as XNAT 1.7.0 to 1.7.2 wrote them) is
    /// read with the same rules; a version other than 6.x is refused.
    pub fn parse(text: &str) -> Result<Script, ScriptError> {
        let mut statements = Vec::new();
        for (i, l) in text.lines().enumerate() {
            if let Some(s) = parser::statement(l, i + 1)? {
                statements.push((i + 1, s));
            }
        }
        if let Some((line, Statement::Version(v))) = statements.first() {
            if !v.starts_with("6.") {
                return Err(ScriptError::Unsupported {
                    line: *line,
                    construct: format!("DicomEdit version \"{v}\""),
                });
            }
        }
        if let Some((line, _)) = statements
            .iter()
            .skip(1)
            .find(|(_, s)| matches!(s, Statement::Version(_)))
        {
            return Err(ScriptError::Syntax {
                line: *line,
                message: "`version` may only be the first statement".into(),
            });
        }
        Ok(Script { statements })
    }

    /// The statements with their lines.
    pub fn statements(&self) -> &[(usize, Statement)] {
        &self.statements
    }

    /// Whether the script does nothing (empty, or only its version).
    pub fn is_empty(&self) -> bool {
        self.statements
            .iter()
            .all(|(_, s)| matches!(s, Statement::Version(_)))
    }

    /// Every action the script may take, in order, with whether it is conditional.
    pub fn effects(&self) -> Vec<Effect> {
        let mut out = Vec::new();
        for (line, s) in &self.statements {
            match s {
                Statement::Version(_) => {}
                Statement::Do(a) => out.push(Effect {
                    line: *line,
                    action: a.clone(),
                    conditional: false,
                }),
                Statement::If {
                    then, otherwise, ..
                } => {
                    for a in std::iter::once(then).chain(otherwise.iter()) {
                        out.push(Effect {
                            line: *line,
                            action: a.clone(),
                            conditional: true,
                        });
                    }
                }
            }
        }
        out
    }

    /// The tags every run sets or deletes whatever the data set holds (unconditional assignments and
    /// deletions of one tag; ranges and conditional actions are left out).
    pub fn sure_tags(&self) -> Vec<Tag> {
        self.effects()
            .into_iter()
            .filter(|e| !e.conditional)
            .filter_map(|e| match e.action {
                Action::Assign(t, _) => Some(t),
                Action::Delete(p) => p.exact(),
                Action::RemovePrivate => None,
            })
            .collect()
    }

    /// Whether running the script may change the element at `path` (its tags from the top level
    /// down), whatever the data set holds: an assignment or deletion of the path's top-level tag
    /// (a sequence goes with everything inside it), conditional or not, or `removeAllPrivateTags`
    /// when a tag on the path is private. Static: what the script may do, read from its text.
    pub fn may_touch(&self, path: &[Tag]) -> bool {
        let Some(top) = path.first() else {
            return false;
        };
        self.effects().iter().any(|e| match e.action {
            Action::RemovePrivate => path.iter().any(|t| e.touches(*t)),
            _ => e.touches(*top),
        })
    }

    /// Runs the script on a data set; whether anything changed.
    pub fn apply(&self, ds: &mut dyn DataSet, vars: &Vars) -> Result<bool, ScriptError> {
        eval::run(self, ds, vars)
    }
}

#[cfg(test)]
mod tests;
