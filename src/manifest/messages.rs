//! serde's and the YAML library's messages reworded in the house style: `unknown value "skp",
//! expected one of …`, with a "did you mean" suggestion for a misspelt key.

/// Removes the YAML library's " at line L column C" suffix (the diagnostic carries the position itself).
pub fn strip_location(s: &str) -> String {
    match s.find(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s.to_string(),
    }
}

fn unquote_list(s: &str) -> String {
    s.replace('`', "")
}

/// `unknown field "x", did you mean "y"?` or `…, expected one of …`.
pub fn unknown_field(key: &str, expected: &[&str]) -> String {
    let best = expected
        .iter()
        .map(|e| (strsim::levenshtein(key, e), *e))
        .min()
        .filter(|(d, _)| *d <= 2);
    match best {
        Some((_, e)) => format!("unknown field \"{key}\", did you mean \"{e}\"?"),
        None => format!(
            "unknown field \"{key}\", expected one of {}",
            expected.join(", ")
        ),
    }
}

/// Rewords a serde message; the flag says whether it is about a key (an unknown field).
pub fn explain(raw: &str) -> (String, bool) {
    let raw = strip_location(raw);
    if let Some(rest) = raw.strip_prefix("unknown field `") {
        if let Some((key, tail)) = rest.split_once('`') {
            let expected: Vec<String> = tail
                .split('`')
                .enumerate()
                .filter(|(i, _)| i % 2 == 1)
                .map(|(_, s)| s.to_string())
                .collect();
            let refs: Vec<&str> = expected.iter().map(String::as_str).collect();
            if refs.is_empty() {
                return (format!("unknown field \"{key}\""), true);
            }
            return (unknown_field(key, &refs), true);
        }
    }
    if let Some(rest) = raw.strip_prefix("unknown variant `") {
        if let Some((value, tail)) = rest.split_once('`') {
            return (
                format!("unknown value \"{value}\"{}", unquote_list(tail)),
                false,
            );
        }
    }
    (unquote_list(&raw), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_are_reworded() {
        let (m, key) = explain("unknown variant `skp`, expected one of `fail`, `skip`, `merge`, `rename` at line 3 column 4");
        assert_eq!(
            m,
            "unknown value \"skp\", expected one of fail, skip, merge, rename"
        );
        assert!(!key);
        let (m, key) =
            explain("unknown field `conflcit`, expected one of `conflict`, `destination`");
        assert_eq!(m, "unknown field \"conflcit\", did you mean \"conflict\"?");
        assert!(key);
        let (m, _) = explain("unknown field `zzz`, expected `a` or `b`");
        assert_eq!(m, "unknown field \"zzz\", expected one of a, b");
    }
}
