//! Where each node of a YAML document sits: dotted path (`transfers[0].policy.conflict`) -> line and
//! column of its key and of its value, read from the parser's events so that every diagnostic can name
//! the line it is about.

use std::collections::HashMap;
use yaml_rust2::parser::{Event, Parser};

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub col: usize,
}

/// Positions of keys and values by path.
#[derive(Debug, Default)]
pub struct Positions {
    keys: HashMap<String, Pos>,
    values: HashMap<String, Pos>,
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, index: usize },
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl Positions {
    /// Scans a document; a document that does not parse gives what was seen before the error.
    pub fn scan(text: &str) -> Positions {
        let mut p = Positions::default();
        let mut parser = Parser::new_from_str(text);
        let mut stack: Vec<Frame> = Vec::new();
        let mut events = 0usize;
        while let Ok((event, mark)) = parser.next_token() {
            events += 1;
            if events > 200_000 {
                break;
            }
            let pos = Pos {
                line: mark.line(),
                col: mark.col() + 1,
            };
            // Where a node starting now belongs, or the key it is.
            let mut node_path = None;
            match stack.last_mut() {
                Some(Frame::Map { path, key }) => match key.take() {
                    None => {
                        if let Event::Scalar(k, ..) = &event {
                            let kp = join(path, k);
                            p.keys.entry(kp).or_insert(pos);
                            *key = Some(k.clone());
                            continue;
                        }
                        // A complex key: ignore its contents.
                        *key = Some(String::from("?"));
                    }
                    Some(k) => node_path = Some(join(path, &k)),
                },
                Some(Frame::Seq { path, index }) => {
                    if !matches!(event, Event::SequenceEnd) {
                        node_path = Some(format!("{path}[{index}]"));
                        *index += 1;
                    }
                }
                None => node_path = Some(String::new()),
            }
            match event {
                Event::MappingStart(..) => {
                    let path = node_path.unwrap_or_default();
                    p.values.entry(path.clone()).or_insert(pos);
                    stack.push(Frame::Map { path, key: None });
                }
                Event::SequenceStart(..) => {
                    let path = node_path.unwrap_or_default();
                    p.values.entry(path.clone()).or_insert(pos);
                    stack.push(Frame::Seq { path, index: 0 });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                }
                Event::Scalar(..) | Event::Alias(..) => {
                    if let Some(path) = node_path {
                        p.values.entry(path).or_insert(pos);
                    }
                }
                Event::StreamEnd => break,
                _ => {}
            }
        }
        p
    }

    /// The position of a key.
    pub fn key(&self, path: &str) -> Option<Pos> {
        self.keys.get(path).copied()
    }

    /// The position of a value, else of its key, else of the closest enclosing node.
    pub fn value(&self, path: &str) -> Option<Pos> {
        let mut p = path.to_string();
        loop {
            if let Some(v) = self.values.get(&p).or_else(|| self.keys.get(&p)) {
                return Some(*v);
            }
            match p.rfind(['.', '[']) {
                Some(i) => p.truncate(i),
                None => return self.values.get("").copied(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_and_values_by_path() {
        let text =
            "version: 1\ntransfers:\n  - name: a\n    policy: { conflict: skp }\n  - name: b\n";
        let p = Positions::scan(text);
        assert_eq!(p.key("version"), Some(Pos { line: 1, col: 1 }));
        assert_eq!(p.value("transfers[0].name"), Some(Pos { line: 3, col: 11 }));
        assert_eq!(
            p.value("transfers[0].policy.conflict"),
            Some(Pos { line: 4, col: 25 })
        );
        assert_eq!(p.key("transfers[1].name").map(|p| p.line), Some(5));
        assert_eq!(p.value("transfers[1].missing").map(|p| p.line), Some(5));
    }
}
