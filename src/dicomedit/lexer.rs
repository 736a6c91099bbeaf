//! Splits one line of a DicomEdit 6 script into tokens. Statements never span lines, so the lexer
//! works line by line; `//` outside a string literal starts a comment that runs to the end of the line.

use super::ScriptError;

/// One token of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// A tag as written between parentheses, e.g. `0008,103x` (without the parentheses).
    Tag(String),
    /// A string literal, escapes resolved.
    Str(String),
    /// An identifier: a word of letters, digits and `_` that does not start with a digit.
    Ident(String),
    /// A number literal, kept as written.
    Number(String),
    /// `:=`
    Assign,
    /// `?=`
    AssignIfExists,
    /// `=`
    Equals,
    /// `!=`
    NotEquals,
    /// `~`
    Matches,
    /// `!~`
    NotMatches,
    /// `?`
    Question,
    /// `:`
    Colon,
    /// `-` (deletion)
    Minus,
    /// Any other punctuation DicomEdit knows (`/`, `[`, `]`, `,`, `*`, `+`, `.`, `%`, `{`, `}`).
    Punct(char),
}

fn bad(line: usize, message: impl Into<String>) -> ScriptError {
    ScriptError::Syntax {
        line,
        message: message.into(),
    }
}

/// Reads a string literal starting after its opening quote; returns the value and the index after
/// the closing quote.
fn string(chars: &[char], mut i: usize, line: usize) -> Result<(String, usize), ScriptError> {
    let mut out = String::new();
    while i < chars.len() {
        match chars[i] {
            '"' => return Ok((out, i + 1)),
            '\\' => {
                let c = chars
                    .get(i + 1)
                    .ok_or_else(|| bad(line, "a string literal ends in a backslash"))?;
                out.push(match c {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    '"' | '\'' | '\\' => *c,
                    _ => return Err(bad(line, format!("unknown escape `\\{c}` in a string"))),
                });
                i += 2;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Err(bad(line, "a string literal is not closed"))
}

/// Reads a parenthesised tag starting after `(`; returns its text and the index after `)`.
fn tag(chars: &[char], i: usize, line: usize) -> Result<(String, usize), ScriptError> {
    let close = chars[i..]
        .iter()
        .position(|c| *c == ')')
        .ok_or_else(|| bad(line, "a tag's `(` is not closed"))?;
    let text: String = chars[i..i + close]
        .iter()
        .filter(|c| !c.is_whitespace())
        .collect();
    Ok((text, i + close + 1))
}

/// Tokenises one line (1-based `line` for errors).
pub(crate) fn tokens(text: &str, line: usize) -> Result<Vec<Token>, ScriptError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            c if c.is_whitespace() => i += 1,
            '/' if next == Some('/') => break,
            '"' => {
                let (s, at) = string(&chars, i + 1, line)?;
                out.push(Token::Str(s));
                i = at;
            }
            '(' => {
                let (t, at) = tag(&chars, i + 1, line)?;
                out.push(Token::Tag(t));
                i = at;
            }
            ':' if next == Some('=') => {
                out.push(Token::Assign);
                i += 2;
            }
            '?' if next == Some('=') => {
                out.push(Token::AssignIfExists);
                i += 2;
            }
            '!' if next == Some('=') => {
                out.push(Token::NotEquals);
                i += 2;
            }
            '!' if next == Some('~') => {
                out.push(Token::NotMatches);
                i += 2;
            }
            '=' => {
                out.push(Token::Equals);
                i += 1;
            }
            '~' => {
                out.push(Token::Matches);
                i += 1;
            }
            '?' => {
                out.push(Token::Question);
                i += 1;
            }
            ':' => {
                out.push(Token::Colon);
                i += 1;
            }
            '-' if next.is_some_and(|d| d.is_ascii_digit()) && !deletes(&out) => {
                let (n, at) = number(&chars, i);
                out.push(Token::Number(n));
                i = at;
            }
            '-' => {
                out.push(Token::Minus);
                i += 1;
            }
            c if c.is_ascii_digit() => {
                let (n, at) = number(&chars, i);
                out.push(Token::Number(n));
                i = at;
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                out.push(Token::Ident(chars[start..i].iter().collect()));
            }
            '/' | '[' | ']' | ',' | '*' | '+' | '.' | '%' | '{' | '}' => {
                out.push(Token::Punct(c));
                i += 1;
            }
            other => return Err(bad(line, format!("unexpected character `{other}`"))),
        }
    }
    Ok(out)
}

/// Whether a `-` here starts a deletion: at the start of a statement or of an action.
fn deletes(before: &[Token]) -> bool {
    matches!(
        before.last(),
        None | Some(Token::Question) | Some(Token::Colon)
    )
}

fn number(chars: &[char], start: usize) -> (String, usize) {
    let mut i = start + 1;
    while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
        i += 1;
    }
    (chars[start..i].iter().collect(), i)
}
