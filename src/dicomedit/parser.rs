//! Turns the tokens of each line into a statement of the supported subset, or says which construct
//! of DicomEdit 6 it met that the subset does not run (with its line).
//!
//! Grammar of the subset (one statement per line, `//` comments, blank lines ignored):
//! ```text
//! statement   := version | removeAllPrivateTags | action | condition "?" action [":" action]
//! version     := "version" STRING
//! action      := TAG ":=" value | "-" TAG
//! condition   := value ("=" | "!=" | "~" | "!~") value
//! value       := STRING | NUMBER | TAG | "project" | "subject" | "session" | "modalityLabel"
//! ```
//! The conditional binds loosest: `a = b ? (t) := v` compares `a` with `b`, then assigns. A
//! condition is one comparison; DicomEdit 6 has no `&&` or `||`.

use super::lexer::{tokens, Token};
use super::pattern::TagPattern;
use super::ScriptError;

/// A value on the right of `:=` or either side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A literal (strings and numbers alike).
    Literal(String),
    /// The value of an element of the data set.
    Element(dicom_core::Tag),
    /// One of the variables XNAT binds: `project`, `subject`, `session`, `modalityLabel`.
    Variable(Variable),
}

/// The variables XNAT binds when it runs a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variable {
    /// The project ID.
    Project,
    /// The subject label.
    Subject,
    /// The session label.
    Session,
    /// The modality label.
    ModalityLabel,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Equals,
    /// `!=`
    NotEquals,
    /// `~` (the whole value matches the regular expression)
    Matches,
    /// `!~`
    NotMatches,
}

/// An action: what a statement does to the data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `(gggg,eeee) := value`
    Assign(dicom_core::Tag, Value),
    /// `- (gggg,eeee)`, with wildcards.
    Delete(TagPattern),
    /// `removeAllPrivateTags`
    RemovePrivate,
}

/// One statement of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// `version "6.x"`
    Version(String),
    /// An unconditional action.
    Do(Action),
    /// `condition ? then [: else]`
    If {
        /// Left side of the comparison.
        left: Value,
        /// The operator.
        op: Op,
        /// Right side (for `~`, the regular expression).
        right: Value,
        /// What to do when the comparison holds.
        then: Action,
        /// What to do otherwise.
        otherwise: Option<Action>,
    },
}

fn unsupported(line: usize, construct: impl Into<String>) -> ScriptError {
    ScriptError::Unsupported {
        line,
        construct: construct.into(),
    }
}

fn syntax(line: usize, message: impl Into<String>) -> ScriptError {
    ScriptError::Syntax {
        line,
        message: message.into(),
    }
}

/// Parses one line; `None` for a blank or comment-only line.
pub(crate) fn statement(text: &str, line: usize) -> Result<Option<Statement>, ScriptError> {
    let toks = tokens(text, line)?;
    if toks.is_empty() {
        return Ok(None);
    }
    refuse_unsupported(&toks, line)?;
    if let [Token::Ident(w), rest @ ..] = toks.as_slice() {
        match (w.as_str(), rest) {
            ("version", [Token::Str(v)]) => return Ok(Some(Statement::Version(v.clone()))),
            ("version", _) => return Err(syntax(line, "`version` takes one string, e.g. \"6.1\"")),
            ("removeAllPrivateTags", []) => return Ok(Some(Statement::Do(Action::RemovePrivate))),
            _ => {}
        }
    }
    if let Some(q) = toks.iter().position(|t| *t == Token::Question) {
        return conditional(&toks, q, line).map(Some);
    }
    action(&toks, line).map(|a| Some(Statement::Do(a)))
}

/// Names the first construct outside the subset, wherever it is on the line.
fn refuse_unsupported(toks: &[Token], line: usize) -> Result<(), ScriptError> {
    for (i, t) in toks.iter().enumerate() {
        let next = toks.get(i + 1);
        match t {
            Token::Ident(w) if next == Some(&Token::Punct('[')) => {
                return Err(unsupported(line, format!("function `{w}[...]`")));
            }
            Token::Ident(w) if w == "new" => {
                return Err(unsupported(
                    line,
                    "`new` (generated values such as `new UID`)",
                ));
            }
            Token::Ident(w) if ["describe", "export", "echo"].contains(&w.as_str()) => {
                return Err(unsupported(line, format!("`{w}` statement")));
            }
            Token::AssignIfExists => return Err(unsupported(line, "`?=` (assign if present)")),
            Token::Punct('/') | Token::Punct('[') => {
                return Err(unsupported(line, "sequence path (`/` or `[n]`)"));
            }
            Token::Punct(c @ ('*' | '+' | '.' | '%')) => {
                return Err(unsupported(line, format!("sequence wildcard `{c}`")));
            }
            Token::Punct(c) => {
                return Err(syntax(line, format!("unexpected `{c}`")));
            }
            _ => {}
        }
    }
    Ok(())
}

fn conditional(toks: &[Token], q: usize, line: usize) -> Result<Statement, ScriptError> {
    let cond = &toks[..q];
    let rest = &toks[q + 1..];
    let (then, otherwise) = match rest.iter().position(|t| *t == Token::Colon) {
        Some(c) => (&rest[..c], Some(&rest[c + 1..])),
        None => (rest, None),
    };
    let (left, op, right) = match cond {
        [l, op, r] => {
            let op = match op {
                Token::Equals => Op::Equals,
                Token::NotEquals => Op::NotEquals,
                Token::Matches => Op::Matches,
                Token::NotMatches => Op::NotMatches,
                _ => return Err(syntax(line, "a condition needs `=`, `!=`, `~` or `!~`")),
            };
            (value(l, line)?, op, value(r, line)?)
        }
        _ => {
            return Err(syntax(
                line,
                "a condition is one comparison: value, operator, value",
            ))
        }
    };
    if op == Op::Matches || op == Op::NotMatches {
        if let Value::Literal(re) = &right {
            super::eval::compile(re, line)?;
        }
    }
    Ok(Statement::If {
        left,
        op,
        right,
        then: action(then, line)?,
        otherwise: otherwise.map(|o| action(o, line)).transpose()?,
    })
}

fn action(toks: &[Token], line: usize) -> Result<Action, ScriptError> {
    match toks {
        [Token::Tag(t), Token::Assign, v] => {
            let tag = TagPattern::parse(t, line)?
                .exact()
                .ok_or_else(|| unsupported(line, format!("assignment to a tag pattern `({t})`")))?;
            if tag.group() == 0x0002 || tag >= dicom_core::Tag(0x7FE0, 0x0010) {
                return Err(unsupported(
                    line,
                    format!("assignment to `({t})` (file meta group or pixel data)"),
                ));
            }
            Ok(Action::Assign(tag, value(v, line)?))
        }
        [Token::Tag(t), Token::Assign, ..] => Err(syntax(
            line,
            format!("`({t}) :=` takes one value (a string, a tag or a variable)"),
        )),
        [Token::Minus, Token::Tag(t)] => {
            let p = TagPattern::parse(t, line)?;
            if p.matches(dicom_core::Tag(0x7FE0, 0x0010)) {
                return Err(unsupported(line, format!("deletion of pixel data `({t})`")));
            }
            Ok(Action::Delete(p))
        }
        [Token::Ident(w), Token::Assign, ..] => Err(unsupported(
            line,
            format!("variable initialisation `{w} :=`"),
        )),
        [Token::Ident(w)] if w == "removeAllPrivateTags" => Ok(Action::RemovePrivate),
        [Token::Ident(w), ..] => Err(unsupported(line, format!("`{w}`"))),
        [] => Err(syntax(line, "an action is missing")),
        _ => Err(syntax(
            line,
            "expected `(gggg,eeee) := value`, `- (gggg,eeee)` or a conditional",
        )),
    }
}

fn value(t: &Token, line: usize) -> Result<Value, ScriptError> {
    match t {
        Token::Str(s) | Token::Number(s) => Ok(Value::Literal(s.clone())),
        Token::Tag(t) => TagPattern::parse(t, line)?
            .exact()
            .map(Value::Element)
            .ok_or_else(|| unsupported(line, format!("the value of a tag pattern `({t})`"))),
        Token::Ident(w) => match w.as_str() {
            "project" => Ok(Value::Variable(Variable::Project)),
            "subject" => Ok(Value::Variable(Variable::Subject)),
            "session" => Ok(Value::Variable(Variable::Session)),
            "modalityLabel" => Ok(Value::Variable(Variable::ModalityLabel)),
            other => Err(unsupported(line, format!("variable `{other}`"))),
        },
        other => Err(syntax(line, format!("expected a value, found {other:?}"))),
    }
}
