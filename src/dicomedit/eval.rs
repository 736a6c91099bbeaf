//! Runs a parsed script against a data set, statement by statement, in order.

use super::parser::{Action, Op, Statement, Value, Variable};
use super::{DataSet, Script, ScriptError, Vars};
use regex::Regex;

/// Compiles a `~` pattern so that it must match the whole value, as Java's `String.matches` does.
pub(crate) fn compile(re: &str, line: usize) -> Result<Regex, ScriptError> {
    Regex::new(&format!("^(?:{re})$")).map_err(|e| ScriptError::Syntax {
        line,
        message: format!("the regular expression does not compile: {e}"),
    })
}

fn resolve(v: &Value, ds: &dyn DataSet, vars: &Vars) -> Option<String> {
    match v {
        Value::Literal(s) => Some(s.clone()),
        Value::Element(t) => ds.value(*t),
        Value::Variable(Variable::Project) => Some(vars.project.clone()),
        Value::Variable(Variable::Subject) => Some(vars.subject.clone()),
        Value::Variable(Variable::Session) => Some(vars.session.clone()),
        Value::Variable(Variable::ModalityLabel) => Some(vars.modality_label.clone()),
    }
}

fn holds(
    left: Option<String>,
    op: Op,
    right: Option<String>,
    line: usize,
) -> Result<bool, ScriptError> {
    Ok(match op {
        Op::Equals => left == right,
        Op::NotEquals => left != right,
        Op::Matches | Op::NotMatches => {
            let found = match (left, right) {
                (Some(l), Some(r)) => compile(&r, line)?.is_match(&l),
                _ => false,
            };
            found == (op == Op::Matches)
        }
    })
}

fn act(a: &Action, ds: &mut dyn DataSet, vars: &Vars, line: usize) -> Result<bool, ScriptError> {
    match a {
        Action::Assign(tag, v) => {
            // Assigning the value of an absent element leaves the target as it is.
            let Some(value) = resolve(v, ds, vars) else {
                return Ok(false);
            };
            ds.set(*tag, &value)
                .map_err(|why| ScriptError::Apply { line, message: why })
        }
        Action::Delete(p) => {
            let doomed: Vec<_> = ds.tags().into_iter().filter(|t| p.matches(*t)).collect();
            for t in &doomed {
                ds.remove(*t);
            }
            Ok(!doomed.is_empty())
        }
        Action::RemovePrivate => Ok(ds.remove_private() > 0),
    }
}

/// Applies every statement; returns whether anything changed.
pub(crate) fn run(script: &Script, ds: &mut dyn DataSet, vars: &Vars) -> Result<bool, ScriptError> {
    let mut changed = false;
    for (line, s) in &script.statements {
        let line = *line;
        changed |= match s {
            Statement::Version(_) => false,
            Statement::Do(a) => act(a, ds, vars, line)?,
            Statement::If {
                left,
                op,
                right,
                then,
                otherwise,
            } => {
                let l = resolve(left, ds, vars);
                let r = resolve(right, ds, vars);
                if holds(l, *op, r, line)? {
                    act(then, ds, vars, line)?
                } else if let Some(o) = otherwise {
                    act(o, ds, vars, line)?
                } else {
                    false
                }
            }
        };
    }
    Ok(changed)
}
