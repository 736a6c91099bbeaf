//! Tags as DicomEdit writes them: `gggg,eeee` with hex digits, where a digit may be `x`/`X` (any
//! hex digit), `@` (any even digit) or `#` (any odd digit). A pattern with such digits names a range
//! of tags, e.g. `(0008,103x)` is (0008,1030) to (0008,103F) and `(50xx,xxxx)` every curve group.

use super::ScriptError;
use dicom_core::Tag;

/// One hex digit position of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Digit {
    Exact(u8),
    Any,
    Even,
    Odd,
}

impl Digit {
    fn matches(self, d: u8) -> bool {
        match self {
            Digit::Exact(e) => e == d,
            Digit::Any => true,
            Digit::Even => d.is_multiple_of(2),
            Digit::Odd => d % 2 == 1,
        }
    }
}

/// A tag or a range of tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagPattern {
    digits: [Digit; 8],
}

impl TagPattern {
    /// Parses the text between the parentheses, e.g. `0010,0010` or `0008,103X`.
    pub fn parse(text: &str, line: usize) -> Result<TagPattern, ScriptError> {
        if text.contains('{') {
            return Err(ScriptError::Unsupported {
                line,
                construct: format!("private tag by creator `({text})`"),
            });
        }
        let bad = || ScriptError::Syntax {
            line,
            message: format!("`({text})` is not a tag: write (gggg,eeee) in hex digits, x, @ or #"),
        };
        let (g, e) = text.split_once(',').ok_or_else(bad)?;
        if g.len() != 4 || e.len() != 4 {
            return Err(bad());
        }
        let mut digits = [Digit::Any; 8];
        for (slot, c) in digits.iter_mut().zip(g.chars().chain(e.chars())) {
            *slot = match c {
                'x' | 'X' => Digit::Any,
                '@' => Digit::Even,
                '#' => Digit::Odd,
                c => Digit::Exact(c.to_digit(16).ok_or_else(bad)? as u8),
            };
        }
        Ok(TagPattern { digits })
    }

    /// The one tag this pattern names, if it has no wildcard digit.
    pub fn exact(&self) -> Option<Tag> {
        let mut v: u32 = 0;
        for d in self.digits {
            match d {
                Digit::Exact(x) => v = (v << 4) | u32::from(x),
                _ => return None,
            }
        }
        Some(Tag((v >> 16) as u16, (v & 0xFFFF) as u16))
    }

    /// Whether `tag` is one of the tags this pattern names.
    pub fn matches(&self, tag: Tag) -> bool {
        let v = (u32::from(tag.group()) << 16) | u32::from(tag.element());
        self.digits
            .iter()
            .enumerate()
            .all(|(i, d)| d.matches(((v >> (28 - 4 * i)) & 0xF) as u8))
    }
}
